"""Segmentation-guided augmentation for MIM pre-training (posekit's design; docs/mim.md)."""

from __future__ import annotations

import torch

from posekit.data.augment import warp_images

MODES = ("none", "bg_swap", "cutpaste")


def background_swap(images: torch.Tensor, masks: torch.Tensor, backgrounds: torch.Tensor,
                    apply: torch.Tensor) -> torch.Tensor:
    """``x' = s·x + (1−s)·b`` for rows where ``apply`` ``[B]`` is true: the foreground ``s`` ``[B,1,S,S]`` is kept
    exactly, only background pixels change. ``images``, ``backgrounds`` ``[B,3,S,S]``."""
    swapped = masks * images + (1 - masks) * backgrounds
    return torch.where(apply[:, None, None, None], swapped, images)


def cut_paste(images: torch.Tensor, masks: torch.Tensor, backgrounds: torch.Tensor, shift: torch.Tensor,
              apply: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste each foreground, moved by ``shift`` ``[B,2]`` integer pixels (x, y), onto its background image; returns
    the images and the moved masks (rows where ``apply`` is false are unchanged). What leaves the frame is lost (no
    wrap-around); one batched warp moves all images and masks (exact for integer shifts)."""
    b, _, side, _ = images.shape  # square network inputs
    m = torch.eye(3, device=images.device).repeat(b, 1, 1)
    m[:, :2, 2] = shift.to(images.device, m.dtype)
    moved = warp_images(torch.cat([images, masks], 1), m, side)
    moved_img, moved_mask = moved[:, :3], (moved[:, 3:] > 0.5).to(masks.dtype)
    out = moved_mask * moved_img + (1 - moved_mask) * backgrounds
    keep = apply[:, None, None, None]
    return torch.where(keep, out, images), torch.where(keep, moved_mask, masks)


def segment_augment(mode: str, images: torch.Tensor, masks: torch.Tensor, has_mask: torch.Tensor, prob: float,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``mode`` to a random ``prob`` fraction of the samples that have a mask; each takes as background
    another image of the batch (a random other row, so source and target images mix). Returns images, masks."""
    b = images.shape[0]
    if mode == "none" or b < 2:
        return images, masks
    apply = (torch.rand(b, generator=generator) < prob).to(images.device) & has_mask
    other = (torch.arange(b) + torch.randint(1, b, (b,), generator=generator)) % b
    backgrounds = images[other.to(images.device)]
    if mode == "bg_swap":
        return background_swap(images, masks, backgrounds, apply), masks
    if mode == "cutpaste":
        side = images.shape[-1]
        shift = torch.randint(-side // 4, side // 4 + 1, (b, 2), generator=generator)
        return cut_paste(images, masks, backgrounds, shift, apply)
    raise ValueError(f"unknown segmentation augmentation {mode!r}; use one of {', '.join(MODES)}")
