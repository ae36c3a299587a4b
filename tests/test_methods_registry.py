"""Every registered (stage, method) pair, found through the registry as timm's tests find models through
``list_models()``: it declares what it is, builds, trains two steps, stops after the first and resumes to the end."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from typer.testing import CliRunner

from posekit.cli import app
from posekit.stages import builder_of, default_method, method_table
from posekit.stages.template import METHODS
from tests.conftest import TINY_TRAIN
from tests.test_mim_cli import TINY_MAE, TINY_VIT

runner = CliRunner()
PAIRS = [(stage, method) for stage, reg in METHODS.items() for method in reg.names()]
TWO_STEPS = ["--set", "train.steps=2", "--set", "train.ckpt_every=1", "--set", "train.log_every=1"]
# tiny settings of each pair (a newly registered method fails below until it has some here)
TINY = {
    ("pretrain", "supervised"): TINY_TRAIN,
    ("pretrain", "mae"): TINY_MAE,
    ("pretrain", "supervised25d"): TINY_TRAIN,
    ("adapt", "multilevel"): ["--set", "data.num_workers=0", "--set", "train.batch_size=8",
                              "--set", "style.enabled=false"],
    ("adapt", "regda"): ["--set", "data.num_workers=0", "--set", "train.batch_size=8"],
    ("adapt", "mim"): ["--init", "scratch", *TINY_VIT, "--set", "train.batch_size=4"],
}


def test_every_stage_declares_exactly_one_default_and_every_start_is_registered():
    assert {default_method(stage) for stage in METHODS} == {"supervised", "multilevel"}
    for stage, method in PAIRS:
        b = METHODS[stage].get(method)
        assert b.stage == stage and b.method == method and b.summary and b.doc
        if b.starts_from is not None:
            assert b.starts_from[1] in METHODS[b.starts_from[0]].names(), (stage, method)
        assert b.depth <= b.keypoint_head  # depth comes with keypoints
    assert [(r.stage, r.method) for r in method_table()] == PAIRS


@pytest.mark.slow
@pytest.mark.parametrize("stage, method", PAIRS, ids=[f"{s}-{m}" for s, m in PAIRS])
def test_each_pair_trains_two_steps_stops_and_resumes(stage, method, trained, tmp_path, monkeypatch):
    assert (stage, method) in TINY, f"give {stage} --method {method} tiny settings in TINY"
    ws = tmp_path / "ws"
    shutil.copytree(trained, ws)
    calls = []

    def stop_after_first_step(point):
        calls.append(point)
        if len(calls) == 1:
            raise KeyboardInterrupt  # as if interrupted right after step 1 and its checkpoint

    monkeypatch.setattr("posekit.engine.trainer.crash_point", stop_after_first_step)
    args = [stage, "--method", method, *TINY[(stage, method)], *TWO_STEPS, "--name", "pair"]
    result = runner.invoke(app, ["-w", str(ws), *args])
    assert result.exit_code == 130, result.output
    run = next((ws / "runs" / stage).glob("*-pair"))
    last = torch.load(run / "ckpt/last.pt", weights_only=True)
    assert last["step"] == 1 and not (run / "ckpt/final.pt").exists()
    assert builder_of(last) is METHODS[stage].get(method)  # the header names the pair that wrote it

    result = runner.invoke(app, ["-w", str(ws), stage, "--resume", str(run)])
    assert result.exit_code == 0, result.output
    final = torch.load(run / "ckpt/final.pt", weights_only=True)
    assert final["step"] == 2 and (final["stage"], final["method"]) == (stage, method)
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in logged if "loss/loss" in r]
    assert steps == [1, 2] and all(math.isfinite(r["loss/loss"]) for r in logged if "loss/loss" in r)
    assert (ws / "runs" / stage / "latest").read_text().strip() == run.name
