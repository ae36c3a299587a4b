"""Which configuration schema each (stage, method) uses."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel

from posekit.config.schema import AdaptConfig, PretrainConfig
from posekit.config.schema_mim import MAEPretrainConfig, MIMAdaptConfig
from posekit.errors import ConfigError

SCHEMAS: dict[str, dict[str, type[BaseModel]]] = {
    "pretrain": {"supervised": PretrainConfig, "mae": MAEPretrainConfig},
    "adapt": {"multilevel": AdaptConfig, "mim": MIMAdaptConfig},
}


def schema_for(stage: str, method: str | None = None) -> type[BaseModel]:
    """The schema of ``stage`` with ``method`` (None: the stage's first, default method)."""
    if stage not in SCHEMAS:
        raise ConfigError(f"unknown stage {stage!r}", hint=f"use one of {', '.join(SCHEMAS)}")
    methods = SCHEMAS[stage]
    if method is None:
        return next(iter(methods.values()))
    if method not in methods:
        raise ConfigError(f"unknown --method {method!r} for {stage}", hint=f"use one of {', '.join(methods)}")
    return methods[method]


def resolve_method(stage: str, method: str | None, preset: str | None, run_dir: Path | None = None) -> str:
    """The method a command runs: the resumed run's (its config.yaml), else ``--method``, else the preset's
    ``method`` key, else the stage's default (runs from before methods were named have the default too)."""
    from posekit.config.load import read_preset

    default = next(iter(SCHEMAS[stage]))
    if run_dir is not None:
        cfg_path = run_dir / "config.yaml"
        saved = (yaml.safe_load(cfg_path.read_text()) or {}).get("method") if cfg_path.exists() else None
        return saved or default
    return method or (read_preset(preset)[0].get("method") if preset else None) or default
