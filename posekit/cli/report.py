"""``posekit report``: curves, prediction overlays and a Markdown/HTML summary of one training run."""

from __future__ import annotations

from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import check_device, handle_errors, workspace
from posekit.errors import ConfigError
from posekit.numbers import MAX_BATCH, Bounds


@app.command("report", short_help="Write a run's report: curves, overlays, metrics, lineage (Markdown + HTML).")
@handle_errors
def report(
    run: Annotated[str, typer.Argument(help="run dir, STAGE/RUN_ID, STAGE/NAME (its --name), STAGE/latest or latest")] = "latest",
    data: Annotated[list[str] | None, typer.Option(
        "--data", "-d", help="DATASET:SPLIT to draw overlays of (repeatable; default: the run's source and target test "
                             "splits)")] = None,
    num: Annotated[int, typer.Option(help="images per overlay grid (evenly spaced through the split)"), Bounds(1, 1000, integer=True)] = 6,
    log_losses: Annotated[bool, typer.Option(help="log-scale y axes for the loss curves", metavar="")] = True,
    batch_size: Annotated[int, typer.Option(help="images per forward pass"), Bounds(1, MAX_BATCH, integer=True)] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
) -> None:
    """Write RUN/report/: curves.png, overlays_source.png and overlays_target.png (for adapt runs the init pretrain
    weights before and this run's weights after, over the ground truth), report.md and a self-contained
    report.html with the config, lineage, final metrics and RUN/eval results."""
    from posekit.engine.logging import results
    from posekit.stages.report import build_report

    if num < 1:
        raise ConfigError(f"--num must be ≥ 1, got {num}")
    if batch_size < 1:
        raise ConfigError("--batch-size must be ≥ 1")
    check_device(device)
    for path in build_report(workspace().require(), run, data, num, log_losses, batch_size, device):
        results.print(f"wrote {path}", highlight=False)
