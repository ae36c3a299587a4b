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

pytestmark = pytest.mark.slow  # real processes killed with SIGKILL/SIGTERM and resumed

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


# -- SIGTERM: what job schedulers send ------------------------------------------------------------------------------
def processes_naming(text: str) -> list[int]:
    """Live processes whose command line holds ``text`` (posekit's DataLoader/pool workers are forks of it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def lock_is_free(path: Path) -> bool:
    import fcntl

    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
    return True


def terminated(ws: Path, *args: str, crash: str) -> subprocess.CompletedProcess:
    """``posekit -w ws ARGS`` in its own session; at ``crash`` SIGTERM goes to the whole process group (main process
    and workers), as a job scheduler sends it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "POSEKIT_CRASH_AT": crash,
           "POSEKIT_CRASH_SIGNAL": "TERM"}
    env.pop("POSEKIT_WORKSPACE", None)
    return subprocess.run([sys.executable, "-m", "posekit", "-w", str(ws), *args], check=False, capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300, start_new_session=True)


def assert_stopped_by_sigterm(proc: subprocess.CompletedProcess, ws: Path) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 143, out
    message = ("terminated (SIGTERM); completed artifacts are intact (a training run continues from its ckpt/last.pt "
               "with --resume)")
    assert [line for line in out.splitlines() if line.startswith(("terminated", "error:"))] == [message], out
    assert "Traceback" not in out and "DataLoader worker" not in out, out
    assert processes_naming(str(ws)) == [], "a worker outlived the command"
    assert no_temporaries(ws) == []


def test_sigterm_stops_training_like_ctrl_c_and_an_immediate_resume_gives_the_same_weights(trained_ws, tmp_path):
    ws = copy(trained_ws, tmp_path)
    args = [*PRETRAIN, "--set", "data.num_workers=1"]  # a DataLoader worker, forked while the run's lock is held
    assert posekit(ws, *args, "--name", "workers").returncode == 0
    proc = terminated(ws, *args, "--name", "cut", crash="train.step:3")
    assert_stopped_by_sigterm(proc, ws)
    cut = run_dir(ws, "pretrain", "cut")
    assert torch.load(cut / "ckpt/last.pt", weights_only=True)["step"] == 2 and not (cut / "ckpt/final.pt").exists()
    assert lock_is_free(ws / ".locks" / f"runs__pretrain__{cut.name}.lock")

    proc = posekit(ws, "pretrain", "--resume", str(cut))  # at once: no worker may still hold the lock
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_same_weights(run_dir(ws, "pretrain", "workers") / "ckpt/final.pt", cut / "ckpt/final.pt")
    assert_same_weights(run_dir(ws, "pretrain", "full") / "ckpt/final.pt", cut / "ckpt/final.pt")


