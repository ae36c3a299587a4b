"""The style cache: k stylised variants of every source image, each with its own target style image and α.

``styles/<name>/cache.h5``: ``images`` ``[N,k,H,W,3]`` uint8, ``alpha`` ``[N,k]`` float32, ``style_index``
``[N,k]`` int64 (row of the target split used as style); attributes: ``format = "posekit.stylecache"``,
``schema_version``, ``method``, ``source``, ``target``, ``source_params_sha1``, ``num_samples``, ``variants``.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch

from posekit.data.dataset import H5KeypointDataset
from posekit.data.h5guard import GuardedH5
from posekit.errors import DataError, MissingArtifactError

FORMAT = "posekit.stylecache"
SCHEMA_VERSION = 1


class StyleCacheWriter:
    """Streams variants into ``cache.h5.tmp``; ``close`` renames it into place (nothing half-written remains). A
    failed write (full disk, file-size limit) raises OSError naming ``cache.h5`` (``posekit.data.h5guard``)."""

    def __init__(self, path: Path, n: int, k: int, hw: tuple[int, int], attrs: dict):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        h, w = hw
        self.h5 = GuardedH5(self.tmp, self.path)
        self.f = self.h5.file
        self.f.create_dataset("images", (n, k, h, w, 3), np.uint8, chunks=(1, k, h, w, 3))
        self.f.create_dataset("alpha", (n, k), np.float32)
        self.f.create_dataset("style_index", (n, k), np.int64)
        self.f.attrs.update({"format": FORMAT, "schema_version": SCHEMA_VERSION, "num_samples": n, "variants": k, **attrs})

    def write(self, start: int, images: np.ndarray, alpha: np.ndarray, style_index: np.ndarray) -> None:
        stop = start + len(images)
        self.f["images"][start:stop] = images
        self.f["alpha"][start:stop] = alpha
        self.f["style_index"][start:stop] = style_index
        self.h5.check()

    def close(self) -> None:
        self.h5.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.h5.abort()
        self.tmp.unlink(missing_ok=True)


def validate_cache(path: Path, num_samples: int, source_params_sha1: str | None) -> dict:
    """Check a cache matches the source split it will be paired with; returns its attributes."""
    if not Path(path).exists():
        raise MissingArtifactError(f"no style cache at {path}",
                                   hint="create it with `posekit stylize`, or set style.enabled=false")
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
    except OSError:
        raise DataError(f"{path}: corrupt or truncated style cache", hint="re-run `posekit stylize --force`") from None
    if attrs.get("format") != FORMAT or int(attrs.get("schema_version", -1)) != SCHEMA_VERSION:
        raise DataError(f"{path}: not a posekit style cache of schema {SCHEMA_VERSION}")
    if int(attrs["num_samples"]) != num_samples or (source_params_sha1 and attrs.get("source_params_sha1") != source_params_sha1):
        raise DataError(f"{path}: made for another version of the source data ({attrs['num_samples']} samples)",
                        hint="re-run `posekit stylize --force` after re-preparing the source")
    return attrs


class StyledSourceDataset(H5KeypointDataset):
    """A source split whose items also carry ``styled`` ``[k,3,H,W]`` uint8: all cached variants of the image."""

    def __init__(self, path: Path, cache_path: Path):
        super().__init__(path)
        self.cache_path = Path(cache_path)
        self._cache: h5py.File | None = None
        self._cache_pid: int | None = None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_cache"] = None
        state["_cache_pid"] = None
        state.pop("_styled", None)
        return state

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        if self._cache is None or self._cache_pid != os.getpid():
            self._cache = h5py.File(self.cache_path, "r")
            self._cache_pid = os.getpid()
            self._styled = self._cache["images"]  # looked up once per process (h5py's lookup is slow)
        item["styled"] = torch.from_numpy(np.ascontiguousarray(self._styled[index].transpose(0, 3, 1, 2)))
        return item
