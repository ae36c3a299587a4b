"""Samples of real datasets before cropping, and the (process-pool) worker that crops a chunk of them.

Keypoints are ``[K,3]`` rows x, y, v in the canonical order of the converter's meta, with v as in the HDF5 format
(0 = not labelled / outside the image, 1 = labelled but occluded, 2 = visible). Coordinates are original-image
pixels, pixel centres at integers (``posekit.data.crop``); annotations are stored exactly as the dataset gives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.data.crop import apply_affine, box_square, crop_affine, image_square, invert_affine, warp_crop
from posekit.data.images import open_rgb
from posekit.errors import DataError


@dataclass(frozen=True)
class CropRule:
    """How the crop square of a sample is chosen.

    ``box``: centred on the person box, side ``margin`` × its longer side. A box made from keypoints is the extent
    of the labelled joints grown by ``pad`` pixels; every box is clipped to the image. ``image``: the whole image
    padded to a square around its centre (the anchors' ``ResizePad`` for LSP and the SURREAL crops); the stored
    box is then the extent of the labelled joints (the whole image when none is labelled).
    """

    mode: str
    margin: float = 1.25
    pad: float = 0.0

    def describe(self) -> str:
        if self.mode == "image":
            return "whole image padded to a centred square (black), pixel centres at integers"
        grow = f" grown by {self.pad:g} px" if self.pad else ""
        return (f"square on the person box (labelled-joint extent{grow} when the dataset has none), side "
                f"{self.margin:g} × its longer side, box clipped to the image, pixel centres at integers")


@dataclass(frozen=True, eq=False)
class Record:
    """One sample: ``keypoints`` ``[K,3]``, ``box`` ``[4]`` (x0, y0, x1, y1) or None, optional ``keypoints3d``
    ``[K,3]`` (camera metres) and ``intrinsics`` ``[3,3]``; ``image`` is the file to decode."""

    image: str
    source_id: str
    keypoints: np.ndarray | None = None
    box: np.ndarray | None = None
    keypoints3d: np.ndarray | None = None
    intrinsics: np.ndarray | None = None

    def annotation(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(keypoints [K,3], box [4] | None)``; a subclass may read them from a file here, in the worker."""
        return self.keypoints, self.box

    def mask(self, affine: np.ndarray, size: int) -> np.ndarray | None:
        """The crop's foreground mask ``[S,S]`` uint8 (0/1) for the crop→original ``affine``, or None (no mask); a
        subclass may read and warp its mask file here, in the worker."""
        return None


# why a sample has no person box to crop on (counted as left out by the converters)
NO_BOX_REASONS = ("box outside the image", "fewer than 2 labelled joints in the image and no box")
# labelled coordinates beyond this many pixels from the origin are annotation errors (and would not survive float32)
MAX_COORD = 1e6
VISIBILITY = (0, 1, 2)


def check_visibility(flags: np.ndarray, where: str) -> None:
    """Refuse visibility flags other than 0, 1 and 2 (the format's, and COCO's)."""
    flags = np.asarray(flags, dtype=np.float64)
    bad = flags[~np.isin(flags, VISIBILITY)]
    if len(bad):
        raise DataError(f"{where}: visibility flag {bad[0]:g} is not 0, 1 or 2",
                        hint="0 = not labelled, 1 = labelled but occluded, 2 = visible; fix the annotation file")


def check_finite(keypoints: np.ndarray, where: str) -> np.ndarray:
    """Refuse NaN/inf (or farther than ``MAX_COORD`` px) coordinates of labelled joints and flags other than 0, 1
    and 2; unlabelled joints' non-finite or far coordinates become 0 (they carry no information)."""
    kp = np.array(keypoints, dtype=np.float64)
    if not np.isfinite(kp[:, 2]).all():
        raise DataError(f"{where}: NaN or infinite keypoint coordinates",
                        hint="fix or re-download the annotation file, then re-run the same prepare command")
    check_visibility(kp[:, 2], where)
    bad = ~np.isfinite(kp[:, :2]).all(1)
    if (bad & (kp[:, 2] > 0)).any():
        raise DataError(f"{where}: NaN or infinite keypoint coordinates",
                        hint="fix or re-download the annotation file, then re-run the same prepare command")
    far = ~bad & (np.abs(kp[:, :2]) > MAX_COORD).any(1)
    if (far & (kp[:, 2] > 0)).any():
        raise DataError(f"{where}: keypoint coordinate {np.abs(kp[far & (kp[:, 2] > 0), :2]).max():g} is more than "
                        f"{MAX_COORD:g} px from the image", hint="fix the annotation file (a unit or typing error?)")
    kp[bad | far, :2] = 0.0
    return kp


def _inside(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    return (xy[:, 0] >= -0.5) & (xy[:, 0] <= width - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] <= height - 0.5)


def _labelled_extent(kp: np.ndarray) -> np.ndarray | None:
    xy = kp[kp[:, 2] > 0, :2]
    if len(xy) == 0:
        return None
    return np.concatenate([xy.min(0), xy.max(0)])


def in_image(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """A copy of ``keypoints`` ``[K,3]`` with v = 0 for the joints outside the image (pixel centres at integers)."""
    kp = np.array(keypoints, dtype=np.float64)
    kp[~_inside(kp[:, :2], width, height), 2] = 0
    return kp


def person_box(kp: np.ndarray, box: np.ndarray | None, width: int, height: int,
               rule: CropRule) -> tuple[np.ndarray | None, str]:
    """The person box ``[4]`` a ``box``-rule crop is centred on (the given ``box`` or the labelled joints' extent,
    grown by ``rule.pad``, clipped to the image), or ``(None, why)`` when there is none: ``NO_BOX_REASONS``.
    ``kp`` ``[K,3]`` has v = 0 outside the image (``in_image``)."""
    extent = np.array([-0.5, -0.5, width - 0.5, height - 0.5])
    bbox = np.array(box, dtype=np.float64) if box is not None else _labelled_extent(kp)
    if bbox is None:
        return None, NO_BOX_REASONS[1]
    if box is None:
        bbox = bbox + np.array([-rule.pad, -rule.pad, rule.pad, rule.pad])
    bbox = np.concatenate([np.maximum(bbox[:2], extent[:2]), np.minimum(bbox[2:], extent[2:])])
    if box is not None and (bbox[2] <= bbox[0] or bbox[3] <= bbox[1]):
        return None, NO_BOX_REASONS[0]
    if box is None and max(bbox[2:] - bbox[:2]) <= 0:  # the joints' extent may be a line, not a point
        return None, NO_BOX_REASONS[1]
    return bbox, ""


def crop_record(rec: Record, rule: CropRule, size: int) -> dict[str, np.ndarray]:
    """Decode, crop and re-express one sample → one row of every HDF5 dataset (``images`` ``[S,S,3]`` …)."""
    kp, box = rec.annotation()
    image = open_rgb(rec.image)
    width, height = image.size
    kp = in_image(kp, width, height)
    if rule.mode == "image":
        cx, cy, side = image_square(width, height)
        labelled = _labelled_extent(kp)
        bbox = (np.array(box, dtype=np.float64) if box is not None else labelled if labelled is not None
                else np.array([-0.5, -0.5, width - 0.5, height - 0.5]))
    else:
        bbox, why = person_box(kp, box, width, height, rule)
        if bbox is None:
            raise DataError(f"{rec.source_id}: {why}, nothing to crop on", hint="check the box and keypoints of this sample")
        cx, cy, side = box_square(bbox, rule.margin)
    affine = crop_affine(cx, cy, side, size)
    crop_kp = kp.copy()
    crop_kp[:, :2] = apply_affine(invert_affine(affine), kp[:, :2])
    crop_kp[~_inside(crop_kp[:, :2], size, size), 2] = 0
    row = {
        "images": warp_crop(image, affine, size),
        "keypoints": crop_kp.astype(np.float32),
        "keypoints_orig": kp.astype(np.float32),
        "affine": affine.astype(np.float32),
        "bbox": bbox.astype(np.float32),
        "orig_size": np.array([height, width], dtype=np.int32),
    }
    if rec.keypoints3d is not None:
        row["keypoints3d"] = np.asarray(rec.keypoints3d, dtype=np.float32)
        row["intrinsics"] = np.asarray(rec.intrinsics, dtype=np.float32)
    mask = rec.mask(affine, size)
    if mask is not None:
        row["masks"] = mask
    return row


def crop_chunk(job: tuple[list[Record], CropRule, int]) -> dict[str, np.ndarray]:
    """``(records, rule, size)`` → a batch for ``H5Writer.append`` (leading dimension = number of records)."""
    records, rule, size = job
    rows = [crop_record(rec, rule, size) for rec in records]
    batch = {key: np.stack([row[key] for row in rows]) for key in rows[0]}
    batch["source_id"] = np.array([rec.source_id for rec in records], dtype=object)
    return batch
