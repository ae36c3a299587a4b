"""Run a pose network over a prepared split and score it: predictions are mapped back to original pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from posekit.data.augment import resize_matrix, warp_images
from posekit.data.codec import HeatmapCodec, pool_depth
from posekit.data.dataset import H5KeypointDataset
from posekit.data.h5format import read_arrays
from posekit.data.meta import KeypointMeta
from posekit.engine.precision import FP32, Precision
from posekit.evaluation.legacy import LegacyAccumulator, anchor_target_heatmaps, batch_accuracy
from posekit.evaluation.pck import pck_per_joint, reference_lengths, summarise
from posekit.inference import heatmap_forward


@dataclass
class Predictions:
    """``keypoints`` ``[N,K,2]`` in original pixels, ``scores`` ``[N,K]``, and the legacy per-joint accuracy."""

    keypoints: np.ndarray
    scores: np.ndarray
    legacy_joint_acc: np.ndarray | None = None
    meta: KeypointMeta | None = None
    extra: dict = field(default_factory=dict)


@torch.no_grad()
def predict_split(
    model: nn.Module,
    path: Path,
    input_size: int,
    sigma: float,
    device: torch.device,
    batch_size: int = 32,
    num_workers: int = 0,
    legacy: bool = False,
    on_batch: Callable[[int], None] | None = None,
    with_depth: bool = False,
    flip: bool = False,
    precision: Precision = FP32,
) -> Predictions:
    """Resize each stored crop to the input size (no augmentation), decode with sub-pixel refinement, map back.

    ``with_depth`` (2.5D networks) also reads each joint's root-relative depth under a Gaussian at its predicted
    peak: ``extra["depth"]`` ``[N,K]``, in the network's depth units. ``flip``: the flip test (heatmaps averaged
    with those of the mirrored crop, :func:`posekit.inference.heatmap_forward`).
    """
    ds = H5KeypointDataset(path)
    h, w = ds.image_size
    heat = input_size // 4
    codec = HeatmapCodec(input_size, heat, sigma)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    arrays = read_arrays(path, ("affine",))
    model.eval()
    preds, scores, depths = [], [], []
    acc = LegacyAccumulator(ds.meta.num_joints) if legacy else None
    flip_perm = ds.meta.flip_permutation() if flip else None
    for batch in loader:
        images = batch["image"].to(device).float() / 255.0
        b = images.shape[0]
        m = resize_matrix((h, w), input_size, b, device=device)
        xy, sc, out = heatmap_forward(model, warp_images(images, m, input_size), sigma, flip_perm, precision)
        maps = out["heatmaps"]
        if with_depth:
            depths.append(pool_depth(out["depth"].float(), codec.gaussians(xy)).cpu().numpy())
        # input → crop pixels (invert the resize)
        xy_crop = (xy - m[:, None, :2, 2]) / torch.stack([m[:, 0, 0], m[:, 1, 1]], -1)[:, None]
        preds.append(xy_crop.cpu().numpy())
        scores.append(sc.cpu().numpy())
        if acc is not None:
            kp = batch["keypoints"].numpy().copy()
            kp_in = kp.copy()
            kp_in[..., :2] = (kp[..., :2] * m[0, [0, 1], [0, 1]].cpu().numpy() + m[0, :2, 2].cpu().numpy())
            weights = (kp[..., 2] >= 2).astype(np.float32)
            gt_maps = anchor_target_heatmaps(kp_in, weights, input_size, heat, sigma)
            acc.update(batch_accuracy(maps.cpu().numpy(), gt_maps), b)
        if on_batch:
            on_batch(b)
    crop = np.concatenate(preds)
    affine = arrays["affine"]
    orig = np.einsum("nij,nkj->nki", affine[:, :, :2], crop) + affine[:, None, :, 2]
    extra = {"depth": np.concatenate(depths)} if with_depth else {}
    return Predictions(orig, np.concatenate(scores), acc.result() if acc is not None else None, ds.meta, extra)


SELECT_METRIC = "pck@0.05"


def split_scorer(path: Path, input_size: int, sigma: float, device: torch.device, batch_size: int,
                 precision: Precision = FP32) -> Callable[[nn.Module], dict[str, float]]:
    """``model → {"pck@0.05": All}`` on a labelled split (original pixels, person-box normalisation, visible
    joints): what training validates on (the source validation split, or labelled target data for an oracle)."""

    def score(net: nn.Module) -> dict[str, float]:
        pred = predict_split(net, path, input_size, sigma, device, batch_size=batch_size, precision=precision)
        return {SELECT_METRIC: score_split(pred, path, 0.05, "bbox", 2)["groups"]["All"]}

    return score


def score_split(pred: Predictions, path: Path, thr: float, normalisation: str, min_visibility: int) -> dict:
    """Standard PCK in original coordinates: per joint, per group and All (fractions in [0, 1])."""
    arrays = read_arrays(path, ("keypoints_orig", "bbox", "orig_size"))
    norm = reference_lengths(normalisation, arrays["bbox"], arrays["orig_size"])
    acc, counts = pck_per_joint(pred.keypoints, arrays["keypoints_orig"], norm, thr, min_visibility)
    meta = pred.meta
    return {
        "per_joint": {name: (None if np.isnan(a) else float(a)) for name, a in zip(meta.names, acc)},
        "counts": {name: int(c) for name, c in zip(meta.names, counts)},
        "groups": summarise(acc, meta),
    }


def score_legacy(pred: Predictions) -> dict:
    acc = pred.legacy_joint_acc
    meta = pred.meta
    return {"per_joint": {n: (None if np.isnan(a) else float(a)) for n, a in zip(meta.names, acc)},
            "groups": summarise(acc, meta)}
