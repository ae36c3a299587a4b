"""Domain-adversarial loss through gradient reversal."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from posekit.models.discriminator import grad_reverse


def reversal_coefficient(schedule: str, step: int, total: int) -> float:
    """The gradient-reversal coefficient at ``step`` of ``total``: 1 (``none``) or DANN's 2/(1+e^(−10p)) − 1."""
    if schedule == "none":
        return 1.0
    p = min(1.0, step / max(1, total))
    return 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0


class DomainAdversarialLoss(nn.Module):
    """``BCE(D(GRL(f_s)), 0) + BCE(D(GRL(f_t)), 1)``, each averaged over the patch logits.

    The discriminator minimises it; through the reversal the features maximise it.
    """

    def __init__(self, discriminator: nn.Module, enhancement: nn.Module | None = None):
        super().__init__()
        self.discriminator = discriminator
        self.enhancement = enhancement

    def forward(self, source_features: torch.Tensor, target_features: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
        """``coeff`` scales the reversed gradient the features receive (the discriminator's own is unscaled).
        The enhancement module sees each domain on its own, so its BatchNorm statistics are per domain."""
        if self.enhancement is not None:
            source_features, target_features = self.enhancement(source_features), self.enhancement(target_features)
        feats = torch.cat([source_features, target_features])
        logits = self.discriminator(grad_reverse(feats, coeff)).float()
        b = source_features.shape[0]
        labels = torch.cat([torch.zeros_like(logits[:b]), torch.ones_like(logits[b:])])
        bce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").flatten(1).mean(1)
        return bce[:b].mean() + bce[b:].mean()
