"""The ``prepare`` stage: a converter (a real dataset's raw folder, or the built-in generator) → the workspace's
``data/<name>/<split>.h5``, validated first, resumable, and skipped when already up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from posekit.config.schema import SyntheticConfig
from posekit.engine.logging import make_progress, results
from posekit.errors import ConfigError
from posekit.numbers import MAX_COUNT, MAX_SIDE, check_number
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
    ws = ws.ensure()
    converter = converter_cls(workers=workers)
    with make_progress() as progress:
        def start(key: str, total: int):
            task = progress.add_task(key, total=total, info="")
            return lambda n: progress.advance(task, n)

        status = run_plan(ws, converter, params, force, start)
    table = Table(title=f"prepare {dataset} → {ws.root / 'data'}")
    table.add_column("dataset/split")
    table.add_column("status")
    for key, value in status.items():
        table.add_row(key, value)
    results.print(table)
    return status


def _synthetic_params(config: SyntheticConfig, name: str | None, size: int, codec: str) -> dict[str, Any]:
    """The generator's settings (the dataset's settings hash) from ``config``, each option checked and named by its
    flag; the look and source options enter only when given."""
    from posekit.datasets.converters.synthetic import source_params
    from posekit.datasets.synthetic.bodies import BODIES
    from posekit.datasets.synthetic.domains import SHIFTS

    opts = config.model_dump()
    skeleton, gap = opts["skeleton"], opts["gap"]
    if skeleton not in BODIES:
        raise ConfigError(f"unknown --skeleton {skeleton!r}", hint=f"use one of {', '.join(BODIES)}")
    gap = check_number(gap, "--gap", lo=0, hi=1, hint="0 makes the target look like the source, 1 is the hardest")
    for key, lo in (("num_train", 1), ("num_val", 0), ("num_test", 1)):
        check_number(opts[key], "--" + key.replace("_", "-"), lo=lo, hi=MAX_COUNT, integer=True)
    check_number(opts["seed"], "--seed", lo=0, hi=2**32 - 1, integer=True)
    params = {"skeleton": skeleton, "size": size, "num_train": opts["num_train"], "num_val": opts["num_val"],
              "num_test": opts["num_test"], "seed": opts["seed"], "gap": gap, "codec": codec,
              "name": name or ("synth" if skeleton == "human" else "synth_animal")}
    if opts.get("shift") is not None:  # only when given, so that default datasets keep their settings hash
        if opts["shift"] not in SHIFTS:
            raise ConfigError(f"unknown --shift {opts['shift']!r}", hint="use all or appearance")
        params["shift"] = opts["shift"]
    if opts.get("pose_spread") is not None:
        check_number(opts["pose_spread"], "--pose-spread", lo=0, hi=100, lo_open=True,
                     hint="a fraction of each joint's range, e.g. 0.3; 1 or more draws uniformly over the range")
        params["pose_spread"] = opts["pose_spread"]
    if opts.get("roll") is not None:
        check_number(opts["roll"], "--roll", lo=0, hi=180,
                     hint="degrees either side of upright; 180 allows every in-plane rotation")
        params["roll"] = opts["roll"]
    if opts.get("framing") is not None:
        if opts["framing"] not in ("body", "joints"):
            raise ConfigError(f"unknown --framing {opts['framing']!r}", hint="use body or joints")
        params["framing"] = opts["framing"]
    if opts.get("background") is not None:
        if opts["background"] not in ("studio", "clutter", "scene"):
            raise ConfigError(f"unknown --background {opts['background']!r}", hint="use studio, clutter or scene")
        params["background"] = opts["background"]
    params.update(source_params(opts, skeleton))
    return params


def _check_size(size: int) -> int:
    return check_number(size, "--size", lo=32, hi=MAX_SIDE, integer=True, hint="use at least 32 pixels")


def _flags(keys) -> str:
    return ", ".join("--" + k.replace("_", "-") for k in keys)
