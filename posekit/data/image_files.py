"""Image files as inputs of prediction: finding them, reading their size, decoding them as displayed, and checking
person boxes against them (``posekit predict`` and the Python API share these)."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from posekit.data.images import UNREADABLE, displayed_size, open_rgb
from posekit.errors import ConfigError, DataError, MissingArtifactError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def collect_images(items: list[str]) -> list[Path]:
    """Files as given, directories as the image files directly inside them (by suffix, sorted), and glob
    patterns as their sorted matches; duplicates dropped, order kept."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise MissingArtifactError(f"{path}: no image files inside", hint=f"images end in {', '.join(IMAGE_SUFFIXES)}")
            found += inside
        elif path.exists():
            found.append(path)
        elif any(c in item for c in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise MissingArtifactError(f"no file matches {item!r}", hint="check the pattern (quote it to let posekit expand it)")
            found += matches
        else:
            raise MissingArtifactError(f"{path}: no such file or directory", hint="pass image files, directories or glob patterns")
    return list(dict.fromkeys(p.resolve() for p in found))


def image_size(path: Path) -> tuple[int, int]:
    """Height and width of an image file as displayed (EXIF rotation applied), from its header only."""
    try:
        w, h = displayed_size(str(path))
    except UNREADABLE as exc:
        raise DataError(f"{path}: not a readable image ({exc.__class__.__name__})",
                        hint=f"pass image files ({', '.join(IMAGE_SUFFIXES)})") from None
    return h, w


def load_image(path: Path) -> np.ndarray:
    """The decoded image as displayed: ``[H,W,3]`` uint8 RGB (:func:`posekit.data.images.as_rgb8`: EXIF rotation
    applied, 16-bit scaled to 8, alpha dropped), as ``prepare`` reads images too."""
    return np.asarray(open_rgb(str(path), hint="the file may be truncated or corrupt", what="cannot decode the image"))


def check_box(box: Sequence[float], height: int, width: int, where: str, image: str) -> None:
    """The box ``x0, y0, x1, y1`` must be non-empty, finite and overlap the image's extent ``[-0.5, W-0.5] ×
    [-0.5, H-0.5]``; a box that partly leaves the image is clipped to it by the crop, as the converters clip theirs.
    ``where`` names the box in the message (``--box 1,2,3,4``), ``image`` the image."""
    x0, y0, x1, y1 = box
    if not np.isfinite([x0, y0, x1, y1]).all() or not (x0 < x1 and y0 < y1):
        raise ConfigError(f"{where} is empty or not finite (need x0 < x1 and y0 < y1)",
                          hint="corners are top-left, bottom-right")
    if x1 <= -0.5 or y1 <= -0.5 or x0 >= width - 0.5 or y0 >= height - 0.5:
        raise ConfigError(f"{where} lies outside {image} ({width}×{height})",
                          hint=f"give a box within 0,0,{width},{height}, or leave out the box to use the whole image")
