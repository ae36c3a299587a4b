"""The shared part of converters for user-supplied raw datasets (``posekit prepare <dataset> --raw DIR``).

A subclass describes where the dataset comes from and implements ``load``: check the raw tree, read the
annotations and return the records of each split. This module checks that every image exists, then crops the
records (in a process pool when ``workers > 1``) into one HDF5 file per split through ``run_plan``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from posekit.data.h5format import H5Writer
from posekit.data.images import UNREADABLE, displayed_size
from posekit.data.meta import KeypointMeta
from posekit.datasets.converters.base import Converter, SplitPlan
from posekit.datasets.converters.records import CropRule, Record, crop_chunk, in_image, person_box
from posekit.errors import ConfigError, DataError, MissingArtifactError
from posekit.signals import pool_worker_init
from posekit.workspace import file_digest, resolve_path

CHUNK = 32
SHOWN_MISSING = 12


@dataclass
class Loaded:
    """What ``load`` returns: the meta, records per split (``train``/``val``/``test``), the annotation files read
    (checksummed into each HDF5 file) and, per split, how many samples were left out and why. ``with_masks``: every
    record's ``mask`` gives the crop's foreground mask, written as ``masks``."""

    meta: KeypointMeta
    splits: dict[str, list[Record]]
    annotation_files: list[Path]
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    with_masks: bool = False


class RealConverter(Converter):
    """Subclasses set ``name``, ``description``, ``source`` (official URL), ``licence``, ``layout`` (the raw tree in
    one line), ``crop``, ``options`` (converter-specific option → default) and implement ``load``."""

    source = ""
    licence = ""
    layout = ""
    crop = CropRule("box")
    options: ClassVar[dict[str, Any]] = {"limit": None}
    with_3d = False

    @classmethod
    def make_params(cls, raw: Path, name: str | None, size: int, codec: str, given: dict[str, Any]) -> dict[str, Any]:
        """The JSON-able parameters of one prepare run; refuses options this converter does not take."""
        unknown = [k for k in given if k not in cls.options]
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            takes = ", ".join("--" + k.replace("_", "-") for k in cls.options)
            raise ConfigError(f"{flags} does not apply to `prepare {cls.name}`",
                              hint=f"{cls.name} takes --raw, --name, --size, --codec, --workers, --force, {takes}")
        params: dict[str, Any] = {"raw": str(resolve_path(raw, "--raw")), "name": name or cls.name, "size": size,
                                  "codec": codec}
        for key, default in cls.options.items():
            value = given.get(key, default)
            params[key] = list(value) if isinstance(value, tuple) else value
        if params.get("split_dir") is not None:
            params["split_dir"] = str(resolve_path(params["split_dir"], "--split-dir"))
        if params["limit"] is not None and params["limit"] < 1:
            raise ConfigError(f"--limit {params['limit']} must be ≥ 1")
        return params

    def load(self, raw: Path, params: dict[str, Any]) -> Loaded:
        raise NotImplementedError

    def require(self, root: Path, entries: Iterable[str]) -> None:
        """Raise one MissingArtifactError listing every entry (relative to ``root``) that does not exist."""
        missing = [e for e in entries if not (root / e).exists()]
        if missing:
            shown = ", ".join(missing[:SHOWN_MISSING]) + (f" … (+{len(missing) - SHOWN_MISSING} more)"
                                                          if len(missing) > SHOWN_MISSING else "")
            raise self.missing(f"{len(missing)} raw file(s)/folder(s) missing under {root}: {shown}")

    def missing(self, what: str) -> MissingArtifactError:
        return MissingArtifactError(
            f"{self.name}: {what}",
            hint=f"{self.name} comes from {self.source}; expected layout: {self.layout} (docs/datasets.md)",
        )

    def categories(self, params: dict[str, Any], known: Iterable[str]) -> list[str]:
        """The ``--categories`` chosen (default from ``options``), each checked against ``known``."""
        chosen = list(params["categories"])
        known = list(known)
        bad = [c for c in chosen if c not in known]
        if bad or not chosen:
            raise ConfigError(f"unknown {self.name} categories: {', '.join(bad) or '(none given)'}",
                              hint=f"choose from {', '.join(known)}, e.g. --categories {','.join(known[:2])}")
        return chosen

    def plan(self, params: dict[str, Any]) -> list[SplitPlan]:
        raw = Path(params["raw"])
        if not raw.is_dir():
            raise self.missing(f"the raw folder {raw} does not exist")
        loaded = self.load(raw, params)
        if self.crop.mode == "box":
            self._skip_uncroppable(loaded)
        limit = params["limit"]
        splits = {s: (recs[:limit] if limit else recs) for s, recs in loaded.splits.items() if recs}
        self.require(raw, [_relative(Path(r.image), raw) for recs in splits.values() for r in recs])
        if not splits:
            raise DataError(f"{self.name}: no usable samples under {raw}", hint="check --categories and the raw files")
        return [SplitPlan(params["name"], split, len(recs), self._builder(params, loaded, split, recs),
                          loaded.skipped.get(split, {})) for split, recs in splits.items()]

    def _skip_uncroppable(self, loaded: Loaded) -> None:
        """Leave out (and count, by reason) the samples that have no person box to crop on (``person_box``): a given
        box outside the image, or no box and fewer than two labelled joints inside the image. Image sizes come from
        the files' headers (EXIF orientation applied); samples whose keypoints are read in the worker, or whose
        image header is unreadable, are left to the crop (which names them in its error)."""
        sizes: dict[str, tuple[int, int] | None] = {}
        for split, records in loaded.splits.items():
            keep = []
            counts = loaded.skipped.setdefault(split, {})
            for rec in records:
                if rec.keypoints is None:
                    keep.append(rec)
                    continue
                if rec.image not in sizes:
                    try:
                        sizes[rec.image] = displayed_size(rec.image)
                    except UNREADABLE:
                        sizes[rec.image] = None
                size = sizes[rec.image]
                why = person_box(in_image(rec.keypoints, *size), rec.box, *size, self.crop)[1] if size else ""
                if why:
                    counts[why] = counts.get(why, 0) + 1
                else:
                    keep.append(rec)
            loaded.splits[split] = keep
            if not counts:
                del loaded.skipped[split]

    def _builder(self, params: dict[str, Any], loaded: Loaded, split: str, records: list[Record]):
        def build(path: Path, advance: Callable[[int], None]) -> None:
            attrs = {
                "dataset": path.parent.name, "split": split, "converter": self.name,
                "converter_version": self.version, "params": params, "source": self.source, "licence": self.licence,
                "crop": self.crop.describe(), "skipped": loaded.skipped.get(split, {}), "notes": "; ".join(loaded.notes),
                "annotation_sha1": {_relative(p, Path(params["raw"])): file_digest(p, "sha1") for p in loaded.annotation_files},
            }
            size = params["size"]
            jobs = [(records[i:i + CHUNK], self.crop, size) for i in range(0, len(records), CHUNK)]
            with H5Writer(path, loaded.meta, (size, size), params["codec"], with_3d=self.with_3d,
                          with_masks=loaded.with_masks, attrs=attrs) as w:
                for batch in _ordered_map(crop_chunk, jobs, self.workers):
                    w.append(batch)
                    advance(len(batch["images"]))

        return build


def _ordered_map(fn: Callable, jobs: list, workers: int) -> Iterator:
    """``map(fn, jobs)`` in order; with ``workers > 1`` in a process pool holding at most 2 × workers jobs."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    pool = ProcessPoolExecutor(min(workers, len(jobs)), initializer=pool_worker_init)
    try:
        todo = iter(jobs)
        pending = deque(pool.submit(fn, job) for job in islice(todo, 2 * workers))
        while pending:
            result = pending.popleft().result()
            job = next(todo, None)
            if job is not None:
                pending.append(pool.submit(fn, job))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)




def read_indices(path: Path, n: int) -> list[int]:
    """A ``.npy`` file of the anchors' split indices (UDA_PoseEstimation's ``cached_data``) → indices, all < ``n``."""
    try:
        idx = np.load(path).astype(np.int64).ravel()
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable index file ({exc})",
                        hint="copy it again from UDA_PoseEstimation's cached_data") from None
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise DataError(f"{path}: indices reach {idx.max()}, but the raw folder holds {n} samples of this category",
                        hint="the anchors' split files index the complete official release; convert all of it")
    return idx.tolist()


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
