"""Images laid out in a labelled grid: a title line, a label left of each row, a caption above each column."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from posekit.fonts import font, text_size

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
GAP = 6
TEXT = 14


def image_grid(rows: list[list[np.ndarray]], row_labels: list[str], col_labels: list[str], title: str) -> Image.Image:
    """``rows[r][c]``: ``[H,W,3]`` uint8 images (any sizes; each cell is as large as the largest image, images
    top-left aligned). ``row_labels``: one per row, ``col_labels``: one per column. Returns an RGB image."""
    if len(row_labels) != len(rows) or any(len(r) != len(col_labels) for r in rows):
        raise ValueError("need one label per row and one per column")
    cell_h = max(img.shape[0] for r in rows for img in r)
    cell_w = max(img.shape[1] for r in rows for img in r)
    label_w = max(text_size(label, TEXT)[0] for label in row_labels) + 2 * GAP
    title_h = text_size(title, TEXT + 2)[1] + 2 * GAP
    caption_h = max((text_size(c, TEXT)[1] for c in col_labels), default=0) + GAP
    width = max(label_w + len(col_labels) * (cell_w + GAP) + GAP, text_size(title, TEXT + 2)[0] + 2 * GAP)
    height = title_h + caption_h + len(rows) * (cell_h + GAP) + GAP
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((GAP, GAP), title, fill=INK, font=font(TEXT + 2))
    for c, caption in enumerate(col_labels):
        draw.text((label_w + c * (cell_w + GAP), title_h), caption, fill=INK, font=font(TEXT))
    for r, (label, images) in enumerate(zip(row_labels, rows)):
        top = title_h + caption_h + r * (cell_h + GAP)
        draw.text((GAP, top + (cell_h - text_size(label, TEXT)[1]) // 2), label, fill=INK, font=font(TEXT))
        for c, img in enumerate(images):
            canvas.paste(Image.fromarray(img), (label_w + c * (cell_w + GAP), top))
    return canvas
