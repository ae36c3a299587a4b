"""``prepare coco``: any COCO-keypoints JSON (the format MMPose reads), one HDF5 split per annotation file.

Each ``--ann-file SPLIT=PATH`` holds ``images`` (id, file_name), ``annotations`` (image_id, category_id,
keypoints as 3K numbers or K×3 lists, optional bbox x, y, w, h, iscrowd) and ``categories`` (id, name, keypoints,
skeleton). Images are read from ``IMAGE_ROOT/<file_name>``. Keypoints keep the file's own set (a KeypointMeta built
from the category) unless ``--canonical NAME`` maps them onto a built-in skeleton by joint name, with
``--keypoint-map CANONICAL=SOURCE`` pairs for names that differ; canonical joints without a source are unlabelled.

Left out (counted in the file's ``skipped`` attribute and in prepare's summary): crowd annotations, annotations
of other categories (``--categories``) or of a ``category_id`` no category has, annotations with no labelled
keypoint and, without a box, with fewer than two. Visibility keeps COCO's meaning (0 unlabelled, 1 labelled but
occluded, 2 visible); a file whose flags never exceed 1 uses 0/1 flags, and its 1s are read as visible. Without a
box, the crop uses the labelled joints. Refused with an error naming the entry: flags other than 0, 1 and 2,
values that are not JSON numbers (strings, booleans), an ``images`` id listed twice with different contents,
keypoint names listed twice.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from posekit.data.annotation_files import read_json
from posekit.data.meta import SKELETONS, KeypointMeta
from posekit.datasets.converters.base import CONVERTERS
from posekit.datasets.converters.coco_meta import canonical_mapping, meta_from_category
from posekit.datasets.converters.real import Loaded, RealConverter
from posekit.datasets.converters.records import CropRule, Record, check_finite, check_visibility
from posekit.errors import ConfigError, DataError

SPLIT_NAME = re.compile(r"[a-z][a-z0-9_]*")
FORMAT_HINT = ("expected a COCO keypoint file: images[id, file_name], annotations[image_id, category_id, keypoints], "
               "categories[id, name, keypoints]")


@CONVERTERS.register("coco")
class CocoConverter(RealConverter):
    """Generic COCO-keypoints converter (``--ann-file``, ``--image-root``, ``--categories``, ``--canonical``)."""

    name = "coco"
    description = ("any COCO-keypoints JSON (MMPose format): the file's own keypoints, or mapped onto a built-in "
                   "skeleton")
    source = "https://cocodataset.org/#keypoints-2017 (COCO), or any dataset shipped in COCO keypoint format"
    licence = "COCO annotations: CC BY 4.0; images: their Flickr licences; other datasets: their own terms"
    layout = ("--ann-file SPLIT=PATH (relative to RAW) and images at IMAGE_ROOT/<file_name> (--image-root "
              "[SPLIT=]DIR, default RAW)")
    crop = CropRule("box", margin=1.25)
    options: ClassVar[dict[str, Any]] = {"limit": None, "ann_file": None, "image_root": None, "categories": None, "canonical": None,
               "keypoint_map": None}

    @classmethod
    def make_params(cls, raw: Path, name: str | None, size: int, codec: str, given: dict[str, Any]) -> dict[str, Any]:
        params = super().make_params(raw, name, size, codec, given)
        if not params["ann_file"]:
            raise ConfigError("`prepare coco` needs at least one --ann-file SPLIT=PATH",
                              hint="e.g. --ann-file train=annotations/person_keypoints_train2017.json "
                                   "--image-root train=train2017")
        bad = [s for s in params["ann_file"] if not SPLIT_NAME.fullmatch(s)]
        extra = [s for s in params["image_root"] or {} if s != "*" and s not in params["ann_file"]]
        if bad or extra:
            raise ConfigError(f"bad split name(s): {', '.join(bad + extra)}",
                              hint="splits are lowercase names (train, val, test) given by --ann-file; "
                                   "--image-root SPLIT=DIR must name one of them")
        if params["canonical"] is not None and params["canonical"] not in SKELETONS:
            raise ConfigError(f"unknown --canonical {params['canonical']!r}",
                              hint=f"use one of {', '.join(SKELETONS)} (`posekit list skeletons`)")
        if params["keypoint_map"] and params["canonical"] is None:
            raise ConfigError("--keypoint-map needs --canonical", hint="e.g. --canonical human16")
        return params

    def load(self, raw: Path, params: dict[str, Any]) -> Loaded:
        files = {split: raw / path for split, path in params["ann_file"].items()}
        spec = params["image_root"] or {}
        roots = {split: raw / spec.get(split, spec.get("*", ".")) for split in files}
        self.require(raw, [str(p) for p in files.values()] + sorted({str(r) for r in roots.values()}))
        docs = {split: _read_doc(path) for split, path in files.items()}
        source_meta, cat_ids = _choose_categories(docs, files, params["categories"])
        if params["canonical"] is None:
            meta, mapping = source_meta, None
        else:
            meta = SKELETONS[params["canonical"]]
            mapping = canonical_mapping(source_meta.names, meta, params["keypoint_map"] or {})
        splits, skipped, notes = {}, {}, []
        for split, doc in docs.items():
            counts: Counter = Counter()
            splits[split], binary = _records(doc, files[split], roots[split], cat_ids[split], source_meta.num_joints,
                                             mapping, counts)
            skipped[split] = dict(counts)
            if binary:
                notes.append(f"{split}: 0/1 visibility flags, 1 read as visible")
        return Loaded(meta, splits, list(files.values()), skipped, notes)


def _read_doc(path: Path) -> dict:
    doc = read_json(path)
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations", "categories")):
        raise DataError(f"{path}: not a COCO keypoint file", hint=FORMAT_HINT)
    for key in ("images", "annotations", "categories"):
        bad = next((i for i, entry in enumerate(doc[key]) if not isinstance(entry, dict)), None)
        if bad is not None:
            raise DataError(f"{path}: {key}[{bad}] is not an object", hint=FORMAT_HINT)
    return doc


def _is_id(value: Any) -> bool:
    """COCO ids are integers or strings (never booleans, lists or null)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _numbers(value: Any, where: str, what: str) -> np.ndarray:
    """A JSON list (possibly nested) of numbers → float64 array; strings, booleans and nulls are refused."""
    flat, todo = [], [value]
    while todo:
        item = todo.pop()
        if isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            flat.append(item)
        else:
            raise DataError(f"{where}: {what} must be numbers, found {item!r}"[:200], hint=FORMAT_HINT)
    if not isinstance(value, list):
        raise DataError(f"{where}: {what} must be a list of numbers", hint=FORMAT_HINT)
    try:
        return np.asarray(value, dtype=np.float64)
    except ValueError:  # ragged nesting
        raise DataError(f"{where}: {what} must be 3K numbers or K lists [x, y, v]", hint=FORMAT_HINT) from None
    except OverflowError:  # an integer beyond any float
        raise DataError(f"{where}: {what} hold a number too large for a float", hint=FORMAT_HINT) from None


