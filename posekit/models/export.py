"""A keypoint network as a deployable file: ONNX (torch.onnx's exporter, run with onnxruntime) or TorchScript
(``torch.jit.trace``), with a free batch dimension.

The exported graph takes what the network sees in posekit: ImageNet-normalised RGB images ``[B,3,S,S]`` float32
(``(pixel / 255 − mean) / std``) and returns per-joint heatmaps ``[B,K,S/4,S/4]`` (and, for 2.5D networks, the
depth maps ``[B,K,S/4,S/4]``). Decoding, the flip test and the mapping to original pixels stay outside the graph;
the metadata JSON that ``posekit export`` writes beside the file says how (docs/export.md).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posekit.data.augment import normalise
from posekit.errors import ConfigError
from posekit.workspace import atomic_write_bytes

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
INPUT_NAME = "images"


class HeatmapGraph(nn.Module):
    """``images`` ``[B,3,S,S]`` (normalised) → the tuple of ``outputs`` of ``net`` (e.g. ``heatmaps``), float32."""

    def __init__(self, net: nn.Module, outputs: tuple[str, ...]):
        super().__init__()
        self.net, self.outputs = net, outputs

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(images)
        return tuple(out[k].float() for k in self.outputs)


def network_outputs(net: nn.Module, input_size: int) -> tuple[str, ...]:
    """The per-joint maps ``net`` returns: ``heatmaps``, plus ``depth`` for 2.5D networks."""
    with torch.no_grad():
        out = net(torch.zeros(1, 3, input_size, input_size))
    return tuple(k for k in ("heatmaps", "depth") if k in out)


def require_onnx() -> None:
    """Raise a one-line ConfigError naming the ``posekit[export]`` extra unless the ONNX packages are installed."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"--format onnx needs the packages {', '.join(missing)}, which are not installed",
                          hint="pip install 'posekit[export]' (or use --format torchscript)")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress prints and their deprecation warnings (TorchScript is deprecated upstream)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def export_network(net: nn.Module, fmt: str, input_size: int, path: Path) -> tuple[str, ...]:
    """Write ``net`` (in eval mode, on the CPU) to ``path`` in format ``fmt`` (onnx or torchscript); returns the
    output names. The file is serialised in memory and written through posekit's one writer
    (:func:`posekit.workspace.atomic_write_bytes`: a temporary file in the same folder, then a rename), so a refused
    write is one ``WriteError`` naming ``path`` and leaves no temporary (TorchScript's own C++ file writer aborts
    the process when the disk refuses a write)."""
    graph = HeatmapGraph(net.cpu().to(memory_format=torch.contiguous_format).eval(),
                         network_outputs(net.cpu().eval(), input_size)).eval()
    example = torch.zeros(2, 3, input_size, input_size)
    buf = io.BytesIO()
    with _quiet(), torch.no_grad():
        if fmt == "onnx":
            require_onnx()
            batch = torch.export.Dim("batch", min=1, max=65536)
            program = torch.onnx.export(graph, (example,), input_names=[INPUT_NAME],
                                        output_names=list(graph.outputs), dynamic_shapes={"images": {0: batch}},
                                        dynamo=True)
            buf.write(onnx_bytes(program))
        elif fmt == "torchscript":
            torch.jit.save(torch.jit.trace(graph, example), buf)
        else:
            raise ConfigError(f"unknown --format {fmt!r}", hint=f"use {' or '.join(FORMATS)}")
    atomic_write_bytes(path, buf.getvalue())
    return graph.outputs


def onnx_bytes(program) -> bytes:
    """An ``ONNXProgram`` as the bytes of one self-contained ``.onnx`` file (weights inside, as
    ``external_data=False`` wrote them)."""
    return program.model_proto.SerializeToString()


def run_exported(path: Path, fmt: str, images: np.ndarray) -> list[np.ndarray]:
    """Run an exported file on normalised ``images`` ``[B,3,S,S]`` float32 → its outputs as numpy arrays."""
    with _quiet():
        if fmt == "onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            return session.run(None, {INPUT_NAME: images.astype(np.float32)})
        module = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            return [t.numpy() for t in module(torch.from_numpy(images))]


def parity(net: nn.Module, path: Path, fmt: str, input_size: int, batch_sizes: tuple[int, ...] = (1, 3),
           seed: int = 0) -> dict:
    """The largest difference between the exported file's heatmaps and PyTorch's on the same normalised inputs
    (uniform random images, one batch per size in ``batch_sizes``), and the largest heatmap value, for scale."""
    generator = torch.Generator().manual_seed(seed)
    diff, scale = 0.0, 0.0
    for b in batch_sizes:
        images = normalise(torch.rand(b, 3, input_size, input_size, generator=generator))
        with torch.no_grad():
            ref = net.cpu().eval()(images)["heatmaps"].float().numpy()
        got = run_exported(path, fmt, images.numpy())[0]
        if got.shape != ref.shape:
            raise RuntimeError(f"{path}: batch {b} gave heatmaps of shape {got.shape}, PyTorch {ref.shape}")
        diff, scale = max(diff, float(np.abs(got - ref).max())), max(scale, float(np.abs(ref).max()))
    return {"batch_sizes": list(batch_sizes), "max_abs_diff": diff, "max_abs_heatmap": scale,
            "inputs": "uniform random [0, 1] images, ImageNet-normalised"}
