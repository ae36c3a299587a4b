"""Training data path: posekit's HDF5 loader + batched augmentation against the anchors' per-sample JPEG + PIL path.

Usage: python bench/loader_vs_jpeg.py [--n 512] [--size 256] [--batch 32] [--batches 24] [--warmup 8] [--workers 1 2]
       [--repeats 3]
       [--threads N]

Both paths deliver the same thing for the same crops: a batch of normalised ``[B,3,S,S]`` input images under a
random affine (rotation ±30°, scale 0.75–1.25, translation) and colour jitter, with ``[B,K,S/4,S/4]`` Gaussian
target heatmaps (σ 2).
- anchors (per sample, in DataLoader workers, as UDAPE/DAML/RegDA do): open the JPEG file with PIL, warp it with
  torchvision's PIL affine, jitter colours with ColorJitter, ToTensor + Normalize, move the keypoints with NumPy and
  draw each joint's heatmap in a Python loop over joints. Two rows: torchvision's default interpolation for
  ``affine`` (nearest neighbour, what the anchors' rotation transforms get) and bilinear (the same resampling as
  posekit's warp, so the same augmentation);
- posekit: uint8 crops from the raw-codec HDF5 file through the same DataLoader machinery, then the batched warp,
  jitter and normalisation of ``render_views`` and the heatmap encoding on the tensor (what `posekit pretrain` runs).
Images per second are medians over repeats, the paths interleaved in one run at each worker count.
Prints a table and writes bench/results/loader_vs_jpeg.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torchvision.transforms import ColorJitter

from posekit.data.augment import jitter_factors, render_views, sample_affine, transform_keypoints
from posekit.data.codec import HeatmapCodec
from posekit.data.dataset import H5KeypointDataset
from posekit.data.h5format import H5Writer
from posekit.data.loaders import step_batches
from posekit.datasets.synthetic.bodies import BODIES
from posekit.datasets.synthetic.domains import domain_style
from posekit.datasets.synthetic.generate import render_sample

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class JpegDataset(Dataset):
    """The anchors' pattern: one JPEG file per sample, all augmentation and target drawing per sample."""

    def __init__(self, files: list[Path], keypoints: np.ndarray, size: int, sigma: float = 2.0,
                 interpolation: TF.InterpolationMode = TF.InterpolationMode.NEAREST):
        self.files, self.keypoints, self.size, self.sigma = files, keypoints, size, sigma
        self.interpolation = interpolation
        self.jitter = ColorJitter(0.25, 0.25, 0.25)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        image = Image.open(self.files[i]).convert("RGB")
        angle = float(np.random.uniform(-30, 30))
        scale = float(np.random.uniform(0.75, 1.25))
        shift = [int(v) for v in np.random.uniform(-0.1, 0.1, 2) * self.size]
        image = TF.affine(image, angle, shift, scale, [0.0, 0.0], interpolation=self.interpolation)
        image = self.jitter(image)
        tensor = TF.normalize(TF.to_tensor(image), MEAN, STD)
        c = (self.size - 1) / 2
        rad = math.radians(-angle)  # torchvision rotates counter-clockwise in image coordinates
        rot = scale * np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
        kp = self.keypoints[i].copy()
        kp[:, :2] = (kp[:, :2] - c) @ rot.T + c + shift
        return tensor, torch.from_numpy(self.heatmaps(kp))

    def heatmaps(self, kp: np.ndarray) -> np.ndarray:
        hm_size, stride = self.size // 4, 4
        target = np.zeros((len(kp), hm_size, hm_size), np.float32)
        xs = np.arange(hm_size, dtype=np.float32)
        for j, (x, y, v) in enumerate(kp):  # the anchors' loop over joints
            if v <= 0:
                continue
            mu_x, mu_y = x / stride, y / stride
            target[j] = np.exp(-((xs[None, :] - mu_x) ** 2 + (xs[:, None] - mu_y) ** 2) / (2 * self.sigma**2))
        return target


def anchors_rate(ds: JpegDataset, batch: int, batches: int, warmup: int, workers: int) -> float:
    sampler = RandomSampler(ds, num_samples=batch * (warmup + batches))  # successive permutations, like an epoch loop
    loader = iter(DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                             persistent_workers=False))
    for _ in range(warmup):  # workers started, steady state reached
        next(loader)
    start = time.perf_counter()
    for _ in range(batches):
        next(loader)  # a batch of images and target heatmaps
    return batch * batches / (time.perf_counter() - start)


