"""The anchors' heatmap-space "PCK" (tllib/UDAPE/DAML ``accuracy``), reproduced for comparison with papers.

Method note §7: the prediction is the integer argmax of the predicted heatmap (zeroed when its peak ≤ 0); the
ground truth is the integer argmax of a Gaussian heatmap drawn from the target keypoints as the anchors draw it;
a joint counts only when that argmax has x > 1 and y > 1; distances are divided by heatmap_size / 10 and compared
with 0.5 (= 5 % of the input side). Per batch, each joint's accuracy is the fraction correct (−1 when none
counts); batches are averaged weighted by batch size, skipping −1; groups average joints; All averages joints.
"""

from __future__ import annotations

import numpy as np


def anchor_target_heatmaps(keypoints: np.ndarray, weights: np.ndarray, input_size: int, heatmap_size: int,
                           sigma: float) -> np.ndarray:
    """Ground-truth maps as the anchors' ``generate_target`` draws them: ``[B,K,3]`` input px → ``[B,K,h,h]``.

    The Gaussian is centred on ``mu = int(x / stride + 0.5)`` (truncated towards zero) and clipped to its ±3σ
    square; a joint whose rounded centre lies outside the map (``mu < 0`` or ``mu ≥ h`` on either axis), or whose
    weight is ≤ 0.5, gets an all-zero map and is not scored. At 256 px input and 64 px maps, x ≥ 254 is outside.
    """
    b, k = keypoints.shape[:2]
    stride = input_size / heatmap_size
    tmp = sigma * 3
    maps = np.zeros((b, k, heatmap_size, heatmap_size), dtype=np.float32)
    mu = (keypoints[..., :2] / stride + 0.5).astype(np.int64)
    ys, xs = np.mgrid[0:heatmap_size, 0:heatmap_size]
    for n in range(b):
        for j in range(k):
            mx, my = mu[n, j]
            if not (0 <= mx < heatmap_size and 0 <= my < heatmap_size) or weights[n, j] <= 0.5:
                continue
            ul = (int(mx - tmp), int(my - tmp))
            br = (int(mx + tmp + 1), int(my + tmp + 1))
            g = np.exp(-((xs - mx) ** 2 + (ys - my) ** 2) / (2 * sigma**2))
            inside = (xs >= ul[0]) & (xs < br[0]) & (ys >= ul[1]) & (ys < br[1])
            maps[n, j] = np.where(inside, g, 0.0)
    return maps


def argmax_coords(heatmaps: np.ndarray) -> np.ndarray:
    """Integer argmax ``[B,K,2]`` (x, y), set to (0, 0) where the peak is ≤ 0 (the anchors' ``get_max_preds``)."""
    b, k, _h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, -1)
    idx = flat.argmax(-1)
    peak = flat.max(-1)
    coords = np.stack([idx % w, idx // w], -1).astype(np.float32)
    return coords * (peak > 0)[..., None]


def batch_accuracy(pred_maps: np.ndarray, gt_maps: np.ndarray, thr: float = 0.5) -> np.ndarray:
    """Per-joint accuracy ``[K]`` for one batch, −1 where no joint counts."""
    h, w = pred_maps.shape[2:]
    pred, gt = argmax_coords(pred_maps), argmax_coords(gt_maps)
    norm = np.array([h, w], dtype=np.float32) / 10
    valid = (gt[..., 0] > 1) & (gt[..., 1] > 1)
    dist = np.linalg.norm(pred / norm - gt / norm, axis=-1)
    counts = valid.sum(0)
    correct = ((dist < thr) & valid).sum(0)
    return np.where(counts > 0, correct / np.maximum(counts, 1), -1.0)


class LegacyAccumulator:
    """Averages per-batch joint accuracies weighted by batch size, ignoring −1 (the anchors' meter)."""

    def __init__(self, num_joints: int):
        self.sum = np.zeros(num_joints)
        self.count = np.zeros(num_joints)

    def update(self, acc: np.ndarray, batch_size: int) -> None:
        ok = acc != -1
        self.sum[ok] += acc[ok] * batch_size
        self.count[ok] += batch_size

    def result(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum / np.maximum(self.count, 1), np.nan)
