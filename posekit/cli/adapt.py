"""``posekit adapt``: unsupervised domain adaptation from a pretrain run."""

from __future__ import annotations

from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace
from posekit.errors import ConfigError
from posekit.workspace import check_name


@app.command(short_help="Adapt a pretrain run to the unlabelled target domain (multilevel 2D, mim 3D, regda).")
@handle_errors
def adapt(
    method: Annotated[str | None, typer.Option(help="multilevel (2D, docs/adapt.md), mim (3D fine-tuning of an MAE "
                                             "run with attention regularisation, docs/mim.md) or regda (tllib's RegDA "
                                             "baseline, docs/regda.md); default: the preset's method, else multilevel")] = None,
    init: Annotated[str | None, typer.Option(help="pretrain run to start from (default: pretrain/latest); mim: an MAE run, or scratch")] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="preset name or YAML file")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a key, e.g. --set infomax.enabled=false")] = None,
    source: Annotated[str | None, typer.Option(help="prepared source dataset (data.source)")] = None,
    target: Annotated[str | None, typer.Option(help="prepared target dataset (data.target)")] = None,
    steps: Annotated[int | None, typer.Option(help="adaptation steps (train.steps)")] = None,
    select: Annotated[str | None, typer.Option(help="last, source_val, or oracle (target labels; labelled ORACLE)")] = None,
    name: Annotated[str | None, typer.Option(help="suffix of the run id (default: the method)")] = None,
    resume: Annotated[str | None, typer.Option(help="continue an interrupted run (RUN dir, adapt/ID or adapt/latest)")] = None,
) -> None:
    """Multi-level alignment in a mean teacher (--method mim: docs/mim.md; --method regda: docs/regda.md). Levels switch off one by one for baselines and ablations:
    [bold]style.enabled[/], [bold]consistency.enabled[/], [bold]occlusion.enabled[/], [bold]adversarial.enabled[/],
    [bold]infomax.enabled[/] (presets: adapt_demo, and see docs/adapt.md)."""
    from posekit.config.load import resolve_config
    from posekit.stages import builder_for, resolve_method
    from posekit.stages.common import resume_config
    from posekit.stages.template import run_training

    if name is not None:
        check_name(name, "--name")
    ws = workspace().require()
    if resume:
        if config or set_ or source or target or steps or select or init:
            raise ConfigError("--resume continues with the run's saved configuration", hint="drop the other options")
        run_dir = ws.resolve_resumable("adapt", resume)
    method = resolve_method("adapt", method, config, run_dir if resume else None)
    Builder = builder_for("adapt", method)
    if resume:
        run_training(Builder(ws, resume_config(run_dir, Builder.config), run_dir), name or method)
        return
    cfg = resolve_config(Builder.config, config, set_, {"init": init, "data.source": source, "data.target": target,
                                                       "train.steps": steps, "train.select": select}, stage="adapt")
    run_training(Builder(ws, cfg, None), name or method)
