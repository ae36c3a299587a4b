"""``posekit prepare``: raw datasets (or the built-in generator) → workspace HDF5 splits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperCommand

from posekit.cli import app
from posekit.cli._common import handle_errors, workspace
from posekit.errors import ConfigError
from posekit.numbers import MAX_COUNT, MAX_SIDE, Bounds
from posekit.workspace import check_name

SYNTHETIC_PANEL = "Synthetic benchmark (prepare synthetic)"
REAL_PANEL = "Real datasets (prepare DATASET --raw DIR)"


class PrepareCommand(TyperCommand):
    """``prepare``'s help shows the options of the dataset named before ``--help``: ``prepare synthetic --help`` the
    generator's and the shared ones, ``prepare lspet --help`` the real datasets' and the shared ones (both without:
    ``prepare --help``). Giving an option of the other kind is refused when the command runs, naming it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:  # which dataset is named, before --help (eager) stops the parse
            opts, _, _ = self.make_parser(ctx).parse_args(args=list(args))
        except click.UsageError:
            opts = {}
        ctx.meta["prepare_dataset"] = opts.get("dataset")
        return super().parse_args(ctx, args)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        dataset = ctx.meta.get("prepare_dataset")
        if not (ctx.meta.get("prepare_help") and dataset):
            return params
        other = REAL_PANEL if dataset == "synthetic" else SYNTHETIC_PANEL
        return [p for p in params if getattr(p, "rich_help_panel", None) != other]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ctx.meta["prepare_help"] = True
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx.meta["prepare_help"] = False


