"""Crash safety: real `posekit` subprocesses killed with SIGKILL at chosen points, then resumed.

Each stage is killed at several points (between checkpoints, while a checkpoint or an HDF5 split is half written,
before the first checkpoint) through ``POSEKIT_CRASH_AT`` (posekit/faults.py). The resumed result must equal
an uninterrupted run bit for bit (CPU, deterministic settings), and no half-written artifact may look valid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from posekit.data.h5format import validate_h5
from posekit.errors import MissingArtifactError
from posekit.stylize.cache import validate_cache
from tests.conftest import TINY_PREPARE, TINY_TRAIN

ROOT = Path(__file__).resolve().parents[1]
ADAPT = ["--set", "data.num_workers=0", "--set", "train.batch_size=8", "--set", "train.log_every=1",
         "--set", "train.ckpt_every=2", "--set", "occlusion.size=2", "--set", "occlusion.threshold=0.0"]


def posekit(ws: Path, *args: str, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    env.pop("POSEKIT_CRASH_AT", None)
    env.pop("POSEKIT_WORKSPACE", None)
    if crash:
        env["POSEKIT_CRASH_AT"] = crash
    return subprocess.run([sys.executable, "-m", "posekit", "-w", str(ws), *args], check=False, capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


def killed(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode == -signal.SIGKILL


PRETRAIN = ["pretrain", *TINY_TRAIN, "--set", "train.steps=5"]
ADAPT_RUN = ["adapt", *ADAPT, "--steps", "5"]


@pytest.fixture(scope="module")
def trained_ws(tiny_ws, tmp_path_factory) -> Path:
    """The tiny workspace plus the uninterrupted runs every kill test compares against (pretrain and adapt, named
    "full", and a colour style cache)."""
    ws = tmp_path_factory.mktemp("faults") / "ws"
    shutil.copytree(tiny_ws, ws)
    for args in (PRETRAIN, ["stylize", "--method", "colour"], ADAPT_RUN):
        proc = posekit(ws, *args, "--name", "full") if args[0] != "stylize" else posekit(ws, *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return ws


def copy(ws: Path, tmp_path: Path) -> Path:
    shutil.copytree(ws, tmp_path / "ws")
    return tmp_path / "ws"


def run_dir(ws: Path, stage: str, name: str) -> Path:
    return next((ws / "runs" / stage).glob(f"*-{name}"))


def assert_same_weights(a: Path, b: Path, parts=("model",)) -> None:
    ca, cb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert ca["step"] == cb["step"]
    for part in parts:
        for key in ca[part]:
            assert torch.equal(ca[part][key], cb[part][key]), (part, key)


def no_temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("crash, last_step", [
    ("train.step:3", 2),     # between checkpoints (ckpt_every 2)
    ("write last.pt:2", 2),  # while the step-4 checkpoint is written: its temporary file is complete, not renamed
    ("train.step:1", None),  # before the first checkpoint: resume starts again from step 0 in the same run
])
def test_pretrain_killed_and_resumed_equals_an_uninterrupted_run(trained_ws, tmp_path, crash, last_step):
    ws_copy = copy(trained_ws, tmp_path)
    assert killed(posekit(ws_copy, *PRETRAIN, "--name", "cut", crash=crash))
    cut = run_dir(ws_copy, "pretrain", "cut")
    assert not (cut / "ckpt/final.pt").exists()
    assert (ws_copy / "runs/pretrain/latest").read_text().strip().endswith("-full")  # latest still the good run
    if last_step is None:
        assert not (cut / "ckpt/last.pt").exists()
    else:
        assert torch.load(cut / "ckpt/last.pt", weights_only=True)["step"] == last_step

    proc = posekit(ws_copy, "pretrain", "--resume", str(cut))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    full = run_dir(ws_copy, "pretrain", "full")
    assert_same_weights(full / "ckpt/final.pt", cut / "ckpt/final.pt")
    strip = [{k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
             for x in (cut / "metrics.jsonl").read_text().splitlines()]
    assert strip == [{k: v for k, v in json.loads(x).items() if not k.startswith("time/")}
                     for x in (full / "metrics.jsonl").read_text().splitlines()]
    assert no_temporaries(cut) == []


@pytest.mark.parametrize("crash", ["train.step:3", "write last.pt:2", "train.step:1"])
def test_adapt_killed_and_resumed_equals_an_uninterrupted_run(trained_ws, tmp_path, crash):
    ws_copy = copy(trained_ws, tmp_path)
    assert killed(posekit(ws_copy, *ADAPT_RUN, "--name", "cut", crash=crash))
    cut = run_dir(ws_copy, "adapt", "cut")
    assert not (cut / "ckpt/final.pt").exists()
    proc = posekit(ws_copy, "adapt", "--resume", str(cut))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_same_weights(run_dir(ws_copy, "adapt", "full") / "ckpt/final.pt", cut / "ckpt/final.pt", ("model", "teacher"))
    assert no_temporaries(cut) == []


def read_split(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        return {name: f[name][...] for name in f}


@pytest.mark.parametrize("crash", ["h5.append:1", "h5.append:3", "write test.h5:1"])
def test_prepare_killed_and_rerun_equals_an_uninterrupted_prepare(tiny_ws, tmp_path, crash):
    ws = tmp_path / "ws"
    proc = posekit(ws, *TINY_PREPARE, crash=crash)
    assert killed(proc)
    for h5 in (ws / "data").rglob("*.h5"):  # every file that exists is complete and valid
        validate_h5(h5)
    manifests = list((ws / "data").rglob("manifest.json"))
    assert all(json.loads(m.read_text())["status"] == "incomplete" for m in manifests)

    proc = posekit(ws, *TINY_PREPARE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert no_temporaries(ws / "data") == []
    for h5 in sorted((tiny_ws / "data").rglob("*.h5")):
        a, b = read_split(h5), read_split(ws / h5.relative_to(tiny_ws))
        assert a.keys() == b.keys()
        for name in a:
            assert np.array_equal(a[name], b[name]), (h5, name)
    for m in (ws / "data").rglob("manifest.json"):
        assert json.loads(m.read_text())["status"] == "complete"


def test_stylize_killed_mid_cache_leaves_nothing_valid_and_the_rerun_matches(ws_copy, tmp_path):
    assert posekit(ws_copy, "stylize", "--method", "fda", "--batch-size", "16", "--name", "whole").returncode == 0
    proc = posekit(ws_copy, "stylize", "--method", "fda", "--batch-size", "16", "--name", "cut", crash="stylize.chunk:2")
    assert killed(proc)
    out = ws_copy / "styles/cut"
    assert not (out / "cache.h5").exists() and not (out / "manifest.json").exists()
    with pytest.raises(MissingArtifactError):  # adapt would refuse it: nothing half-made is ever used
        validate_cache(out / "cache.h5", 48, None)
    assert posekit(ws_copy, "stylize", "--method", "fda", "--batch-size", "16", "--name", "cut").returncode == 0
    a, b = read_split(ws_copy / "styles/whole/cache.h5"), read_split(out / "cache.h5")
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_adain_decoder_training_killed_resumes_where_it_stopped(ws_copy, tmp_path):
    from posekit.models.adain import vgg_normalised

    vgg = tmp_path / "vgg_normalised.pth"
    torch.save(vgg_normalised().state_dict(), vgg)  # random weights in the published layout
    args = ["stylize", "--method", "adain", "--vgg", str(vgg), "--train-decoder", "--decoder-steps", "4",
            "--variants", "1"]
    assert posekit(ws_copy, *args, "--name", "whole").returncode == 0
    assert killed(posekit(ws_copy, *args, "--name", "cut", crash="train.step:2"))  # a checkpoint every step
    out = ws_copy / "styles/cut"
    assert torch.load(out / "decoder_run/ckpt/last.pt", weights_only=True)["step"] == 2
    proc = posekit(ws_copy, *args, "--name", "cut")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "resuming the decoder training at step 2/4" in proc.stdout + proc.stderr
    a = torch.load(ws_copy / "styles/whole/decoder.pt", weights_only=True)
    b = torch.load(out / "decoder.pt", weights_only=True)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert json.loads((out / "manifest.json").read_text())["decoder_sha256"] == \
        json.loads((ws_copy / "styles/whole/manifest.json").read_text())["decoder_sha256"]
