"""``posekit export``: a run's evaluated network (the teacher when it has one) as an ONNX or TorchScript file, with a
JSON beside it that records how to feed it and read its output, and how closely it matches PyTorch."""

from __future__ import annotations

from pathlib import Path

import torch

from posekit.data.augment import IMAGENET_MEAN, IMAGENET_STD
from posekit.errors import ConfigError
from posekit.inference import resolve_model_ref
from posekit.models.export import FORMATS, INPUT_NAME, export_network, parity, require_onnx
from posekit.predictor import load_predictor
from posekit.version import __version__
from posekit.workspace import Workspace, atomic_write_json, now_iso, output_folder

STRIDE = 4  # every posekit network's heatmaps are 1/4 of its input side


def run_export(ws: Workspace, ref: str, fmt: str, out: Path, weights: str = "auto") -> dict:
    """Write ``out/model.onnx`` (or ``model.pt``) and ``<file>.json``; returns the JSON's content. Everything is
    checked (run, weights, packages) before ``out`` is created."""
    if fmt == "onnx":
        require_onnx()
    predictor = load_predictor(resolve_model_ref(ws, ref), weights, torch.device("cpu"))
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {out} is a file", hint="pass a directory")
    created = output_folder(out)
    path = out / f"model{FORMATS[fmt]}"
    written = False
    try:
        outputs = export_network(predictor.model, fmt, predictor.input_size, path)
        written = True
        record = _write_spec(predictor, fmt, path, outputs)
    except BaseException:
        if written:  # a network without its spec (or beside an older one's) is no export
            path.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    record["json"] = str(out / f"{path.name}.json")
    return record


def _write_spec(predictor, fmt: str, path: Path, outputs: tuple[str, ...]) -> dict:
    """Check the exported ``path`` against PyTorch and write its spec to ``<path>.json``; returns the spec."""
    s, h, meta = predictor.input_size, predictor.header, predictor.meta
    heat = s // STRIDE
    record = {
        "posekit_version": __version__, "created": now_iso(), "format": fmt, "file": path.name,
        "checkpoint": str(predictor.checkpoint), "stage": h.get("stage"), "method": h.get("method"),
        "architecture": h.get("architecture"), "step": h.get("step"), "selected_by": h.get("selected_by"),
        "weights": predictor.weights,
        "input": {"name": INPUT_NAME, "shape": ["batch", 3, s, s], "dtype": "float32", "layout": "NCHW, RGB",
                  "size": s, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                  "normalisation": "(pixel / 255 - mean) / std per channel",
                  "crop": "a square about the person (docs/cli.md, posekit predict), resized to size x size"},
        "outputs": {name: {"shape": ["batch", meta.num_joints, heat, heat], "dtype": "float32"} for name in outputs},
        "heatmap": {"stride": STRIDE, "size": heat, "sigma": predictor.sigma,
                    "to_input_pixels": "x_in = (x_heatmap + 0.5) * stride - 0.5 (pixel centres at integers)",
                    "decode": "per joint: argmax, then posekit's sub-pixel Taylor step on the log heatmap"},
        "joint_names": list(meta.names), "flip_pairs": [list(p) for p in meta.flip_pairs],
        "skeleton": [list(e) for e in meta.skeleton],
        "flip_test": "optional: run the mirrored input too, mirror its heatmaps back along x, swap the flip_pairs "
                     "channels and average (no one-pixel shift in posekit's convention)",
        "parity": parity(predictor.model, path, fmt, s),
    }
    atomic_write_json(path.with_name(f"{path.name}.json"), record)
    return record
