"""``posekit pretrain``: supervised heatmap training on the labelled source domain, or MAE pre-training."""

from __future__ import annotations

from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace
from posekit.errors import ConfigError
from posekit.workspace import check_name


@app.command(short_help="Train on the labelled source domain (supervised, or mae for the 3D method).")
@handle_errors
def pretrain(
    method: Annotated[str | None, typer.Option(help="supervised (SimpleBaseline on source labels) or mae (masked "
                                             "reconstruction of source and target images, docs/mim.md); default: the preset's method, else supervised")] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="preset name or YAML file")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a key: --set train.steps=500 (repeatable)")] = None,
    source: Annotated[str | None, typer.Option(help="prepared source dataset (data.source)")] = None,
    target: Annotated[str | None, typer.Option(help="mae: prepared target dataset whose images are reconstructed too "
                                                    "(data.target)")] = None,
    steps: Annotated[int | None, typer.Option(help="optimisation steps (train.steps)")] = None,
    name: Annotated[str | None, typer.Option(help="suffix of the run id (default: the method)")] = None,
    resume: Annotated[str | None, typer.Option(help="continue an interrupted run (RUN dir, pretrain/ID or pretrain/latest)")] = None,
) -> None:
    """Train on the source domain (and, for mae, target images). Writes [bold]runs/pretrain/<run>/[/] (config,
    metrics.jsonl, ckpt/)."""
    from posekit.config.load import resolve_config
    from posekit.stages import builder_for, resolve_method
    from posekit.stages.common import resume_config
    from posekit.stages.template import run_training

    if name is not None:
        check_name(name, "--name")
    ws = workspace().require()
    if resume:
        if config or set_ or source or target or steps:
            raise ConfigError("--resume continues with the run's saved configuration",
                              hint="drop --config/--set/--source/--steps when resuming")
        run_dir = ws.resolve_resumable("pretrain", resume)
    method = resolve_method("pretrain", method, config, run_dir if resume else None)
    Builder = builder_for("pretrain", method)
    if resume:
        run_training(Builder(ws, resume_config(run_dir, Builder.config), run_dir), name or method)
        return
    if target is not None and "target" not in Builder.config.model_fields["data"].annotation.model_fields:
        raise ConfigError(f"--target is for --method mae (this is {method})", hint="drop --target")
    cfg = resolve_config(Builder.config, config, set_, {"data.source": source, "data.target": target,
                                                       "train.steps": steps}, stage="pretrain")
    run_training(Builder(ws, cfg, None), name or method)
