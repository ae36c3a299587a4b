"""``prepare tigdog``: TigDog (behaviorDiscovery2.0) horse and tiger video frames, 18 landmarks.

Layout: ``RAW/behaviorDiscovery2.0/ranges/<c>/ranges.mat`` (``ranges``: one row per shot: shot id, first frame,
last frame), ``landmarks/<c>/<shot id>.mat`` (``landmarks``: one cell per frame of the shot holding a struct whose
first two fields are the coordinates ``[L,2]`` and visibility flags ``[L,1]``) and the frames ``<c>/%08d.jpg``.
Shots without a landmark file are left out (as in the anchors). The first 18 landmarks are used; tiger rows are
reordered by ``[1..8, 15..18, 13, 14, 9..12] − 1`` to the horse (TigDog-18) order.

Visibility: a landmark is labelled when x > 0 and y > 0 (the anchors' rule); labelled with flag 1 → v = 2,
labelled with flag 0 → v = 1 (occluded; the anchors' heatmaps keep such joints), unlabelled → v = 0.
Person box: labelled-landmark extent ± 15 px, clipped to the image; crop side 1.25 × its longer side.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from posekit.data.annotation_files import read_mat
from posekit.data.meta import TIGDOG18
from posekit.datasets.converters.base import CONVERTERS
from posekit.datasets.converters.real import Loaded, RealConverter, read_indices
from posekit.datasets.converters.records import CropRule, Record, check_finite
from posekit.errors import DataError

ROWS = {
    "horse": tuple(range(18)),
    "tiger": tuple(i - 1 for i in (1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 18, 13, 14, 9, 10, 11, 12)),
}
TEST_EVERY = 5
ROOT = "behaviorDiscovery2.0"


@CONVERTERS.register("tigdog")
class TigDogConverter(RealConverter):
    """Splits by video: with ``--split-dir``, the anchors' ``{train,valid}_idxs_by_video.npy`` (indices into the
    frames of all shots that have landmarks, in ranges.mat order); otherwise the shot in row k (0-based) of
    ranges.mat goes to test when k % 5 == 4, else to train. Frames without any labelled landmark are left out."""

    name = "tigdog"
    description = "TigDog horse/tiger video frames (behaviorDiscovery2.0), 18 landmarks; split by video (--categories)"
    source = "http://calvin-vision.net/datasets/tigdog/ (behaviorDiscovery2.0)"
    licence = "terms on the TigDog page (frames from YouTube videos); cite Del Pero et al., CVPR 2015"
    layout = (f"RAW/{ROOT}/ranges/<category>/ranges.mat, RAW/{ROOT}/landmarks/<category>/<shot>.mat, "
              f"RAW/{ROOT}/<category>/%08d.jpg; optional --split-dir DIR with "
              "DIR/real_animal/<category>/{train,valid}_idxs_by_video.npy")
    crop = CropRule("box", margin=1.25, pad=15.0)
    options: ClassVar[dict[str, Any]] = {"limit": None, "categories": ("horse", "tiger"), "split_dir": None}

    def load(self, raw: Path, params: dict[str, Any]) -> Loaded:
        cats = self.categories(params, ROWS)
        split_dir = Path(params["split_dir"]) if params["split_dir"] else None
        entries = [f"{ROOT}/{part}" for c in cats for part in (f"ranges/{c}/ranges.mat", f"landmarks/{c}", c)]
        if split_dir is not None:
            entries += [str(split_dir / "real_animal" / c / f"{s}_idxs_by_video.npy") for c in cats
                        for s in ("train", "valid")]
        self.require(raw, entries)
        splits: dict[str, list[Record]] = {"train": [], "test": []}
        skipped: dict[str, Counter] = {"train": Counter(), "test": Counter()}
        files: list[Path] = []
        for cat in cats:
            frames, shot_rows, cat_files = self._frames(raw / ROOT, cat)
            files += cat_files
            if split_dir is None:
                chosen = {"train": [i for i, k in enumerate(shot_rows) if k % TEST_EVERY != TEST_EVERY - 1],
                          "test": [i for i, k in enumerate(shot_rows) if k % TEST_EVERY == TEST_EVERY - 1]}
            else:
                paths = {"train": split_dir / "real_animal" / cat / "train_idxs_by_video.npy",
                         "test": split_dir / "real_animal" / cat / "valid_idxs_by_video.npy"}
                chosen = {s: read_indices(p, len(frames)) for s, p in paths.items()}
                files += paths.values()
            for split, idx in chosen.items():
                for i in idx:
                    if frames[i] is None:
                        skipped[split]["no labelled landmark"] += 1
                    else:
                        splits[split].append(frames[i])
        return Loaded(TIGDOG18, splits, files, {s: dict(c) for s, c in skipped.items()})

    @staticmethod
    def _frames(root: Path, cat: str) -> tuple[list[Record | None], list[int], list[Path]]:
        """Every frame of the shots with landmarks (None when no landmark is labelled), its ranges.mat row, and
        the annotation files read."""
        ranges_path = root / "ranges" / cat / "ranges.mat"
        ranges = np.asarray(read_mat(ranges_path, "ranges"))
        if ranges.ndim != 2 or ranges.shape[1] != 3:
            raise DataError(f"{ranges_path}: 'ranges' has shape {ranges.shape}, expected [shots, 3]",
                            hint="use ranges.mat from behaviorDiscovery2.0")
        frames: list[Record | None] = []
        rows: list[int] = []
        files = [ranges_path]
        for k, (shot, start, end) in enumerate(ranges.astype(np.int64)):
            path = root / "landmarks" / cat / f"{shot}.mat"
            if not path.exists():
                continue
            files.append(path)
            landmarks = read_mat(path, "landmarks")
            for frame in range(start, end + 1):
                kp = _landmarks(landmarks, frame - start, path, ROWS[cat])
                name = f"{cat}/{frame:08d}.jpg"
                frames.append(Record(str(root / name), f"{ROOT}/{name}", kp) if (kp[:, 2] > 0).any() else None)
                rows.append(k)
        return frames, rows, files


def _landmarks(landmarks: Any, index: int, path: Path, rows: tuple[int, ...]) -> np.ndarray:
    """Frame ``index`` of a landmarks cell array → ``[18,3]`` x, y, v in TigDog-18 order."""
    try:
        record = landmarks[index][0][0][0]
        coords = np.asarray(record[0], dtype=np.float64).reshape(-1, 2)
        flags = np.asarray(record[1], dtype=np.float64).reshape(-1)
    except (IndexError, TypeError, ValueError):
        raise DataError(f"{path}: frame {index} has no (coordinates, visibility) landmark record",
                        hint="the shot's frame range in ranges.mat and its landmark file disagree; re-extract both") from None
    if len(coords) < 18 or len(flags) != len(coords):
        raise DataError(f"{path}: frame {index} has {len(coords)} landmarks and {len(flags)} flags, expected ≥ 18 each",
                        hint="use the landmark files of behaviorDiscovery2.0")
    coords, flags = coords[:18][list(rows)], flags[:18][list(rows)]
    labelled = (coords[:, 0] > 0) & (coords[:, 1] > 0)
    v = np.where(labelled, np.where(flags > 0, 2.0, 1.0), 0.0)
    return check_finite(np.concatenate([coords, v[:, None]], axis=1), f"{path} (frame {index})")
