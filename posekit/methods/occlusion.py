"""Keypoint occlusion of the student's target view, batched and without host synchronisation:
every image gets its random draws whether or not it is occluded, so nothing waits for the device to say which.

Three implementations (``occlusion.geometry``, docs/adapt.md): ``occlude_patches`` puts an axis-aligned square on
the joint in the view (posekit's default); ``occlude_in_base`` draws the square and its source patch in the base
frame and carries them into the view through the view matrix (DAML's geometry, optionally with an approximation of
its code's side effects: one clip, bilinear); ``occlude_code_warps`` runs the code's own procedure (three clipped
nearest-neighbour un-warps, the paste, one nearest re-warp) and so has all of its side effects."""

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


def _view_parameters(base_to_view: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """torchvision ``affine`` parameters of square base→view matrices ``[B,3,3]`` (no flip): rotation (radians),
    scale, ``tan`` of the x shear and translation ``[B,2]``, with the linear part ``scale·R(angle)·[[1, −tan],
    [0, 1]]`` (torchvision's RotateScaleShear with no y shear, the form ``sample_affine`` draws)."""
    lin = base_to_view[:, :2, :2]
    angle = torch.atan2(lin[:, 1, 0], lin[:, 0, 0])
    scale = lin[:, :, 0].norm(dim=1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    k = (cos * lin[:, 0, 1] + sin * lin[:, 1, 1]) / scale  # (R(angle)^T · lin / scale)[0, 1]
    return angle, scale, -k, _translation(base_to_view, size)


def _affine(angle: torch.Tensor, scale: torch.Tensor, tan_shear: torch.Tensor, translate: torch.Tensor,
            size: int) -> torch.Tensor:
    """The forward ``[B,3,3]`` matrix (posekit's pixel convention) of torchvision's ``affine(img, angle, translate,
    scale, shear=(sx, 0))`` on a ``size`` square, ``tan_shear`` = tan(sx): about the frame centre,
    ``scale·R(angle)·[[1, −tan sx], [0, 1]]``, then ``translate``."""
    b = angle.shape[0]
    cos, sin = torch.cos(angle), torch.sin(angle)
    m = torch.zeros(b, 3, 3, device=angle.device, dtype=angle.dtype)
    m[:, 0, 0], m[:, 1, 0] = scale * cos, scale * sin
    m[:, 0, 1] = scale * (-cos * tan_shear - sin)
    m[:, 1, 1] = scale * (-sin * tan_shear + cos)
    c = torch.full((2,), (size - 1) / 2, device=angle.device, dtype=angle.dtype)
    m[:, :2, 2] = c + translate - m[:, :2, :2] @ c
    m[:, 2, 2] = 1.0
    return m


def _nearest(images: torch.Tensor, m: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    """One ``tF.affine`` call of DAML's on normalised tensors: nearest sampling, the frame clipped, what falls
    outside filled with zero of the normalised space (``colour`` here)."""
    ones = torch.ones_like(images[:, :1])
    warped = warp_images(torch.cat([images, ones], 1), m, images.shape[-1], mode="nearest")
    return torch.where(warped[:, -1:] > 0.5, warped[:, :-1], colour)  # input values kept exactly


@full_precision
def occlude_code_warps(images: torch.Tensor, base_to_view: torch.Tensor, centres: torch.Tensor, apply: torch.Tensor,
                       half: int, fill: tuple[float, ...], generator: torch.Generator | None = None,
                       stride: float = 4.0, details: bool = False):
    """DAML's occlusion as its code runs it, on views ``[B,C,S,S]`` of an ``S×S`` base frame (``base_to_view``
    ``[B,3,3]``, no flip): where ``apply`` ``[B]`` is true the view is un-warped by three separate nearest-neighbour
    affine calls, each clipping to the frame (the translation divided by ``stride``, then the rotation and scale,
    then the shear), the square ``round(centre) ± half`` of that frame (``centres`` ``[B,2]`` in its pixels,
    clipped) is replaced by a same-sized window from a uniformly random place of it, and the result is re-warped
    by one nearest affine call. So besides the occlusion, view pixels whose round trip leaves the frame at any step
    are blanked to ``fill`` (the code's zero of normalised images, the mean colour), patches read where the
    un-warped frame is blank come out grey, and the two nearest resamplings move content pixels by a pixel.
    Views not occluded are returned untouched (the code round-trips only the views it occludes). With
    ``details`` also returns a dict of the un-warped frames and the drawn boxes (``unwarped``, ``box_lo``,
    ``box_hi``, ``src_lo``: ``[B,2]`` (x, y), upper bounds exclusive)."""
    b, _, s, _ = images.shape
    device = images.device
    box_lo = (centres.round() - half).clamp(0, s)
    box_hi = (centres.round() + half).clamp(0, s)
    extent = box_hi - box_lo
    src_lo = torch.floor(torch.rand(b, 2, generator=generator).to(device) * (s - extent + 1))
    colour = torch.tensor(fill, device=device, dtype=images.dtype)[None, :, None, None]
    angle, scale, tan_shear, t = _view_parameters(base_to_view, s)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    x = _nearest(images, _affine(zero, one, zero, -t / stride, s), colour)
    x = _nearest(x, _affine(-angle, 1 / scale, zero, torch.zeros_like(t), s), colour)
    unwarped = _nearest(x, _affine(zero, one, -tan_shear, torch.zeros_like(t), s), colour)
    ys, xs = torch.meshgrid(torch.arange(s, device=device), torch.arange(s, device=device), indexing="ij")
    pix = torch.stack([xs, ys], -1)[None].to(images.dtype)  # [1,S,S,2]
    in_box = ((pix >= box_lo[:, None, None]) & (pix < box_hi[:, None, None])).all(-1)  # [B,S,S]
    src = (pix + (src_lo - box_lo)[:, None, None]).long().clamp(0, s - 1)
    bi = torch.arange(b, device=device)[:, None, None]
    patch = unwarped[bi, :, src[..., 1], src[..., 0]].permute(0, 3, 1, 2)  # [B,C,S,S]
    pasted = torch.where(in_box[:, None], patch, unwarped)
    out = _nearest(pasted, _affine(angle, scale, tan_shear, t / stride, s), colour)
    out = torch.where(apply[:, None, None, None], out, images)
    if details:
        return out, {"unwarped": unwarped, "box_lo": box_lo, "box_hi": box_hi, "src_lo": src_lo}
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
