"""Person boxes per image from a COCO-style JSON (``posekit predict --boxes FILE``).

Two layouts are read:

- a detections list, as COCO's results format and detectors write it: ``[{"image_id" or "file_name", "bbox":
  [x, y, w, h], "score", "category_id"}, ...]`` (``score`` and ``category_id`` optional);
- a COCO annotations file: ``{"images": [{"id", "file_name"}], "annotations": [{"image_id", "bbox", ...}]}``
  (crowd annotations, ``iscrowd: 1``, are left out).

An entry names its image by ``file_name`` (compared with the input files' names, folders ignored) or by
``image_id``: through the file's ``images`` list when it has one, else an input whose file stem is that id
(``000000397133.jpg`` is image 397133, as COCO names its files). Boxes are COCO's ``[x, y, w, h]`` from the
top-left corner; posekit uses ``x0, y0, x1, y1 = x, y, x + w, y + h``, as ``prepare coco`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posekit.data.annotation_files import read_json
from posekit.errors import ConfigError, DataError, MissingArtifactError
from posekit.numbers import check_number

BOXES_HINT = ("expected COCO detections [{image_id or file_name, bbox: [x, y, w, h], score, category_id}] or a COCO "
              "annotations file {images: [{id, file_name}], annotations: [{image_id, bbox}]}")


@dataclass(frozen=True)
class Detection:
    """One person box: ``box`` (x0, y0, x1, y1) in original pixels, the detector's ``score`` and ``category_id``
    when the file gives them, and ``index``, the entry's position in its file."""

    box: tuple[float, float, float, float]
    score: float | None = None
    category_id: int | None = None
    index: int | None = None

    def __post_init__(self):
        """Four finite numbers, a finite score and an integer category (or None): ConfigError otherwise."""
        if isinstance(self.box, (str, bytes)) or not hasattr(self.box, "__len__") or len(self.box) != 4:
            raise ConfigError(f"Detection box must be four numbers x0, y0, x1, y1, got {self.box!r}"[:160],
                              hint="e.g. posekit.Detection((10, 5, 90, 170), score=0.9)")
        object.__setattr__(self, "box", tuple(check_number(v, "Detection box") for v in self.box))
        if self.score is not None:
            object.__setattr__(self, "score", check_number(self.score, "Detection score"))
        for name in ("category_id", "index"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_number(getattr(self, name), f"Detection {name}", integer=True))


@dataclass(frozen=True)
class BoxesFile:
    """The boxes of a file per input image (every input has a list, maybe empty), and how many entries were left
    out: ``unmatched`` (an image that is not an input), ``filtered`` (below ``min_score`` or another category)."""

    boxes: dict[Path, list[Detection]]
    unmatched: int
    filtered: int


def _number(value: Any, where: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"{where}: {field} must be a finite number, got {value!r}", hint=BOXES_HINT)
    return float(value)


def _detection(entry: Any, where: str, index: int) -> Detection:
    if not isinstance(entry, dict):
        raise DataError(f"{where}: an entry must be an object, got {type(entry).__name__}", hint=BOXES_HINT)
    bbox = entry.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise DataError(f"{where}: bbox must be [x, y, w, h], got {bbox!r}", hint=BOXES_HINT)
    x, y, w, h = (_number(v, where, "bbox") for v in bbox)
    if w <= 0 or h <= 0 or not (x < x + w and y < y + h):  # the second: w lost in rounding next to a huge x
        raise DataError(f"{where}: bbox {bbox} has no area (w and h must be > 0)", hint=BOXES_HINT)
    score = entry.get("score")
    category = entry.get("category_id")
    if category is not None and (isinstance(category, bool) or not isinstance(category, int)):
        raise DataError(f"{where}: category_id must be an integer, got {category!r}", hint=BOXES_HINT)
    return Detection((x, y, x + w, y + h), None if score is None else _number(score, where, "score"), category, index)


