"""``prepare rhd``: the Rendered Hand Pose dataset (RHD, Zimmermann & Brox, ICCV 2017) in MMPose's COCO-style JSON.

Each annotation file holds ``images`` (id, file_name, ``cam_param``: ``focal`` [fx, fy] and ``princpt`` [cx, cy] in
pixels) and ``annotations`` (one per hand: image_id, ``keypoints`` 21 × [x, y, flag] in pixels, ``joint_cam``
21 × [X, Y, Z] camera coordinates in **millimetres**, optional ``bbox`` [x, y, w, h] and ``hand_type``). RHD lists
each finger tip first (wrist, thumb tip … thumb base, forefinger tip …); the joints are reordered base-to-tip into
``hand21`` (``RHD_TO_HAND21``) and ``joint_cam`` is stored in metres. Flag > 0 → v = 2; flag 0 → v = 1 (RHD is
rendered, so every joint has exact coordinates). Where an image sits in a ``color/`` folder with a sibling
``mask/`` folder (the original release), ``masks`` hold the annotated hand's pixels (mask classes 2–17 left hand,
18–33 right hand).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from posekit.data.annotation_files import read_json
from posekit.data.crop import warp_crop
from posekit.data.images import open_labels
from posekit.data.meta import HAND21
from posekit.datasets.converters.base import CONVERTERS
from posekit.datasets.converters.coco import SPLIT_NAME, coco_box
from posekit.datasets.converters.real import Loaded, RealConverter
from posekit.datasets.converters.records import CropRule, Record, check_finite
from posekit.errors import ConfigError, DataError

RHD_TO_HAND21 = (0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17)
HAND_CLASSES = {"left": tuple(range(2, 18)), "right": tuple(range(18, 34)), "": tuple(range(2, 34))}
FORMAT_HINT = ("expected MMPose's RHD JSON: images[id, file_name, cam_param{focal, princpt}], annotations[image_id, "
               "keypoints 21×3, joint_cam 21×3 (mm)]")


# The next three helpers serve the h36m and mpi_inf_3dhp converters too.
def ann_file_params(params: dict[str, Any], ann_files: dict[str, str], image_root: str) -> dict[str, Any]:
    """Fill ``--ann-file`` / ``--image-root`` defaults (``ann_files``, ``image_root``) and check the split names."""
    params["ann_file"] = params["ann_file"] or dict(ann_files)
    params["image_root"] = params["image_root"] or {"*": image_root}
    bad = [s for s in params["ann_file"] if not SPLIT_NAME.fullmatch(s)]
    bad += [s for s in params["image_root"] if s != "*" and s not in params["ann_file"]]
    if bad:
        raise ConfigError(f"bad split name(s): {', '.join(bad)}",
                          hint="splits are lowercase names given by --ann-file SPLIT=PATH; --image-root SPLIT=DIR "
                               "must name one of them")
    return params


def split_files(raw: Path, params: dict[str, Any]) -> tuple[dict[str, Path], dict[str, Path]]:
    """``({split: annotation file}, {split: image root})``, both under ``raw`` unless absolute."""
    spec = params["image_root"]
    files = {split: raw / path for split, path in params["ann_file"].items()}
    return files, {split: raw / spec.get(split, spec.get("*", ".")) for split in files}


def relative(paths: list[Path], raw: Path) -> list[str]:
    """Paths as ``require`` lists them: relative to ``raw`` where they lie under it (``.`` for ``raw`` itself)."""
    return [str(p.relative_to(raw)) if p.is_relative_to(raw) else str(p) for p in paths]


@CONVERTERS.register("rhd")
class RhdConverter(RealConverter):
    """One output split per ``--ann-file SPLIT=PATH`` (default: MMPose's train and test files); one sample per hand."""

    name = "rhd"
    description = "Rendered Hand Pose (RHD) in MMPose's JSON: 21 hand joints (hand21), 2D + 3D, masks when present"
    source = ("https://lmb.informatik.uni-freiburg.de/resources/datasets/RenderedHandposeDataset.en.html (images); "
              "https://download.openmmlab.com/mmpose/datasets/rhd_annotations.zip (JSON)")
    licence = "research use only (RHD terms on its page); cite Zimmermann & Brox, ICCV 2017"
    layout = ("RAW/annotations/rhd_{train,test}.json (--ann-file SPLIT=PATH) and images at IMAGE_ROOT/<file_name> "
              "(--image-root, default RAW), e.g. RAW/training/color/00000.png, masks in RAW/training/mask/")
    crop = CropRule("box", margin=1.25)
    with_3d = True
    options: ClassVar[dict[str, Any]] = {"limit": None, "ann_file": None, "image_root": None}
    ann_files: ClassVar[dict[str, str]] = {"train": "annotations/rhd_train.json", "test": "annotations/rhd_test.json"}

    @classmethod
    def make_params(cls, raw: Path, name: str | None, size: int, codec: str, given: dict[str, Any]) -> dict[str, Any]:
        return ann_file_params(super().make_params(raw, name, size, codec, given), cls.ann_files, ".")

    def load(self, raw: Path, params: dict[str, Any]) -> Loaded:
        files, roots = split_files(raw, params)
        self.require(raw, relative(list(dict.fromkeys([*files.values(), *roots.values()])), raw))
        splits = {split: _records(read_json(path), path, roots[split]) for split, path in files.items()}
        kept = [r for recs in splits.values() for r in recs[:params["limit"]]]
        with_masks = bool(kept) and all(r.mask_file for r in kept)
        if with_masks:
            self.require(raw, relative([Path(r.mask_file) for r in kept], raw))
        else:
            splits = {s: [replace(r, mask_file=None) for r in recs] for s, recs in splits.items()}
        notes = ["masks: the annotated hand's pixels in RHD's mask/ images" if with_masks else
                 "no masks: the images have no sibling mask/ folder"]
        return Loaded(HAND21, splits, list(files.values()), notes=notes, with_masks=with_masks)


@dataclass(frozen=True, eq=False)
class RhdRecord(Record):
    """A hand, with its ``mask_file`` (RHD class labels) and ``hand_type`` (left, right or "") for ``masks``."""

    mask_file: str | None = None
    hand_type: str = ""

    def mask(self, affine: np.ndarray, size: int) -> np.ndarray | None:
        """The hand's pixels as a ``[S,S]`` uint8 0/1 crop: the same warp as the image, thresholded at ½."""
        if self.mask_file is None:
            return None
        labels = open_labels(self.mask_file, hint="re-extract the RHD archive")
        hand = np.isin(labels, HAND_CLASSES[self.hand_type]).astype(np.uint8) * 255
        crop = warp_crop(Image.fromarray(np.repeat(hand[..., None], 3, axis=-1)), affine, size)
        return (crop[..., 0] >= 128).astype(np.uint8)


def _records(doc: Any, path: Path, root: Path) -> list[RhdRecord]:
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations")):
        raise DataError(f"{path}: not an RHD annotation file", hint=FORMAT_HINT)
    images = {img.get("id"): img for img in doc["images"] if isinstance(img, dict)}
    return [_record(ann, images, path, root, i) for i, ann in enumerate(doc["annotations"])]


def _record(ann: Any, images: dict, path: Path, root: Path, i: int) -> RhdRecord:
    ann = ann if isinstance(ann, dict) else {}
    where = f"{path} (annotation {ann.get('id', i)})"
    image = images.get(ann.get("image_id"))
    if image is None or "file_name" not in image:
        raise DataError(f"{where}: image_id {ann.get('image_id')} has no images[] entry with a file_name",
                        hint=FORMAT_HINT)
    kp = _array(ann, "keypoints", (21, 3), where)
    xyz = _array(ann, "joint_cam", (21, 3), where)
    if (xyz[:, 2] <= 0).any():
        raise DataError(f"{where}: joint_cam has depths ≤ 0 (camera coordinates in mm expected)", hint=FORMAT_HINT)
    try:
        (fx, fy), (cx, cy) = (np.asarray(image["cam_param"][k], dtype=np.float64) for k in ("focal", "princpt"))
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path} (image {image.get('id')}): cam_param needs focal [fx, fy] and princpt [cx, cy]",
                        hint=FORMAT_HINT) from None
    kp = check_finite(kp[list(RHD_TO_HAND21)], where)
    kp[:, 2] = np.where(kp[:, 2] > 0, 2.0, 1.0)
    file = root / str(image["file_name"])
    mask_dir = _mask_dir(file.parent)
    hand = str(ann.get("hand_type") or "")
    return RhdRecord(str(file), f"{image['file_name']}#{ann.get('id', i)}", kp, coco_box(ann.get("bbox"), where, FORMAT_HINT),
                     xyz[list(RHD_TO_HAND21)] / 1000.0, np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]]),
                     str(mask_dir / file.name) if mask_dir else None, hand if hand in HAND_CLASSES else "")


@cache
def _mask_dir(folder: Path) -> Path | None:
    """RHD's ``<set>/mask`` folder beside an image folder ``<set>/color``, if it exists."""
    mask_dir = folder.parent / "mask"
    return mask_dir if folder.name == "color" and mask_dir.is_dir() else None


def _array(ann: dict, key: str, shape: tuple[int, int], where: str) -> np.ndarray:
    try:
        arr = np.asarray(ann[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: {key} missing or not numbers", hint=FORMAT_HINT) from None
    if arr.size != shape[0] * shape[1] or not np.isfinite(arr).all():
        raise DataError(f"{where}: {key} must hold {shape[0]}×{shape[1]} finite numbers, found {arr.size} values",
                        hint=FORMAT_HINT)
    return arr.reshape(shape)
