"""Helper commands: ``posekit list``, ``posekit config show``, ``posekit ckpt inspect``, ``posekit fetch-model``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from posekit.cli import PosekitGroup, app
from posekit.cli._common import handle_errors
from posekit.engine.logging import results
from posekit.errors import ConfigError

config_app = typer.Typer(cls=PosekitGroup, help="Show a stage's resolved configuration (or every key, with --explain).",
                         no_args_is_help=True)
ckpt_app = typer.Typer(cls=PosekitGroup, help="Look inside a checkpoint: stage, method, step, metrics.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(ckpt_app, name="ckpt")


@app.command("list", short_help="List datasets, presets, skeletons, training methods, stylizers or backbones.")
@handle_errors
def list_(kind: Annotated[str, typer.Argument(help="datasets, presets, skeletons, methods, stylizers or backbones")]) -> None:
    """List registered datasets, built-in presets, skeletons, training methods, style methods or backbones."""
    if kind == "methods":
        from posekit.stages import method_table

        table = Table(title="training methods (posekit STAGE --method METHOD; * = the stage's default)")
        for col in ("stage", "method", "outputs", "starts from", "configuration", "docs", "what it trains"):
            table.add_column(col)
        for row in method_table():
            table.add_row(row.stage, row.method + (" *" if row.default else ""), row.outputs, row.starts_from,
                          row.config, row.doc, row.summary)
        results.print(table)
    elif kind == "datasets":
        from posekit.datasets.converters import CONVERTERS

        for name in CONVERTERS.names():
            results.print(Text.assemble((name, "bold"), f"  {CONVERTERS.get(name).description}"))
    elif kind == "presets":
        from posekit.config.load import builtin_presets

        for name in builtin_presets():
            results.print(name)
    elif kind == "skeletons":
        from posekit.data.meta import SKELETONS

        for name, meta in SKELETONS.items():
            results.print(Text.assemble((name, "bold"), f"  {meta.num_joints} joints; groups {', '.join(meta.groups)}"))
    elif kind == "backbones":
        from posekit.config.backbones import BACKBONES, TIMM_WEIGHTS
        from posekit.models.backbones import backbone_summary

        table = Table(title="backbones (model.backbone; trunk at width 1, without the deconv head)")
        for col in ("name", "params", "channels", "stride", "ImageNet weights (model.pretrained=imagenet)"):
            table.add_column(col)
        for name in BACKBONES:
            info = backbone_summary(name)
            table.add_row(name, f"{info['params'] / 1e6:.1f} M", str(info["out_channels"]), str(info["stride"]),
                          escape(info["weights"]))
        table.add_row("timm:<name>", "—", "—", "32",
                      escape(f"any timm model with a stride-32 feature level; {TIMM_WEIGHTS}"))
        results.print(table)
    elif kind == "stylizers":
        from posekit.stylize.methods import STYLIZERS

        table = Table(title="style methods (posekit stylize --method METHOD)")
        for col in ("method", "default α", "its own options", "what it does"):
            table.add_column(col)
        for name in STYLIZERS.names():
            s = STYLIZERS.get(name)
            table.add_row(name, f"{s.default_alpha[0]:g}–{s.default_alpha[1]:g}", ", ".join(s.keys) or "-", s.summary)
        results.print(table)
    else:
        raise ConfigError(f"unknown kind {kind!r}",
                          hint="use datasets, presets, skeletons, methods, stylizers or backbones")


@config_app.command("show")
@handle_errors
def config_show(
    stage: Annotated[str | None, typer.Argument(help="prepare (the synthetic generator), pretrain, stylize or adapt "
                                                     "(default: the preset's stage, else pretrain)")] = None,
    method: Annotated[str | None, typer.Option(help="a method of the stage (`posekit list methods`; default: the "
                                                    "preset's method, else the stage's default)")] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="preset name or YAML file")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override KEY=VALUE (repeatable)")] = None,
    explain: Annotated[bool, typer.Option(help="list every key with its description instead", metavar="")] = False,
) -> None:
    """Print the resolved configuration of a stage as YAML (or, with --explain, every key and what it does)."""
    from posekit.config.load import config_to_yaml, read_preset, resolve_config
    from posekit.stages import stage_config
    from posekit.stages.template import METHODS

    preset = read_preset(config)[0] if config else {}
    stage = stage or preset.get("stage") or "pretrain"
    # a training preset's `method` picks the schema; stylize's `method` is a key of its own schema
    cfg = resolve_config(stage_config(stage, method or (preset.get("method") if stage in METHODS else None)),
                         config, set_, stage=stage)
    if not explain:
        typer.echo(config_to_yaml(cfg))
        return
    table = Table(title=f"{stage} configuration keys")
    for col in ("key", "value", "description"):
        table.add_column(col)
    for key, value, doc in _describe(cfg):
        table.add_row(key, str(value), doc)
    results.print(table)


def _describe(model, prefix: str = ""):
    from pydantic import BaseModel

    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _describe(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value, field.description or ""


@ckpt_app.command("inspect")
@handle_errors
def ckpt_inspect(path: Annotated[Path, typer.Argument(help="checkpoint file")]) -> None:
    """Print what a checkpoint holds: stage, method, components, step, metrics, config hash."""
    from posekit.engine.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    table = Table(title=str(path), show_header=False)
    for key in ("format", "version", "stage", "method", "step", "selected_by", "config_sha1", "posekit_version",
                "torch_version"):
        table.add_row(key, str(ckpt.get(key, "—")))
    parts = [k for k in ("model", "teacher", "method_state", "optim", "sched", "rng") if ckpt.get(k) is not None]
    table.add_row("components", ", ".join(parts))
    table.add_row("keypoints", _keypoints(ckpt.get("keypoints")))
    metrics = ckpt.get("metrics") if isinstance(ckpt.get("metrics"), dict) else {}
    table.add_row("metrics", ", ".join(f"{k} {v:.4f}" if isinstance(v, (int, float)) else f"{k} {v}"
                                       for k, v in metrics.items()) or "—")
    results.print(table)


def _keypoints(value) -> str:
    """``human16 (16)`` from a checkpoint's keypoint metadata; a note instead when it is missing or incomplete."""
    if not value:
        return "—"
    if not isinstance(value, dict) or not isinstance(value.get("names"), (list, tuple)):
        return "(incomplete metadata: no joint names)"
    return f"{value.get('name', '?')} ({len(value['names'])})"


@app.command("fetch-model", short_help="Download a detector's model files (blazepose) into the cache.")
@handle_errors
def fetch_model(
    name: Annotated[str, typer.Argument(help="blazepose: MediaPipe Pose's detector and landmark models")],
    wheel: Annotated[Path | None, typer.Option(help="a mediapipe==0.10.21 wheel already downloaded (no network)")] = None,
    to: Annotated[Path | None, typer.Option(help="folder to write to (default: $POSEKIT_CACHE or ~/.cache/posekit)")] = None,
) -> None:
    """Read BlazePose's model files out of the mediapipe wheel on PyPI (downloaded with pip, not installed: its
    numpy and protobuf pins do not fit posekit) into the cache that `predict --detector blazepose` reads."""
    from posekit.detect.fetch import fetch

    if name != "blazepose":
        raise ConfigError(f"unknown model {name!r}", hint="use blazepose (hog ships inside OpenCV)")
    for path in fetch(to, wheel):
        results.print(f"wrote {path}", highlight=False)