def _image_index(doc: dict, path: Path) -> dict:
    """``images[]`` by id; an id listed twice with different contents is refused (annotations would be cropped
    from whichever photograph came last)."""
    images: dict = {}
    for i, img in enumerate(doc["images"]):
        key = img.get("id")
        if not _is_id(key) or not isinstance(img.get("file_name"), str) or not img["file_name"]:
            raise DataError(f"{path}: images[{i}] needs an integer or string id and a file_name", hint=FORMAT_HINT)
        if key in images and images[key] != img:
            raise DataError(f"{path}: images[] lists id {key!r} twice ({images[key]['file_name']} and "
                            f"{img['file_name']})", hint="give each image its own id; annotations name images by id")
        images[key] = img
    return images


def _choose_categories(docs: dict[str, dict], files: dict[str, Path],
                       wanted: list[str] | None) -> tuple[KeypointMeta, dict[str, set]]:
    """The chosen categories (``--categories`` or every one with keypoints) → one shared meta and, per split, the
    category ids to keep."""
    chosen: dict[str, dict] = {}
    ids: dict[str, set] = {}
    for split, doc in docs.items():
        cats = [c for c in doc["categories"] if c.get("keypoints")]
        if any(not _is_id(c.get("id")) or not isinstance(c.get("name"), str) or not isinstance(c["keypoints"], list)
               or not all(isinstance(k, str) for k in c["keypoints"]) for c in cats):
            raise DataError(f"{files[split]}: categories need an integer or string id, a name and a keypoints list "
                            "of names",
                            hint=FORMAT_HINT)
        by_name = {c["name"]: c for c in cats}
        if not by_name:
            raise DataError(f"{files[split]}: no category lists keypoints", hint=FORMAT_HINT)
        absent = [n for n in wanted or [] if n not in by_name]
        if absent:
            raise ConfigError(f"{files[split]}: no keypoint category {', '.join(absent)}",
                              hint=f"its keypoint categories: {', '.join(by_name)}; choose with --categories")
        picked = [by_name[n] for n in wanted] if wanted else list(by_name.values())
        ids[split] = {c.get("id") for c in picked}
        chosen.update({str(c["name"]): c for c in picked})
    names = {tuple(c["keypoints"]) for c in chosen.values()}
    if len(names) > 1:
        raise ConfigError(f"categories {', '.join(chosen)} have different keypoint lists",
                          hint="choose categories that share one keypoint list with --categories")
    supers = {c.get("supercategory") for c in chosen.values()}
    if len(chosen) == 1:
        base = next(iter(chosen))
    else:
        base = supers.pop() if len(supers) == 1 and None not in supers else "mixed"
    first = next(iter(chosen.values()))
    meta_name = re.sub(r"\W+", "_", str(base)).strip("_").lower() + str(len(first["keypoints"]))
    return meta_from_category(first, meta_name, str(next(iter(files.values())))), ids


