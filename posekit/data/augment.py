"""Batched geometric and photometric augmentation on the training device.

Geometry is a per-sample 3×3 matrix ``M`` mapping stored-crop pixels to network-input pixels; images are warped
with one ``grid_sample`` call, keypoints with one matmul, and flips swap left/right joints. Everything here runs in
float32 even inside a bf16-autocast training step (``full_precision``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F

F_ = TypeVar("F_", bound=Callable)


def full_precision(fn: F_) -> F_:
    """Decorator: run ``fn`` with autocast switched off on the CPU and on the device of its first tensor argument.

    Training steps run under bf16 autocast on GPUs, and autocast turns every matrix product into a bf16 one. View
    geometry must stay float32: bf16 keeps 8 bits of mantissa, which moves a keypoint at x ≈ 100 px by up to
    0.25 px, and ``torch.linalg.inv`` refuses bf16 matrices."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        tensor = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        device = "cpu" if tensor is None else tensor.device.type
        with torch.autocast("cpu", enabled=False), torch.autocast(device, enabled=False):
            return fn(*args, **kwargs)

    return wrapped  # type: ignore[return-value]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@full_precision
def resize_matrix(src_hw: tuple[int, int], dst_size: int, batch: int, device=None) -> torch.Tensor:
    """``[B,3,3]`` matrices that scale a ``src_hw`` crop onto a ``dst_size`` square (pixel centres kept)."""
    h, w = src_hw
    sx, sy = dst_size / w, dst_size / h
    m = torch.tensor([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]], device=device)
    return m.expand(batch, 3, 3).clone()


@full_precision
def compose(*matrices: torch.Tensor) -> torch.Tensor:
    """The product ``M1 @ M2 @ …`` of ``[B,3,3]`` matrices (applied right to left), float32 even under autocast."""
    out = matrices[0]
    for m in matrices[1:]:
        out = out @ m
    return out


@full_precision
def fit_matrix(src_hw: tuple[int, int], dst_size: int, batch: int, device=None) -> torch.Tensor:
    """``[B,3,3]`` matrices that scale a ``src_hw`` crop by ``dst_size / max(h, w)`` about its centre onto a
    ``dst_size`` square (aspect kept, the shorter side padded: the anchors' resize-pad)."""
    h, w = src_hw
    k = dst_size / max(h, w)
    c = (dst_size - 1) / 2
    m = torch.tensor([[k, 0, c - k * (w - 1) / 2], [0, k, c - k * (h - 1) / 2], [0, 0, 1.0]], device=device)
    return m.expand(batch, 3, 3).clone()


@full_precision
def sample_resized_crop(batch: int, size: int, scale: tuple[float, float], generator: torch.Generator | None = None,
                        device=None, attempts: int = 10) -> torch.Tensor:
    """DAML's ``RandomResizedCrop(size, scale, ratio 1)`` of a ``size`` square as ``[B,3,3]`` image→crop matrices.

    Each attempt draws an area fraction ``a ~ U(scale)`` and a window side ``w = round(√a · size)``; the first
    attempt whose window fits (``w ≤ size``) is taken, at an integer top-left corner uniform in ``[0, size − w]``,
    and resized to ``size`` (zoom ``size / w``); when all ``attempts`` fail, the whole image (identity). So
    (0.6, 1.3) gives zooms of 1–1.29×. Draws a fixed number of random numbers whatever the outcome."""
    lo, hi = scale
    area = lo + (hi - lo) * torch.rand(batch, attempts, generator=generator)
    side = torch.round(torch.sqrt(area) * size)
    fits = (side >= 1) & (side <= size)
    first = fits.float().argmax(1)
    w = torch.where(fits.any(1), side[torch.arange(batch), first], float(size))
    u = torch.rand(batch, 2, generator=generator)
    left, top = (torch.floor(u * (size - w + 1)[:, None]).clamp(max=(size - w)[:, None])).unbind(1)
    z = size / w
    m = torch.zeros(batch, 3, 3)
    m[:, 0, 0], m[:, 1, 1], m[:, 2, 2] = z, z, 1.0
    m[:, 0, 2] = (0.5 - left) * z - 0.5
    m[:, 1, 2] = (0.5 - top) * z - 0.5
    return m.to(device)


