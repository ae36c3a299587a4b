"""The converter interface, the registry, and the up-to-date / resume bookkeeping shared by converters."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posekit.data.h5format import validate_h5
from posekit.errors import ConfigError, DataError
from posekit.registry import Registry
from posekit.version import __version__
from posekit.workspace import Workspace, atomic_write_json, check_name, now_iso


@dataclass
class SplitPlan:
    """One output file: ``data/<dataset>/<split>.h5`` with ``num_samples`` samples made by ``build``."""

    dataset: str
    split: str
    num_samples: int
    build: Callable[[Path, Callable[[int], None]], None]  # (output path, advance(n)) → writes the file
    skipped: dict[str, int] = field(default_factory=dict)  # samples of the raw split left out, by reason


class Converter:
    """Subclasses set ``name``, ``version``, ``description`` and implement ``plan``."""

    name = ""
    version = 1
    description = ""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ConfigError(f"--workers {workers} must be ≥ 1", hint="1 converts in this process; N > 1 uses N processes")
        self.workers = workers

    def plan(self, params: dict[str, Any]) -> list[SplitPlan]:
        raise NotImplementedError


CONVERTERS: Registry[type[Converter]] = Registry("dataset")


def params_sha1(converter: Converter, params: dict[str, Any]) -> str:
    blob = json.dumps({"converter": converter.name, "version": converter.version, "params": params}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()


def skipped_note(skipped: dict[str, int]) -> str:
    """``", 3 left out: 2 crowd, 1 unknown category_id"`` (empty when nothing was left out)."""
    total = sum(skipped.values())
    return f", {total} left out: " + ", ".join(f"{n} {why}" for why, n in skipped.items() if n) if total else ""


def run_plan(
    ws: Workspace,
    converter: Converter,
    params: dict[str, Any],
    force: bool,
    progress: Callable[[str, int], Callable[[int], None]],
    only: Collection[str] | None = None,
) -> dict[str, str]:
    """Write every planned split that is missing or stale; returns ``{dataset/split: "written"|"up to date"}``.

    A dataset prepared with other parameters is refused unless ``force``. Each split is written atomically,
    so an interrupted run resumes by redoing only the splits whose files do not exist yet. ``only``: the names of
    the planned datasets to write (None: all of them); the others are neither written nor checked.
    """
    digest = params_sha1(converter, params)
    plans = [p for p in converter.plan(params) if only is None or p.dataset in only]
    for p in plans:  # each becomes data/<dataset>/<split>.h5
        check_name(p.dataset, "dataset")
        check_name(p.split, "split")
    by_dataset: dict[str, list[SplitPlan]] = {}
    for p in plans:
        by_dataset.setdefault(p.dataset, []).append(p)
    status: dict[str, str] = {}
    for dataset, splits in by_dataset.items():
        with ws.lock(f"data/{dataset}"):
            status.update(_run_dataset(ws, converter, params, digest, dataset, splits, force, progress))
    return status


def _run_dataset(ws: Workspace, converter: Converter, params: dict[str, Any], digest: str, dataset: str,
                 splits: list[SplitPlan], force: bool, progress) -> dict[str, str]:
    status: dict[str, str] = {}
    folder = ws.data_dir(dataset)
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            raise DataError(f"{manifest_path}: unreadable manifest", hint="re-run with --force") from None
        if old.get("params_sha1") != digest:
            if not force:
                raise ConfigError(
                    f"{folder} was prepared with other settings ({old.get('params')})",
                    hint="pass --force to rebuild it, or --name to prepare under another name",
                )
            for p in splits:
                ws.split_path(dataset, p.split).unlink(missing_ok=True)
        elif force:
            for p in splits:
                ws.split_path(dataset, p.split).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "dataset": dataset,
        "converter": converter.name,
        "converter_version": converter.version,
        "params": params,
        "params_sha1": digest,
        "posekit_version": __version__,
        "status": "incomplete",
        "splits": {},
    }
    atomic_write_json(manifest_path, manifest)
    for p in splits:
        path = ws.split_path(dataset, p.split)
        key = f"{dataset}/{p.split}"
        if path.exists():
            try:
                n = validate_h5(path)["num_samples"]
            except DataError:
                n = -1
            if n == p.num_samples:
                status[key] = "up to date"
                manifest["splits"][p.split] = {"file": path.name, "num_samples": n}
                continue
            path.unlink()
        p.build(path, progress(key, p.num_samples))
        status[key] = "written" + skipped_note(p.skipped)
        manifest["splits"][p.split] = {"file": path.name, "num_samples": p.num_samples, "skipped": p.skipped}
    manifest["status"] = "complete"
    manifest["created"] = now_iso()
    atomic_write_json(manifest_path, manifest)
    return status
