"""``posekit adapt``: unsupervised domain adaptation from a pretrain run."""

from __future__ import annotations

from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace


@app.command(short_help="Adapt a pretrain run to the unlabelled target domain (`posekit list methods`).")
@handle_errors
def adapt(
    method: Annotated[str | None, typer.Option(help="the adaptation method (`posekit list methods` lists them, with "
                                             "their docs); default: the preset's method, else the stage's default")] = None,
    init: Annotated[str | None, typer.Option(help="pretrain run to start from: RUN dir, pretrain/ID, pretrain/NAME or pretrain/latest (the default); mim: an MAE run, or scratch")] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="preset name or YAML file")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a key, e.g. --set infomax.enabled=false")] = None,
    source: Annotated[str | None, typer.Option(help="prepared source dataset (data.source)")] = None,
    target: Annotated[str | None, typer.Option(help="prepared target dataset (data.target)")] = None,
    steps: Annotated[int | None, typer.Option(help="adaptation steps (train.steps)")] = None,
    select: Annotated[str | None, typer.Option(help="last, source_val, or oracle (target labels; labelled ORACLE)")] = None,
    name: Annotated[str | None, typer.Option(help="suffix of the run id (default: the method)")] = None,
    resume: Annotated[str | None, typer.Option(help="continue an interrupted run (RUN dir, adapt/ID, adapt/NAME, NAME or adapt/latest; a finished run is left as it is)")] = None,
) -> None:
    """Multi-level alignment in a mean teacher (--method mim: docs/mim.md; --method regda: docs/regda.md). Levels switch off one by one for baselines and ablations:
    [bold]style.enabled[/], [bold]consistency.enabled[/], [bold]occlusion.enabled[/], [bold]adversarial.enabled[/],
    [bold]infomax.enabled[/] (presets: adapt_demo, and see docs/adapt.md)."""
    from posekit.stages import train

    train(workspace().require(), "adapt", method=method, preset=config, sets=set_, name=name, resume=resume,
          options={"init": init, "data.source": source, "data.target": target, "train.steps": steps,
                   "train.select": select})