def test_sigterm_during_a_pooled_prepare_leaves_complete_splits_only(tiny_ws, tmp_path):
    ws = tmp_path / "ws"
    args = [*TINY_PREPARE[:-2], "--workers", "2"]
    assert_stopped_by_sigterm(terminated(ws, *args, crash="h5.append:2"), ws)
    for h5 in (ws / "data").rglob("*.h5"):
        validate_h5(h5)
    proc = posekit(ws, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for h5 in sorted((tiny_ws / "data").rglob("*.h5")):
        a, b = read_split(h5), read_split(ws / h5.relative_to(tiny_ws))
        for name in a:
            assert np.array_equal(a[name], b[name]), (h5, name)


# -- real write failures: a file-size limit makes the kernel refuse the write (EFBIG), as a full disk does ---------
def limited(ws: Path, max_bytes: int, *args: str) -> subprocess.CompletedProcess:
    """``posekit -w ws ARGS`` with RLIMIT_FSIZE = ``max_bytes``: any write past it fails with EFBIG."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("POSEKIT_WORKSPACE", None)
    env.pop("POSEKIT_CRASH_AT", None)
    return subprocess.run([sys.executable, "-m", "posekit", "-w", str(ws), *args], check=False, capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300, preexec_fn=limit)


def assert_clean_write_failure(proc: subprocess.CompletedProcess, artifact: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # not 139 (HDF5's crash after a failed write) nor 153 (SIGXFSZ)
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "File too large" in errors[0] and artifact in errors[0], out
    assert "Traceback" not in out and "Exception ignored" not in out and "ulimit -f" in out, out


@pytest.mark.parametrize("limit", [300_000, 1_000_000])  # inside the first split, and inside a later one
def test_a_short_write_during_prepare_fails_cleanly(tmp_path, limit):
    ws = tmp_path / "ws"
    proc = limited(ws, limit, *TINY_PREPARE)
    assert_clean_write_failure(proc, ".h5")
    assert no_temporaries(ws) == []
    for h5 in (ws / "data").rglob("*.h5"):  # splits written before the failure are complete
        validate_h5(h5)
    assert all(json.loads(m.read_text())["status"] == "incomplete" for m in (ws / "data").rglob("manifest.json"))


def test_a_short_write_during_stylize_fails_cleanly(ws_copy):
    proc = limited(ws_copy, 300_000, "stylize", "--method", "colour", "--name", "short")
    assert_clean_write_failure(proc, "styles/short/cache.h5")
    assert list((ws_copy / "styles/short").iterdir()) == []


def test_a_short_write_of_a_checkpoint_fails_cleanly(ws_copy):
    proc = limited(ws_copy, 1_000_000, *PRETRAIN, "--name", "short")  # last.pt is larger
    assert_clean_write_failure(proc, "last.pt")
    assert not list((ws_copy / "runs/pretrain").glob("*-short")), "a run without any checkpoint is left behind"
    assert no_temporaries(ws_copy) == []


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_a_short_write_during_export_fails_cleanly(trained, tmp_path, fmt):
    """TorchScript's own file writer aborted the process (SIGABRT, a C++ stack, a 5 MB .model.pt.tmp left): the
    network is serialised in memory and written through posekit's writer."""
    if fmt == "onnx":
        pytest.importorskip("onnxscript")
        pytest.importorskip("onnxruntime")
    out = tmp_path / "export"
    proc = limited(trained, 1_000_000, "export", "pretrain/latest", "--format", fmt, "-o", str(out))
    name = {"onnx": "model.onnx", "torchscript": "model.pt"}[fmt]
    assert_clean_write_failure(proc, f"cannot write {out / name}: File too large")
    assert not out.exists(), list(out.iterdir())  # the folder this call created goes with the failure
    out.mkdir()
    proc = limited(trained, 1_000_000, "export", "pretrain/latest", "--format", fmt, "-o", str(out))
    assert_clean_write_failure(proc, f"cannot write {out / name}: File too large")
    assert list(out.iterdir()) == []


def test_a_short_write_during_predict_fails_cleanly(trained, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(2):  # noise: each overlay is a PNG of ~360 kB
        Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(tmp_path / f"p{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = limited(trained, 100_000, "predict", str(tmp_path / "p0.png"), str(tmp_path / "p1.png"), "--checkpoint",
                   "pretrain/latest", "--out", str(out))
    assert_clean_write_failure(proc, f"cannot write {out / 'p0_overlay.png'}: File too large")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # no staging folder, temporary or half of the outputs


# -- out of memory ------------------------------------------------------------------------------------------------
def test_out_of_memory_is_one_line_and_leaves_no_run(ws_copy):
    """A real allocation failure: the address space is capped at what importing posekit takes plus 1 GiB, and the
    first training step at 512 px needs more."""
    import resource

    code = "import posekit.cli, torch, h5py; print(open('/proc/self/status').read())"
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}, check=True)
    peak_kb = int(next(line.split()[1] for line in probe.stdout.splitlines() if line.startswith("VmPeak")))
    cap = peak_kb * 1024 + (1 << 30)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("POSEKIT_WORKSPACE", None)
    args = [*TINY_TRAIN, "--set", "data.input_size=512", "--set", "train.batch_size=16", "--set", "train.steps=1"]
    proc = subprocess.run([sys.executable, "-m", "posekit", "-w", str(ws_copy), "pretrain", *args, "--name", "oom"],
                          check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
                          preexec_fn=limit)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "out of memory" in errors[0] and "Traceback" not in out, out
    assert "train.batch_size" in out
    assert not list((ws_copy / "runs/pretrain").glob("*-oom"))
