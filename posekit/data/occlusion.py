"""Keypoint occlusion of the student's target view, batched and without host synchronisation:
every image gets its random draws whether or not it is occluded, so nothing waits for the device to say which."""

from __future__ import annotations

import torch


def occlude_patches(images: torch.Tensor, centres: torch.Tensor, apply: torch.Tensor, half: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Cover a ``2·half`` square around ``centres`` ``[B,2]`` (x, y pixels) of the images where ``apply`` ``[B]``
    is true with a same-sized patch copied from a random place of the same image; ``[B,C,H,W]`` → new tensor.
    The box is clipped at the image border (indices are clamped)."""
    b, _, h, w = images.shape
    side = 2 * half
    if side >= min(h, w):
        return images
    device = images.device
    off = torch.arange(-half, half, device=device)
    c = centres.round().long()
    dx = (c[:, 0:1] + off).clamp(0, w - 1)  # [B,side]
    dy = (c[:, 1:2] + off).clamp(0, h - 1)
    sx0 = (torch.rand(b, generator=generator) * (w - side + 1)).long().to(device)
    sy0 = (torch.rand(b, generator=generator) * (h - side + 1)).long().to(device)
    steps = torch.arange(side, device=device)
    sx, sy = sx0[:, None] + steps, sy0[:, None] + steps
    bi = torch.arange(b, device=device)[:, None, None]
    patch = images[bi, :, sy[:, :, None], sx[:, None, :]]  # [B, side, side, C]
    here = images[bi, :, dy[:, :, None], dx[:, None, :]]
    out = images.clone()
    out[bi, :, dy[:, :, None], dx[:, None, :]] = torch.where(apply[:, None, None, None], patch, here)
    return out


def pick_confident_joints(peaks: torch.Tensor, threshold: float, rate: float,
                          generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image, one joint chosen uniformly among those with peak ≥ ``threshold`` (the largest of i.i.d.
    uniform draws over the confident joints); returns joint indices ``[B]`` and whether to occlude ``[B]`` (some
    joint is confident and a coin with P = ``rate`` says yes)."""
    confident = peaks >= threshold
    draws = torch.rand(peaks.shape, generator=generator).to(peaks.device)
    joint = torch.where(confident, draws, -1.0).argmax(1)
    coin = (torch.rand(peaks.shape[0], generator=generator) < rate).to(peaks.device)
    return joint, confident.any(1) & coin
