"""Keypoints and skeleton edges drawn on an RGB image, coloured by body side.

Coordinates are image pixels, x right and y down, with pixel centres at integer coordinates (as everywhere in
posekit). Predictions are filled discs with a dark rim and full-width edges; ground truth, drawn underneath,
is pale crosses with thin edges. Line widths and marker sizes grow with the image, so a 64-pixel crop and a
4000-pixel photograph both stay legible.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from posekit.data.meta import KeypointMeta

SIDE_COLOURS = {"left": (30, 120, 255), "right": (255, 60, 30), "centre": (40, 200, 70)}
RIM = (0, 0, 0)


def joint_sides(meta: KeypointMeta) -> list[str]:
    """``"left"``, ``"right"`` or ``"centre"`` per joint, from the joint names (``left_…``, ``right_…``)."""
    return ["left" if n.startswith("left") else "right" if n.startswith("right") else "centre" for n in meta.names]


def stroke_sizes(height: int, width: int) -> tuple[int, int]:
    """Line width and marker radius in pixels for an image of ``height`` × ``width``: 2 and 4 at 256 pixels,
    proportional to the longer side, never below 1 and 2."""
    scale = max(height, width) / 256
    return max(1, round(2 * scale)), max(2, round(4 * scale))


def draw_pose(image: np.ndarray, keypoints: np.ndarray, meta: KeypointMeta, gt: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``image`` with a pose drawn on it.

    ``image``: ``[H,W,3]`` uint8 RGB. ``keypoints``: ``[K,2]`` (x, y; every joint drawn) or ``[K,3]`` (x, y, v;
    joints with v ≤ 0 are not drawn). ``gt``: optional ``[K,3]`` ground truth (x, y, v with 0 = not labelled),
    drawn underneath in the other marker style. Joints with non-finite coordinates are skipped, and so is every
    skeleton edge that touches a skipped joint. Returns ``[H,W,3]`` uint8.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an [H,W,3] uint8 image, got {image.shape} {image.dtype}")
    canvas = Image.fromarray(image.copy())
    draw = ImageDraw.Draw(canvas)
    width, radius = stroke_sizes(*image.shape[:2])
    colours = [SIDE_COLOURS[s] for s in joint_sides(meta)]
    if gt is not None:
        pale = [tuple((c + 255) // 2 for c in colour) for colour in colours]
        _draw(draw, gt, meta, pale, max(1, width // 2), radius, marker="cross")
    _draw(draw, keypoints, meta, colours, width, radius, marker="disc")
    return np.asarray(canvas)


def draw_box(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """A copy of ``image`` ``[H,W,3]`` uint8 with the rectangle ``box`` (x0, y0, x1, y1) outlined in white on a
    dark rim."""
    canvas = Image.fromarray(image.copy())
    draw = ImageDraw.Draw(canvas)
    width, _ = stroke_sizes(*image.shape[:2])
    draw.rectangle(list(box), outline=RIM, width=width + 2)
    draw.rectangle(list(box), outline=(255, 255, 255), width=width)
    return np.asarray(canvas)


def draw_people(image: np.ndarray, people, meta: KeypointMeta) -> np.ndarray:
    """A copy of ``image`` ``[H,W,3]`` uint8 with each person's pose drawn, the box when one was given, and the
    track id (people of a video) above its top-left corner. ``people``: objects with ``keypoints`` ``[K,2]``,
    ``box`` (or None), ``crop_region`` and ``track_id`` (or None), as :class:`posekit.predictor.PersonPose`."""
    for person in people:
        image = draw_pose(image, person.keypoints, meta)
        if person.box is not None:
            image = draw_box(image, person.box)
    labelled = [p for p in people if getattr(p, "track_id", None) is not None]
    if labelled:
        canvas = Image.fromarray(image.copy())
        draw = ImageDraw.Draw(canvas)
        for person in labelled:
            x0, y0 = (person.box or person.crop_region)[:2]
            x0, y0 = max(0.0, x0), max(0.0, y0 - 12)
            draw.text((x0 + 1, y0 + 1), str(person.track_id), fill=RIM)
            draw.text((x0, y0), str(person.track_id), fill=(255, 255, 0))
        image = np.asarray(canvas)
    return image


def _draw(draw: ImageDraw.ImageDraw, keypoints: np.ndarray, meta: KeypointMeta, colours: list[tuple[int, ...]],
          width: int, radius: int, marker: str) -> None:
    kp = np.asarray(keypoints, dtype=np.float64)
    shown = np.isfinite(kp[:, :2]).all(1)
    if kp.shape[1] > 2:
        shown &= kp[:, 2] > 0
    for a, b in meta.skeleton:
        if shown[a] and shown[b]:
            colour = colours[a] if colours[a] == colours[b] else SIDE_COLOURS["centre"]
            draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=colour, width=width)
    for j in np.flatnonzero(shown):
        x, y = kp[j, :2]
        if marker == "disc":
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colours[j], outline=RIM,
                         width=max(1, width // 2))
        else:
            r = radius / math.sqrt(2) + 1
            draw.line([(x - r, y - r), (x + r, y + r)], fill=colours[j], width=width)
            draw.line([(x - r, y + r), (x + r, y - r)], fill=colours[j], width=width)


def resize_with_keypoints(image: np.ndarray, longer_side: int, *keypoints: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Resize ``image`` ``[H,W,3]`` (bilinear) so its longer side is ``longer_side`` pixels, and move each
    ``[K,2+]`` keypoint array along (pixel centres kept: ``x' = (x + 0.5)·W'/W − 0.5``; extra columns kept)."""
    h, w = image.shape[:2]
    factor = longer_side / max(h, w)
    new_w, new_h = max(1, round(w * factor)), max(1, round(h * factor))
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    scale = np.array([new_w / w, new_h / h])
    moved = []
    for kp in keypoints:
        kp = np.array(kp, dtype=np.float64)
        kp[:, :2] = (kp[:, :2] + 0.5) * scale - 0.5
        moved.append(kp)
    return resized, moved