@app.command(cls=PrepareCommand, short_help="Convert a dataset (or generate the synthetic benchmark) into the workspace.")
@handle_errors
def prepare(
    dataset: Annotated[str, typer.Argument(help="converter name; `posekit list datasets` shows them, docs/datasets.md describes them")],
    raw: Annotated[Path | None, typer.Option(help="real datasets (required): the raw dataset folder, layouts in docs/datasets.md", rich_help_panel=REAL_PANEL)] = None,
    name: Annotated[str | None, typer.Option(help="output dataset name (default: the converter name; synthetic: prefix of NAME_src, NAME_tgt, default synth or synth_animal)")] = None,
    size: Annotated[int | None, typer.Option(help="crop side in pixels (default: 256 for real datasets, 128 for synthetic)"), Bounds(32, MAX_SIDE, integer=True)] = None,
    codec: Annotated[str, typer.Option(help="image storage: raw, jpeg or png (docs/data-format.md)")] = "raw",
    workers: Annotated[int, typer.Option(help="processes used for rendering/conversion"), Bounds(1, 256, integer=True)] = min(4, os.cpu_count() or 1),
    force: Annotated[bool, typer.Option(help="rebuild even if up to date or prepared with other settings", metavar="")] = False,
    categories: Annotated[str | None, typer.Option(help="synanimal, tigdog, animalpose, coco: comma-separated categories (default: horse,tiger; horse,tiger; dog,sheep; all)", rich_help_panel=REAL_PANEL)] = None,
    limit: Annotated[int | None, typer.Option(help="real datasets: keep only the first N samples of each split (quick checks)", rich_help_panel=REAL_PANEL), Bounds(1, MAX_COUNT, integer=True)] = None,
    split_dir: Annotated[Path | None, typer.Option(help="synanimal, tigdog, animalpose: the anchors' split files (a copy of UDA_PoseEstimation's cached_data) (animalpose default: RAW/cached_data)", rich_help_panel=REAL_PANEL)] = None,
    test_every: Annotated[int | None, typer.Option(help="lspet: image i goes to test when i is a multiple of N (default: 10)", rich_help_panel=REAL_PANEL), Bounds(1, MAX_COUNT, integer=True)] = None,
    dev_every: Annotated[int | None, typer.Option(help="lspet: every N-th non-test image goes to a labelled val split, for development only (default: none)", rich_help_panel=REAL_PANEL), Bounds(1, MAX_COUNT, integer=True)] = None,
    ann_file: Annotated[list[str] | None, typer.Option(help="coco (required), rhd, h36m, mpi_inf_3dhp (defaults in docs/datasets.md): SPLIT=PATH of the annotation file, relative to --raw (repeatable)", rich_help_panel=REAL_PANEL)] = None,
    image_root: Annotated[list[str] | None, typer.Option(help="coco, rhd, h36m, mpi_inf_3dhp: DIR or SPLIT=DIR holding the images, relative to --raw (repeatable) (default: the format's usual folder)", rich_help_panel=REAL_PANEL)] = None,
    canonical: Annotated[str | None, typer.Option(help="coco: map keypoints onto this built-in skeleton (`posekit list skeletons`) (default: keep the file's own)", rich_help_panel=REAL_PANEL)] = None,
    keypoint_map: Annotated[list[str] | None, typer.Option(help="coco with --canonical: CANONICAL=SOURCE for joint names that differ (repeatable)", rich_help_panel=REAL_PANEL)] = None,
    skeleton: Annotated[str | None, typer.Option(help="synthetic: human (MPII-16) or quadruped (TigDog-18) (default: human)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    num_train: Annotated[int | None, typer.Option(help="synthetic: training images per domain (default: 4000)", rich_help_panel=SYNTHETIC_PANEL), Bounds(1, MAX_COUNT, integer=True)] = None,
    num_val: Annotated[int | None, typer.Option(help="synthetic: labelled validation images per domain (target val: development only) (default: 500)", rich_help_panel=SYNTHETIC_PANEL), Bounds(0, MAX_COUNT, integer=True)] = None,
    num_test: Annotated[int | None, typer.Option(help="synthetic: test images per domain (default: 1000)", rich_help_panel=SYNTHETIC_PANEL), Bounds(1, MAX_COUNT, integer=True)] = None,
    seed: Annotated[int | None, typer.Option(help="synthetic: generator seed (same seed, same data) (default: 0)", rich_help_panel=SYNTHETIC_PANEL), Bounds(0, 2**32 - 1, integer=True)] = None,
    domains: Annotated[str | None, typer.Option(help="synthetic: which datasets to write: both, source (NAME_src only) or target (NAME_tgt only); a domain's images are the same either way (default: both)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    gap: Annotated[float | None, typer.Option(help="synthetic: strength of the target look, 0 (= source) to 1 (default: 0.6)", rich_help_panel=SYNTHETIC_PANEL), Bounds(0, 1, hint="0 makes the target look like the source, 1 is the hardest")] = None,
    pose_spread: Annotated[float | None, typer.Option(help="synthetic: joint-angle spread of both domains, as a fraction of each joint's range; ≥ 1 draws uniformly over the whole range (default: each domain's own, 0.18 source, 0.3 target at gap 0.6)", rich_help_panel=SYNTHETIC_PANEL), Bounds(0, 100, lo_open=True, hint="a fraction of each joint's range, e.g. 0.3; 1 or more draws uniformly over the range")] = None,
    roll: Annotated[float | None, typer.Option(help="synthetic: in-plane body rotation of both domains, uniform in ±DEG; 180 includes upside-down bodies (default: each domain's own, ±6 source, ±20.4 target at gap 0.6)", rich_help_panel=SYNTHETIC_PANEL), Bounds(0, 180, hint="degrees either side of upright; 180 allows every in-plane rotation")] = None,
    shift: Annotated[str | None, typer.Option(help="synthetic: what the target domain changes: all (its look, and its poses, viewpoints and framing) or appearance (its look only: poses, viewpoints and framing are drawn as in the source) (default: all)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    background: Annotated[str | None, typer.Option(help="synthetic: studio (plain gradient), clutter (colour blobs and shapes) or scene (sky or wall over a textured ground with lanes, posts and buildings) for both domains (default: studio source, clutter target)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    framing: Annotated[str | None, typer.Option(help="synthetic: body (the silhouette fills 72–86 % of the side, off-centre) or joints (real datasets' crop: a centred square of 1.25 × the joints' extent, as posekit's LSPET crops) (default: body)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    body: Annotated[str | None, typer.Option(help="synthetic: capsule (mannequins of capsules) or mesh (skinned, clothed body meshes of the anny model; needs pip install 'posekit\\[bodies]') (default: capsule)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    pose_families: Annotated[str | None, typer.Option(help="synthetic humans: pose family weights, e.g. prior=4,running=2,jumping=1,kicking=1,throwing=1,splits=0.5,handstand=0.5 ; mocap or mocap_CLIP (e.g. mocap_cartwheel) draw frames of motion-capture clips (extra: pip install posekit\\[mocap]) (default: that mix without mocap for --body mesh, the plain prior for capsules)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    phenotypes: Annotated[str | None, typer.Option(help="synthetic --body mesh: adult (adult men and women) or all (every slider over its whole range, children included) (default: adult)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    backgrounds: Annotated[Path | None, typer.Option(help="synthetic: a folder of images; every background is a random crop of one of them, in both domains (default: drawn backgrounds, see --background)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    elevation: Annotated[float | None, typer.Option(help="synthetic: camera elevation of both domains, uniform in ±DEG (default: each domain's own, −8 to 12 source, −17.6 to 25.6 target at gap 0.6)", rich_help_panel=SYNTHETIC_PANEL), Bounds(0, 80, hint="degrees above and below the body's centre")] = None,
    lens: Annotated[str | None, typer.Option(help="synthetic: camera distance: normal (3.5–6 m) or varied (2–15 m, log-uniform; the framing scales the focal length with it: wide-angle close-ups to telephoto shots) (default: normal)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    textures: Annotated[str | None, typer.Option(help="synthetic: flat or photo (CC0 photo textures of scikit-image: grass, gravel and brick on drawn floors and walls, and for --body mesh on the clothes; needs pip install 'posekit\\[textures]') (default: flat)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    lighting: Annotated[str | None, typer.Option(help="synthetic --body mesh: lambert (ambient and one white light) or photo (sky ambient, a coloured key light from above, sometimes a fill light, highlights on skin) (default: lambert)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    shadow: Annotated[str | None, typer.Option(help="synthetic --body mesh: none or contact (the body's soft shadow on the floor; drawn scenes get the camera's level horizon, so the feet stand on the floor) (default: none)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="synthetic: a preset (stage: prepare) or YAML file of the generator's options; the flags above override it (`posekit config show prepare --explain` lists the keys)", rich_help_panel=SYNTHETIC_PANEL)] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="synthetic: override a key, e.g. --set body=mesh (repeatable)", rich_help_panel=SYNTHETIC_PANEL)] = None,
) -> None:
    """Convert a dataset into the workspace (`data/<name>/<split>.h5`). Re-running an up-to-date prepare does nothing.

    Real datasets read a user-supplied raw folder (`--raw`); docs/datasets.md gives each one's source, layout,
    splits and command. `synthetic` generates the built-in benchmark and needs no download.
    """
    from posekit.config.load import resolve_config
    from posekit.config.schema import SyntheticConfig
    from posekit.stages.prepare import run_prepare

    synthetic = {"skeleton": skeleton, "num_train": num_train, "num_val": num_val, "num_test": num_test,
                 "domains": domains, "seed": seed, "gap": gap, "shift": shift, "pose_spread": pose_spread,
                 "roll": roll, "framing": framing, "background": background, "body": body,
                 "pose_families": pose_families, "phenotypes": phenotypes, "backgrounds": backgrounds,
                 "elevation": elevation, "lens": lens, "textures": textures, "lighting": lighting, "shadow": shadow}
    real = {"categories": _csv(categories), "limit": limit, "split_dir": split_dir, "test_every": test_every,
            "dev_every": dev_every, "ann_file": _pairs(ann_file, "--ann-file"),
            "image_root": _pairs(image_root, "--image-root", bare=True), "canonical": canonical,
            "keypoint_map": _pairs(keypoint_map, "--keypoint-map")}
    if name is not None:
        check_name(name, "--name")
    run_prepare(workspace(), dataset, raw, name, size, codec, workers, force,
                resolve_config(SyntheticConfig, config, set_, synthetic, stage="prepare"),
                {k: v for k, v in real.items() if v is not None})


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
