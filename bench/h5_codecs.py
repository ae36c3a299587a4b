"""Image storage in posekit HDF5: file size and random-access decode throughput of raw / PNG / JPEG.

Usage: python bench/h5_codecs.py [--n 512] [--sizes 128 256] [--repeats 5]
Prints a table and writes bench/results/h5_codecs.json. All codecs are measured side by side in one run;
throughput is the median over repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from posekit.data.dataset import H5KeypointDataset
from posekit.data.h5format import H5Writer
from posekit.datasets.synthetic.bodies import BODIES
from posekit.datasets.synthetic.domains import domain_style
from posekit.datasets.synthetic.generate import render_sample


def make_batch(n: int, size: int, domain: str) -> dict:
    samples = [render_sample(BODIES["human"], domain_style(domain, 1.0), size, np.random.default_rng([9, i])) for i in range(n)]
    kp = np.stack([s["keypoints"] for s in samples])
    return {"images": np.stack([s["image"] for s in samples]), "keypoints": kp, "keypoints_orig": kp,
            "affine": np.tile(np.eye(3, dtype=np.float32)[:2], (n, 1, 1)), "bbox": np.stack([s["bbox"] for s in samples]),
            "orig_size": np.tile([size, size], (n, 1)), "source_id": np.array([str(i) for i in range(n)], dtype=object)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for domain in ("source", "target"):
                batch = make_batch(args.n, size, domain)
                for codec in ("raw", "png", "jpeg"):
                    path = Path(tmp) / f"{codec}-{size}-{domain}.h5"
                    with H5Writer(path, BODIES["human"].meta, (size, size), codec) as w:
                        w.append(batch)
                    ds = H5KeypointDataset(path)
                    order = np.random.default_rng(0).permutation(len(ds))
                    rates = []
                    for _ in range(args.repeats):
                        t = time.perf_counter()
                        for i in order:
                            ds[int(i)]
                        rates.append(len(ds) / (time.perf_counter() - t))
                    rows.append({"size": size, "domain": domain, "codec": codec,
                                 "kb_per_image": path.stat().st_size / len(ds) / 1024,
                                 "images_per_s": statistics.median(rates)})
    print(f"{'size':>5} {'domain':>7} {'codec':>5} {'KB/img':>8} {'img/s':>9}")
    for r in rows:
        print(f"{r['size']:>5} {r['domain']:>7} {r['codec']:>5} {r['kb_per_image']:>8.1f} {r['images_per_s']:>9.0f}")
    out = Path(__file__).parent / "results" / "h5_codecs.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
