"""``prepare surreal``: SURREAL frames as processed for SURREAL→LSP work (tllib / UDAPE / DAML).

Layout: ``RAW/<split>/run{0,1,2}.json`` and the frames ``RAW/<split>/run{0,1,2}/<name>`` for the splits train,
val and test. Each JSON is a list of ``{name, keypoint2d [24×2], keypoint3d [24×3], intrinsic_matrix [3×3]}`` over
the 24 SMPL joints. The 16 canonical joints are SMPL ``(7, 4, 1, 2, 5, 8, 0, 9, 12, 15, 20, 18, 13, 14, 19, 21)``:
as in the anchors, SMPL *left* joints fill the MPII *right* slots and the "shoulders" are the SMPL collars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.annotation_files import read_json
from posekit.data.meta import MPII16
from posekit.datasets.converters.base import CONVERTERS
from posekit.datasets.converters.real import Loaded, RealConverter
from posekit.datasets.converters.records import CropRule, Record
from posekit.errors import DataError

SMPL_TO_MPII16 = (7, 4, 1, 2, 5, 8, 0, 9, 12, 15, 20, 18, 13, 14, 19, 21)
SPLITS = ("train", "val", "test")
RUNS = (0, 1, 2)
SHAPES = {"keypoint2d": (24, 2), "keypoint3d": (24, 3), "intrinsic_matrix": (3, 3)}


@CONVERTERS.register("surreal")
class SurrealConverter(RealConverter):
    """The train/val/test folders become the train/val/test splits, runs 0–2 in order; every joint is visible."""

    name = "surreal"
    description = ("SURREAL synthetic humans (tllib-processed crops, 24 SMPL → MPII-16, 2D + 3D); splits = its "
                   "train/val/test folders")
    source = "https://www.di.ens.fr/willow/research/surreal/data/ (processed crops: thuml/Transfer-Learning-Library)"
    licence = ("SURREAL licence (accepted at registration on the SURREAL page): non-commercial research; cite Varol "
               "et al., CVPR 2017")
    layout = "RAW/{train,val,test}/run{0,1,2}.json and RAW/{train,val,test}/run{0,1,2}/<frame images>"
    crop = CropRule("image")
    with_3d = True

    def load(self, raw: Path, params: dict[str, Any]) -> Loaded:
        self.require(raw, [f"{s}/run{r}{ext}" for s in SPLITS for r in RUNS for ext in (".json", "")])
        splits = {s: [rec for r in RUNS for rec in self._run(raw, s, r)] for s in SPLITS}
        return Loaded(MPII16, splits, [raw / s / f"run{r}.json" for s in SPLITS for r in RUNS])

    @staticmethod
    def _run(raw: Path, split: str, run: int) -> list[Record]:
        path = raw / split / f"run{run}.json"
        entries = read_json(path)
        if not isinstance(entries, list):
            raise DataError(f"{path}: expected a list of frames, found {type(entries).__name__}",
                            hint="use the run*.json files of the processed SURREAL release")
        records = []
        for i, entry in enumerate(entries):
            try:
                name = str(entry["name"])
                arrays = {key: np.asarray(entry[key], dtype=np.float64) for key in SHAPES}
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{path}: frame {i} lacks name/{'/'.join(SHAPES)} or holds non-numbers",
                                hint="use the run*.json files of the processed SURREAL release") from None
            for key, shape in SHAPES.items():
                if arrays[key].shape != shape or not np.isfinite(arrays[key]).all():
                    raise DataError(f"{path}: frame {i} ({name}): {key} has shape {arrays[key].shape} or "
                                    f"non-finite values, expected finite {shape}",
                                    hint="re-download or re-extract this annotation file")
            xy = arrays["keypoint2d"][list(SMPL_TO_MPII16)]
            kp = np.concatenate([xy, np.full((16, 1), 2.0)], axis=1)
            records.append(Record(str(raw / split / f"run{run}" / name), f"{split}/run{run}/{name}", kp, None,
                                  arrays["keypoint3d"][list(SMPL_TO_MPII16)], arrays["intrinsic_matrix"]))
        return records
