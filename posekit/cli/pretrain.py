"""``posekit pretrain``: supervised heatmap training on the labelled source domain, or MAE pre-training."""

from __future__ import annotations

from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace


@app.command(short_help="Train on the labelled source domain (`posekit list methods`).")
@handle_errors
def pretrain(
    method: Annotated[str | None, typer.Option(help="the pretraining method (`posekit list methods` lists them, "
                                             "with their docs); default: the preset's method, else the stage's default")] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="preset name or YAML file")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a key: --set train.steps=500 (repeatable)")] = None,
    source: Annotated[str | None, typer.Option(help="prepared source dataset (data.source)")] = None,
    target: Annotated[str | None, typer.Option(help="mae: prepared target dataset whose images are reconstructed too "
                                                    "(data.target)")] = None,
    steps: Annotated[int | None, typer.Option(help="optimisation steps (train.steps)")] = None,
    name: Annotated[str | None, typer.Option(help="suffix of the run id (default: the method)")] = None,
    resume: Annotated[str | None, typer.Option(help="continue an interrupted run (RUN dir, pretrain/ID, pretrain/NAME, NAME or pretrain/latest; a finished run is left as it is)")] = None,
) -> None:
    """Train on the source domain (and, for mae, target images). Writes [bold]runs/pretrain/<run>/[/] (config,
    metrics.jsonl, ckpt/)."""
    from posekit.stages import train

    train(workspace().require(), "pretrain", method=method, preset=config, sets=set_, name=name, resume=resume,
          options={"data.source": source, "data.target": target, "train.steps": steps})
