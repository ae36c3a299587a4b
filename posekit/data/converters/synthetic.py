"""``posekit prepare synthetic``: the built-in two-domain benchmark (no download needed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.converters.base import CONVERTERS, Converter, SplitPlan
from posekit.data.h5format import H5Writer
from posekit.data.synthetic.bodies import BODIES
from posekit.data.synthetic.domains import domain_style
from posekit.data.synthetic.generate import render_sample
from posekit.engine.signals import pool_worker_init

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
DOMAIN_IDS = {"source": 0, "target": 1}
CHUNK = 64


LOOK_OPTIONS = ("pose_spread", "roll", "framing", "background")  # settings that replace both domains' own when given


def look_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The DomainStyle fields that ``params`` replaces in both domains (``--pose-spread``, ``--roll``, ``--framing``,
    ``--background``)."""
    out = {k: params[k] for k in LOOK_OPTIONS if params.get(k) is not None}
    if "roll" in out:
        out["roll"] = (-float(out["roll"]), float(out["roll"]))
    return out


def _render_chunk(args: tuple) -> dict[str, np.ndarray]:
    skeleton, domain, split, size, seed, gap, shift, overrides, start, stop = args
    body, style = BODIES[skeleton], dataclasses.replace(domain_style(domain, gap, shift), **overrides)
    out: dict[str, list] = {k: [] for k in ("images", "keypoints", "keypoints3d", "intrinsics", "masks", "bbox")}
    for i in range(start, stop):
        rng = np.random.default_rng([seed, DOMAIN_IDS[domain], SPLIT_IDS[split], i])
        s = render_sample(body, style, size, rng)
        for key, src in (("images", "image"), ("keypoints", "keypoints"), ("keypoints3d", "keypoints3d"),
                         ("intrinsics", "intrinsics"), ("masks", "mask"), ("bbox", "bbox")):
            out[key].append(s[src])
    batch = {k: np.stack(v) for k, v in out.items()}
    n = stop - start
    batch["keypoints_orig"] = batch["keypoints"].copy()
    batch["affine"] = np.broadcast_to(np.eye(3, dtype=np.float32)[:2], (n, 2, 3)).copy()
    batch["orig_size"] = np.tile(np.array([[size, size]], dtype=np.int32), (n, 1))
    batch["source_id"] = np.array([f"synthetic/{skeleton}/{domain}/{split}/{i:06d}" for i in range(start, stop)], dtype=object)
    return batch


@CONVERTERS.register("synthetic")
class SyntheticConverter(Converter):
    """Procedural articulated bodies in a clean ``source`` look and a cluttered, shifted ``target`` look."""

    name = "synthetic"
    version = 1
    description = "built-in procedural benchmark: 3D articulated humans (MPII-16) or quadrupeds (TigDog-18), two domains"

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
            jobs = [(skeleton, domain, split, size, seed, params["gap"], params.get("shift", "all"), overrides, s,
                     min(s + CHUNK, n))
                    for s in range(0, n, CHUNK)]
            n_proc = max(1, min(workers, len(jobs)))
            with H5Writer(path, body.meta, (size, size), params["codec"], with_3d=True, with_masks=True, attrs=attrs) as w:
                if n_proc == 1:
                    results = map(_render_chunk, jobs)
                    for batch in results:
                        w.append(batch)
                        advance(len(batch["images"]))
                else:
                    with ProcessPoolExecutor(n_proc, initializer=pool_worker_init) as pool:
                        for batch in pool.map(_render_chunk, jobs):
                            w.append(batch)
                            advance(len(batch["images"]))

        return build
