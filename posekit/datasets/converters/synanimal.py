"""``prepare synanimal``: the synthetic animals of Mu et al. (CVPR 2020), as the anchors use them.

Layout: ``RAW/synthetic_animal/<category>_combineds5r5_texture/<id>_img.png`` (640×480 renders) with
``<id>_kpts.npy``: the projected CAD vertices, ``[V,3]`` x, y, visible (1) / self-occluded (0). The keypoints are
fixed vertex indices per category (the anchors' ``generate_data_file``): horse and tiger give the 18 TigDog
joints, hound and sheep the 14 AnimalPose joints. Self-occluded joints are stored with v = 1 (the anchors train on
them), visible ones with v = 2. The person box is the extent of all vertices, clipped to the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from posekit.data.meta import ANIMALPOSE14, TIGDOG18, KeypointMeta
from posekit.datasets.converters.base import CONVERTERS
from posekit.datasets.converters.real import Loaded, RealConverter, read_indices
from posekit.datasets.converters.records import CropRule, Record
from posekit.errors import ConfigError, DataError

VERTICES: dict[str, tuple[KeypointMeta, tuple[int, ...]]] = {
    "horse": (TIGDOG18, (1718, 1684, 1271, 1634, 1650, 1643, 1659, 925, 392, 564, 993, 726, 1585, 1556, 427, 1548,
                         967, 877)),
    "tiger": (TIGDOG18, (2753, 2679, 2032, 1451, 1287, 3085, 1632, 229, 1441, 1280, 2201, 1662, 266, 158, 270, 152,
                         219, 129)),
    "hound": (ANIMALPOSE14, (2028, 2580, 878, 977, 1541, 1734, 799, 1575, 1446, 602, 780, 1580, 466, 631)),
    "sheep": (ANIMALPOSE14, (2046, 1944, 1875, 1900, 1868, 1894, 173, 1829, 1422, 821, 622, 575, 1370, 716)),
}
VAL_EVERY = 5


@dataclass(frozen=True, eq=False)
class VertexRecord(Record):
    """A render whose keypoints and box are read from its ``*_kpts.npy`` in the worker (the files are large)."""

    vertices: str = ""
    vertex_ids: tuple[int, ...] = ()

    def annotation(self) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            pts = np.load(self.vertices)
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.vertices}: unreadable vertex file ({exc})",
                            hint="re-download or re-extract this file, then re-run the same prepare command") from None
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) <= max(self.vertex_ids):
            raise DataError(f"{self.vertices}: vertices have shape {pts.shape}, expected [V,3] with V > "
                            f"{max(self.vertex_ids)}", hint="check that the file belongs to this category's renders")
        if not np.isfinite(pts).all():
            raise DataError(f"{self.vertices}: NaN or infinite vertex coordinates", hint="re-download this file")
        sel = pts[list(self.vertex_ids)]
        kp = np.concatenate([sel[:, :2], np.where(sel[:, 2:] > 0, 2.0, 1.0)], axis=1)
        return kp, np.concatenate([pts[:, :2].min(0), pts[:, :2].max(0)])


@CONVERTERS.register("synanimal")
class SynAnimalConverter(RealConverter):
    """Splits: the anchors' ``{train,valid}_idxs.npy`` with ``--split-dir``; otherwise render i (sorted by file
    name, 0-based) goes to val when i % 5 == 4 (the anchors' 80/20 proportion), else to train."""

    name = "synanimal"
    description = ("synthetic animal renders (Mu et al. 2020): horse/tiger → TigDog-18, hound/sheep → AnimalPose-14 "
                   "(--categories)")
    source = "https://github.com/JitengMu/Learning-from-Synthetic-Animals (synthetic_animal data)"
    licence = "terms in the Learning-from-Synthetic-Animals repository; cite Mu et al., CVPR 2020"
    layout = ("RAW/synthetic_animal/<category>_combineds5r5_texture/<id>_img.png + <id>_kpts.npy; optional "
              "--split-dir DIR with DIR/synthetic_animal/<category>_combineds5r5_texture/{train,valid}_idxs.npy")
    crop = CropRule("box", margin=1.25)
    options: ClassVar[dict[str, Any]] = {"limit": None, "categories": ("horse", "tiger"), "split_dir": None}

    def load(self, raw: Path, params: dict[str, Any]) -> Loaded:
        cats = self.categories(params, VERTICES)
        metas = {VERTICES[c][0].name for c in cats}
        if len(metas) > 1:
            raise ConfigError(f"categories {', '.join(cats)} have different keypoint sets ({', '.join(sorted(metas))})",
                              hint="prepare horse/tiger and hound/sheep as two datasets (--name)")
        folders = {c: f"synthetic_animal/{c}_combineds5r5_texture" for c in cats}
        split_dir = Path(params["split_dir"]) if params["split_dir"] else None
        entries = list(folders.values())
        if split_dir is not None:
            entries += [str(split_dir / f / f"{s}_idxs.npy") for f in folders.values() for s in ("train", "valid")]
        self.require(raw, entries)
        splits: dict[str, list[Record]] = {"train": [], "val": []}
        split_files = []
        for cat, folder in folders.items():
            images = sorted((raw / folder).glob("*img.png"))
            if not images:
                raise self.missing(f"no *_img.png renders in {raw / folder}")
            self.require(raw, [str(p)[: -len("img.png")] + "kpts.npy" for p in images])
            records = [VertexRecord(str(p), f"{folder}/{p.name}", vertices=str(p)[: -len("img.png")] + "kpts.npy",
                                    vertex_ids=VERTICES[cat][1]) for p in images]
            if split_dir is None:
                chosen = {"train": [i for i in range(len(records)) if i % VAL_EVERY != VAL_EVERY - 1],
                          "val": [i for i in range(len(records)) if i % VAL_EVERY == VAL_EVERY - 1]}
            else:
                paths = {"train": split_dir / folder / "train_idxs.npy", "val": split_dir / folder / "valid_idxs.npy"}
                chosen = {s: read_indices(p, len(records)) for s, p in paths.items()}
                split_files += paths.values()
            for split, idx in chosen.items():
                splits[split] += [records[i] for i in idx]
        return Loaded(VERTICES[cats[0]][0], splits, split_files)
