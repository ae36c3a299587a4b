"""Moving heatmaps between augmented views and the common (base) frame with the views' exact matrices."""

from __future__ import annotations

import torch

from posekit.data.augment import full_precision, warp_images


@full_precision
def heatmap_matrix(m: torch.Tensor, stride: float) -> torch.Tensor:
    """Input-pixel matrices ``[B,3,3]`` → the same maps in heatmap pixels (centres: ``u = (x + 0.5)/s − 0.5``)."""
    s = torch.tensor([[1 / stride, 0, 0.5 / stride - 0.5], [0, 1 / stride, 0.5 / stride - 0.5], [0, 0, 1.0]],
                     device=m.device, dtype=m.dtype)
    return s @ m @ torch.linalg.inv(s)


@full_precision
def view_to_base(heatmaps: torch.Tensor, view: torch.Tensor, stride: float) -> torch.Tensor:
    """Heatmaps ``[B,K,h,w]`` predicted on views made by base→view matrices ``view`` (input pixels) → base frame.
    Differentiable (bilinear ``grid_sample``); regions outside the view are zero."""
    inv = torch.linalg.inv(heatmap_matrix(view, stride))
    return warp_images(heatmaps, inv, heatmaps.shape[-1])
