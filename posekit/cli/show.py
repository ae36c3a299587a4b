"""``posekit show``: a contact sheet (PNG) of a prepared split, to look at what a dataset holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace
from posekit.errors import ConfigError


@app.command("show", short_help="Write a contact sheet PNG of a prepared split, with its labelled keypoints.")
@handle_errors
def show(
    data: Annotated[str, typer.Argument(help="DATASET:SPLIT of a prepared dataset, e.g. synth_src:train")],
    out: Annotated[Path | None, typer.Option(help="PNG to write (default: DATASET-SPLIT.png here)")] = None,
    num: Annotated[int, typer.Option(help="samples, evenly spaced through the split")] = 16,
    columns: Annotated[int, typer.Option(help="samples per row")] = 8,
    cell: Annotated[int, typer.Option(help="size in pixels each sample is drawn at (longer side)")] = 160,
) -> None:
    """Write a contact sheet of a split: each row of samples as stored, then with their labelled keypoints."""
    from posekit.engine.logging import console
    from posekit.viz.sheet import contact_sheet
    from posekit.workspace import atomic_write_image

    if num < 1 or columns < 1 or cell < 16:
        raise ConfigError("--num and --columns must be ≥ 1 and --cell ≥ 16")
    dataset, split, path = workspace().require_split(data)
    out = out or Path(f"{dataset}-{split}.png")
    sheet = contact_sheet(path, num, columns, cell, f"{data}: samples, then their labels (blue left, red right)")
    atomic_write_image(out, sheet, "PNG")
    console.print(f"wrote {out}", highlight=False)
