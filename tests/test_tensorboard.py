"""train.tensorboard=true: TensorBoard scalars mirror metrics.jsonl, also across a kill and a resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_TRAIN
from tests.test_predict_report import invoke

STEPS = ["--set", "train.steps=4", "--set", "train.val_every=2", "--set", "train.tensorboard=true"]


def scalar_series(run: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of the run's event files as (step, value) pairs, as TensorBoard shows them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def jsonl_series(run: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        prefix = f"{record['split']}/" if "split" in record else ""
        for k, v in record.items():
            if k not in ("step", "split"):
                out.setdefault(prefix + k, []).append((record["step"], v))
    return out


def assert_mirrors(run: Path) -> None:
    events, lines = scalar_series(run), jsonl_series(run)
    assert sorted(events) == sorted(lines) and "loss/loss" in events and "source_val/pck@0.05" in events
    for tag, series in lines.items():
        assert [s for s, _ in events[tag]] == [s for s, _ in series], tag
        assert all(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for (_, a), (_, b) in zip(events[tag], series)), tag


def latest(ws: Path) -> Path:
    return max((ws / "runs" / "pretrain").glob("*-*"), key=lambda p: p.stat().st_mtime)


def test_tensorboard_events_mirror_metrics_jsonl(ws_copy):
    pytest.importorskip("tensorboard")
    result = invoke(ws_copy, "pretrain", *TINY_TRAIN, *STEPS)
    assert result.exit_code == 0, result.output
    run = latest(ws_copy)
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert_mirrors(run)
    assert [s for s, _ in scalar_series(run)["loss/loss"]] == [1, 2, 3, 4]


@pytest.mark.slow
def test_tensorboard_after_a_kill_and_resume_shows_each_step_once(ws_copy):
    pytest.importorskip("tensorboard")
    env = {**os.environ, "POSEKIT_WORKSPACE": str(ws_copy), "POSEKIT_CRASH_AT": "train.step:3"}
    cmd = [sys.executable, "-m", "posekit", "pretrain", *TINY_TRAIN, *STEPS]
    killed = subprocess.run(cmd, env=env, capture_output=True, check=False)
    assert killed.returncode == -9  # killed after step 3 (checkpoint: 2)
    run = latest(ws_copy)
    assert [s for s, _ in scalar_series(run)["loss/loss"]] == [1, 2, 3]
    env.pop("POSEKIT_CRASH_AT")
    resumed = subprocess.run([sys.executable, "-m", "posekit", "pretrain", "--resume", str(run)], env=env, check=False,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert [s for s, _ in scalar_series(run)["loss/loss"]] == [1, 2, 3, 4]  # step 3 of the killed process is hidden
    assert_mirrors(run)


def test_tensorboard_missing_is_one_line_and_leaves_no_run(ws_copy, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    result = invoke(ws_copy, "pretrain", *TINY_TRAIN, *STEPS)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and "needs the tensorboard package" in lines[0] and "posekit[tensorboard]" in lines[1]
    assert not (ws_copy / "runs").exists() or not list((ws_copy / "runs" / "pretrain").glob("*"))
