"""Shared fixtures: a tiny two-domain synthetic workspace, built once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

TINY_PREPARE = ["prepare", "synthetic", "--size", "64", "--num-train", "48", "--num-val", "16", "--num-test", "16",
                "--workers", "1"]
TINY_TRAIN = ["--set", "data.input_size=64", "--set", "data.sigma=1.0", "--set", "data.num_workers=0",
              "--set", "model.backbone=resnet18", "--set", "model.width=0.25", "--set", "model.deconv_channels=64",
              "--set", "train.batch_size=8", "--set", "train.log_every=1", "--set", "train.ckpt_every=2"]


@pytest.fixture(scope="session")
def tiny_ws(tmp_path_factory) -> Path:
    """A workspace holding synth_src (train/val/test) and synth_tgt (train/test) at 64 px."""
    from typer.testing import CliRunner

    from posekit.cli import app

    root = tmp_path_factory.mktemp("ws") / "ws"
    result = CliRunner().invoke(app, ["-w", str(root), *TINY_PREPARE])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="session")
def trained(tiny_ws, tmp_path_factory) -> Path:
    """The tiny workspace with a 3-step pretrain run (validated every step) and a 2-step adapt run from it (shared:
    tests that change runs work on copies of them)."""
    from typer.testing import CliRunner

    from posekit.cli import app

    ws = tmp_path_factory.mktemp("trained") / "ws"
    shutil.copytree(tiny_ws, ws)
    runner = CliRunner()
    result = runner.invoke(app, ["-w", str(ws), "pretrain", *TINY_TRAIN, "--set", "train.steps=3",
                                 "--set", "train.val_every=1", "--set", "train.select=source_val"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["-w", str(ws), "adapt", "--set", "data.num_workers=0", "--set", "train.batch_size=8",
                                 "--set", "style.enabled=false", "--steps", "2"])
    assert result.exit_code == 0, result.output
    return ws


@pytest.fixture
def ws_copy(tiny_ws, tmp_path) -> Path:
    """A private copy of the tiny workspace that a test may modify."""
    dst = tmp_path / "ws"
    shutil.copytree(tiny_ws, dst)
    return dst


@pytest.fixture(autouse=True)
def _no_workspace_env(monkeypatch):
    monkeypatch.delenv("POSEKIT_WORKSPACE", raising=False)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
