"""Feature-level alignment: gradient reversal, the authors' patch discriminator, the paper's enhancement module."""

from __future__ import annotations

import torch
from torch import nn


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Identity forward; gradient × (−coeff) backward (DAML: coeff fixed at 1)."""
    return _GradReverse.apply(x, coeff)


class PatchDiscriminator(nn.Module):
    """DAML's ``FCDiscriminator_img``: 3×3 convs C→C→C/2→C/2→1 with LeakyReLU(0.2); ``[B,C,H,W]`` → logits ``[B,1,H,W]``."""

    def __init__(self, channels: int):
        super().__init__()
        half = max(1, channels // 2)
        self.net = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, half, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(half, half, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(half, 1, 3, padding=1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class FeatureEnhancement(nn.Module):
    """The paper's "feature enhancement model" (absent from the authors' code; posekit's reading of §III-C):
    a residual 3×3 conv block on the student's deconv features, trained with the student, in front of the GRL.
    ``DomainAdversarialLoss`` runs it on each domain's batch separately, so its BatchNorm layers normalise with
    that domain's statistics (it only runs inside training steps, in train mode; its running averages are unused)."""

    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        )
        nn.init.zeros_(self.block[-1].weight)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.relu(features + self.block(features))
