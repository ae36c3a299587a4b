"""``posekit predict``: keypoints and overlays for image files, from a run or a checkpoint file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import AMP_HELP, check_amp, check_device, handle_errors, workspace
from posekit.errors import ConfigError

SHOWN_ROWS = 20


@app.command("predict", short_help="Keypoints for image files, in original pixels; JSON + overlays.")
@handle_errors
def predict(
    images: Annotated[list[str], typer.Argument(help="image files, directories (the images inside) or glob patterns")],
    checkpoint: Annotated[str, typer.Option(
        "--checkpoint", "-c", help="run (dir, STAGE/RUN_ID, STAGE/latest, latest: its ckpt/final.pt) or a .pt file")],
    box: Annotated[str | None, typer.Option(
        help="person box x0,y0,x1,y1 in original pixels, used for every image (default: the whole image)")] = None,
    boxes: Annotated[Path | None, typer.Option(
        help="COCO-style detections or annotations JSON: any number of person boxes per image (docs/cli.md)")] = None,
    min_score: Annotated[float, typer.Option(help="with --boxes: leave out boxes scored below this")] = 0.0,
    category: Annotated[int | None, typer.Option(help="with --boxes: keep only this category_id (COCO person: 1)")] = None,
    margin: Annotated[float | None, typer.Option(help="with --box or --boxes: crop side = margin × the box's longer "
                                                      "side (default: 1.25)")] = None,
    flip: Annotated[bool, typer.Option(help="flip test: average the heatmaps with the mirrored crop's", metavar="")] = False,
    weights: Annotated[str, typer.Option(help="auto (teacher when present), teacher or student")] = "auto",
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for predictions.json and <stem>_overlay.png")] = Path(
        "posekit-predict"),
    batch_size: Annotated[int, typer.Option(help="images per forward pass")] = 16,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
    amp: Annotated[str, typer.Option(help=AMP_HELP)] = "auto",
) -> None:
    """Predict keypoints in original pixels: each image (or each person box of --box / --boxes, enlarged by --margin)
    is cut to a square, resized to the network input and decoded with sub-pixel refinement. Writes predictions.json
    (per image, one entry per person) and one overlay PNG per image into --out; nothing is written if any input is
    bad."""
    from rich.table import Table

    from posekit.engine.logging import console, results
    from posekit.stages.predict import parse_box, run_predict

    if weights not in ("auto", "teacher", "student"):
        raise ConfigError(f"unknown --weights {weights!r}", hint="use auto, teacher or student")
    if batch_size < 1:
        raise ConfigError("--batch-size must be ≥ 1")
    if margin is not None and box is None and boxes is None:
        raise ConfigError("--margin applies only with --box or --boxes", hint="give person boxes with --box x0,y0,x1,y1 "
                                                                           "or --boxes FILE, or drop --margin (without "
                                                                           "boxes the whole image is used)")
    margin = 1.25 if margin is None else margin
    if not math.isfinite(margin) or margin <= 0:
        raise ConfigError(f"--margin must be a finite number > 0, got {margin}", hint="1.0 crops exactly the box's "
                                                                                   "longer side")
    if box and boxes:
        raise ConfigError("--box and --boxes both give person boxes", hint="use --box for one box for every image, "
                                                                          "--boxes FILE for boxes per image")
    if not boxes and (min_score or category is not None):
        raise ConfigError("--min-score and --category filter the boxes of --boxes FILE", hint="add --boxes FILE")
    check_device(device)
    check_amp(amp)
    result = run_predict(workspace(), images, checkpoint, weights, parse_box(box) if box else None, margin, out,
                         batch_size, device, flip=flip, boxes_file=boxes, min_score=min_score, category=category,
                         amp=amp)

    table = Table(title=f"{len(result['images'])} image(s): keypoints in original pixels"
                        + (" (flip test)" if flip else ""), title_justify="left")
    for column, justify in (("image", "left"), ("size", "right"), ("people", "right"), ("crop region", "right"),
                            ("mean score", "right"), ("overlay", "left")):
        table.add_column(column, justify=justify)
    for r in result["images"][:SHOWN_ROWS]:
        people = r["people"]
        region = ",".join(f"{v:g}" for v in people[0]["crop_region"]) if len(people) == 1 else ""
        scores = [k[2] for person in people for k in person["keypoints"]]
        mean = f"{sum(scores) / len(scores):.3f}" if scores else "—"
        table.add_row(Path(r["file"]).name, f"{r['width']}×{r['height']}", str(len(people)), region, mean, r["overlay"])
    if len(result["images"]) > SHOWN_ROWS:
        table.add_row(f"… {len(result['images']) - SHOWN_ROWS} more", "", "", "", "", "")
    results.print(table)
    results.print(f"{result['checkpoint']}: {result['weights']}, step {result['step']}, selected by "
                  f"{result['selected_by']}", highlight=False)
    if result["selected_by"] == "oracle":
        console.print("ORACLE: these weights were selected on target test labels", style="bold red")
    console.print(f"wrote {out / 'predictions.json'} and {len(result['images'])} overlay(s) in {out}", highlight=False)
