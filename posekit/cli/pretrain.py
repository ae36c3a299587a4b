"""``posekit pretrain``: supervised heatmap training on the labelled source domain."""

from __future__ import annotations

from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace
from posekit.errors import ConfigError


@app.command()
@handle_errors
def pretrain(
    config: Annotated[str | None, typer.Option("--config", "-c", help="preset name or YAML file")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a key: --set train.steps=500 (repeatable)")] = None,
    source: Annotated[str | None, typer.Option(help="prepared source dataset (data.source)")] = None,
    steps: Annotated[int | None, typer.Option(help="optimisation steps (train.steps)")] = None,
    name: Annotated[str, typer.Option(help="suffix of the run id")] = "supervised",
    resume: Annotated[str | None, typer.Option(help="continue an interrupted run (RUN dir, pretrain/ID or pretrain/latest)")] = None,
) -> None:
    """Train SimpleBaseline on source labels. Writes [bold]runs/pretrain/<run>/[/] (config, metrics.jsonl, ckpt/)."""
    from posekit.config.load import resolve_config
    from posekit.config.schema import PretrainConfig
    from posekit.stages.common import resume_config
    from posekit.stages.pretrain import run_pretrain

    ws = workspace().require()
    if resume:
        if config or set_ or source or steps:
            raise ConfigError("--resume continues with the run's saved configuration",
                              hint="drop --config/--set/--source/--steps when resuming")
        run_dir = ws.resolve_resumable("pretrain", resume)
        cfg = resume_config(run_dir, PretrainConfig)
        run_pretrain(ws, cfg, name, resume=run_dir)
        return
    cfg = resolve_config(PretrainConfig, config, set_, {"data.source": source, "train.steps": steps})
    run_pretrain(ws, cfg, name)

