"""Stage orchestration: build everything a CLI command needs and run it (the CLI modules stay thin).

Importing this package registers every (stage, method) pair with the run template (:mod:`posekit.stages.template`);
the functions below look them up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from posekit.config.load import read_preset
from posekit.errors import ConfigError
from posekit.stages import adapt_mim, adapt_multilevel, adapt_regda, pretrain_mae, pretrain_supervised  # noqa: F401
from posekit.stages.template import METHODS, RunBuilder, default_method


def builder_for(stage: str, method: str | None = None) -> type[RunBuilder]:
    """The registered builder of ``stage`` with ``method`` (None: the stage's default, the first registered)."""
    if stage not in METHODS:
        raise ConfigError(f"unknown stage {stage!r}", hint=f"use one of {', '.join(METHODS)}")
    return METHODS[stage].get(method or default_method(stage))


def resolve_method(stage: str, method: str | None, preset: str | None, run_dir: Path | None = None) -> str:
    """The method a command runs: the resumed run's (its config.yaml), else ``--method``, else the preset's
    ``method`` key, else the stage's default (runs from before methods were named have the default too)."""
    if run_dir is not None:
        cfg_path = run_dir / "config.yaml"
        saved = (yaml.safe_load(cfg_path.read_text()) or {}).get("method") if cfg_path.exists() else None
        return saved or default_method(stage)
    return method or (read_preset(preset)[0].get("method") if preset else None) or default_method(stage)


@dataclass(frozen=True)
class MethodInfo:
    """One row of ``posekit list methods``."""

    stage: str
    method: str
    config: str
    summary: str


def method_table() -> list[MethodInfo]:
    return [MethodInfo(stage, m, reg.get(m).config.__name__, reg.get(m).summary)
            for stage, reg in METHODS.items() for m in reg.names()]
