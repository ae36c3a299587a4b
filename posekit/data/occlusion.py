"""Keypoint occlusion of the student's target view (method note §2.3), batched."""

from __future__ import annotations

import torch


def occlude_patches(images: torch.Tensor, centres: torch.Tensor, apply: torch.Tensor, half: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Cover a ``2·half`` square around ``centres`` ``[B,2]`` (x, y pixels) of the images where ``apply`` ``[B]``
    is true with a same-sized patch copied from a random place of the same image; ``[B,C,H,W]`` → new tensor.
    The box is clipped at the image border (indices are clamped)."""
    h, w = images.shape[-2:]
    side = 2 * half
    if not apply.any() or side >= min(h, w):
        return images
    out = images.clone()
    idx = apply.nonzero().squeeze(1)
    off = torch.arange(-half, half, device=images.device)
    c = centres[idx].round().long()
    dx = (c[:, 0:1] + off).clamp(0, w - 1)
    dy = (c[:, 1:2] + off).clamp(0, h - 1)
    sx0 = (torch.rand(len(idx), generator=generator) * (w - side + 1)).long().to(images.device)
    sy0 = (torch.rand(len(idx), generator=generator) * (h - side + 1)).long().to(images.device)
    steps = torch.arange(side, device=images.device)
    sx, sy = sx0[:, None] + steps, sy0[:, None] + steps
    bi = idx[:, None, None]
    patch = images[bi, :, sy[:, :, None], sx[:, None, :]]  # [n, side, side, C]
    out[bi, :, dy[:, :, None], dx[:, None, :]] = patch
    return out


def pick_confident_joints(peaks: torch.Tensor, threshold: float, rate: float,
                          generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image, one joint chosen uniformly among those with peak ≥ ``threshold``; returns joint indices
    ``[B]`` and whether to occlude ``[B]`` (some joint is confident and a coin with P = ``rate`` says yes)."""
    confident = peaks >= threshold
    has = confident.any(1)
    weights = confident.float() + (~has)[:, None].float()  # rows without confident joints: any index, unused
    joint = torch.multinomial(weights.cpu(), 1, generator=generator).squeeze(1).to(peaks.device)
    coin = (torch.rand(peaks.shape[0], generator=generator) < rate).to(peaks.device)
    return joint, has & coin
