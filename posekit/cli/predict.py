"""``posekit predict``: keypoints and overlays for image files, from a run or a checkpoint file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import check_device, handle_errors, workspace
from posekit.errors import ConfigError

SHOWN_ROWS = 20


@app.command("predict")
@handle_errors
def predict(
    images: Annotated[list[str], typer.Argument(help="image files, directories (the images inside) or glob patterns")],
    checkpoint: Annotated[str, typer.Option(
        "--checkpoint", "-c", help="run (dir, STAGE/RUN_ID, STAGE/latest, latest: its ckpt/final.pt) or a .pt file")],
    box: Annotated[str | None, typer.Option(
        help="person box x0,y0,x1,y1 in original pixels, used for every image (default: the whole image)")] = None,
    margin: Annotated[float | None, typer.Option(help="with --box: crop side = margin × the box's longer side "
                                                      "(default: 1.25)")] = None,
    weights: Annotated[str, typer.Option(help="auto (teacher when present), teacher or student")] = "auto",
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for predictions.json and <stem>_overlay.png")] = Path(
        "posekit-predict"),
    batch_size: Annotated[int, typer.Option(help="images per forward pass")] = 16,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
) -> None:
    """Predict keypoints in original pixels: each image (or --box around the person, enlarged by --margin) is cut
    to a square, resized to the network input and decoded with sub-pixel refinement. Writes predictions.json and
    one overlay PNG per image into --out; nothing is written if any input is bad."""
    from rich.table import Table

    from posekit.engine.logging import console, results
    from posekit.stages.predict import parse_box, run_predict

    if weights not in ("auto", "teacher", "student"):
        raise ConfigError(f"unknown --weights {weights!r}", hint="use auto, teacher or student")
    if batch_size < 1:
        raise ConfigError("--batch-size must be ≥ 1")
    if margin is not None and box is None:
        raise ConfigError("--margin applies only with --box", hint="give the person box with --box x0,y0,x1,y1, or drop "
                                                                  "--margin (without --box the whole image is used)")
    margin = 1.25 if margin is None else margin
    if not math.isfinite(margin) or margin <= 0:
        raise ConfigError(f"--margin must be a finite number > 0, got {margin}", hint="1.0 crops exactly the box's "
                                                                                   "longer side")
    check_device(device)
    result = run_predict(workspace(), images, checkpoint, weights, parse_box(box) if box else None, margin, out,
                         batch_size, device)

    table = Table(title=f"{len(result['images'])} image(s): keypoints in original pixels", title_justify="left")
    for column, justify in (("image", "left"), ("size", "right"), ("crop region", "right"), ("mean score", "right"),
                            ("overlay", "left")):
        table.add_column(column, justify=justify)
    for r in result["images"][:SHOWN_ROWS]:
        region = ",".join(f"{v:g}" for v in r["crop_region"])
        mean = sum(k[2] for k in r["keypoints"]) / len(r["keypoints"])
        table.add_row(Path(r["file"]).name, f"{r['width']}×{r['height']}", region, f"{mean:.3f}", r["overlay"])
    if len(result["images"]) > SHOWN_ROWS:
        table.add_row(f"… {len(result['images']) - SHOWN_ROWS} more", "", "", "", "")
    results.print(table)
    results.print(f"{result['checkpoint']}: {result['weights']}, step {result['step']}, selected by "
                  f"{result['selected_by']}", highlight=False)
    if result["selected_by"] == "oracle":
        console.print("ORACLE: these weights were selected on target test labels", style="bold red")
    console.print(f"wrote {out / 'predictions.json'} and {len(result['images'])} overlay(s) in {out}", highlight=False)
