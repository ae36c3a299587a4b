"""Gaussian heatmap codec, batched in torch.

Convention: pixel centres sit at integer coordinates in every space. With stride ``s`` (input/heatmap), an
input coordinate ``x`` maps to heatmap coordinate ``(x + 0.5) / s - 0.5`` and back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_heatmap_coords(xy: torch.Tensor, stride: float) -> torch.Tensor:
    return (xy + 0.5) / stride - 0.5


def from_heatmap_coords(xy: torch.Tensor, stride: float) -> torch.Tensor:
    return (xy + 0.5) * stride - 0.5


class HeatmapCodec:
    """Encode keypoints to Gaussian heatmaps and decode heatmaps with sub-pixel (Taylor) refinement.

    ``encode``: keypoints ``[B,K,3]`` in input pixels (x, y, v) → heatmaps ``[B,K,h,w]``, weights ``[B,K]``.
    ``decode``: heatmaps ``[B,K,h,w]`` → keypoints ``[B,K,2]`` in input pixels, scores ``[B,K]`` (peak values).

    ``targets``: ``subpixel`` (default) centres each Gaussian on the keypoint's exact heatmap position and never
    cuts it; ``code`` is DAML's and tllib's ``generate_target``: the centre rounded to the nearest heatmap pixel
    (``int(x + 0.5)``) and the Gaussian cut to the ``(6σ+1)²`` square ``|dx|, |dy| ≤ 3σ`` (13×13 at σ 2), zero
    beyond; a joint whose rounded centre is off the map gets weight 0. The rounding is done in posekit's
    pixel-centre convention (the code's ``x / stride`` sits ``(stride − 1) / (2·stride)`` heatmap px off it, but
    its decoder matches its encoder, as posekit's do).
    """

    TARGETS = ("subpixel", "code")

    def __init__(self, input_size: int, heatmap_size: int, sigma: float, supervise_occluded: bool = True,
                 targets: str = "subpixel"):
        if targets not in self.TARGETS:
            raise ValueError(f"targets must be one of {self.TARGETS}, got {targets!r}")
        self.input_size = input_size
        self.heatmap_size = heatmap_size
        self.stride = input_size / heatmap_size
        self.sigma = sigma
        self.min_visibility = 1 if supervise_occluded else 2
        self.targets = targets

    def encode(self, keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = w = self.heatmap_size
        xy = to_heatmap_coords(keypoints[..., :2], self.stride)  # [B,K,2]
        code = self.targets == "code"
        if code:
            xy = torch.floor(xy + 0.5)
        xs = torch.arange(w, device=keypoints.device, dtype=keypoints.dtype)
        ys = torch.arange(h, device=keypoints.device, dtype=keypoints.dtype)
        gx = torch.exp(-((xs - xy[..., 0:1]) ** 2) / (2 * self.sigma**2))  # [B,K,w]
        gy = torch.exp(-((ys - xy[..., 1:2]) ** 2) / (2 * self.sigma**2))  # [B,K,h]
        if code:
            gx = gx * ((xs - xy[..., 0:1]).abs() <= 3 * self.sigma)
            gy = gy * ((ys - xy[..., 1:2]).abs() <= 3 * self.sigma)
        inside = (xy[..., 0] >= 0) & (xy[..., 0] <= w - 1) & (xy[..., 1] >= 0) & (xy[..., 1] <= h - 1)
        weights = ((keypoints[..., 2] >= self.min_visibility) & inside).to(keypoints.dtype)
        heatmaps = gy.unsqueeze(-1) * gx.unsqueeze(-2) * weights[..., None, None]
        return heatmaps, weights

    def gaussians(self, xy: torch.Tensor) -> torch.Tensor:
        """Unweighted sub-pixel Gaussians ``[B,K,h,w]`` centred at input-pixel positions ``xy`` ``[B,K,2]``, on the
        map or not: the window :func:`pool_depth` reads a predicted joint's depth through (``encode`` would give a
        peak beyond the last heatmap pixel centre weight 0, and its depth would read as 0)."""
        hxy = to_heatmap_coords(xy, self.stride)
        grid = torch.arange(self.heatmap_size, device=xy.device, dtype=xy.dtype)
        gx = torch.exp(-((grid - hxy[..., 0:1]) ** 2) / (2 * self.sigma**2))
        gy = torch.exp(-((grid - hxy[..., 1:2]) ** 2) / (2 * self.sigma**2))
        return gy.unsqueeze(-1) * gx.unsqueeze(-2)

    def decode(self, heatmaps: torch.Tensor, refine: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        b, k, h, w = heatmaps.shape
        hm = heatmaps.float()
        flat = hm.reshape(b, k, -1)
        scores, idx = flat.max(-1)
        x = (idx % w).float()
        y = torch.div(idx, w, rounding_mode="floor").float()
        xy = torch.stack([x, y], -1)
        if refine:
            xy = xy + self._taylor_offset(hm, idx, w, h)
        return from_heatmap_coords(xy, self.stride), scores

    def _taylor_offset(self, hm: torch.Tensor, idx: torch.Tensor, w: int, h: int) -> torch.Tensor:
        """Second-order (DARK-style) offset of the log-heatmap peak, ``[B,K,2]``, clamped to ±1 pixel.

        The expansion point is the argmax moved one pixel inwards where it sits on the map's border (its outer
        neighbour does not exist), so a peak in the border pixel is refined from three real values instead of a
        replicated one (which pushes it half a pixel the wrong way); on an exact Gaussian the result is exact
        everywhere on the map."""
        b, k = idx.shape
        logh = torch.log(hm.clamp_min(1e-10))
        padded = F.pad(logh, (2, 2, 2, 2), mode="replicate").reshape(b, k, -1)
        pw = w + 4
        ax, ay = idx % w, torch.div(idx, w, rounding_mode="floor")
        cx = ax.clamp(1, w - 2) if w >= 3 else ax
        cy = ay.clamp(1, h - 2) if h >= 3 else ay
        x, y = cx + 2, cy + 2

        def at(dx: int, dy: int) -> torch.Tensor:
            return padded.gather(-1, ((y + dy) * pw + (x + dx)).unsqueeze(-1)).squeeze(-1)

        c = at(0, 0)
        dx = 0.5 * (at(1, 0) - at(-1, 0))
        dy = 0.5 * (at(0, 1) - at(0, -1))
        dxx = at(1, 0) - 2 * c + at(-1, 0)
        dyy = at(0, 1) - 2 * c + at(0, -1)
        dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
        det = dxx * dyy - dxy * dxy
        ok = (det.abs() > 1e-12) & (dxx < 0) & (dyy < 0)
        safe = torch.where(ok, det, torch.ones_like(det))
        ox = -(dyy * dx - dxy * dy) / safe + (cx - ax)
        oy = -(dxx * dy - dxy * dx) / safe + (cy - ay)
        offset = torch.stack([ox, oy], -1).clamp(-1.0, 1.0)
        return torch.where(ok.unsqueeze(-1), offset, torch.zeros_like(offset))


def pool_depth(depth_maps: torch.Tensor, weights_maps: torch.Tensor) -> torch.Tensor:
    """Depth per joint ``[B,K]``: the mean of ``depth_maps`` ``[B,K,h,w]`` under the normalised ``weights_maps``
    (a Gaussian at the joint: the ground-truth one in training, one at the predicted peak at inference)."""
    w = weights_maps.float()
    return (depth_maps.float() * w).sum((2, 3)) / w.sum((2, 3)).clamp_min(1e-6)
