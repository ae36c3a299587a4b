"""The ``prepare`` stage: a converter (a real dataset's raw folder, or the built-in generator) → the workspace's
``data/<name>/<split>.h5``, validated first, resumable, and skipped when already up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from posekit.config.schema import SyntheticConfig
from posekit.engine.logging import make_progress, results
from posekit.errors import ConfigError
from posekit.numbers import MAX_SIDE, check_number
from posekit.workspace import Workspace

SHARED_FLAGS = "--name, --size, --codec, --workers, --force"


def run_prepare(ws: Workspace, dataset: str, raw: Path | None, name: str | None, size: int | None, codec: str,
                workers: int, force: bool, synthetic: SyntheticConfig, real: dict[str, Any]) -> dict[str, str]:
    """Check the options against the converter, then convert; returns ``{"dataset/split": status}``.

    ``synthetic`` holds the generator's options (those the user gave are its ``model_fields_set``), ``real`` the
    real converters' options that were given (None values dropped); options of the other kind are refused, naming
    them.
    """
    from posekit.data.h5format import IMAGE_CODECS
    from posekit.datasets.converters import CONVERTERS
    from posekit.datasets.converters.base import run_plan
    from posekit.datasets.converters.real import RealConverter

    converter_cls = CONVERTERS.get(dataset)
    if codec not in IMAGE_CODECS:
        raise ConfigError(f"unknown --codec {codec!r}", hint=f"use one of {', '.join(IMAGE_CODECS)}")
    if issubclass(converter_cls, RealConverter):
        given = [k for k in SyntheticConfig.model_fields if k in synthetic.model_fields_set]
        if given:
            raise ConfigError(f"{_flags(given)} only appl{'y' if len(given) > 1 else 'ies'} to `prepare synthetic`",
                              hint=f"{dataset} takes --raw, {SHARED_FLAGS}, {_flags(converter_cls.options)}")
        if raw is None:
            raise ConfigError(f"`prepare {dataset}` needs --raw DIR, the folder holding the raw dataset",
                              hint=f"expected layout: {converter_cls.layout}; source: {converter_cls.source}")
        size = _check_size(256 if size is None else size)
        params = converter_cls.make_params(raw, name, size, codec, real)
    else:
        given = (["raw"] if raw is not None else []) + list(real)
        if given:
            raise ConfigError(f"{_flags(given)} does not apply to `prepare {dataset}`",
                              hint=f"{dataset} takes {SHARED_FLAGS}, {_flags(SyntheticConfig.model_fields)}")
        params = _synthetic_params(synthetic, name, _check_size(128 if size is None else size), codec)
    only = None if synthetic.domains == "both" else {
        f"{params['name']}_{'src' if synthetic.domains == 'source' else 'tgt'}"}
    ws = ws.ensure()
    converter = converter_cls(workers=workers)
    with make_progress() as progress:
        def start(key: str, total: int):
            task = progress.add_task(key, total=total, info="")
            return lambda n: progress.advance(task, n)

        status = run_plan(ws, converter, params, force, start, only)
    table = Table(title=f"prepare {dataset} → {ws.root / 'data'}")
    table.add_column("dataset/split")
    table.add_column("status")
    for key, value in status.items():
        table.add_row(key, value)
    results.print(table)
    return status


def _synthetic_params(config: SyntheticConfig, name: str | None, size: int, codec: str) -> dict[str, Any]:
    """The generator's settings (the dataset's settings hash) from ``config`` (validated by its schema); the look and
    source options enter only when given, so that datasets made before an option existed keep their hash."""
    from posekit.datasets.converters.synthetic import source_params

    opts = config.model_dump()
    skeleton = opts["skeleton"]
    params = {"skeleton": skeleton, "size": size, "num_train": opts["num_train"], "num_val": opts["num_val"],
              "num_test": opts["num_test"], "seed": opts["seed"], "gap": opts["gap"], "codec": codec,
              "name": name or ("synth" if skeleton == "human" else "synth_animal")}
    params.update({key: opts[key] for key in ("shift", "pose_spread", "roll", "framing", "background", "elevation", "lens",
                                             "textures", "lighting", "shadow")
                   if opts[key] is not None})
    params.update(source_params(opts, skeleton))
    return params


def _check_size(size: int) -> int:
    return check_number(size, "--size", lo=32, hi=MAX_SIDE, integer=True, hint="use at least 32 pixels")


def _flags(keys) -> str:
    return ", ".join("--" + k.replace("_", "-") for k in keys)
