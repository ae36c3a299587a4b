"""Stage orchestration: build everything a CLI command needs and run it (the CLI modules stay thin).

Importing this package registers every (stage, method) pair with the run template (:mod:`posekit.stages.template`);
the functions below look them up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from posekit.config.load import read_preset, resolve_config
from posekit.engine.logging import console
from posekit.errors import ConfigError
from posekit.stages import (  # noqa: F401
    adapt_mim,
    adapt_multilevel,
    adapt_regda,
    pretrain_mae,
    pretrain_supervised,
    pretrain_supervised25d,
)
from posekit.stages.template import METHODS, RunBuilder, default_method, resume_config, run_training
from posekit.workspace import Workspace, check_name


def stage_config(stage: str, method: str | None = None) -> type[BaseModel]:
    """The configuration schema of a stage: the generator's for ``prepare`` (synthetic), the style cache's for
    ``stylize``, else the (stage, method) pair's."""
    from posekit.config.schema import StylizeConfig, SyntheticConfig

    configs = {"prepare": SyntheticConfig, "stylize": StylizeConfig}
    if stage in configs:
        if method is not None:
            raise ConfigError(f"--method is for the training stages, not {stage}",
                              hint="stylize's method is a key: --set method=adain" if stage == "stylize" else
                              "drop --method")
        return configs[stage]
    return builder_for(stage, method).config


def builder_for(stage: str, method: str | None = None) -> type[RunBuilder]:
    """The registered builder of ``stage`` with ``method`` (None: the default its builders declare)."""
    if stage not in METHODS:
        raise ConfigError(f"unknown stage {stage!r}", hint=f"use one of prepare, {', '.join(METHODS)}, stylize")
    return METHODS[stage].get(method or default_method(stage))


def resolve_method(stage: str, method: str | None, preset: str | None, run_dir: Path | None = None) -> str:
    """The method a command runs: the resumed run's (its config.yaml), else ``--method``, else the preset's
    ``method`` key, else the stage's default (runs from before methods were named have the default too)."""
    if run_dir is not None:
        cfg_path = run_dir / "config.yaml"
        saved = (yaml.safe_load(cfg_path.read_text()) or {}).get("method") if cfg_path.exists() else None
        return saved or default_method(stage)
    return method or (read_preset(preset)[0].get("method") if preset else None) or default_method(stage)


def builder_of(header: dict) -> type[RunBuilder] | None:
    """The registered builder whose run wrote a checkpoint with this ``header`` (runs from before methods were
    named have their stage's default); None for a stage or method this version does not register."""
    stage = header.get("stage")
    if stage not in METHODS:
        return None
    method = header.get("method") or default_method(stage)
    return METHODS[stage].get(method) if method in METHODS[stage].names() else None


@dataclass(frozen=True)
class MethodInfo:
    """One row of ``posekit list methods``: what the (stage, method) pair's builder declares."""

    stage: str
    method: str
    default: bool
    outputs: str
    starts_from: str
    config: str
    doc: str
    summary: str


def method_table() -> list[MethodInfo]:
    rows = []
    for stage, reg in METHODS.items():
        for m in reg.names():
            b = reg.get(m)
            outputs = ("2D keypoints + depth" if b.depth else "2D keypoints") if b.keypoint_head else "no keypoints"
            rows.append(MethodInfo(stage, m, b.default, outputs, "/".join(b.starts_from) if b.starts_from else "-",
                                   b.config.__name__, b.doc, b.summary))
    return rows


def train(ws: Workspace, stage: str, *, method: str | None = None, preset: str | None = None,
          sets: list[str] | None = None, options: dict[str, Any] | None = None, name: str | None = None,
          resume: str | None = None) -> Path:
    """``posekit pretrain`` and ``posekit adapt``: resolve the method and its configuration (defaults, preset,
    ``--set``, then ``options``: dotted config keys from the command's own flags, None when not given) and run it
    through the template, or continue the run ``resume`` with its saved configuration. A finished run is final:
    resuming it changes nothing and says so. Returns the run directory."""
    options = {key: value for key, value in (options or {}).items() if value is not None}
    if name is not None:
        check_name(name, "--name")
    if resume:
        given = [flag for flag, on in (("--config", preset), ("--set", sets)) if on]
        given += [_flag(key) for key in options]
        if given:
            raise ConfigError("--resume continues with the run's saved configuration",
                              hint=f"drop {'/'.join(given)} when resuming")
        run_dir = ws.resolve_resumable(stage, resume)
        if (run_dir / "ckpt" / "final.pt").exists():
            console.print(f"{run_dir} finished (ckpt/final.pt): nothing to resume; {stage}/latest is unchanged. "
                          f"Start a new run to train again.")
            return run_dir
        Builder = builder_for(stage, resolve_method(stage, None, None, run_dir))
        return run_training(Builder(ws, resume_config(run_dir, Builder.config), run_dir), name or Builder.method)
    Builder = builder_for(stage, resolve_method(stage, method, preset))
    for key in options:
        if not _has_key(Builder.config, key):
            takers = [m for m in METHODS[stage].names() if _has_key(METHODS[stage].get(m).config, key)]
            raise ConfigError(f"{_flag(key)} is for --method {' or '.join(takers)} (this is {Builder.method})",
                              hint=f"drop {_flag(key)}")
    cfg = resolve_config(Builder.config, preset, sets, options, stage=stage)
    return run_training(Builder(ws, cfg, None), name or Builder.method)


def _flag(key: str) -> str:
    """The command-line flag of a dotted config key a command exposes (``data.target`` → ``--target``)."""
    return "--" + key.rsplit(".", 1)[-1]


def _has_key(model: type[BaseModel], key: str) -> bool:
    head, _, rest = key.partition(".")
    field = model.model_fields.get(head)
    if field is None:
        return False
    if not rest:
        return True
    sub = field.annotation
    return isinstance(sub, type) and issubclass(sub, BaseModel) and _has_key(sub, rest)
