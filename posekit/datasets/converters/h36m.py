"""``prepare h36m``: Human3.6M (Ionescu et al., TPAMI 2014) as processed by MMPose's ``preprocess_h36m.py``.

An annotation ``.npz`` holds ``imgname`` [N] (``S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg``,
relative to the image root), ``part`` [N,17,3] (x, y in original pixels, flag) and ``S`` [N,17,4] (X, Y, Z camera
coordinates in **metres**, flag) in the 17-joint order of ``h36m17``. A COCO-style ``.json`` (MMPose's
``h36m_to_coco.py``: ``images`` [id, file_name], ``annotations`` [image_id, keypoints 17×3, keypoints_3d 17×4 in
*world* metres]) is read too: its joints are moved to camera coordinates with the extrinsics,
``X_cam = Rᵀ (X_world − T)`` (``R`` camera→world rotation, ``T`` camera centre in metres, as ``SimpleCamera``).

Camera parameters come from every ``cameras*.pkl`` in the annotation file's folder, else in its parent (MMPose
keeps ``annotation_body3d/cameras.pkl`` above ``fps10/``): per key, ``f`` [fx, fy] and ``c`` [cx, cy] in pixels
(→ ``intrinsics``), ``R`` and ``T``. The pickles are read with an unpickler that accepts numpy arrays only.
H36M's 2D annotations include the lens distortion (``k``, ``p`` in ``cameras.pkl``), which ``intrinsics`` cannot
hold: the pinhole projection of ``keypoints3d`` lands a few pixels from ``keypoints_orig`` (≤ 3.4 px on MMPose's
test frames). Every joint is labelled (v = 2 where the flag is > 0, else 0); the crop is a square on the joints'
extent, side 1.25 × its longer side.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from posekit.data.annotation_files import read_json
from posekit.data.meta import H36M17
from posekit.datasets.converters.base import CONVERTERS
from posekit.datasets.converters.real import Loaded, RealConverter
from posekit.datasets.converters.records import CropRule, Record, check_finite
from posekit.datasets.converters.rhd import ann_file_params, relative, split_files
from posekit.errors import DataError

H36M_NAME = re.compile(r"(S\d+)_.*\.(\d+)_\d+\.\w+")
NUMPY_GLOBALS = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
    (f"numpy.{core}.multiarray", fn) for core in ("core", "_core") for fn in ("_reconstruct", "scalar")}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: camera files hold dicts of numpy arrays")
        return super().find_class(module, name)


def read_cameras(ann: Path) -> tuple[dict, list[Path]]:
    """The merged ``cameras*.pkl`` beside ``ann`` (else in its parent folder) → ``({key: params}, files read)``."""
    files = sorted(ann.parent.glob("cameras*.pkl")) or sorted(ann.parent.parent.glob("cameras*.pkl"))
    cameras: dict = {}
    for path in files:
        try:
            with open(path, "rb") as fh:
                cams = _ArrayUnpickler(fh).load()
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, TypeError) as exc:
            raise DataError(f"{path}: unreadable camera file ({exc})", hint="use the file MMPose's preprocessing wrote"
                            ) from None
        if not isinstance(cams, dict):
            raise DataError(f"{path}: expected a dict of cameras, found {type(cams).__name__}")
        cameras.update({k: (v, path) for k, v in cams.items()})
    return cameras, files


def camera_matrix(cameras: dict, key: Any, where: str, extrinsics: bool = False) -> tuple[np.ndarray, ...]:
    """``cameras[key]`` → ``(K [3,3],)`` or, with ``extrinsics``, ``(K, R [3,3], T [3])``; DataError if absent/bad."""
    if key not in cameras:
        raise DataError(f"{where}: no camera {key!r} in the cameras*.pkl files",
                        hint="put the cameras*.pkl of the same MMPose preprocessing beside the annotation file")
    cam, path = cameras[key]
    try:
        (fx, fy), (cx, cy) = (np.asarray(cam[k], dtype=np.float64).ravel() for k in ("f", "c"))
        out = (np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]]),)
        if extrinsics:
            out += (np.asarray(cam["R"], dtype=np.float64).reshape(3, 3), np.asarray(cam["T"], dtype=np.float64).ravel())
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path}: camera {key!r} needs f [fx, fy], c [cx, cy]" + (", R 3×3, T 3" if extrinsics else ""),
                        hint="use the camera file of MMPose's preprocessing") from None
    if not all(np.isfinite(a).all() and a.shape[0] == 3 for a in out):
        raise DataError(f"{path}: camera {key!r} has non-finite or misshaped parameters")
    return out


def joints(arr: Any, n: int, dims: int, where: str, field: str) -> np.ndarray:
    """``arr`` as ``[n,17,≥dims]`` float64 with finite values, else a DataError naming ``where`` and ``field``."""
    try:
        out = np.asarray(arr, dtype=np.float64).reshape(n, 17, -1)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {field} must hold {n}×17×{dims} numbers") from None
    if out.shape[2] < dims or not np.isfinite(out[..., :dims]).all():
        raise DataError(f"{where}: {field} must hold {n}×17×{dims} finite numbers (found {n}×17×{out.shape[2]})")
    return out


def body_records(where: str, root: Path, names: list[str], part: np.ndarray, xyz: np.ndarray, ks: list,
                 order: tuple[int, ...]) -> list[Record]:
    """Per sample: image name, ``part`` [17,≥3] pixels + flag, ``xyz`` [17,3] camera metres, K → records in
    ``h36m17`` order (source joint ``order[i]`` fills joint i)."""
    depth = xyz[..., 2]
    if len(depth) and (not (depth > 0).all() or np.median(depth) > 100):
        raise DataError(f"{where}: 3D joints must be camera coordinates in metres (depth > 0, a few metres); "
                        f"found depths {depth.min():.3g} … {depth.max():.3g}", hint="use MMPose's preprocessed files")
    idx = list(order)
    records = []
    for name, kp, x, k in zip(names, part, xyz, ks):
        kp = check_finite(np.concatenate([kp[idx, :2], np.where(kp[idx, 2:3] > 0, 2.0, 0.0)], 1), f"{where} ({name})")
        records.append(Record(str(root / name), name, kp, None, x[idx, :3], k))
    return records


class Body3DConverter(RealConverter):
    """MMPose's 3D body ``.npz`` files; subclasses set ``ann_files``, ``order`` and ``camera_key``."""

    crop = CropRule("box", margin=1.25)
    with_3d = True
    options: ClassVar[dict[str, Any]] = {"limit": None, "ann_file": None, "image_root": None}
    ann_files: ClassVar[dict[str, str]] = {}
    order: tuple[int, ...] = tuple(range(17))
    note = ""

    @classmethod
    def make_params(cls, raw: Path, name: str | None, size: int, codec: str, given: dict[str, Any]) -> dict[str, Any]:
        return ann_file_params(super().make_params(raw, name, size, codec, given), cls.ann_files, "images")

    def camera_key(self, name: str, where: str) -> Any:
        raise NotImplementedError

    def load(self, raw: Path, params: dict[str, Any]) -> Loaded:
        files, roots = split_files(raw, params)
        no_cameras = [p.parent / "cameras*.pkl" for p in files.values()
                      if not any(any(d.glob("cameras*.pkl")) for d in (p.parent, p.parent.parent))]
        self.require(raw, relative(list(dict.fromkeys([*files.values(), *roots.values(), *no_cameras])), raw))
        splits, read = {}, list(files.values())
        for split, path in files.items():
            cameras, cam_files = read_cameras(path)
            read += [p for p in cam_files if p not in read]
            reader = self._json if path.suffix == ".json" else self._npz
            splits[split] = reader(path, roots[split], cameras)
        return Loaded(H36M17, splits, read, notes=[self.note])

    def _npz(self, path: Path, root: Path, cameras: dict) -> list[Record]:
        try:
            with np.load(path) as z:
                data = {k: z[k] for k in ("imgname", "part", "S")}
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise DataError(f"{path}: unreadable annotation file, need imgname, part and S ({exc})",
                            hint="use the .npz written by MMPose's preprocessing script") from None
        names = [str(s) for s in np.atleast_1d(data["imgname"])]
        part, xyz = (joints(data[k], len(names), d, str(path), k) for k, d in (("part", 2), ("S", 3)))
        keys = [self.camera_key(n, f"{path} ({n})") for n in names]
        mats = {key: camera_matrix(cameras, key, f"{path} ({n})")[0] for key, n in dict(zip(keys, names)).items()}
        ks = [mats[key] for key in keys]
        return body_records(str(path), root, names, part, xyz[..., :3], ks, self.order)

    def _json(self, path: Path, root: Path, cameras: dict) -> list[Record]:
        raise DataError(f"{path}: {self.name} reads .npz annotation files", hint=f"expected layout: {self.layout}")


