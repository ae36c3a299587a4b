"""Keypoint occlusion of the student's target view, batched and without host synchronisation:
every image gets its random draws whether or not it is occluded, so nothing waits for the device to say which.

Two geometries (``occlusion.geometry``, docs/adapt.md): ``occlude_patches`` puts an axis-aligned square on the
joint in the view (posekit's default); ``occlude_in_base`` draws the square and its source patch in the base frame
and carries them into the view through the view matrix, as DAML's code does by un-warping the view, pasting and
re-warping, optionally with that code's side effects."""

from __future__ import annotations

import torch

from posekit.data.augment import full_precision, warp_images


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


def _translation(m: torch.Tensor, size: int) -> torch.Tensor:
    """Translation ``[B,2]`` of square base→view matrices ``[B,3,3]``: where the frame centre goes minus the centre
    (the ``translate`` of ``sample_affine``, torchvision's ``affine(translate=…)``)."""
    c = torch.full((2,), (size - 1) / 2, device=m.device, dtype=m.dtype)
    return m[:, :2, :2] @ c + m[:, :2, 2] - c


@full_precision
def occlude_in_base(images: torch.Tensor, base_to_view: torch.Tensor, centres: torch.Tensor, apply: torch.Tensor,
                    half: int, fill: tuple[float, ...], generator: torch.Generator | None = None,
                    code_quirks: bool = False, stride: float = 4.0) -> torch.Tensor:
    """DAML's occlusion geometry on views ``[B,C,S,S]`` made from a common ``S×S`` base frame by ``base_to_view``
    ``[B,3,3]``: where ``apply`` ``[B]`` is true, the base-frame square of pixels ``round(centre) ± half``
    (``centres`` ``[B,2]`` base pixels, clipped at the frame) is replaced by a same-sized patch from a uniformly
    random place of the base frame, and the result is seen through the view, so the square arrives scaled,
    rotated and sheared. The base frame is read through the view (the code un-warps the view), so base pixels the
    view does not show come out as ``fill`` (``[C]``, the code's zero of normalised images, i.e. the mean colour).

    ``code_quirks`` adds the side effects of the code's un-warp/re-warp: its translation is divided by ``stride``
    (right for heatmaps, not for images), which shifts the square in the view by ``−(1 − 1/stride)·t`` (``t``
    the view's translation), and view pixels whose un-warped position leaves the frame are blanked to ``fill``.
    Returns a new tensor; bilinear sampling where the code samples nearest-neighbour."""
    b, _, s, _ = images.shape
    device = images.device
    box_lo = (centres.round() - half).clamp(0, s)  # [B,2] (x, y), inclusive
    box_hi = (centres.round() + half).clamp(0, s)  # exclusive
    extent = box_hi - box_lo
    src_lo = torch.floor(torch.rand(b, 2, generator=generator).to(device) * (s - extent + 1))
    shift = src_lo - box_lo  # base pixels from the square to its patch
    offset = -(1 - 1 / stride) * _translation(base_to_view, s) if code_quirks else torch.zeros(b, 2, device=device)
    # every view pixel's position in the (code's) base frame
    ys, xs = torch.meshgrid(torch.arange(s, device=device, dtype=images.dtype),
                            torch.arange(s, device=device, dtype=images.dtype), indexing="ij")
    pix = torch.stack([xs, ys], -1).reshape(1, -1, 2) - offset[:, None]  # [B,S·S,2]
    view_to_base = torch.linalg.inv(base_to_view)
    q = (pix @ view_to_base[:, :2, :2].transpose(1, 2) + view_to_base[:, None, :2, 2]).round()
    in_box = ((q >= box_lo[:, None]) & (q < box_hi[:, None])).all(-1).reshape(b, 1, s, s)
    # the patch, read from the view: a base shift ``d`` is the view shift ``L·d`` (L the view's linear part)
    view_shift = (base_to_view[:, :2, :2] @ shift[..., None]).squeeze(-1)
    move = torch.eye(3, device=device, dtype=images.dtype).repeat(b, 1, 1)
    move[:, :2, 2] = -view_shift
    colour = torch.tensor(fill, device=device, dtype=images.dtype)[None, :, None, None]
    patch = warp_images(images - colour, move, s) + colour
    out = torch.where(apply[:, None, None, None] & in_box, patch, images)
    if code_quirks:
        outside = ((q < 0) | (q > s - 1)).any(-1).reshape(b, 1, s, s)
        out = torch.where(apply[:, None, None, None] & outside, colour.expand_as(out), out)
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
