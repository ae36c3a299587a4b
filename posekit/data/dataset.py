"""PyTorch datasets over posekit HDF5 files, safe with DataLoader workers (files open lazily per process)."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from posekit.data.h5format import decode_image, validate_h5
from posekit.errors import DataError

# the order of epoch e of a run seeded s comes from seed s·stride + e: a prime stride larger than any epoch count,
# so (s, e) pairs never share a seed
EPOCH_SEED_STRIDE = 100_003

class H5KeypointDataset(Dataset):
    """Samples of one split: ``{"image": uint8 [3,H,W], "keypoints": float32 [K,3], "index": int}``, plus
    ``mask`` uint8 ``[H,W]`` with ``with_masks`` (when the file has masks) and ``keypoints3d`` float32 ``[K,3]``
    with ``with_3d`` (camera metres; the file must have them).

    Only the path is pickled to workers; each process opens its own handle on first access.
    """

    def __init__(self, path: Path, with_masks: bool = False, with_3d: bool = False):
        self.path = Path(path)
        self.attrs = validate_h5(self.path)
        self.meta = self.attrs["meta"]
        self.codec = str(self.attrs["image_codec"])
        self.image_size = tuple(int(v) for v in self.attrs["image_size"])
        self.with_masks = with_masks and "masks" in self.attrs["datasets"]
        self.with_3d = with_3d
        if with_3d and "keypoints3d" not in self.attrs["datasets"]:
            raise DataError(f"{self.path}: no 3D keypoints (dataset 'keypoints3d')",
                            hint="3D training and metrics need a 3D dataset: synthetic, rhd, h36m, mpi_inf_3dhp")
        self._n = int(self.attrs["num_samples"])
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._datasets: dict[str, h5py.Dataset] = {}

    def __len__(self) -> int:
        return self._n

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
            self._datasets = {}
        return self._file

    def _dataset(self, name: str) -> h5py.Dataset:
        """This process's handle on dataset ``name``, looked up once: h5py's name lookup costs about ten times the
        read of a 256-px raw crop."""
        f = self._handle()
        if name not in self._datasets:
            self._datasets[name] = f[name]
        return self._datasets[name]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"] = None
        state["_pid"] = None
        state["_datasets"] = {}
        return state

    def read_image(self, index: int) -> np.ndarray:
        raw = self._dataset("images")[index]
        return raw if self.codec == "raw" else decode_image(raw)

    def __getitem__(self, index: int) -> dict:
        item = {
            "image": torch.from_numpy(np.ascontiguousarray(self.read_image(index).transpose(2, 0, 1))),
            "keypoints": torch.from_numpy(self._dataset("keypoints")[index]),
            "index": index,
        }
        if self.with_masks:
            item["mask"] = torch.from_numpy(self._dataset("masks")[index])
        if self.with_3d:
            item["keypoints3d"] = torch.from_numpy(self._dataset("keypoints3d")[index])
        return item


class StepBatchSampler(Sampler[list[int]]):
    """Infinite batches for step-based training, reproducible from (seed, step).

    Step ``s`` takes batch ``s mod E`` of the permutation for epoch ``s // E`` (``E`` batches per epoch, last
    partial batch dropped), so resuming at any step reproduces the data order exactly. ``shard`` = (rank, world
    size) yields only that process's rows of each (global) batch: the ranks' slices of step ``s`` together are
    exactly the single-process batch of step ``s``.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, start_step: int = 0,
                 shard: tuple[int, int] = (0, 1)):
        if num_samples < batch_size:
            raise ValueError(f"dataset has {num_samples} samples, fewer than one batch of {batch_size}")
        if batch_size % shard[1]:
            raise ValueError(f"a batch of {batch_size} does not split evenly over {shard[1]} processes")
        self.n, self.b, self.seed, self.start = num_samples, batch_size, seed, start_step
        self.per_epoch = num_samples // batch_size
        rows = batch_size // shard[1]
        self.rows = slice(shard[0] * rows, (shard[0] + 1) * rows)

    def __iter__(self):
        step = self.start
        epoch, perm = -1, None
        while True:
            e, pos = divmod(step, self.per_epoch)
            if e != epoch:
                g = torch.Generator().manual_seed(self.seed * EPOCH_SEED_STRIDE + e)
                perm, epoch = torch.randperm(self.n, generator=g), e
            yield perm[pos * self.b : (pos + 1) * self.b][self.rows].tolist()
            step += 1

    def __len__(self) -> int:  # pragma: no cover - infinite; DataLoader needs no length
        raise TypeError("StepBatchSampler is infinite")
