"""A contact sheet of a prepared split: evenly spaced samples as stored, and again with their labels drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from posekit.data.dataset import H5KeypointDataset
from posekit.data.h5format import read_arrays
from posekit.viz.grid import image_grid
from posekit.viz.overlay import draw_pose, resize_with_keypoints


def contact_sheet(path: Path, num: int, columns: int, cell: int, title: str) -> Image.Image:
    """``num`` evenly spaced samples of the HDF5 split ``path``, ``columns`` per row, each enlarged to ``cell``
    pixels (longer side): a row of images as stored, then the same images with their labelled keypoints (v ≥ 1;
    blue left, red right, green centre)."""
    ds = H5KeypointDataset(path)
    indices = sorted({round(i) for i in np.linspace(0, len(ds) - 1, min(num, len(ds)))})
    keypoints = read_arrays(path, ("keypoints",))["keypoints"][indices]
    rows, labels = [], []
    for start in range(0, len(indices), columns):
        plain, drawn = [], []
        for i, kp in zip(indices[start:start + columns], keypoints[start:start + columns]):
            big, (kp_big,) = resize_with_keypoints(ds.read_image(i), cell, kp)
            plain.append(big)
            drawn.append(draw_pose(big, kp_big, ds.meta))
        pad = columns - len(plain)
        blank = np.full_like(plain[0], 255)
        rows += [plain + [blank] * pad, drawn + [blank] * pad]
        shown = indices[start:start + columns]
        labels += [f"#{shown[0]}-{shown[-1]}", "labelled"]
    return image_grid(rows, labels, [""] * columns, title)
