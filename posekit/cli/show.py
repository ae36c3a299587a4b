"""``posekit show``: a contact sheet (PNG) of a prepared split, to look at what a dataset holds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace
from posekit.errors import ConfigError
from posekit.numbers import Bounds

MAX_SHEET_BYTES = 512 * 2**20  # the sheet's RGB pixels: 16 samples at --cell 2048 fit, --cell 100000 does not


@app.command("show", short_help="Write a contact sheet PNG of a prepared split, with its labelled keypoints.")
@handle_errors
def show(
    data: Annotated[str, typer.Argument(help="DATASET:SPLIT of a prepared dataset, e.g. synth_src:train")],
    out: Annotated[Path | None, typer.Option(help="PNG to write (default: DATASET-SPLIT.png here)")] = None,
    num: Annotated[int, typer.Option(help="samples, evenly spaced through the split"), Bounds(1, 10_000, integer=True)] = 16,
    columns: Annotated[int, typer.Option(help="samples per row"), Bounds(1, 1000, integer=True)] = 8,
    cell: Annotated[int, typer.Option(help="size in pixels each sample is drawn at (longer side)"), Bounds(16, 2048, integer=True)] = 160,
) -> None:
    """Write a contact sheet of a split: each row of samples as stored, then with their labelled keypoints."""
    from posekit.engine.logging import console
    from posekit.viz.sheet import contact_sheet
    from posekit.workspace import atomic_write_image

    width, height = min(num, columns) * cell, 2 * math.ceil(num / columns) * cell  # a row of samples, a row labelled
    if 3 * width * height > MAX_SHEET_BYTES:
        raise ConfigError(f"--num {num}, --columns {columns} and --cell {cell} would draw a {width}×{height} sheet "
                          f"({3 * width * height / 2**30:.1f} GiB of pixels; at most {MAX_SHEET_BYTES // 2**20} MiB)",
                          hint="lower --num or --cell")
    dataset, split, path = workspace().require_split(data)
    out = out or Path(f"{dataset}-{split}.png")
    sheet = contact_sheet(path, num, columns, cell, f"{data}: samples, then their labels (blue left, red right)")
    atomic_write_image(out, sheet, "PNG")
    console.print(f"wrote {out}", highlight=False)
