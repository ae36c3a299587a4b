"""``prepare lsp`` and ``prepare lspet``: Leeds Sports Pose (2,000 images) and LSP Extended (10,000 images).

Both ship ``joints.mat`` with the 14 LSP joints (right ankle … head top, see ``posekit.data.meta``) and
``images/im%04d.jpg`` (LSP) or ``images/im%05d.jpg`` (LSPET). Joints go to the canonical MPII-16 order with
``LSP_TO_MPII16``; pelvis and thorax have no LSP counterpart and are stored as unlabelled (0, 0, v = 0).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from posekit.data.annotation_files import read_mat
from posekit.data.meta import LSP_TO_MPII16, LSP_UNMAPPED_MPII16, MPII16
from posekit.datasets.converters.base import CONVERTERS
from posekit.datasets.converters.real import Loaded, RealConverter
from posekit.datasets.converters.records import CropRule, Record, check_finite
from posekit.errors import ConfigError, DataError


def load_lsp_joints(path: Path) -> np.ndarray:
    """``joints.mat`` in either layout → ``[N,14,3]`` x, y, v (LSP joint order, format visibility).

    LSP stores ``joints`` as ``(3, 14, N)`` with a third row 1 = occluded → v = 1 (occluded) or 2 (visible).
    LSPET stores ``(14, 3, N)`` with a third column 1 = visible → v = 2, or 0 (its invisible joints lie outside
    the image and may hold junk coordinates).
    """
    joints = np.asarray(read_mat(path, "joints"))
    if not (np.issubdtype(joints.dtype, np.integer) or np.issubdtype(joints.dtype, np.floating)):
        raise DataError(f"{path}: 'joints' is not an array of real numbers (dtype {joints.dtype})",
                        hint="use joints.mat from the official LSP or LSPET archive")
    joints = joints.astype(np.float64)
    if joints.ndim == 3 and joints.shape[:2] == (3, 14):
        xy, flag = joints[:2].transpose(2, 1, 0), joints[2].T
        v = np.where(flag > 0.5, 1, 2)
    elif joints.ndim == 3 and joints.shape[:2] == (14, 3):
        xy, flag = joints[:, :2].transpose(2, 0, 1), joints[:, 2].T
        v = np.where(flag > 0.5, 2, 0)
    else:
        raise DataError(f"{path}: 'joints' has shape {joints.shape}, expected (3, 14, N) (LSP) or (14, 3, N) (LSPET)",
                        hint="use joints.mat from the official LSP or LSPET archive")
    odd = flag[np.isfinite(flag) & ~np.isin(flag, (0, 1))]
    if len(odd):
        raise DataError(f"{path}: visibility flag {odd[0]:g} is not 0 or 1",
                        hint="the third row of 'joints' is 0 or 1 (LSP: 1 = occluded; LSPET: 1 = visible)")
    v = np.where(np.isfinite(flag), v, np.nan)
    return np.concatenate([xy, v[..., None]], axis=-1)


def lsp_to_mpii16(joints: np.ndarray) -> np.ndarray:
    """``[..., 14, 3]`` LSP joints → ``[..., 16, 3]`` MPII-16 (pelvis and thorax unlabelled: 0, 0, 0)."""
    out = joints[..., LSP_TO_MPII16, :].copy()
    out[..., LSP_UNMAPPED_MPII16, :] = 0.0
    return out


class _LspBase(RealConverter):
    source = "http://sam.johnson.io/research/lsp.html"
    licence = "research use (see the README.txt shipped with the archive); cite Johnson & Everingham, BMVC 2010"
    image_pattern = ""

    def load(self, raw: Path, params: dict[str, Any]) -> Loaded:
        self.require(raw, ["joints.mat", "images"])
        joints = lsp_to_mpii16(load_lsp_joints(raw / "joints.mat"))
        extra = self.unannotated_images(raw / "images", len(joints))
        if extra:
            raise DataError(f"{raw / 'joints.mat'} annotates {len(joints)} images, but {raw / 'images'} holds "
                            f"{len(extra)} more ({extra[0]} …)",
                            hint="joints.mat pairs with the images by number: use the joints.mat of the archive the "
                                 "images come from")
        records = []
        for i, kp in enumerate(joints):
            name = self.image_pattern.format(i + 1)
            kp = check_finite(kp, f"{raw / 'joints.mat'} (image {name})")
            records.append(Record(str(raw / "images" / name), f"images/{name}", kp))
        return Loaded(MPII16, self.split(records, params), [raw / "joints.mat"])

    def split(self, records: list[Record], params: dict[str, Any]) -> dict[str, list[Record]]:
        raise NotImplementedError

    def unannotated_images(self, folder: Path, n: int) -> list[str]:
        """Names of the images in ``folder`` numbered beyond the ``n`` that joints.mat annotates, in order."""
        if not folder.is_dir():
            raise DataError(f"{folder} is not a folder", hint=f"expected layout: {self.layout}")
        digits = len(self.image_pattern.format(1)) - len("im.jpg")
        pattern = re.compile(rf"im(\d{{{digits}}})\.jpg")
        found = sorted((int(m.group(1)), p.name) for p in folder.iterdir() if (m := pattern.fullmatch(p.name)))
        return [name for i, name in found if i > n]


@CONVERTERS.register("lsp")
class LspConverter(_LspBase):
    """LSP; train = the first ⌈N/2⌉ images, test = the rest (for the official 2,000: LSP's own 1,000 / 1,000).
    LSP images are already cropped around the person: the whole image is kept (the anchors' ResizePad)."""

    name = "lsp"
    description = ("Leeds Sports Pose (2,000 images, 14 joints → MPII-16); LSP's own split: im0001-1000 train, "
                   "im1001-2000 test")
    layout = "RAW/joints.mat (3×14×N, or LSPET's 14×3×N), RAW/images/im0001.jpg …"
    image_pattern = "im{:04d}.jpg"
    crop = CropRule("image")

    def split(self, records: list[Record], params: dict[str, Any]) -> dict[str, list[Record]]:
        half = (len(records) + 1) // 2
        return {"train": records[:half], "test": records[half:]}


@CONVERTERS.register("lspet")
class LspetConverter(_LspBase):
    """LSPET; image i (1-based) goes to test when i is a multiple of ``--test-every`` (default 10), else to train.
    ``--dev-every N`` moves every N-th remaining image to a labelled ``val`` split, for development only (choose
    designs on it, never on test). LSPET images are not person crops: the crop is a square on the labelled joints,
    side 1.25 × their extent."""

    name = "lspet"
    description = "LSP Extended (10,000 images, 14 joints → MPII-16); test = every 10th image by index (--test-every)"
    layout = "RAW/joints.mat (14×3×N), RAW/images/im00001.jpg …"
    image_pattern = "im{:05d}.jpg"
    crop = CropRule("box", margin=1.25)
    options: ClassVar[dict[str, Any]] = {"limit": None, "test_every": 10, "dev_every": None}

    @classmethod
    def make_params(cls, raw: Path, name: str | None, size: int, codec: str, given: dict[str, Any]) -> dict[str, Any]:
        params = super().make_params(raw, name, size, codec, given)
        if params["test_every"] < 2:
            raise ConfigError(f"--test-every {params['test_every']} must be ≥ 2",
                              hint="the default 10 puts every 10th image (10%) in test")
        if params["dev_every"] is not None and params["dev_every"] < 2:
            raise ConfigError(f"--dev-every {params['dev_every']} must be ≥ 2",
                              hint="e.g. 9 puts every 9th non-test image (10% of all) in the val split")
        return params

    def split(self, records: list[Record], params: dict[str, Any]) -> dict[str, list[Record]]:
        every, dev = params["test_every"], params["dev_every"]
        rest = [r for i, r in enumerate(records, 1) if i % every]
        splits = {"train": rest, "test": [r for i, r in enumerate(records, 1) if i % every == 0]}
        if dev:
            splits["train"] = [r for j, r in enumerate(rest, 1) if j % dev]
            splits["val"] = [r for j, r in enumerate(rest, 1) if j % dev == 0]
        return splits