@full_precision
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
    integer_translate: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``[B,3,3]`` crop→input matrices and ``[B]`` boolean flip flags. ``integer_translate`` rounds the
    translation to whole pixels (DAML's ``RandomAffineRotation``: ``int(round(uniform(-max_dx, max_dx)))``); the
    draws are the same either way."""

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(batch, generator=generator)

    h, w = src_hw
    base = dst_size / max(h, w)
    ang = torch.deg2rad(u(-rotation, rotation))
    s = u(*scale) * base
    sh = torch.tan(torch.deg2rad(u(*shear)))
    tx, ty = u(-translate, translate) * dst_size, u(-translate, translate) * dst_size
    if integer_translate:
        tx, ty = tx.round(), ty.round()
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


def affine_grid(theta: torch.Tensor, out_size: int) -> torch.Tensor:
    """``F.affine_grid(theta, [B,C,S,S], align_corners=False)`` for ``[B,2,3]`` ``theta``, as ``[B,S,S,2]``.

    Built from the two separable parts (x row, y column) by broadcasting: equal to torch's up to rounding and
    about ten times faster on a CPU, where torch's batched matmul over every pixel dominates the warp."""
    b = theta.shape[0]
    lin = (torch.arange(out_size, device=theta.device, dtype=theta.dtype) * 2 + 1) / out_size - 1
    grid = torch.empty(b, out_size, out_size, 2, device=theta.device, dtype=theta.dtype)
    for k in range(2):
        t = theta[:, k, :, None, None]  # [B,3,1,1]
        grid[..., k] = t[:, 0] * lin[None, None, :] + (t[:, 1] * lin[None, :, None] + t[:, 2])
    return grid


@full_precision
def warp_images(images: torch.Tensor, m: torch.Tensor, out_size: int, mode: str = "bilinear") -> torch.Tensor:
    """Warp ``[B,C,H,W]`` float images by crop→input matrices ``m`` ``[B,3,3]`` to ``[B,C,S,S]`` (zero fill);
    ``mode`` ``bilinear`` or ``nearest`` (every output pixel is one input pixel, or the fill)."""
    _, _, h, w = images.shape

    def to_norm(width: int, height: int) -> torch.Tensor:
        return torch.tensor(
            [[2.0 / width, 0, 1.0 / width - 1], [0, 2.0 / height, 1.0 / height - 1], [0, 0, 1]],
            device=images.device, dtype=m.dtype,
        )

    theta = to_norm(w, h) @ torch.linalg.inv(m) @ torch.linalg.inv(to_norm(out_size, out_size))
    grid = affine_grid(theta[:, :2].to(images.dtype), out_size)
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)


CPU_CHUNK_BYTES = 1 << 22  # float input per chunk on a CPU: 4 MiB, about five 256-px RGB images


