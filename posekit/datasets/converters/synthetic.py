"""``posekit prepare synthetic``: the built-in two-domain benchmark (no download needed)."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.h5format import H5Writer
from posekit.datasets.converters.base import CONVERTERS, Converter, SplitPlan
from posekit.datasets.synthetic import mocap
from posekit.datasets.synthetic.bodies import BODIES
from posekit.datasets.synthetic.domains import IMAGE_SUFFIXES, check_backgrounds, domain_style, list_images
from posekit.datasets.synthetic.generate import render_sample
from posekit.datasets.synthetic.mesh import require_anny
from posekit.datasets.synthetic.poses import MESH_DEFAULT_FAMILIES, parse_families
from posekit.datasets.synthetic.textures import texture_folder
from posekit.errors import ConfigError
from posekit.signals import pool_worker_init

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
DOMAIN_IDS = {"source": 0, "target": 1}
CHUNK = 64


# settings that replace both domains' own when given
LOOK_OPTIONS = ("pose_spread", "roll", "framing", "background", "backgrounds", "elevation", "lens", "textures",
                "lighting", "shadow")
SOURCE_OPTIONS = ("body", "pose_families", "phenotypes")  # what draws the people (settings only when given)


def look_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The DomainStyle fields that ``params`` replaces in both domains (``--pose-spread``, ``--roll``, ``--framing``,
    ``--background``, ``--backgrounds``, ``--elevation``, ``--lens``, ``--textures``, ``--lighting``, ``--shadow``)."""
    out = {k: params[k] for k in LOOK_OPTIONS if params.get(k) is not None}
    for key in ("roll", "elevation"):
        if key in out:
            out[key] = (-float(out[key]), float(out[key]))
    return out


def source_params(opts: dict[str, Any], skeleton: str) -> dict[str, Any]:
    """The ``body``, ``pose_families``, ``phenotypes`` and ``backgrounds`` settings of ``opts`` (a validated
    ``SyntheticConfig``'s fields; each only when given, so that default datasets keep their settings hash): the
    family weights parsed, the background folder resolved and checked, the body model's package required."""
    out: dict[str, Any] = {}
    if opts.get("body") == "mesh":
        require_anny()
        out["body"] = "mesh"
    if opts.get("pose_families") is not None:
        try:
            out["pose_families"] = parse_families(opts["pose_families"])
        except ValueError as e:
            raise ConfigError(f"--pose-families {opts['pose_families']!r}: {e}",
                              hint=f"e.g. --pose-families {','.join(f'{k}={v:g}' for k, v in MESH_DEFAULT_FAMILIES.items())}") from None
        if any(name in mocap.FAMILY_NAMES for name in out["pose_families"]):
            mocap.require_mocap()
    if opts.get("phenotypes") is not None:
        out["phenotypes"] = opts["phenotypes"]
    if opts.get("textures") == "photo":
        texture_folder()  # scikit-image's texture photos are there, or a one-line error naming the extra
    if opts.get("backgrounds") is not None:
        folder = Path(opts["backgrounds"]).expanduser().resolve()
        if not folder.is_dir() or not list_images(str(folder)):
            raise ConfigError(f"--backgrounds {opts['backgrounds']}: not a folder holding images",
                              hint=f"give a folder with image files ({', '.join(IMAGE_SUFFIXES)})")
        check_backgrounds(str(folder))
        out["backgrounds"] = str(folder)
    return out


@dataclass(frozen=True)
class PeopleSource:
    """What draws the people: the body kind, the pose family weights (None: the plain prior) and whether mesh
    phenotypes span every slider's whole range."""

    body: str = "capsule"
    families: dict[str, float] | None = None
    full_range: bool = False

    @classmethod
    def of(cls, params: dict[str, Any]) -> PeopleSource:
        """The source of a dataset prepared with ``params`` (mesh bodies default to the mesh family mix)."""
        families = params.get("pose_families")
        if families is None and params.get("body") == "mesh":
            families = MESH_DEFAULT_FAMILIES
        return cls(params.get("body", "capsule"), families, params.get("phenotypes") == "all")


@dataclass(frozen=True)
class RenderJob:
    """One chunk of a split for a worker: samples ``start`` … ``stop − 1`` of ``skeleton`` bodies in ``domain``'s
    look (at ``gap`` and ``shift``, with the ``overrides`` of :func:`look_overrides`), drawn by ``source``; sample
    ``i``'s random numbers come from (``seed``, domain, split, ``i``) alone."""

    skeleton: str
    domain: str
    split: str
    size: int
    seed: int
    start: int
    stop: int
    gap: float = 0.6
    shift: str = "all"
    overrides: dict[str, Any] = field(default_factory=dict)
    source: PeopleSource = PeopleSource()


_MESH_POOLS: dict[int, ProcessPoolExecutor] = {}


