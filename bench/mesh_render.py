"""Mesh bodies (`prepare synthetic --body mesh`): rendering throughput, what bounds it, and the one-time costs.

Usage: python bench/mesh_render.py [--n 256] [--size 128] [--workers W] [--compare-warp] [--cold]

- throughput: the converter's own path (SyntheticConverter: worker processes, per-process model load, HDF5
  writing) writing N source images (workers starting) then N target images (warm workers), wall time, with
  ``--workers`` (default: prepare's default);
- per-sample CPU time of each step, from a profile of 32 samples in this process (what bounds the speed);
- the construction of the body model in a fresh process with its cache present (what every worker pays once);
- ``--compare-warp``: the rasteriser against ray casting the same posed mesh with warp (``wp.Mesh`` BVH build +
  one ray per pixel), the renderer that anny's dependencies bring;
- ``--cold``: anny's first-ever construction, building its cache from the packaged assets in a temporary folder
  (about 2 minutes and ~790 MB of disk; the figure every fresh machine pays once).
Prints a table and writes bench/results/mesh_render.json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STEPS = {  # profile entry (file suffix, function) → what it is
    ("mesh/body.py", "pose"): "anny: phenotype + skinning (torch)",
    ("mesh/labels.py", "skin_depth"): "labels: joint depth under the skin",
    ("mesh/raster.py", "vertex_normals"): "vertex normals",
    ("mesh/raster.py", "rasterize"): "rasterise (z-buffer)",
    ("mesh/appearance.py", "albedo"): "clothes/skin per pixel",
    ("synthetic/domains.py", "draw_background"): "background",
    ("synthetic/generate.py", "finish_sample"): "occluders, light ramp, blur, noise",
}


def throughput(n: int, size: int, workers: int) -> dict:
    """Wall time of the converter writing N source then N target training images: the first split includes
    starting the workers and loading the body model in each, the second runs on the warm workers."""
    from posekit.datasets.converters.synthetic import SyntheticConverter

    params = {"skeleton": "human", "size": size, "num_train": n, "num_val": 0, "num_test": 0, "seed": 0, "gap": 0.6,
              "codec": "raw", "name": "bench", "body": "mesh"}
    plans = [p for p in SyntheticConverter(workers=workers).plan(params) if p.split == "train"]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for plan, label in zip(plans, ("source, workers starting", "target, warm workers")):
            folder = Path(tmp) / plan.dataset
            folder.mkdir()
            start = time.perf_counter()
            plan.build(folder / "train.h5", lambda k: None)
            wall = time.perf_counter() - start
            out[label] = {"images": n, "wall_s": round(wall, 2), "images_per_s": round(n / wall, 2)}
    return out


def step_profile(size: int, n: int = 32) -> dict:
    from posekit.datasets.synthetic.domains import domain_style
    from posekit.datasets.synthetic.mesh.sample import load_mesh_kit, render_mesh_sample
    from posekit.datasets.synthetic.poses import MESH_DEFAULT_FAMILIES

    kit = load_mesh_kit()
    style = domain_style("target", 0.6)
    render_mesh_sample(kit, style, size, np.random.default_rng(0), MESH_DEFAULT_FAMILIES)  # warm-up
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    start = time.process_time()
    for i in range(n):
        render_mesh_sample(kit, style, size, np.random.default_rng([1, i]), MESH_DEFAULT_FAMILIES)
    total = time.process_time() - start
    prof.disable()
    stats = pstats.Stats(prof).stats
    out = {"total_ms": round(1000 * total / n, 1)}
    for (suffix, func), label in STEPS.items():
        cum = sum(v[3] for (file, _, name), v in stats.items() if file.endswith(suffix) and name == func)
        out[label] = round(1000 * cum / n, 1)
    out["other"] = round(out["total_ms"] - sum(out[label] for label in STEPS.values()), 1)
    return out


def construction(cache: str | None = None) -> float:
    """Seconds to build the body model (and everything posekit derives from it) in a fresh process."""
    env = dict(os.environ, **({"ANNY_CACHE_DIR": cache} if cache else {}))
    code = ("import time; t = time.perf_counter(); from posekit.datasets.synthetic.mesh.sample import load_mesh_kit; "
            "load_mesh_kit(); print(time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return round(float(proc.stdout.strip().splitlines()[-1]), 2)


def compare_warp(size: int, n: int = 16) -> dict:
    """Milliseconds per image: the NumPy rasteriser vs warp ray casting (BVH build + cast), same posed meshes."""
    import warp as wp

    from posekit.datasets.synthetic.mesh.raster import rasterize
    from posekit.datasets.synthetic.mesh.sample import load_mesh_kit

    wp.config.quiet = True
    wp.init()

    @wp.kernel
    def cast(mesh: wp.uint64, f: float, c: float, width: int, face: wp.array(dtype=int), depth: wp.array(dtype=float)):
        tid = wp.tid()
        ray = wp.normalize(wp.vec3((float(tid % width) - c) / f, (float(tid // width) - c) / f, 1.0))
        hit = wp.mesh_query_ray(mesh, wp.vec3(0.0, 0.0, 0.0), ray, 1.0e6)
        if hit.result:
            face[tid] = hit.face
            depth[tid] = hit.t * ray[2]

    kit = load_mesh_kit()
    body = kit.body
    rng = np.random.default_rng(0)
    meshes = []
    for _ in range(n):
        posed = body.pose(np.zeros((25, 3)) + rng.normal(0, 10, (25, 3)), body.sample_phenotype(rng))
        v = posed.vertices * np.array([1.0, -1.0, -1.0]) + np.array([0.0, 0.0, 4.5])  # facing the camera
        meshes.append(v)
    f, c = 0.8 * size / 1.9 * 4.5, (size - 1) / 2
    indices = wp.array(body.faces.astype(np.int32).ravel(), dtype=int)
    face, depth = wp.zeros(size * size, dtype=int), wp.zeros(size * size, dtype=float)
    timings = {"numpy rasteriser": [], "warp BVH build": [], "warp ray cast": []}
    agree = []
    for v in meshes + meshes[:1]:  # the first round compiles warp's kernel: timed again at the end
        t0 = time.perf_counter()
        screen = np.concatenate([v[:, :2] / v[:, 2:3] * f + c, v[:, 2:3]], 1)
        raster = rasterize(screen, body.faces, size, size)
        t1 = time.perf_counter()
        mesh = wp.Mesh(points=wp.array(v.astype(np.float32), dtype=wp.vec3), indices=indices)
        t2 = time.perf_counter()
        face.fill_(-1)
        wp.launch(cast, dim=size * size, inputs=[mesh.id, f, c, size, face, depth])
        hits = face.numpy()
        t3 = time.perf_counter()
        for key, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2)):
            timings[key].append(dt)
        agree.append(float(((hits.reshape(size, size) >= 0) == raster.covered).mean()))
    return {**{k: round(1000 * float(np.median(v[1:])), 2) for k, v in timings.items()},
            "coverage agreement": round(float(np.mean(agree)), 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256, help="images per domain for the throughput run")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="as `prepare --workers`")
    ap.add_argument("--compare-warp", action="store_true")
    ap.add_argument("--cold", action="store_true", help="also time anny's first-ever construction (~2 min)")
    args = ap.parse_args()
    results: dict = {"args": vars(args), "cpus": os.cpu_count()}
    results["construction_warm_s"] = construction()
    if args.cold:
        with tempfile.TemporaryDirectory() as cache:
            results["construction_cold_s"] = construction(cache)
    results["steps_cpu_ms_per_image"] = step_profile(args.size)
    if args.compare_warp:
        results["renderer_ms_per_image"] = compare_warp(args.size)
    results["throughput"] = throughput(args.n, args.size, args.workers)
    print(json.dumps(results, indent=2))
    out = Path(__file__).parent / "results" / "mesh_render.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