@full_precision
def render_views(images: torch.Tensor, m: torch.Tensor, out_size: int, factors: torch.Tensor | None,
                 normalised: bool = True, mode: str = "bilinear", order: torch.Tensor | None = None) -> torch.Tensor:
    """``[B,3,H,W]`` images (uint8, or float in [0, 1]) → warped by ``[B,3,3]`` ``m`` (``mode``: ``bilinear``
    or ``nearest`` sampling), colour-jittered by ``[B,3]`` ``factors`` (None: no jitter; ``order``: see
    ``colour_jitter``) and, with ``normalised``, ImageNet-normalised: ``[B,3,S,S]`` float.

    On a CPU the batch goes through in chunks of a few images so that each chunk's intermediates stay in cache
    (1.0 against 2.1 ms per 256-px image for whole-batch passes on the development machine, docs/performance-measurements.md);
    on a GPU it is one pass. The result does not depend on the chunking."""
    b, c, h, w = images.shape
    step = b if images.device.type != "cpu" else max(1, CPU_CHUNK_BYTES // (4 * c * h * w))
    outs = []
    for i in range(0, b, step):
        x = images[i : i + step]
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x
        x = colour_jitter(warp_images(x, m[i : i + step], out_size, mode), None if factors is None else factors[i : i + step],
                          None if order is None else order[i : i + step])
        outs.append(normalise(x) if normalised else x)
    return outs[0] if len(outs) == 1 else torch.cat(outs)


@full_precision
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


def jitter_order(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``[B,3]`` per-image orders of the three jitter steps (0 brightness, 1 contrast, 2 saturation): a uniformly
    random permutation each, as torchvision's ``ColorJitter`` draws one (``randperm``) per call."""
    return torch.rand(batch, 3, generator=generator).argsort(1)


LUMA = (0.299, 0.587, 0.114)


@full_precision
def colour_jitter(images: torch.Tensor, factors: torch.Tensor | None, order: torch.Tensor | None = None) -> torch.Tensor:
    """Scale brightness, contrast and saturation of ``[B,3,H,W]`` images in [0, 1] by ``jitter_factors`` rows
    ``(b, c, s)``, in that order, then clamp to [0, 1]. With ``order`` (``[B,3]``, ``jitter_order``) each image
    takes the three steps in its own order and is clamped after each, as torchvision's ``ColorJitter`` does.

    The three steps are linear in the pixel, so they run as one ``[3,3]`` colour matrix and offset per image:
    brightness ``x → b·x``; contrast ``x → c·x + (1-c)·μ`` with ``μ`` the image's mean luma; saturation
    ``x → s·x + (1-s)·luma(x)``; composed, ``x → b·c·(s·x + (1-s)·luma(x)) + (1-c)·b·μ₀`` with ``μ₀`` the mean
    luma before the jitter (``tests/test_augment.py`` checks this against the three steps applied in turn)."""
    if factors is None:
        return images
    if order is not None:
        return _jitter_in_order(images, factors, order)
    b, c, h, w = images.shape
    f = factors.to(images.device, images.dtype)
    bright, contrast, sat = f[:, 0], f[:, 1], f[:, 2]
    luma = torch.tensor(LUMA, device=images.device, dtype=images.dtype)
    flat = images.reshape(b, c, h * w)
    mean_luma = flat.mean(2) @ luma  # [B]
    eye = torch.eye(3, device=images.device, dtype=images.dtype)
    matrix = (bright * contrast)[:, None, None] * (sat[:, None, None] * eye + (1 - sat)[:, None, None] * luma[None, None, :])
    offset = ((1 - contrast) * bright * mean_luma)[:, None, None].expand(b, 3, 1)
    return torch.baddbmm(offset, matrix, flat).clamp_(0, 1).reshape(b, c, h, w)


def _jitter_in_order(images: torch.Tensor, factors: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``colour_jitter`` with a per-image order of the steps and a clamp after each (each step is one ``[3,3]``
    colour matrix and offset per image, chosen by the image's step at that position)."""
    b, c, h, w = images.shape
    f = factors.to(images.device, images.dtype)
    order = order.to(images.device)
    luma = torch.tensor(LUMA, device=images.device, dtype=images.dtype)
    eye = torch.eye(3, device=images.device, dtype=images.dtype).expand(b, 3, 3)
    grey = luma[None, None, :].expand(b, 3, 3)
    x = images.reshape(b, c, h * w)
    for position in range(3):
        step = order[:, position]
        k = f.gather(1, step[:, None])[:, 0][:, None, None]  # [B,1,1] this step's factor
        mean_luma = (x.mean(2) @ luma)[:, None, None]
        saturation = k * eye + (1 - k) * grey
        matrix = torch.where((step == 2)[:, None, None], saturation, k * eye)
        offset = torch.where((step == 1)[:, None, None], (1 - k) * mean_luma, torch.zeros_like(k)).expand(b, 3, 1)
        x = torch.baddbmm(offset, matrix, x).clamp_(0, 1)
    return x.reshape(b, c, h, w)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB → ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device, dtype=images.dtype)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=images.device, dtype=images.dtype)[:, None, None]
    return (images - mean) / std

