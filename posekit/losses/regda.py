"""The loss forms of RegDA (Jiang et al., CVPR'21, "Regressive Domain Adaptation for Unsupervised Keypoint
Detection"), as tllib's published code defines them (tllib/alignment/regda.py, keypoint_detection/loss.py):
a KL divergence between spatial-softmax heatmaps and normalised target maps, pseudo-labels made from the main head's
argmax (the "ground truth") and from every other joint's (the "ground false"), and the warm-start gradient layer
between the features and the adversarial head."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from posekit.models.discriminator import grad_reverse


def heatmap_kl(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
               epsilon: float = 0.0) -> torch.Tensor:
    """``mean_{b,k} w_bk · KL(t_bk ‖ softmax(logits_bk))`` over each map's pixels, with ``t`` the target map
    ``target + epsilon`` normalised to sum 1 (tllib's ``JointsKLLoss``). ``logits``/``target`` ``[B,K,H,W]``,
    ``weights`` ``[B,K]`` (None: every joint). A target that sums to 0 (an unlabelled joint) contributes 0."""
    b, k = logits.shape[:2]
    log_p = F.log_softmax(logits.float().reshape(b, k, -1), -1)
    t = target.float().reshape(b, k, -1) + epsilon
    t = t / t.sum(-1, keepdim=True).clamp_min(1e-12)
    kl = (torch.xlogy(t, t) - t * log_p).sum(-1)  # [B,K]
    if weights is not None:
        kl = kl * weights.float()
    return kl.mean()


def pseudo_labels(logits: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The ground-truth and ground-false maps ``[B,K,H,W]`` of a prediction ``[B,K,H,W]`` (no gradient).

    Ground truth of joint k: an unnormalised Gaussian (peak 1, ``sigma`` in heatmap pixels) at the integer argmax of
    its map, cut to the square |dx|, |dy| ≤ 3σ (tllib's ``PseudoLabelGenerator2d``). Ground false of joint k: the
    sum of the other joints' ground truths, clipped to [0, 1]: where the prediction of another joint lies.
    """
    b, k, h, w = logits.shape
    idx = logits.detach().reshape(b, k, -1).argmax(-1)
    py, px = torch.div(idx, w, rounding_mode="floor"), idx % w
    reach = 3 * sigma
    dy = torch.arange(h, device=logits.device) - py[..., None]  # [B,K,H]
    dx = torch.arange(w, device=logits.device) - px[..., None]  # [B,K,W]
    gy = torch.exp(-dy.float() ** 2 / (2 * sigma**2)) * (dy.abs() <= reach)
    gx = torch.exp(-dx.float() ** 2 / (2 * sigma**2)) * (dx.abs() <= reach)
    truth = gy[..., :, None] * gx[..., None, :]
    false = (truth.sum(1, keepdim=True) - truth).clamp(0.0, 1.0)
    return truth, false


def warm_start_coefficient(step: int, lo: float, hi: float, alpha: float, max_iters: int) -> float:
    """tllib's ``WarmStartGradientLayer`` factor at ``step``: 2(hi − lo)/(1 + e^(−α·step/max_iters)) − (hi − lo) + lo,
    rising from ``lo`` towards ``hi``."""
    return 2.0 * (hi - lo) / (1.0 + math.exp(-alpha * step / max_iters)) - (hi - lo) + lo


def scale_gradient(x: torch.Tensor, coeff: float) -> torch.Tensor:
    """Identity forward; gradient × ``coeff`` backward (the warm-start gradient layer)."""
    return grad_reverse(x, -coeff)
