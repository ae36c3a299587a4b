"""2.5D keypoint loss: Gaussian heatmaps for (x, y) plus root-relative depth read where each joint is."""

from __future__ import annotations

import torch

from posekit.data.codec import pool_depth
from posekit.losses.heatmap import WeightedHeatmapMSE


def root_relative_depth(keypoints3d: torch.Tensor, root: tuple[int, ...], scale: float) -> torch.Tensor:
    """Camera-frame joints ``[B,K,3]`` (metres) → ``(z_k − z_root) / scale`` ``[B,K]``; the root is the mean of the
    ``root`` joints."""
    z = keypoints3d[..., 2]
    return (z - z[:, list(root)].mean(1, keepdim=True)) / scale


class Keypoint25DLoss(WeightedHeatmapMSE):
    """``L_kpt = heatmap MSE + λ_z · mean_{b,k} w_bk |ẑ_bk − z_bk|``; returns (total, heatmap term, depth term)."""

    def __init__(self, depth_weight: float):
        super().__init__()
        self.depth_weight = depth_weight

    def forward(self, heatmaps, depth_maps, targets, weights, z_rel):  # type: ignore[override]
        heat = super().forward(heatmaps, targets, weights)
        z_hat = pool_depth(depth_maps, targets)
        depth = ((z_hat - z_rel.float()).abs() * weights).sum() / weights.sum().clamp_min(1.0)
        return heat + self.depth_weight * depth, heat, depth
