"""Which configuration schema each (stage, method) uses."""

from __future__ import annotations

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