def posekit_rate(ds: H5KeypointDataset, codec: HeatmapCodec, batch: int, batches: int, warmup: int, workers: int,
                 seed: int) -> float:
    size = codec.input_size
    loader = step_batches(ds, batch, seed, 0, workers, torch.device("cpu"))
    for i in range(warmup):  # workers started; the first batches' large allocations are slow (the allocator warms up)
        b = next(loader)
        render_views(b["image"], sample_affine(batch, (size, size), size, 30.0, (0.75, 1.25), (0.0, 0.0), 0.1, 0.0)[0],
                     size, jitter_factors(batch, 0.25))
    start = time.perf_counter()
    for _ in range(batches):
        b = next(loader)
        m, _ = sample_affine(batch, (size, size), size, 30.0, (0.75, 1.25), (0.0, 0.0), 0.1, 0.0)
        render_views(b["image"], m, size, jitter_factors(batch, 0.25))  # uint8 in, normalised float out
        codec.encode(transform_keypoints(b["keypoints"].float(), m))  # target heatmaps and weights
    return batch * batches / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=24, help="measured batches per path and repeat")
    ap.add_argument("--warmup", type=int, default=8, help="batches run before timing, for every path")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="torch threads of the main process (posekit's batched augmentation runs there, the anchors' "
                    "runs in the workers) (default: torch's default, all cores, as in `posekit pretrain`)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    body = BODIES["human"]
    with tempfile.TemporaryDirectory() as tmp:
        samples = [render_sample(body, domain_style("target", 0.6), args.size, np.random.default_rng([7, i]))
                   for i in range(args.n)]
        kp = np.stack([s["keypoints"] for s in samples]).astype(np.float32)
        files = []
        for i, s in enumerate(samples):
            files.append(Path(tmp) / f"{i:05d}.jpg")
            Image.fromarray(s["image"]).save(files[-1], quality=95)
        h5 = Path(tmp) / "crops.h5"
        with H5Writer(h5, body.meta, (args.size, args.size), "raw") as w:
            w.append({"images": np.stack([s["image"] for s in samples]), "keypoints": kp, "keypoints_orig": kp,
                      "affine": np.tile(np.eye(3, dtype=np.float32)[:2], (args.n, 1, 1)),
                      "bbox": np.stack([s["bbox"] for s in samples]), "orig_size": np.tile([args.size] * 2, (args.n, 1)),
                      "source_id": np.array([str(i) for i in range(args.n)], dtype=object)})
        nearest = JpegDataset(files, kp, args.size)
        bilinear = JpegDataset(files, kp, args.size, interpolation=TF.InterpolationMode.BILINEAR)
        h5_ds = H5KeypointDataset(h5)
        codec = HeatmapCodec(args.size, args.size // 4, 2.0)
        rows = []
        for workers in args.workers:
            a, ab, p = [], [], []
            for r in range(args.repeats):
                a.append(anchors_rate(nearest, args.batch, args.batches, args.warmup, workers))
                ab.append(anchors_rate(bilinear, args.batch, args.batches, args.warmup, workers))
                p.append(posekit_rate(h5_ds, codec, args.batch, args.batches, args.warmup, workers, r))
            rows.append({"workers": workers, "anchors_img_s": statistics.median(a),
                         "anchors_bilinear_img_s": statistics.median(ab), "posekit_img_s": statistics.median(p),
                         "ratio": statistics.median(pi / ai for pi, ai in zip(p, a)),
                         "ratio_bilinear": statistics.median(pi / ai for pi, ai in zip(p, ab)),
                         "anchors_all": a, "anchors_bilinear_all": ab, "posekit_all": p})
    print(f"{'workers':>7} {'anchors (nearest)':>18} {'anchors (bilinear)':>19} {'posekit':>8} {'ratio':>6} "
          f"{'ratio (bilinear)':>17}   (images/s; ratio = posekit / anchors, median of per-repeat ratios)")
    for r in rows:
        print(f"{r['workers']:>7} {r['anchors_img_s']:>18.0f} {r['anchors_bilinear_img_s']:>19.0f} "
              f"{r['posekit_img_s']:>8.0f} {r['ratio']:>6.2f} {r['ratio_bilinear']:>17.2f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "loader_vs_jpeg.json").write_text(json.dumps({"args": vars(args), "rows": rows,
                                                         "threads": torch.get_num_threads()}, indent=2))


if __name__ == "__main__":
    main()
