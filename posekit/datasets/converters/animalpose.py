"""``prepare animalpose``: the Animal-Pose dataset (Cao et al., ICCV 2019) with the anchors' splits.

Layout: ``RAW/animal-pose/keypoints.json`` (``images``: image id → file name; ``categories``: id, name) and
``RAW/animal-pose/images/``, plus the split files ``<split dir>/real_animal_pose/<category>/{train,test}_anno.npy``
(pickled lists of ``{image_id, bbox [x0,y0,x1,y1], keypoints 20×[x,y,v], category_id}``; the split dir defaults
to ``RAW/cached_data``: copy UDA_PoseEstimation's root ``cached_data`` there). The 14 evaluated joints are
Animal-Pose indices ``(0, 1, 13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8)``: eyes, paws, knees, elbows.
Labelled joints (v = 1 in the files) are stored as visible (v = 2). Crop: the annotated box, side 1.25 × its longer
side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from posekit.data.annotation_files import read_json
from posekit.data.meta import ANIMALPOSE14
from posekit.datasets.converters.base import CONVERTERS
from posekit.datasets.converters.real import Loaded, RealConverter
from posekit.datasets.converters.records import CropRule, Record, check_finite
from posekit.errors import DataError

AP20_TO_14 = (0, 1, 13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8)
SPLIT_FILES = {"train": "train_anno.npy", "test": "test_anno.npy"}
CATEGORIES = ("dog", "cat", "sheep", "horse", "cow")


@CONVERTERS.register("animalpose")
class AnimalPoseConverter(RealConverter):
    """Splits: the anchors' per-category ``train_anno.npy`` / ``test_anno.npy`` (dog 1416/355, sheep 862/216)."""

    name = "animalpose"
    description = ("Animal-Pose real photos (dog, cat, sheep, horse, cow), 20 → 14 joints, the anchors' splits "
                   "(--categories)")
    source = ("https://sites.google.com/view/animal-pose/ (images and keypoints.json); split files: "
              "https://github.com/VisionLearningGroup/UDA_PoseEstimation (cached_data/real_animal_pose)")
    licence = ("no licence stated by the authors; images from PASCAL VOC 2011 and the web keep their own terms; cite "
               "Cao et al., ICCV 2019")
    layout = ("RAW/animal-pose/keypoints.json, RAW/animal-pose/images/, "
              "SPLIT_DIR/real_animal_pose/<category>/{train,test}_anno.npy (SPLIT_DIR: --split-dir, default RAW/cached_data)")
    crop = CropRule("box", margin=1.25)
    options: ClassVar[dict[str, Any]] = {"limit": None, "categories": ("dog", "sheep"), "split_dir": None}

    def load(self, raw: Path, params: dict[str, Any]) -> Loaded:
        cats = self.categories(params, CATEGORIES)
        split_dir = Path(params["split_dir"]) if params["split_dir"] else raw / "cached_data"
        split_paths = {(c, s): split_dir / "real_animal_pose" / c / f for c in cats for s, f in SPLIT_FILES.items()}
        self.require(raw, ["animal-pose/keypoints.json", "animal-pose/images", *map(str, split_paths.values())])
        index_path = raw / "animal-pose" / "keypoints.json"
        index = read_json(index_path)
        try:
            images = {str(k): str(v) for k, v in index["images"].items()}
            cat_ids = {str(c["name"]): int(c["id"]) for c in index["categories"]}
        except (KeyError, TypeError, AttributeError, ValueError):
            raise DataError(f"{index_path}: expected 'images' (id → file name) and 'categories' (id, name)",
                            hint="use keypoints.json of the official Animal-Pose release") from None
        absent = [c for c in cats if c not in cat_ids]
        if absent:
            raise DataError(f"{index_path}: no category {', '.join(absent)} (it has {', '.join(cat_ids)})",
                            hint="use keypoints.json of the official Animal-Pose release")
        splits: dict[str, list[Record]] = {"train": [], "test": []}
        for (cat, split), path in split_paths.items():
            for i, ann in enumerate(_read_split_file(path)):
                splits[split].append(self._record(raw, path, i, ann, cat, cat_ids, images))
        return Loaded(ANIMALPOSE14, splits, [index_path, *split_paths.values()])

    @staticmethod
    def _record(raw: Path, path: Path, i: int, ann: Any, cat: str, cat_ids: dict[str, int],
                images: dict[str, str]) -> Record:
        where = f"{path} (entry {i})"
        try:
            image_id, category = str(ann["image_id"]), int(ann["category_id"])
            box = np.asarray(ann["bbox"], dtype=np.float64).reshape(4)
            kp20 = np.asarray(ann["keypoints"], dtype=np.float64).reshape(20, 3)
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}: expected image_id, category_id, bbox [4] and keypoints 20×3",
                            hint="use the split files of UDA_PoseEstimation's cached_data/real_animal_pose") from None
        if category != cat_ids[cat]:
            names = {v: k for k, v in cat_ids.items()}
            raise DataError(f"{where}: category_id {category} ({names.get(category, '?')}), but the file is under {cat} "
                            f"(id {cat_ids[cat]})", hint="UDA_PoseEstimation's adain/cached_data has permuted category "
                            "folders; use the split files from its root cached_data")
        if image_id not in images:
            raise DataError(f"{where}: image_id {image_id} is not in keypoints.json",
                            hint="the split files and keypoints.json come from different releases")
        if not np.isfinite(box).all():
            raise DataError(f"{where}: NaN or infinite box", hint="fix or re-download the split file")
        kp = kp20[list(AP20_TO_14)]
        kp[:, 2] = np.where(kp[:, 2] > 0, 2.0, 0.0)
        name = images[image_id]
        return Record(str(raw / "animal-pose" / "images" / name), f"animal-pose/images/{name}#{cat}/{path.stem}[{i}]",
                      check_finite(kp, where), box)


def _read_split_file(path: Path) -> list:
    try:
        anns = np.load(path, allow_pickle=True)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: unreadable split file ({exc})", hint="copy it again from UDA_PoseEstimation") from None
    return list(anns)
