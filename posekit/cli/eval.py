"""``posekit eval``: score a checkpoint on prepared splits."""

from __future__ import annotations

from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import AMP_HELP, check_amp, check_device, handle_errors, workspace
from posekit.errors import ConfigError
from posekit.numbers import MAX_BATCH, Bounds


@app.command("eval", short_help="Score runs on prepared splits (PCK, or MPJPE for 3D); table + JSON.")
@handle_errors
def eval_(
    runs: Annotated[list[str] | None, typer.Argument(
        help="runs to score, one table row each: run dir, STAGE/RUN_ID, STAGE/NAME (its --name), STAGE/latest "
             "or latest (default: latest)")] = None,
    data: Annotated[list[str] | None, typer.Option("--data", "-d", help="DATASET:SPLIT to score (repeatable; default synth_tgt:test)")] = None,
    metric: Annotated[str, typer.Option(help="pck@T: fraction of joints within T × reference length; 3D models "
                                             "(adapt --method mim): mpjpe, pa-mpjpe (mm), pck3d@T (T in mm), auc "
                                             "or auc@A:B (mm), see docs/metrics.md")] = "pck@0.05",
    protocol: Annotated[str, typer.Option(help="standard (original pixels) or legacy (anchors' heatmap-space PCK)")] = "standard",
    normalize: Annotated[str, typer.Option(help="reference length: bbox (person box longer side) or image")] = "bbox",
    include_occluded: Annotated[bool, typer.Option(help="also count labelled but occluded joints", metavar="")] = False,
    flip: Annotated[bool, typer.Option(help="flip test: average each crop's heatmaps with its mirror's (joints "
                                            "swapped; results in *-flip.json)", metavar="")] = False,
    checkpoint: Annotated[str, typer.Option(help="final, best, last (results in *-best.json, *-last.json), step-N "
                                                 "(a snapshot kept by train.snapshot_every; *-step-NNNNNN.json), or a "
                                                 "checkpoint file (results in WS/eval/external/)")] = "final",
    weights: Annotated[str, typer.Option(help="auto (teacher when present), teacher or student")] = "auto",
    batch_size: Annotated[int, typer.Option(help="images per forward pass"), Bounds(1, MAX_BATCH, integer=True)] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
    amp: Annotated[str, typer.Option(help=AMP_HELP + "; other than auto: results in *-amp-MODE.json")] = "auto",
) -> None:
    """Predict each split with each run, map keypoints back to original pixels, print PCK per group and write
    RUN/eval/*.json. Several runs give one comparison table, e.g. `posekit eval pretrain/latest adapt/latest`."""
    from posekit.evaluation.metrics3d import is_metric3d, parse_metric3d
    from posekit.evaluation.pck import NORMALISATIONS, parse_metric
    from posekit.stages.evaluate import EvalRequest, run_eval

    if data is None:
        data = ["synth_tgt:test"]
    thr = None if is_metric3d(metric) and parse_metric3d(metric) else parse_metric(metric)
    if protocol not in ("standard", "legacy"):
        raise ConfigError(f"unknown --protocol {protocol!r}", hint="use standard or legacy")
    if normalize not in NORMALISATIONS:
        raise ConfigError(f"unknown --normalize {normalize!r}", hint=f"use one of {', '.join(NORMALISATIONS)}")
    if weights not in ("auto", "teacher", "student"):
        raise ConfigError(f"unknown --weights {weights!r}", hint="use auto, teacher or student")
    if batch_size < 1:
        raise ConfigError("--batch-size must be ≥ 1")
    check_device(device)
    check_amp(amp)
    request = EvalRequest(tuple(data), metric, thr, protocol, normalize, include_occluded, checkpoint, weights,
                          batch_size, flip, amp)
    run_eval(workspace().require(), runs or ["latest"], request, device)
