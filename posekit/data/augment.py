"""Batched geometric and photometric augmentation on the training device.

Geometry is a per-sample 3×3 matrix ``M`` mapping stored-crop pixels to network-input pixels; images are warped
with one ``grid_sample`` call, keypoints with one matmul, and flips swap left/right joints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_matrix(src_hw: tuple[int, int], dst_size: int, batch: int, device=None) -> torch.Tensor:
    """``[B,3,3]`` matrices that scale a ``src_hw`` crop onto a ``dst_size`` square (pixel centres kept)."""
    h, w = src_hw
    sx, sy = dst_size / w, dst_size / h
    m = torch.tensor([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]], device=device)
    return m.expand(batch, 3, 3).clone()


def sample_affine(
    batch: int,
    src_hw: tuple[int, int],
    dst_size: int,
    rotation: float,
    scale: tuple[float, float],
    shear: tuple[float, float],
    translate: float,
    flip: float,
    generator: torch.Generator | None = None,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``[B,3,3]`` crop→input matrices and ``[B]`` boolean flip flags."""

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(batch, generator=generator)

    h, w = src_hw
    base = dst_size / max(h, w)
    ang = torch.deg2rad(u(-rotation, rotation))
    s = u(*scale) * base
    sh = torch.tan(torch.deg2rad(u(*shear)))
    tx, ty = u(-translate, translate) * dst_size, u(-translate, translate) * dst_size
    flipped = torch.rand(batch, generator=generator) < flip
    fx = torch.where(flipped, -1.0, 1.0)
    cos, sin = torch.cos(ang), torch.sin(ang)
    zeros, ones = torch.zeros(batch), torch.ones(batch)

    def mat(a, b, c, d, e, f):
        return torch.stack([torch.stack([a, b, c], -1), torch.stack([d, e, f], -1),
                            torch.stack([zeros, zeros, ones], -1)], -2)

    centre_src = mat(ones, zeros, -torch.full((batch,), (w - 1) / 2), zeros, ones, -torch.full((batch,), (h - 1) / 2))
    flip_m = mat(fx, zeros, zeros, zeros, ones, zeros)
    shear_m = mat(ones, sh, zeros, zeros, ones, zeros)
    rot_scale = mat(s * cos, -s * sin, zeros, s * sin, s * cos, zeros)
    centre_dst = mat(ones, zeros, (dst_size - 1) / 2 + tx, zeros, ones, (dst_size - 1) / 2 + ty)
    m = centre_dst @ rot_scale @ shear_m @ flip_m @ centre_src
    return m.to(device), flipped.to(device)


def warp_images(images: torch.Tensor, m: torch.Tensor, out_size: int) -> torch.Tensor:
    """Warp ``[B,C,H,W]`` float images by crop→input matrices ``m`` ``[B,3,3]`` to ``[B,C,S,S]`` (bilinear, zero fill)."""
    b, _, h, w = images.shape

    def to_norm(width: int, height: int) -> torch.Tensor:
        return torch.tensor(
            [[2.0 / width, 0, 1.0 / width - 1], [0, 2.0 / height, 1.0 / height - 1], [0, 0, 1]],
            device=images.device, dtype=m.dtype,
        )

    theta = to_norm(w, h) @ torch.linalg.inv(m) @ torch.linalg.inv(to_norm(out_size, out_size))
    grid = F.affine_grid(theta[:, :2].to(images.dtype), [b, images.shape[1], out_size, out_size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def transform_keypoints(keypoints: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Apply ``[B,3,3]`` matrices to ``[B,K,3]`` keypoints (x, y, v); v is kept."""
    xy1 = torch.cat([keypoints[..., :2], torch.ones_like(keypoints[..., :1])], -1)
    xy = (xy1 @ m.transpose(1, 2))[..., :2]
    return torch.cat([xy, keypoints[..., 2:]], -1)


def flip_joints(keypoints: torch.Tensor, flipped: torch.Tensor, perm: list[int]) -> torch.Tensor:
    """Swap left/right joint slots of the flipped samples: ``[B,K,C]`` → ``[B,K,C]``."""
    return torch.where(flipped[:, None, None], keypoints[:, perm], keypoints)


def jitter_factors(batch: int, strength: float, generator: torch.Generator | None = None) -> torch.Tensor | None:
    """``[B,3]`` brightness, contrast and saturation factors, each U(1-s, 1+s); None when ``strength`` is 0."""
    if strength <= 0:
        return None
    return torch.stack([1 + strength * (2 * torch.rand(batch, generator=generator) - 1) for _ in range(3)], 1)


def colour_jitter(images: torch.Tensor, factors: torch.Tensor | None) -> torch.Tensor:
    """Scale brightness, contrast and saturation of ``[B,3,H,W]`` images in [0, 1] by ``jitter_factors`` rows."""
    if factors is None:
        return images
    factor = factors.to(images.device, images.dtype)[:, :, None, None, None]
    images = images * factor[:, 0]
    grey = (images * torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=images.dtype)[:, None, None]).sum(1, keepdim=True)
    images = (images - grey.mean((2, 3), keepdim=True)) * factor[:, 1] + grey.mean((2, 3), keepdim=True)
    grey = (images * torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=images.dtype)[:, None, None]).sum(1, keepdim=True)
    images = (images - grey) * factor[:, 2] + grey
    return images.clamp(0, 1)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB → ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device, dtype=images.dtype)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=images.device, dtype=images.dtype)[:, None, None]
    return (images - mean) / std

