"""Square crops made with one affine warp, with exact pixel-centre conventions.

Pixel centres sit at integers, so an image of width W spans x ∈ [−0.5, W − 0.5] from edge to edge; the same holds
for crops and for original images. A crop of S×S pixels that covers the original square of centre (cx, cy) and
side L maps crop pixel (x, y) to original pixels with ``orig = A @ [x, y, 1]``::

    A = [[s, 0, cx − L/2 + s/2],
         [0, s, cy − L/2 + s/2]]      s = L / S

so the crop's edge −0.5 lands on the square's edge cx − L/2 and its edge S − 0.5 on cx + L/2.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def box_square(box: np.ndarray, margin: float) -> tuple[float, float, float]:
    """Person box ``[4]`` (x0, y0, x1, y1) → square ``(cx, cy, side)`` on its centre, side = margin × longer side."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0 + x1) / 2, (y0 + y1) / 2, margin * max(x1 - x0, y1 - y0)


def image_square(width: int, height: int) -> tuple[float, float, float]:
    """The whole image padded to a square around its centre (the anchors' ``ResizePad``)."""
    return (width - 1) / 2, (height - 1) / 2, float(max(width, height))


def crop_affine(cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """Crop→original matrix ``[2,3]`` (float64) of an S×S crop of the square ``(cx, cy, side)``."""
    s = side / size
    return np.array([[s, 0.0, cx - side / 2 + s / 2], [0.0, s, cy - side / 2 + s / 2]])


def apply_affine(affine: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Points ``[K,2]`` through a ``[2,3]`` matrix → ``[K,2]``."""
    return xy @ affine[:, :2].T + affine[:, 2]


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """The inverse of a ``[2,3]`` affine matrix, as ``[2,3]``."""
    full = np.vstack([affine, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def warp_crop(image: Image.Image, affine: np.ndarray, size: int) -> np.ndarray:
    """Sample the S×S crop whose crop→original matrix is ``affine`` → ``[S,S,3]`` uint8; outside the image is black.

    One bilinear affine warp (``Image.transform``). When the crop shrinks the image by s ≥ 2 the image is first
    box-filtered by the integer k = ⌊s⌋ (``Image.reduce``) so the warp does not alias: reduced pixel u averages
    original pixels k·u … k·u + k − 1, whose centre is k·u + (k − 1)/2, and the matrix is changed to match.
    """
    a = np.asarray(affine, dtype=np.float64).copy()
    k = int(np.sqrt(abs(np.linalg.det(a[:, :2]))))
    if k >= 2:
        image = image.reduce(k)
        a[:, 2] -= (k - 1) / 2
        a /= k
    # PIL evaluates output pixel x at its edge coordinate x + 0.5 and reads input edge coordinates: shift both.
    a[:, 2] += 0.5 - 0.5 * (a[:, 0] + a[:, 1])
    out = image.transform((size, size), Image.Transform.AFFINE, tuple(a.ravel()),
                          resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
    return np.asarray(out, dtype=np.uint8)
