"""Random training views for the methods that draw them from their augmentation config (supervised, RegDA, MIM):
one affine warp (optionally after a random resized crop), colour jitter and ImageNet normalisation per image."""

from __future__ import annotations

import torch

from posekit.data.augment import (
    compose,
    fit_matrix,
    flip_joints,
    jitter_factors,
    jitter_order,
    render_views,
    sample_affine,
    sample_resized_crop,
    transform_keypoints,
)
from posekit.engine.method import Method


class ViewMethod(Method):
    """A method that draws its views with ``augmented_view`` from ``self.generator``."""

    def draw_jitter_order(self, b: int, a, factors: torch.Tensor | None) -> torch.Tensor | None:
        """Per-image jitter orders ``[B,3]`` where ``a.jitter_order`` is random and there is a jitter (drawn after
        the factors, so the fixed order's draws are unchanged), else None."""
        if factors is None or a.jitter_order != "random":
            return None
        return self.draw(b, lambda n: jitter_order(n, self.generator))

    def augmented_view(self, images: torch.Tensor, a, size: int, keypoints: torch.Tensor | None = None,
                       flip_perm: list[int] | None = None):
        """One random view per image, drawn from ``self.generator``: an affine warp of ``[B,3,H,W]`` images (uint8,
        or float in [0, 1]) to ``size`` (``a`` is an AugmentConfig), colour jitter, ImageNet normalisation. Returns the images,
        the keypoints ``[B,K,3]`` moved into the view with left/right swapped where flipped (None without
        keypoints), and the ``[B]`` flip flags."""
        b, _, h, w = images.shape
        crop = a.crop
        hw = (h, w) if crop is None else (size, size)  # with a crop, the affine acts on the resize-padded crop
        m, flipped = self.draw(b, lambda n: sample_affine(n, hw, size, a.rotation, a.scale, a.shear, a.translate,
                                                          a.flip, generator=self.generator, device=images.device,
                                                          integer_translate=a.integer_translate))
        if crop is not None:
            rrc = self.draw(b, lambda n: sample_resized_crop(n, size, crop, self.generator, images.device))
            m = compose(m, rrc, fit_matrix((h, w), size, b, device=images.device))
        factors = self.draw(b, lambda n: jitter_factors(n, a.colour, self.generator))
        out = render_views(images, m, size, factors, mode=a.interpolation, order=self.draw_jitter_order(b, a, factors))
        if keypoints is not None:
            keypoints = flip_joints(transform_keypoints(keypoints, m), flipped, flip_perm)
        return out, keypoints, flipped
