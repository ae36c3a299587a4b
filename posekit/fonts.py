"""The one font every picture uses: Pillow's bundled default, at a requested pixel size."""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

_MEASURE = ImageDraw.Draw(Image.new("L", (1, 1)))


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` pixels (Pillow < 10.1 only has the fixed-size bitmap font)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def text_size(text: str, size: int) -> tuple[int, int]:
    """Width and height in pixels of ``text`` at ``size`` (its ink's bounding box, measured from the origin)."""
    _, _, right, bottom = _MEASURE.textbbox((0, 0), text, font=font(size))
    return int(right), int(bottom)
