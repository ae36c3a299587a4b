"""``posekit prepare``: raw datasets (or the built-in generator) → workspace HDF5 splits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace
from posekit.engine.logging import make_progress, results
from posekit.errors import ConfigError
from posekit.workspace import check_name

SYNTHETIC_DEFAULTS = {"skeleton": "human", "num_train": 4000, "num_val": 500, "num_test": 1000, "seed": 0, "gap": 0.6}
SHARED_FLAGS = "--name, --size, --codec, --workers, --force"


@app.command()
@handle_errors
def prepare(
    dataset: Annotated[str, typer.Argument(help="converter name; `posekit list datasets` shows them, docs/datasets.md describes them")],
    raw: Annotated[Path | None, typer.Option(help="real datasets (required): the raw dataset folder, layouts in docs/datasets.md")] = None,
    name: Annotated[str | None, typer.Option(help="output dataset name (default: the converter name; synthetic: prefix of NAME_src, NAME_tgt, default synth or synth_animal)")] = None,
    size: Annotated[int | None, typer.Option(help="crop side in pixels (default: 256 for real datasets, 128 for synthetic)")] = None,
    codec: Annotated[str, typer.Option(help="image storage: raw, jpeg or png (docs/data-format.md)")] = "raw",
    workers: Annotated[int, typer.Option(help="processes used for rendering/conversion")] = min(4, os.cpu_count() or 1),
    force: Annotated[bool, typer.Option(help="rebuild even if up to date or prepared with other settings")] = False,
    categories: Annotated[str | None, typer.Option(help="synanimal, tigdog, animalpose, coco: comma-separated categories (default: horse,tiger; horse,tiger; dog,sheep; all)")] = None,
    limit: Annotated[int | None, typer.Option(help="real datasets: keep only the first N samples of each split (quick checks)")] = None,
    split_dir: Annotated[Path | None, typer.Option(help="synanimal, tigdog, animalpose: the anchors' split files (a copy of UDA_PoseEstimation's cached_data) (animalpose default: RAW/cached_data)")] = None,
    test_every: Annotated[int | None, typer.Option(help="lspet: image i goes to test when i is a multiple of N (default: 10)")] = None,
    dev_every: Annotated[int | None, typer.Option(help="lspet: every N-th non-test image goes to a labelled val split, for development only (default: none)")] = None,
    ann_file: Annotated[list[str] | None, typer.Option(help="coco (required), rhd, h36m, mpi_inf_3dhp (defaults in docs/datasets.md): SPLIT=PATH of the annotation file, relative to --raw (repeatable)")] = None,
    image_root: Annotated[list[str] | None, typer.Option(help="coco, rhd, h36m, mpi_inf_3dhp: DIR or SPLIT=DIR holding the images, relative to --raw (repeatable) (default: the format's usual folder)")] = None,
    canonical: Annotated[str | None, typer.Option(help="coco: map keypoints onto this built-in skeleton (`posekit list skeletons`) (default: keep the file's own)")] = None,
    keypoint_map: Annotated[list[str] | None, typer.Option(help="coco with --canonical: CANONICAL=SOURCE for joint names that differ (repeatable)")] = None,
    skeleton: Annotated[str | None, typer.Option(help="synthetic: human (MPII-16) or quadruped (TigDog-18) (default: human)")] = None,
    num_train: Annotated[int | None, typer.Option(help="synthetic: training images per domain (default: 4000)")] = None,
    num_val: Annotated[int | None, typer.Option(help="synthetic: labelled validation images per domain (target val: development only) (default: 500)")] = None,
    num_test: Annotated[int | None, typer.Option(help="synthetic: test images per domain (default: 1000)")] = None,
    seed: Annotated[int | None, typer.Option(help="synthetic: generator seed (same seed, same data) (default: 0)")] = None,
    gap: Annotated[float | None, typer.Option(help="synthetic: strength of the target look, 0 (= source) to 1 (default: 0.6)")] = None,
    pose_spread: Annotated[float | None, typer.Option(help="synthetic: joint-angle spread of both domains, as a fraction of each joint's range; ≥ 1 draws uniformly over the whole range (default: each domain's own, 0.18 source, 0.3 target at gap 0.6)")] = None,
    roll: Annotated[float | None, typer.Option(help="synthetic: in-plane body rotation of both domains, uniform in ±DEG; 180 includes upside-down bodies (default: each domain's own, ±6 source, ±20.4 target at gap 0.6)")] = None,
    shift: Annotated[str | None, typer.Option(help="synthetic: what the target domain changes: all (its look, and its poses, viewpoints and framing) or appearance (its look only: poses, viewpoints and framing are drawn as in the source) (default: all)")] = None,
    background: Annotated[str | None, typer.Option(help="synthetic: studio (plain gradient), clutter (colour blobs and shapes) or scene (sky or wall over a textured ground with lanes, posts and buildings) for both domains (default: studio source, clutter target)")] = None,
    framing: Annotated[str | None, typer.Option(help="synthetic: body (the silhouette fills 72–86 % of the side, off-centre) or joints (real datasets' crop: a centred square of 1.25 × the joints' extent, as posekit's LSPET crops) (default: body)")] = None,
) -> None:
    """Convert a dataset into the workspace (`data/<name>/<split>.h5`). Re-running an up-to-date prepare does nothing.

    Real datasets read a user-supplied raw folder (`--raw`); docs/datasets.md gives each one's source, layout,
    splits and command. `synthetic` generates the built-in benchmark and needs no download.
    """
    from posekit.data.converters import CONVERTERS
    from posekit.data.converters.base import run_plan
    from posekit.data.converters.real import RealConverter
    from posekit.data.converters.synthetic import LOOK_OPTIONS
    from posekit.data.h5format import IMAGE_CODECS

    converter_cls = CONVERTERS.get(dataset)
    if name is not None:
        check_name(name, "--name")
    if codec not in IMAGE_CODECS:
        raise ConfigError(f"unknown --codec {codec!r}", hint=f"use one of {', '.join(IMAGE_CODECS)}")
    synthetic = {"skeleton": skeleton, "num_train": num_train, "num_val": num_val, "num_test": num_test,
                 "seed": seed, "gap": gap, "shift": shift, "pose_spread": pose_spread,
                 "roll": roll, "framing": framing, "background": background}
    real = {"categories": _csv(categories), "limit": limit, "split_dir": split_dir, "test_every": test_every, "dev_every": dev_every,
            "ann_file": _pairs(ann_file, "--ann-file"), "image_root": _pairs(image_root, "--image-root", bare=True),
            "canonical": canonical, "keypoint_map": _pairs(keypoint_map, "--keypoint-map")}
    synthetic = {k: v for k, v in synthetic.items() if v is not None}
    real = {k: v for k, v in real.items() if v is not None}
    if issubclass(converter_cls, RealConverter):
        if synthetic:
            raise ConfigError(f"{_flags(synthetic)} only appl{'y' if len(synthetic) > 1 else 'ies'} to `prepare synthetic`",
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
                              hint=f"{dataset} takes {SHARED_FLAGS}, {_flags([*SYNTHETIC_DEFAULTS, *LOOK_OPTIONS])}")
        params = _synthetic_params({**SYNTHETIC_DEFAULTS, **synthetic}, name, _check_size(128 if size is None else size),
                                   codec)
    converter = converter_cls(workers=workers)
    ws = workspace().ensure()
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


def _synthetic_params(opts: dict[str, Any], name: str | None, size: int, codec: str) -> dict[str, Any]:
    from posekit.data.synthetic.bodies import BODIES
    from posekit.data.synthetic.domains import SHIFTS

    skeleton, gap = opts["skeleton"], opts["gap"]
    if skeleton not in BODIES:
        raise ConfigError(f"unknown --skeleton {skeleton!r}", hint=f"use one of {', '.join(BODIES)}")
    if not 0 <= gap <= 1:
        raise ConfigError(f"--gap {gap} is outside [0, 1]", hint="0 makes the target look like the source, 1 is the hardest")
    if opts["num_train"] < 1 or opts["num_test"] < 1 or opts["num_val"] < 0:
        raise ConfigError("--num-train and --num-test must be ≥ 1 and --num-val ≥ 0")
    params = {"skeleton": skeleton, "size": size, "num_train": opts["num_train"], "num_val": opts["num_val"],
              "num_test": opts["num_test"], "seed": opts["seed"], "gap": gap, "codec": codec,
              "name": name or ("synth" if skeleton == "human" else "synth_animal")}
    if opts.get("shift") is not None:  # only when given, so that default datasets keep their settings hash
        if opts["shift"] not in SHIFTS:
            raise ConfigError(f"unknown --shift {opts['shift']!r}", hint="use all or appearance")
        params["shift"] = opts["shift"]
    if opts.get("pose_spread") is not None:
        if opts["pose_spread"] <= 0:
            raise ConfigError(f"--pose-spread {opts['pose_spread']} must be > 0",
                              hint="a fraction of each joint's range, e.g. 0.3; 1 or more draws uniformly over the range")
        params["pose_spread"] = opts["pose_spread"]
    if opts.get("roll") is not None:
        if not 0 <= opts["roll"] <= 180:
            raise ConfigError(f"--roll {opts['roll']} is outside [0, 180]",
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
    return params


def _check_size(size: int) -> int:
    if size < 32:
        raise ConfigError(f"--size {size} is too small", hint="use at least 32 pixels")
    return size


def _flags(keys) -> str:
    return ", ".join("--" + k.replace("_", "-") for k in keys)


def _csv(value: str | None) -> list[str] | None:
    """``"horse, tiger"`` → ``["horse", "tiger"]``."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise ConfigError("--categories is empty", hint="give comma-separated names, e.g. --categories horse,tiger")
    return items


def _pairs(values: list[str] | None, flag: str, bare: bool = False) -> dict[str, str] | None:
    """``["train=a.json", "val=b.json"]`` → ``{"train": "a.json", "val": "b.json"}``; with ``bare``, a value without
    ``=`` applies to every split (key ``*``)."""
    if not values:
        return None
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep and bare:
            key, value = "*", item
        key, value = key.strip(), value.strip()
        if not key or not value or key in out:
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE, each key once",
                              hint=f"e.g. {flag} train=annotations/train.json")
        out[key] = value
    return out
