"""`posekit export`: the exported network's heatmaps match PyTorch's, at any batch size, with its spec beside it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from posekit.data.augment import IMAGENET_MEAN, IMAGENET_STD, normalise
from posekit.data.meta import MPII16
from posekit.engine.checkpoint import save_checkpoint
from posekit.inference import load_model
from posekit.models.export import run_exported
from tests.test_predict_report import invoke, run_dir

TOLERANCE = 1e-4  # of the largest heatmap value: float32 kernels of two runtimes, not a different computation


@pytest.fixture(scope="module")
def sharp_run(trained, tmp_path_factory) -> Path:
    """A copy of the adapt run whose teacher and student heads have random weights of ordinary scale, so that the
    heatmaps are far from flat (a 2-step run's are ~1e-3) and a wrong graph cannot pass the tolerance."""
    run = Path(shutil.copytree(run_dir(trained, "adapt"), tmp_path_factory.mktemp("export") / "run"))
    ckpt = torch.load(run / "ckpt/final.pt", weights_only=True)
    g = torch.Generator().manual_seed(0)
    for key in ("model", "teacher"):
        for name in ("head.final.weight", "head.final.bias"):
            ckpt[key][name] = torch.randn(ckpt[key][name].shape, generator=g) * (0.3 if key == "model" else 0.2)
    save_checkpoint(run / "ckpt/final.pt", {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    return run


def normalised_test_crops(trained, n: int) -> np.ndarray:
    with h5py.File(trained / "data/synth_tgt/test.h5") as f:
        images = torch.from_numpy(f["images"][:n]).permute(0, 3, 1, 2).float() / 255
    return normalise(images).numpy()


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_heatmaps_match_pytorch_at_batch_1_and_3(trained, sharp_run, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    out = tmp_path / "exp"
    result = invoke(trained, "export", str(sharp_run), "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    name = {"onnx": "model.onnx", "torchscript": "model.pt"}[fmt]
    assert sorted(p.name for p in out.iterdir()) == sorted([name, f"{name}.json"])
    spec = json.loads((out / f"{name}.json").read_text())
    assert spec["format"] == fmt and spec["weights"] == "teacher" and spec["architecture"] == "simplebaseline"
    assert spec["input"]["shape"] == ["batch", 3, 64, 64] and spec["input"]["mean"] == list(IMAGENET_MEAN)
    assert spec["input"]["std"] == list(IMAGENET_STD) and spec["heatmap"] == {**spec["heatmap"], "stride": 4,
                                                                              "size": 16, "sigma": 1.0}
    assert spec["joint_names"] == list(MPII16.names) and spec["flip_pairs"] == [list(p) for p in MPII16.flip_pairs]
    assert spec["outputs"] == {"heatmaps": {"shape": ["batch", 16, 16, 16], "dtype": "float32"}}
    assert spec["parity"]["batch_sizes"] == [1, 3]
    assert spec["parity"]["max_abs_diff"] <= TOLERANCE * spec["parity"]["max_abs_heatmap"]

    teacher, _, _, _ = load_model(sharp_run / "ckpt/final.pt", "teacher", torch.device("cpu"))
    student, _, _, _ = load_model(sharp_run / "ckpt/final.pt", "student", torch.device("cpu"))
    for b in (1, 3):  # test crops, independently of the command's own check
        images = normalised_test_crops(trained, b)
        (got,) = run_exported(out / name, fmt, images)
        with torch.no_grad():
            ref = teacher(torch.from_numpy(images))["heatmaps"].numpy()
            other = student(torch.from_numpy(images))["heatmaps"].numpy()
        assert got.shape == (b, 16, 16, 16)
        scale = np.abs(ref).max()
        assert scale > 0.1 and np.abs(got - ref).max() <= TOLERANCE * scale
        assert np.abs(other - ref).max() > 100 * TOLERANCE * scale  # the tolerance tells teacher from student


def test_export_errors_are_one_line(trained, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    out = tmp_path / "exp"
    cases = [(("adapt/latest",), 2, "--format onnx needs the packages onnxruntime", "posekit[export]"),
             (("adapt/latest", "--format", "tflite"), 2, "unknown --format 'tflite'", "onnx or torchscript"),
             (("adapt/nope", "--format", "torchscript"), 3, "no run 'adapt/nope'", "STAGE/latest"),
             (("adapt/latest", "--format", "torchscript", "--weights", "both"), 2, "unknown weights 'both'", "auto")]
    for args, code, fragment, hint in cases:
        result = invoke(trained, "export", *args, "-o", str(out))
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == code and fragment in lines[0] and hint in lines[1], result.output
        assert len(lines) == 2 and "Traceback" not in result.output
        assert not out.exists()