@CONVERTERS.register("h36m")
class H36MConverter(Body3DConverter):
    """One output split per ``--ann-file`` (default MMPose's fps10 train: S1, S5–S8 and test: S9, S11)."""

    name = "h36m"
    description = "Human3.6M in MMPose's preprocessed form: 17 joints (h36m17), 2D + 3D camera metres"
    source = "http://vision.imar.ro/human3.6m/ (registration), processed by MMPose's tools/dataset_converters/preprocess_h36m.py"
    licence = "Human3.6M licence (academic, non-commercial; accepted at registration); cite Ionescu et al., TPAMI 2014"
    layout = ("RAW/annotation_body3d/fps10/h36m_{train,test}.npz (--ann-file SPLIT=PATH, .npz or h36m_coco-style .json), "
              "RAW/annotation_body3d/cameras.pkl, RAW/images/S1/S1_Directions_1.54138969/*.jpg (--image-root)")
    ann_files: ClassVar[dict[str, str]] = {"train": "annotation_body3d/fps10/h36m_train.npz",
                                           "test": "annotation_body3d/fps10/h36m_test.npz"}
    note = ("keypoints_orig are H36M's 2D annotations, with lens distortion (k, p in cameras.pkl): the pinhole "
            "projection of keypoints3d differs from them by a few pixels")

    def camera_key(self, name: str, where: str) -> tuple[str, str]:
        m = H36M_NAME.fullmatch(Path(name).name)
        if m is None:
            raise DataError(f"{where}: image name not like S1_Directions_1.54138969_000001.jpg (subject, camera)")
        return m.group(1), m.group(2)

    def _json(self, path: Path, root: Path, cameras: dict) -> list[Record]:
        """MMPose's ``h36m_coco.json``: world → camera with each frame's extrinsics; flat names → MMPose's folders."""
        doc = read_json(path)
        try:
            files = {img["id"]: str(img["file_name"]) for img in doc["images"]}
            anns = [(files[a["image_id"]], a["keypoints"], a["keypoints_3d"]) for a in doc["annotations"]]
        except (KeyError, TypeError):
            raise DataError(f"{path}: expected images[id, file_name] and annotations[image_id, keypoints, "
                            "keypoints_3d] (MMPose's h36m_to_coco.py)") from None
        names = [n if "/" in n else f"{n.split('_', 1)[0]}/{n.rsplit('_', 1)[0]}/{n}" for n, _, _ in anns]
        part, world = (joints([a[i] for a in anns], len(anns), d, str(path), k)
                       for i, k, d in ((1, "keypoints", 2), (2, "keypoints_3d", 3)))
        ks, xyz = [], np.zeros((len(names), 17, 3))
        for i, name in enumerate(names):
            k, r, t = camera_matrix(cameras, self.camera_key(name, f"{path} ({name})"), f"{path} ({name})", True)
            ks.append(k)
            xyz[i] = (world[i, :, :3] - t) @ r
        return body_records(str(path), root, names, part, xyz, ks, self.order)
