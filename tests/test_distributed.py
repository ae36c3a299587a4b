"""Data-parallel training under torchrun (posekit/engine/distributed.py, docs/performance.md): real
``torchrun --nproc_per_node 2 --standalone -m posekit`` jobs on CPU (gloo) against single processes.

Tolerances, and why:

* **1 process vs 2 processes** (pretrain, global batch 8 = 2 × 4, 4 Adam steps at lr 1e-3). On CPU torch has no
  SyncBatchNorm, so each process normalises with the statistics of its own 4 samples: that changes the function
  being trained, not just rounding (measured with the real BatchNorm: weights differ by up to 6.0e-3, more than the
  3.0e-3 any weight moves in the run; docs/performance.md). So this comparison runs both sides through
  tests/frozen_bn_posekit.py, where BatchNorm does not depend on how the batch is split (as with SyncBatchNorm on
  GPU). What is left — each process's rows of the batch, their augmentation draws, gradient averaging, Adam — must
  reproduce the single process up to float summation order: **max |Δw| ≤ 1e-5 over all weights**, 1 % of one Adam
  step (each step moves a weight by about lr = 1e-3), so any wrong row, draw or gradient scale fails while rounding
  passes (measured: 9.3e-10); logged losses agree to a relative 1e-6 (they are means over the processes).
* **Resume under torchrun**: a 2-process adapt run killed with SIGKILL and resumed equals the uninterrupted
  2-process run **bit for bit** (student and teacher, real BatchNorm), and its teacher is the EMA of its student.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from typer.testing import CliRunner

from posekit.cli import app
from posekit.data.dataset import StepBatchSampler
from posekit.engine.distributed import per_rank_batch
from posekit.engine.method import Method
from posekit.errors import ConfigError
from tests.conftest import TINY_TRAIN

pytestmark = pytest.mark.slow  # torchrun jobs

ROOT = Path(__file__).resolve().parents[1]
PRETRAIN = ["pretrain", *TINY_TRAIN, "--set", "train.steps=4"]
ADAPT = ["adapt", "--set", "data.num_workers=0", "--set", "train.batch_size=8", "--set", "train.log_every=1",
         "--set", "train.ckpt_every=2", "--set", "occlusion.size=2", "--set", "occlusion.threshold=0.0",
         "--set", "adversarial.enhancement=true", "--steps", "3"]
needs_gloo = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="this PyTorch build has no torch.distributed gloo backend")


def launch(ws: Path, *args: str, procs: int = 2, module: str = "posekit",
           crash: str | None = None) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node procs --standalone -m module`` (procs=1: a plain ``python -m module``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
    env.pop("POSEKIT_WORKSPACE", None)
    env.pop("POSEKIT_CRASH_AT", None)
    if crash:
        env["POSEKIT_CRASH_AT"] = crash
    torchrun = ["-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--standalone"] if procs > 1 else []
    return subprocess.run([sys.executable, *torchrun, "-m", module, "-w", str(ws), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300, check=False)


def ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr


def run_dir(ws: Path, stage: str, name: str) -> Path:
    (found,) = (ws / "runs" / stage).glob(f"*-{name}")
    return found


def metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
            for x in (run / "metrics.jsonl").read_text().splitlines()]


def final(run: Path) -> dict:
    return torch.load(run / "ckpt/final.pt", weights_only=True)


# -- the pieces, in one process -------------------------------------------------------------------------------
def test_each_process_takes_its_rows_of_the_single_process_batch():
    single = iter(StepBatchSampler(40, 8, seed=3, start_step=2))
    ranks = [iter(StepBatchSampler(40, 8, seed=3, start_step=2, shard=(r, 2))) for r in range(2)]
    for _ in range(7):  # crosses an epoch boundary (5 batches per epoch)
        assert next(ranks[0]) + next(ranks[1]) == next(single)


def test_random_draws_are_cut_from_the_global_batch():
    def draws(shard: tuple[int, int], rows: int):
        method, generator = Method(), torch.Generator().manual_seed(1)
        method.shard = shard
        return method.draw(rows, lambda n: (torch.rand(n, generator=generator), None))

    whole, _ = draws((0, 1), 8)
    halves = [draws((rank, 2), 4) for rank in range(2)]
    assert torch.equal(torch.cat([values for values, _ in halves]), whole)
    assert all(nothing is None for _, nothing in halves)


def test_the_global_batch_must_split_evenly():
    assert per_rank_batch(8, 2) == 4
    with pytest.raises(ConfigError, match="does not split evenly over 3 processes"):
        per_rank_batch(8, 3)


def test_commands_other_than_training_are_refused_under_torchrun(tiny_ws, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, ["-w", str(tiny_ws), "list"])
    assert result.exit_code == 2 and "does not run under torchrun" in result.output


# -- real torchrun jobs ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ddp_ws(tiny_ws, tmp_path_factory) -> Path:
    """The tiny workspace plus a 2-process pretrain run (named "ddp") and a colour style cache."""
    ws = tmp_path_factory.mktemp("distributed") / "ws"
    shutil.copytree(tiny_ws, ws)
    proc = launch(ws, *PRETRAIN, "--name", "ddp")
    ok(proc)
    assert proc.stderr.count("LR not scaled: the global batch is train.batch_size") == 1  # rank 0's panel only
    ok(launch(ws, "stylize", "--method", "colour", procs=1))
    return ws


@needs_gloo
def test_two_process_pretrain_writes_one_run_from_rank_0(ddp_ws):
    run = run_dir(ddp_ws, "pretrain", "ddp")
    assert [p for p in (ddp_ws / "runs/pretrain").iterdir() if p.is_dir()] == [run]  # rank 0 made it, rank 1 used it
    assert (ddp_ws / "runs/pretrain/latest").read_text().strip() == run.name
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    assert [m["step"] for m in metrics(run) if "loss/loss" in m] == [1, 2, 3, 4]  # one line per step, not per rank
    assert final(run)["step"] == 4 and final(run)["config"]["train"]["batch_size"] == 8


@needs_gloo
def test_two_processes_reproduce_one_process(tiny_ws, tmp_path):
    """In float32 (train.amp=off): a half batch per process rounds differently from the whole batch, by float32
    ulps in fp32 (within the tolerances below) and by bf16 ones under autocast (beyond them)."""
    ws = tmp_path / "ws"
    shutil.copytree(tiny_ws, ws)
    fp32 = ("--set", "train.amp=off")
    ok(launch(ws, *PRETRAIN, *fp32, "--name", "one", procs=1, module="tests.frozen_bn_posekit"))
    ok(launch(ws, *PRETRAIN, *fp32, "--name", "two", procs=2, module="tests.frozen_bn_posekit"))
    one, two = run_dir(ws, "pretrain", "one"), run_dir(ws, "pretrain", "two")
    a, b = final(one)["model"], final(two)["model"]
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert worst <= 1e-5, f"max |w1 - w2| = {worst:.3g}"
    for x, y in zip(metrics(one), metrics(two), strict=True):
        assert x.keys() == y.keys() and x["step"] == y["step"]
        for key in (k for k in x if k.startswith("loss/")):
            assert y[key] == pytest.approx(x[key], rel=1e-6), (x["step"], key)


@needs_gloo
def test_adapt_under_torchrun_resumes_exactly_and_its_teacher_is_the_students_ema(ddp_ws, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(ddp_ws, ws)
    ok(launch(ws, *ADAPT, "--name", "full"))
    # rank 0 is killed while it writes the step-3 checkpoint (complete but not renamed); torchrun then stops rank 1
    assert launch(ws, *ADAPT, "--name", "cut", crash="write last.pt:2").returncode != 0
    cut = run_dir(ws, "adapt", "cut")
    at_2 = torch.load(cut / "ckpt/last.pt", weights_only=True)
    assert at_2["step"] == 2 and len(at_2["rng"]["method_by_rank"]) == 2
    ok(launch(ws, "adapt", "--resume", str(cut)))
    assert not list(cut.rglob("*.tmp"))

    full, resumed = final(run_dir(ws, "adapt", "full")), final(cut)
    for part in ("model", "teacher"):
        for key in full[part]:
            assert torch.equal(full[part][key], resumed[part][key]), (part, key)
    assert metrics(run_dir(ws, "adapt", "full")) == metrics(cut)
    assert [m["step"] for m in metrics(cut) if "loss/loss" in m] == [1, 2, 3]

    ema = full["config"]["teacher"]["ema"]  # step 3: teacher = ema · teacher(step 2) + (1 − ema) · student(step 3)
    for key, teacher in resumed["teacher"].items():
        if key.rsplit(".", 1)[-1] not in ("running_mean", "running_var", "num_batches_tracked"):  # buffers: own
            expected = ema * at_2["teacher"][key] + (1 - ema) * resumed["model"][key]
            torch.testing.assert_close(teacher, expected, rtol=0, atol=1e-6)
