"""Foreground-weighted MAE reconstruction loss (L_WMAE; the weighting formula is posekit's choice, docs/mim.md)."""

from __future__ import annotations

import torch

from posekit.models.vit import patchify


def pixel_weights(masks: torch.Tensor | None, has_mask: torch.Tensor, fg: float, bg: float) -> torch.Tensor:
    """Per-pixel weights ``[B,1,S,S]``: ``fg·s + bg·(1−s)`` where a sample has a mask, 1 where it has none.

    ``masks`` ``[B,1,S,S]`` in [0, 1] (or None when no sample has one), ``has_mask`` ``[B]`` bool.
    """
    if masks is None:
        return torch.ones(has_mask.shape[0], 1, 1, 1, device=has_mask.device)
    weighted = fg * masks + bg * (1 - masks)
    return torch.where(has_mask[:, None, None, None], weighted, torch.ones_like(weighted))


def patch_targets(images: torch.Tensor, patch: int, norm_pix: bool) -> torch.Tensor:
    """``[B,3,S,S]`` → ``[B,N,p·p·3]`` targets; ``norm_pix`` standardises each patch (MAE's norm_pix_loss)."""
    target = patchify(images, patch)
    if norm_pix:
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    return target


def wmae_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor,
              eps: float = 1e-8) -> torch.Tensor:
    """``Σ_i m_i Σ_p w_p ‖x̂_p − x_p‖² / (Σ_i m_i Σ_p w_p + ε)`` with ``‖·‖²`` the mean over the 3 channels.

    ``pred``, ``target`` ``[B,N,p·p·3]``; ``weights`` ``[B,N,p·p]`` per pixel; ``mask`` ``[B,N]`` (1 = masked).
    With ``weights ≡ 1`` this is MAE's loss (mean squared error over the masked patches).
    """
    b, n, d = pred.shape
    err = (pred.float() - target.float()).pow(2).reshape(b, n, d // 3, 3).mean(-1)  # [B,N,p·p]
    w = weights.float() * mask.float()[..., None]
    return (err * w).sum() / (w.sum() + eps)
