"""Information maximisation on the H and W projections of heatmaps."""

from __future__ import annotations

import math

import torch
from torch import nn


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) over the last dimension."""
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


class InfoMaxLoss(nn.Module):
    """``L = ent_h + ent_w − ent_m`` on heatmaps ``[B,K,H,W]``.

    - ``ent_h``: entropy of softmax over the H profile (mean over W), averaged over (b, k); ``ent_w`` likewise;
    - ``ent_m``: entropy of softmax over the batch-mean flattened heatmap of each joint, averaged over k (diversity).
    ``normalise="code"`` divides every entropy by H·W as DAML does; ``"log"`` divides by log(number of bins).
    ``threshold`` (the paper) restricts ``ent_h``/``ent_w`` to joints whose peak exceeds it.
    """

    def __init__(self, normalise: str = "code", threshold: float | None = None):
        super().__init__()
        self.normalise, self.threshold = normalise, threshold

    def forward(self, heatmaps: torch.Tensor) -> torch.Tensor:
        hm = heatmaps.float()
        k, h, w = hm.shape[1:]
        ent_h = _entropy(hm.mean(3))  # [B,K]
        ent_w = _entropy(hm.mean(2))  # [B,K]
        ent_m = _entropy(hm.mean(0).reshape(k, h * w))  # [K]
        if self.normalise == "code":
            ent_h, ent_w, ent_m = ent_h / (h * w), ent_w / (h * w), ent_m / (h * w)
        else:
            ent_h, ent_w, ent_m = ent_h / math.log(h), ent_w / math.log(w), ent_m / math.log(h * w)
        if self.threshold is not None:
            keep = (hm.flatten(2).amax(-1) > self.threshold).to(hm.dtype)
            denom = keep.sum().clamp_min(1.0)
            sharp = ((ent_h + ent_w) * keep).sum() / denom
        else:
            sharp = (ent_h + ent_w).mean()
        return sharp - ent_m.mean()
