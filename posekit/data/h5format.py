"""The posekit keypoint HDF5 format (documented in docs/data-format.md).

One file per dataset split. Per sample ``i`` (N samples, K joints, crops of H×W pixels):

=================  ======================  =====================================================
dataset            shape / dtype           meaning
=================  ======================  =====================================================
images             [N,H,W,3] uint8 (raw)   the crop, RGB; or [N] vlen uint8 holding JPEG/PNG bytes
keypoints          [N,K,3] float32         x, y in crop pixels (pixel centres at integers), v
keypoints_orig     [N,K,3] float32         the same joints in original-image pixels
affine             [N,2,3] float32         crop→original: ``orig = A @ [x, y, 1]``
bbox               [N,4] float32           person box x0, y0, x1, y1 in original pixels
orig_size          [N,2] int32             original image height, width
source_id          [N] str                 original file / frame id
keypoints3d        [N,K,3] float32         optional: camera coordinates in metres
intrinsics         [N,3,3] float32         optional: camera matrix in original pixels
masks              [N,H,W] uint8           optional: foreground mask of the crop (0/1)
=================  ======================  =====================================================

``v`` is 0 = not labelled / outside the image, 1 = labelled but occluded, 2 = visible.
File attributes: ``format``, ``schema_version``, ``meta`` (KeypointMeta JSON), ``dataset``, ``split``,
``image_codec``, ``image_size``, ``converter``, ``converter_version``, ``params`` (JSON), ``posekit_version``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from PIL import Image
from typing_extensions import Self

from posekit.data.h5guard import GuardedH5
from posekit.data.meta import KeypointMeta
from posekit.errors import DataError, MissingArtifactError
from posekit.faults import crash_point
from posekit.version import __version__

FORMAT = "posekit.keypoints"
SCHEMA_VERSION = 1
IMAGE_CODECS = ("raw", "jpeg", "png")
REQUIRED = ("images", "keypoints", "keypoints_orig", "affine", "bbox", "orig_size", "source_id")


def encode_image(img: np.ndarray, codec: str, quality: int = 95) -> np.ndarray:
    """Encode an ``[H,W,3]`` uint8 image to a flat uint8 array of JPEG/PNG bytes."""
    buf = io.BytesIO()
    if codec == "jpeg":
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    elif codec == "png":
        Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    else:
        raise ValueError(f"cannot encode with codec {codec!r}")
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def decode_image(data: np.ndarray) -> np.ndarray:
    """Decode JPEG/PNG bytes to an ``[H,W,3]`` uint8 RGB array."""
    with Image.open(io.BytesIO(data.tobytes())) as im:
        return np.asarray(im.convert("RGB"))


class H5Writer:
    """Streams samples into ``path`` through ``path.tmp``; the file appears only when ``close()`` succeeds.

    Use as a context manager: an exception removes the temporary file, so no half-written file looks valid. A
    failed write (full disk, file-size limit) raises OSError naming ``path`` (``posekit.data.h5guard``).
    """

    def __init__(
        self,
        path: Path,
        meta: KeypointMeta,
        image_size: tuple[int, int],
        codec: str = "raw",
        with_3d: bool = False,
        with_masks: bool = False,
        attrs: dict[str, Any] | None = None,
    ):
        if codec not in IMAGE_CODECS:
            raise DataError(f"unknown image codec {codec!r}", hint=f"use one of {', '.join(IMAGE_CODECS)}")
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.codec = codec
        self.n = 0
        h, w = image_size
        k = meta.num_joints
        self.h5 = GuardedH5(self.tmp, self.path)
        self.f = f = self.h5.file
        if codec == "raw":
            f.create_dataset("images", (0, h, w, 3), np.uint8, maxshape=(None, h, w, 3), chunks=(1, h, w, 3))
        else:
            f.create_dataset("images", (0,), h5py.vlen_dtype(np.uint8), maxshape=(None,), chunks=(256,))
        f.create_dataset("keypoints", (0, k, 3), np.float32, maxshape=(None, k, 3), chunks=(1024, k, 3))
        f.create_dataset("keypoints_orig", (0, k, 3), np.float32, maxshape=(None, k, 3), chunks=(1024, k, 3))
        f.create_dataset("affine", (0, 2, 3), np.float32, maxshape=(None, 2, 3), chunks=(1024, 2, 3))
        f.create_dataset("bbox", (0, 4), np.float32, maxshape=(None, 4), chunks=(1024, 4))
        f.create_dataset("orig_size", (0, 2), np.int32, maxshape=(None, 2), chunks=(1024, 2))
        f.create_dataset("source_id", (0,), h5py.string_dtype(), maxshape=(None,), chunks=(1024,))
        if with_3d:
            f.create_dataset("keypoints3d", (0, k, 3), np.float32, maxshape=(None, k, 3), chunks=(1024, k, 3))
            f.create_dataset("intrinsics", (0, 3, 3), np.float32, maxshape=(None, 3, 3), chunks=(1024, 3, 3))
        if with_masks:
            f.create_dataset(
                "masks", (0, h, w), np.uint8, maxshape=(None, h, w), chunks=(1, h, w), compression="lzf"
            )
        f.attrs.update(
            {
                "format": FORMAT,
                "schema_version": SCHEMA_VERSION,
                "meta": meta.to_json(),
                "image_codec": codec,
                "image_size": [h, w],
                "posekit_version": __version__,
            }
        )
        for key, value in (attrs or {}).items():
            f.attrs[key] = value if not isinstance(value, dict) else json.dumps(value)

    def append(self, batch: dict[str, Any]) -> None:
        """Append B samples: ``batch`` holds arrays with leading dimension B, keyed like the datasets."""
        images = batch["images"]
        b = len(images)
        for name in self.f:
            if name not in batch:
                raise ValueError(f"batch is missing {name!r}")
        for name in self.f:
            ds = self.f[name]
            ds.resize(self.n + b, axis=0)
            if name == "images" and self.codec != "raw":
                for j, img in enumerate(images):
                    ds[self.n + j] = encode_image(np.asarray(img), self.codec)
            else:
                ds[self.n : self.n + b] = np.asarray(batch[name])
        self.n += b
        self.h5.check()
        crash_point("h5.append")

    def close(self) -> None:
        try:
            self.f.attrs["num_samples"] = self.n
            self.h5.close()
        except BaseException:
            self.abort()
            raise
        crash_point(f"write {self.path.name}")
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.h5.abort()
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def validate_h5(path: Path) -> dict[str, Any]:
    """Open ``path``, check format, version and dataset lengths; return its attributes as a dict.

    Raises MissingArtifactError when absent and DataError when corrupt or of another format.
    """
    path = Path(path)
    if not path.exists():
        raise MissingArtifactError(f"{path}: no such dataset file", hint="run `posekit prepare ...` first")
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            if attrs.get("format") != FORMAT:
                raise DataError(f"{path}: not a posekit keypoint file (format={attrs.get('format')!r})")
            version = int(attrs.get("schema_version", -1))
            if version != SCHEMA_VERSION:
                raise DataError(
                    f"{path}: schema version {version}, this posekit reads {SCHEMA_VERSION}",
                    hint="re-create it with `posekit prepare ... --force`",
                )
            missing = [name for name in REQUIRED if name not in f]
            if missing:
                raise DataError(f"{path}: missing datasets {', '.join(missing)}", hint="re-run `posekit prepare --force`")
            n = f["keypoints"].shape[0]
            for name in f:
                if f[name].shape[0] != n:
                    raise DataError(f"{path}: dataset {name!r} has {f[name].shape[0]} rows, expected {n}")
            attrs["num_samples"] = n
            attrs["datasets"] = sorted(f.keys())
            bad = np.flatnonzero(~np.isfinite(f["keypoints"][...]).all(axis=(1, 2)))
            if len(bad):
                raise DataError(f"{path}: {len(bad)} samples have non-finite keypoints (first: sample {bad[0]})",
                                hint="fix the annotations and re-run `posekit prepare ... --force`")
    except OSError as exc:
        raise DataError(
            f"{path}: corrupt or truncated HDF5 file ({exc.__class__.__name__})",
            hint="delete it and re-run `posekit prepare ... --force`",
        ) from None
    attrs["meta"] = KeypointMeta.from_json(attrs["meta"])
    return attrs


def read_arrays(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read whole (small) per-sample arrays such as keypoints or affines."""
    with h5py.File(path, "r") as f:
        return {name: f[name][...] for name in names}
