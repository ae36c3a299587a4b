"""Image files decoded the one way every posekit command reads them: 8-bit RGB, as displayed.

- EXIF orientation is applied (the image as viewers, browsers and OpenCV/MMPose show it), by ``prepare`` and
  ``predict`` alike; annotations and predicted keypoints are in that frame;
- 16-bit images (``I;16*`` and ``I`` modes: 16-bit greyscale PNG/TIFF) are scaled to 8 bits (value / 257), not
  clipped: a plain ``convert("RGB")`` would clip every value above 255 and give an all-white image (16-bit RGB PNGs
  are already reduced to 8 bits by Pillow);
- floating-point images (mode ``F``) and 32-bit integers beyond 16 bits are refused, since their range is unknown;
- alpha is dropped, palettes are expanded;
- an image without pixels (0 wide or high) is refused.

This module is the only one that opens a user's image file (tests/test_image_reader.py scans the package for other
``Image.open`` calls): ``open_rgb`` for photos (prepare, predict, the Python API, ``--backgrounds``), ``open_labels``
for label maps (RHD's masks), ``displayed_size`` for a header.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from posekit.errors import DataError


def as_rgb8(image: Image.Image, where: str) -> Image.Image:
    """``image`` (any mode Pillow decodes) → an RGB image with 8 bits per channel, EXIF orientation applied."""
    image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I"):
        values = np.asarray(image, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise DataError(f"{where}: 32-bit integer pixel values ({values.min()}…{values.max()}) are not read",
                            hint="convert the image to 8 or 16 bits per channel")
        grey = np.round(values / 257.0).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=-1))
    if image.mode == "F":
        raise DataError(f"{where}: floating-point pixels are not read", hint="convert the image to 8 or 16 bits per channel")
    if image.width < 1 or image.height < 1:
        raise DataError(f"{where}: the image has no pixels ({image.width}×{image.height})",
                        hint="pass an image at least 1 pixel wide and high")
    try:
        return image.convert("RGB")
    except ValueError as exc:  # a mode Pillow cannot turn into RGB (HSV, LAB, ...)
        raise DataError(f"{where}: {image.mode} images are not read ({exc})", hint="save the image as RGB") from None


PREPARE_HINT = "re-download or re-extract this file, then re-run the same prepare command"


def decode_rgb(path: str) -> Image.Image:
    """Decode an image file as 8-bit RGB as displayed (``as_rgb8``); raises one of ``UNREADABLE`` for a file that is
    not a readable image (callers that word their own error; :func:`open_rgb` words posekit's)."""
    with Image.open(path) as im:
        return as_rgb8(im, str(path))


def open_rgb(path: str, hint: str = PREPARE_HINT, what: str = "unreadable image") -> Image.Image:
    """:func:`decode_rgb`, with an unreadable file a DataError naming it (``what``: the message's words, ``hint``:
    what to do)."""
    try:
        return decode_rgb(path)
    except UNREADABLE as exc:
        first = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise DataError(f"{path}: {what} ({exc.__class__.__name__}: {first})", hint=hint) from None


def open_labels(path: str, hint: str = PREPARE_HINT) -> np.ndarray:
    """A label map (class index per pixel, e.g. RHD's masks) as its stored values ``[H,W]`` (the first channel of a
    colour file), without any colour conversion; an unreadable file is a DataError naming it."""
    try:
        with Image.open(path) as im:
            labels = np.asarray(im)
    except UNREADABLE as exc:
        raise DataError(f"{path}: unreadable mask ({exc.__class__.__name__}: {exc})", hint=hint) from None
    return labels[..., 0] if labels.ndim == 3 else labels


UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)  # what decoding a bad file raises


def displayed_size(path: str) -> tuple[int, int]:
    """``(width, height)`` of an image file as displayed (EXIF orientation applied), from its header only; raises
    one of ``UNREADABLE`` for a file that is not a readable image."""
    with Image.open(path) as im:
        w, h = im.size
        turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    return (h, w) if turned else (w, h)
