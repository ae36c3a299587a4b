"""Heatmap regression loss with per-joint target weights (the anchors' JointsMSELoss)."""

from __future__ import annotations

import torch
from torch import nn


class WeightedHeatmapMSE(nn.Module):
    """``0.5 · mean_{b,k,p} w_bk (pred_bkp − target_bkp)²`` for ``[B,K,H,W]`` maps and ``[B,K]`` weights."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        sq = (pred.float() - target.float()).pow(2).mean((2, 3))  # [B,K]
        return 0.5 * (sq * weights.float()).mean()
