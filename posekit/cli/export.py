"""``posekit export``: a run's network as an ONNX or TorchScript file for deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace
from posekit.errors import ConfigError


@app.command("export", short_help="A run's network as ONNX or TorchScript, with its input/output spec in JSON.")
@handle_errors
def export(
    run: Annotated[str, typer.Argument(help="run (dir, STAGE/RUN_ID, STAGE/NAME, STAGE/latest, latest: its ckpt/final.pt) or a .pt file")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="onnx (needs posekit\\[export]) or torchscript")] = "onnx",
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for model.onnx|model.pt and its .json")] = Path(
        "posekit-export"),
    weights: Annotated[str, typer.Option(help="auto (teacher when present, as eval scores), teacher or student")] = "auto",
) -> None:
    """Export the network `posekit eval` scores (the mean teacher when the run has one): input ImageNet-normalised
    RGB \\[batch,3,S,S], output heatmaps \\[batch,K,S/4,S/4], any batch size. Beside the file, a JSON records the input
    size, mean/std, heatmap stride and sigma, joint names, flip pairs, and the largest difference from PyTorch on
    test inputs of batch sizes 1 and 3 (docs/export.md)."""
    from posekit.engine.logging import console
    from posekit.models.export import FORMATS
    from posekit.stages.export import run_export

    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}", hint=f"use {' or '.join(FORMATS)}")
    record = run_export(workspace(), run, fmt, out, weights)
    p = record["parity"]
    console.print(f"wrote {out / record['file']} ({fmt}, {record['weights']} weights of "
                  f"{record['checkpoint']}) and {record['json']}", highlight=False)
    console.print(f"parity with PyTorch (batch sizes {', '.join(map(str, p['batch_sizes']))}): max |difference| "
                  f"{p['max_abs_diff']:.2e} for heatmaps up to {p['max_abs_heatmap']:.3g}", highlight=False)