def _records(doc: dict, path: Path, root: Path, cat_ids: set, k: int, mapping: list[int | None] | None,
             skipped: Counter) -> tuple[list[Record], bool]:
    """The usable annotations of one file → records, and whether the file uses 0/1 visibility flags."""
    images = _image_index(doc, path)
    known = {c.get("id") for c in doc["categories"] if _is_id(c.get("id"))}
    parsed = []
    for i, ann in enumerate(doc["annotations"]):
        where = f"{path} (annotation {ann.get('id', i)})"
        category = ann.get("category_id")
        if not _is_id(category) or category not in known:
            skipped["unknown category_id"] += 1
            continue
        if category not in cat_ids:
            skipped["other category"] += 1
            continue
        if ann.get("iscrowd") not in (None, 0, 1, False, True):
            raise DataError(f"{where}: iscrowd must be 0 or 1, found {ann['iscrowd']!r}"[:200], hint=FORMAT_HINT)
        if ann.get("iscrowd"):
            skipped["crowd"] += 1
            continue
        if "keypoints" not in ann:
            raise DataError(f"{where}: keypoints missing", hint=FORMAT_HINT)
        kp = _numbers(ann["keypoints"], where, "keypoints")
        if kp.size != 3 * k:
            raise DataError(f"{where}: {kp.size} keypoint values, but the category names {k} keypoints (3 × {k})",
                            hint="the category's keypoints list and the annotations disagree; fix the file")
        image = images.get(ann.get("image_id")) if _is_id(ann.get("image_id")) else None
        if image is None:
            raise DataError(f"{where}: image_id {ann.get('image_id')!r} has no images[] entry with a file_name"[:300],
                            hint=FORMAT_HINT)
        kp = kp.reshape(k, 3)
        check_visibility(kp[:, 2], where)
        parsed.append((ann, where, kp, image))
    binary = bool(parsed) and max(float(np.nanmax(kp[:, 2])) for _, _, kp, _ in parsed) <= 1
    records = []
    for ann, where, kp, image in parsed:
        if binary:
            kp[:, 2] = np.where(kp[:, 2] > 0, 2.0, 0.0)
        kp = check_finite(kp, where)
        if mapping is not None:
            kp = np.array([kp[m] if m is not None else np.zeros(3) for m in mapping])
        if not (kp[:, 2] > 0).any():
            skipped["no labelled keypoint"] += 1
            continue
        records.append(Record(str(root / image["file_name"]), f"{image['file_name']}#{ann.get('id', '')}", kp,
                              coco_box(ann.get("bbox"), where)))
    return records, binary


def coco_box(bbox: Any, where: str, hint: str = FORMAT_HINT) -> np.ndarray | None:
    """COCO ``[x, y, w, h]`` → ``[x0, y0, x1, y1]``; None when absent or empty (the crop then uses the joints)."""
    if bbox is None:
        return None
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
        raise DataError(f"{where}: bbox must be [x, y, w, h] (four numbers)", hint=hint)
    try:
        x, y, w, h = (float(v) for v in bbox)
    except OverflowError:
        raise DataError(f"{where}: bbox holds a number too large for a float", hint=hint) from None
    if not np.isfinite([x, y, w, h]).all():
        raise DataError(f"{where}: NaN or infinite bbox", hint="fix the annotation file")
    return np.array([x, y, x + w, y + h]) if w > 0 and h > 0 else None
