"""``posekit prepare``: raw datasets (or the built-in generator) → workspace HDF5 splits."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace
from posekit.engine.logging import console, make_progress
from posekit.errors import ConfigError


@app.command()
@handle_errors
def prepare(
    dataset: Annotated[str, typer.Argument(help="converter name; `posekit list datasets` shows them")],
    name: Annotated[str | None, typer.Option(help="output dataset prefix (synthetic: NAME_src, NAME_tgt)")] = None,
    skeleton: Annotated[str, typer.Option(help="synthetic: human (MPII-16) or quadruped (TigDog-18)")] = "human",
    size: Annotated[int, typer.Option(help="synthetic: image side in pixels")] = 128,
    num_train: Annotated[int, typer.Option(help="synthetic: training images per domain")] = 4000,
    num_val: Annotated[int, typer.Option(help="synthetic: labelled validation images per domain (target val: development only)")] = 500,
    num_test: Annotated[int, typer.Option(help="synthetic: test images per domain")] = 1000,
    seed: Annotated[int, typer.Option(help="generator seed (same seed, same data)")] = 0,
    gap: Annotated[float, typer.Option(help="synthetic: strength of the target look, 0 (= source) to 1")] = 0.6,
    codec: Annotated[str, typer.Option(help="image storage: raw, jpeg or png (docs/data-format.md)")] = "raw",
    workers: Annotated[int, typer.Option(help="processes used for rendering/conversion")] = min(4, os.cpu_count() or 1),
    force: Annotated[bool, typer.Option(help="rebuild even if up to date or prepared with other settings")] = False,
) -> None:
    """Convert a dataset into the workspace (`data/<name>/<split>.h5`). Re-running an up-to-date prepare does nothing."""
    from posekit.data.converters import CONVERTERS
    from posekit.data.converters.base import run_plan
    from posekit.data.h5format import IMAGE_CODECS
    from posekit.data.synthetic.bodies import BODIES

    converter_cls = CONVERTERS.get(dataset)
    if codec not in IMAGE_CODECS:
        raise ConfigError(f"unknown --codec {codec!r}", hint=f"use one of {', '.join(IMAGE_CODECS)}")
    if skeleton not in BODIES:
        raise ConfigError(f"unknown --skeleton {skeleton!r}", hint=f"use one of {', '.join(BODIES)}")
    if size < 32:
        raise ConfigError(f"--size {size} is too small", hint="use at least 32 pixels")
    if not 0 <= gap <= 1:
        raise ConfigError(f"--gap {gap} is outside [0, 1]", hint="0 makes the target look like the source, 1 is the hardest")
    if num_train < 1 or num_test < 1 or num_val < 0:
        raise ConfigError("--num-train and --num-test must be ≥ 1 and --num-val ≥ 0")
    params = {"skeleton": skeleton, "size": size, "num_train": num_train, "num_val": num_val,
              "num_test": num_test, "seed": seed, "gap": gap, "codec": codec,
              "name": name or ("synth" if skeleton == "human" else "synth_animal")}
    ws = workspace().ensure()
    converter = converter_cls(workers=max(1, workers))
    with make_progress() as progress:
        def start(key: str, total: int):
            task = progress.add_task(key, total=total, info="")
            return lambda n: progress.advance(task, n)

        status = run_plan(ws, converter, params, force, start)
    table = Table(title=f"prepare {dataset} → {ws.root / 'data'}")
    table.add_column("dataset/split")
    table.add_column("status")
    for key, value in status.items():
        table.add_row(key, value)
    console.print(table)
