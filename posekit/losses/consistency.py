"""Mean-teacher consistency with a confidence mask."""

from __future__ import annotations

import torch
from torch import nn


def confidence_mask(peaks: torch.Tensor, mode: str, quantile: float, threshold: torch.Tensor | float) -> torch.Tensor:
    """Which (image, joint) pairs the consistency loss keeps, from teacher peaks ``[B,K]`` → ``[B,K]`` float.

    ``quantile`` (DAML code): keep peaks above the ``int(q·B·K)``-th smallest peak of the batch.
    ``random`` (paper): keep peaks above ``threshold`` (drawn by the caller).
    """
    if mode == "quantile":
        flat = peaks.flatten()
        k = int(quantile * flat.numel())
        tau = flat.kthvalue(max(k, 1)).values if k > 0 else flat.min() - 1
        return (peaks > tau).to(peaks.dtype)
    return (peaks > threshold).to(peaks.dtype)


class MaskedConsistency(nn.Module):
    """``(1/(B·K·H·W)) Σ m_bk (S − T̂)²`` for student maps ``S``, pseudo-labels ``T̂`` ``[B,K,H,W]``, mask ``[B,K]``.

    Masked joints still count in the 1/K denominator, as in DAML's ConsLoss.
    """

    def forward(self, student: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return ((student.float() - target.float()).pow(2) * mask[..., None, None]).mean()