def _image_names(images: Any, path: Path) -> dict[Any, str]:
    """A COCO ``images`` list → {id: file name without folders}."""
    if not isinstance(images, list):
        raise DataError(f"{path}: images must be a list of {{id, file_name}}", hint=BOXES_HINT)
    names: dict[Any, str] = {}
    for i, image in enumerate(images):
        if not isinstance(image, dict) or not _is_id(image.get("id")) or not isinstance(image.get("file_name"), str):
            raise DataError(f"{path}: images[{i}] needs an integer or string id and a file_name", hint=BOXES_HINT)
        key, name = image["id"], Path(image["file_name"]).name
        if key in names and names[key] != name:  # as prepare coco refuses it: boxes would go to whichever came last
            raise DataError(f"{path}: images[] lists id {key!r} twice ({names[key]} and {name})",
                            hint="give each image its own id; annotations name images by id")
        names[key] = name
    return names


def _is_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def read_boxes(path: Path, inputs: Sequence[Path], min_score: float = 0.0, category: int | None = None) -> BoxesFile:
    """The boxes ``path`` gives each of ``inputs`` (image files with distinct names), in file order; entries
    below ``min_score`` (entries without a score are kept) or of another ``category`` (when given) are left out.
    Raises DataError naming the file, the entry and the field for anything malformed, and when no entry names
    any input."""
    path = Path(path)
    if not path.is_file():
        raise MissingArtifactError(f"no boxes file {path}", hint="pass a COCO detections or annotations JSON")
    data = read_json(path)
    names: dict[Any, str] | None = None
    if isinstance(data, dict):
        if not isinstance(data.get("annotations"), list):
            raise DataError(f"{path}: an object without an annotations list", hint=BOXES_HINT)
        names = _image_names(data.get("images", []), path) if "images" in data else None
        entries, label = data["annotations"], "annotations"
    elif isinstance(data, list):
        entries, label = data, "entry"
    else:
        raise DataError(f"{path}: neither a detections list nor an annotations object", hint=BOXES_HINT)
    by_name = {p.name: p for p in inputs}
    by_stem: dict[str, Path] = {}
    for p in inputs:
        by_stem[p.stem] = p
        if p.stem.isdigit():
            by_stem.setdefault(str(int(p.stem)), p)
    boxes: dict[Path, list[Detection]] = {p: [] for p in inputs}
    unmatched = filtered = 0
    for i, entry in enumerate(entries):
        where = f"{path}: {label}[{i}]"
        det = _detection(entry, where, i)
        if entry.get("iscrowd"):
            filtered += 1
            continue
        if "file_name" in entry:
            if not isinstance(entry["file_name"], str):
                raise DataError(f"{where}: file_name must be a string", hint=BOXES_HINT)
            image = by_name.get(Path(entry["file_name"]).name)
        elif "image_id" in entry:
            image_id = entry["image_id"]
            if not _is_id(image_id):
                raise DataError(f"{where}: image_id must be an integer or a string, got {image_id!r}"[:200],
                                hint=BOXES_HINT)
            if names is not None:
                if image_id not in names:
                    raise DataError(f"{where}: image_id {image_id!r} is not in the file's images list", hint=BOXES_HINT)
                image = by_name.get(names[image_id])
            else:
                image = by_stem.get(str(image_id))
        else:
            raise DataError(f"{where}: names no image (give image_id or file_name)", hint=BOXES_HINT)
        if image is None:
            unmatched += 1
        elif (det.score is not None and det.score < min_score) or (category is not None and det.category_id != category):
            filtered += 1
        else:
            boxes[image].append(det)
    if inputs and unmatched == len(entries) and entries:
        raise DataError(f"{path}: none of its {len(entries)} boxes belongs to the {len(inputs)} input image(s)",
                        hint="entries name images by file_name, by image_id through an images list, or by an "
                             "image_id equal to the file stem (COCO's 000000397133.jpg is 397133)")
    return BoxesFile(boxes, unmatched, filtered)