def _mesh_pool(n: int) -> ProcessPoolExecutor:
    """``n`` worker processes kept for the rest of this process, so that each loads the body model once per
    ``prepare`` rather than once per split. Spawned, not forked: a process that has run torch (this one, after a
    small split rendered here) cannot be forked safely; its children hang in OpenMP."""
    if n not in _MESH_POOLS:
        _MESH_POOLS[n] = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_MESH_POOLS[n].shutdown, cancel_futures=True)
    return _MESH_POOLS[n]


def _render_chunk(job: RenderJob) -> dict[str, np.ndarray]:
    """The samples of ``job`` as the arrays ``H5Writer.append`` takes."""
    skeleton, domain, split, size, seed, start, stop = (job.skeleton, job.domain, job.split, job.size, job.seed,
                                                         job.start, job.stop)
    source = job.source
    body, style = BODIES[skeleton], dataclasses.replace(domain_style(domain, job.gap, job.shift), **job.overrides)
    if source.body == "mesh":
        from posekit.datasets.synthetic.mesh.sample import load_mesh_kit, render_mesh_sample

        kit = load_mesh_kit()

        def render(rng):
            return render_mesh_sample(kit, style, size, rng, source.families, source.full_range)
    else:
        def render(rng):
            return render_sample(body, style, size, rng, source.families)
    out: dict[str, list] = {k: [] for k in ("images", "keypoints", "keypoints3d", "intrinsics", "masks", "bbox")}
    for i in range(start, stop):
        rng = np.random.default_rng([seed, DOMAIN_IDS[domain], SPLIT_IDS[split], i])
        s = render(rng)
        for key, src in (("images", "image"), ("keypoints", "keypoints"), ("keypoints3d", "keypoints3d"),
                         ("intrinsics", "intrinsics"), ("masks", "mask"), ("bbox", "bbox")):
            out[key].append(s[src])
    batch = {k: np.stack(v) for k, v in out.items()}
    n = stop - start
    batch["keypoints_orig"] = batch["keypoints"].copy()
    batch["affine"] = np.broadcast_to(np.eye(3, dtype=np.float32)[:2], (n, 2, 3)).copy()
    batch["orig_size"] = np.tile(np.array([[size, size]], dtype=np.int32), (n, 1))
    kind = skeleton if source.body == "capsule" else f"{skeleton}-{source.body}"
    batch["source_id"] = np.array([f"synthetic/{kind}/{domain}/{split}/{i:06d}" for i in range(start, stop)], dtype=object)
    return batch


@CONVERTERS.register("synthetic")
class SyntheticConverter(Converter):
    """Procedural articulated bodies (capsule mannequins, or skinned meshes with ``body="mesh"``) in a clean
    ``source`` look and a cluttered, shifted ``target`` look."""

    name = "synthetic"
    version = 1
    description = ("built-in procedural benchmark: 3D articulated humans (MPII-16; capsules, or skinned meshes with "
                   "--body mesh) or quadrupeds (TigDog-18), two domains")

    def plan(self, params: dict[str, Any]) -> list[SplitPlan]:
        skeleton = params["skeleton"]
        prefix = params["name"]
        sizes = {"source": {"train": params["num_train"], "val": params["num_val"], "test": params["num_test"]},
                 "target": {"train": params["num_train"], "val": params["num_val"], "test": params["num_test"]}}
        plans = []
        for domain, splits in sizes.items():
            dataset = f"{prefix}_{'src' if domain == 'source' else 'tgt'}"
            for split, n in splits.items():
                if n <= 0:
                    continue
                plans.append(SplitPlan(dataset, split, n, self._builder(params, skeleton, domain, split, n, self.workers)))
        return plans

    @staticmethod
    def _builder(params: dict[str, Any], skeleton: str, domain: str, split: str, n: int, workers: int):
        def build(path: Path, advance: Callable[[int], None]) -> None:
            size, seed = params["size"], params["seed"]
            body = BODIES[skeleton]
            attrs = {
                "dataset": path.parent.name, "split": split, "domain": domain, "converter": "synthetic",
                "converter_version": SyntheticConverter.version, "params": params,
                "labels_for": "training" if domain == "source" else "evaluation only",
            }
            overrides = look_overrides(params)
            source = PeopleSource.of(params)
            jobs = [RenderJob(skeleton, domain, split, size, seed, s, min(s + CHUNK, n), params["gap"],
                              params.get("shift", "all"), overrides, source) for s in range(0, n, CHUNK)]
            n_proc = max(1, min(workers, len(jobs)))
            with H5Writer(path, body.meta, (size, size), params["codec"], with_3d=True, with_masks=True,
                          attrs=attrs) as w, contextlib.ExitStack() as stack:
                if n_proc == 1:
                    batches = map(_render_chunk, jobs)
                elif source.body == "mesh":
                    batches = _mesh_pool(n_proc).map(_render_chunk, jobs)
                else:
                    batches = stack.enter_context(ProcessPoolExecutor(n_proc, initializer=pool_worker_init)).map(_render_chunk, jobs)
                for batch in batches:
                    w.append(batch)
                    advance(len(batch["images"]))

        return build
