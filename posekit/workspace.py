"""The workspace: one directory holding every artifact, with a fixed layout (docs/workspace.md).

::

    <ws>/workspace.json
    <ws>/data/<dataset>/<split>.h5, manifest.json
    <ws>/styles/<source>__<target>/...
    <ws>/runs/<stage>/<run_id>/{config.yaml, env.json, lineage.json, metrics.jsonl, ckpt/, eval/}
    <ws>/runs/<stage>/latest         (a text file naming the newest finished run id)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from posekit import __version__
from posekit.errors import ConfigError, MissingArtifactError, WorkspaceBusy
from posekit.faults import crash_point

WORKSPACE_SCHEMA = 1
STAGES = ("pretrain", "adapt")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        crash_point(f"write {path.name}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


CHECKPOINT_NAMES = ("final", "best", "last")


class Workspace:
    """Paths and bookkeeping for one workspace directory."""

    def __init__(self, root: Path):
        self.root = Path(root).expanduser().resolve()

    # -- creation -------------------------------------------------------------------------------------------
    def ensure(self) -> Workspace:
        """Create the workspace if needed (for commands that write)."""
        marker = self.root / "workspace.json"
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"workspace {self.root} is a file, not a directory", hint="pass another --workspace")
        if not marker.exists():
            if self.root.exists() and any(self.root.iterdir()):
                raise ConfigError(
                    f"{self.root} is not empty and is not a posekit workspace (no workspace.json)",
                    hint="pass an empty or new directory to --workspace",
                )
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                atomic_write_json(marker, {"schema_version": WORKSPACE_SCHEMA, "created_by": f"posekit {__version__}",
                                           "created": now_iso()})
            except OSError as exc:
                raise ConfigError(f"cannot write to workspace {self.root} ({exc.strerror or exc})",
                                  hint="choose a writable --workspace") from None
        return self

    def require(self) -> Workspace:
        """Check the workspace exists (for commands that only read)."""
        if not (self.root / "workspace.json").exists():
            raise MissingArtifactError(
                f"no posekit workspace at {self.root}",
                hint="pass --workspace/-w (or set POSEKIT_WORKSPACE), or create one with `posekit prepare synthetic`",
            )
        return self

    # -- locks ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, what: str):
        """Exclusive lock on one shared artifact (``data/<name>``, ``styles/<name>``) for the duration of a write.

        Runs need none: every run writes only into its own new directory. A second writer fails at once with
        WorkspaceBusy naming the holder; the lock disappears with the process, even after SIGKILL.
        """
        folder = self.root / ".locks"
        folder.mkdir(exist_ok=True)
        path = folder / (what.replace("/", "__") + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise WorkspaceBusy(f"{what} in {self.root} is being written by {holder}",
                                hint="wait for that command to finish (runs of pretrain/adapt/eval may run side by side)") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} ({' '.join(os.path.basename(a) for a in sys.argv[:3])})".encode(), 0)
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- data -----------------------------------------------------------------------------------------------
    def data_dir(self, dataset: str) -> Path:
        return self.root / "data" / dataset

    def split_path(self, dataset: str, split: str) -> Path:
        return self.data_dir(dataset) / f"{split}.h5"

    def require_split(self, spec: str) -> tuple[str, str, Path]:
        """Resolve ``"dataset:split"`` to an existing, valid HDF5 file (corrupt files raise DataError here)."""
        if ":" not in spec:
            raise ConfigError(f"dataset spec {spec!r} must look like NAME:SPLIT", hint="e.g. synth_tgt:test")
        dataset, split = spec.split(":", 1)
        path = self.split_path(dataset, split)
        if not path.exists():
            have = sorted(p.name for p in (self.root / "data").glob("*") if p.is_dir())
            if not self.data_dir(dataset).exists():
                raise MissingArtifactError(
                    f"no prepared dataset {dataset!r} in {self.root / 'data'}",
                    hint=f"prepared datasets: {', '.join(have) or 'none'}; create it with `posekit prepare`",
                )
            splits = sorted(p.stem for p in self.data_dir(dataset).glob("*.h5"))
            raise MissingArtifactError(
                f"dataset {dataset!r} has no split {split!r} ({path})",
                hint=f"available splits: {', '.join(splits) or 'none'}",
            )
        from posekit.data.h5format import validate_h5

        validate_h5(path)
        return dataset, split, path

    # -- runs -----------------------------------------------------------------------------------------------
    def runs_dir(self, stage: str) -> Path:
        return self.root / "runs" / stage

    def new_run_dir(self, stage: str, name: str) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = self.runs_dir(stage) / f"{stamp}-{name}"
        run, i = base, 1
        while run.exists():
            i += 1
            run = base.with_name(f"{base.name}-{i}")
        (run / "ckpt").mkdir(parents=True)
        return run

    def set_latest(self, stage: str, run_dir: Path) -> None:
        atomic_write_text(self.runs_dir(stage) / "latest", run_dir.name + "\n")

    def resolve_resumable(self, stage: str, ref: str) -> Path:
        """The run to ``--resume``: a run directory, ``STAGE/RUN_ID``, ``RUN_ID``, or ``latest`` / ``STAGE/latest``
        (the newest run of ``stage`` that has a resumable ``ckpt/last.pt``, finished or not)."""
        path = Path(ref)
        if path.is_dir():
            return path.resolve()
        if ref in ("latest", f"{stage}/latest"):
            runs = sorted((p for p in self.runs_dir(stage).glob("*") if (p / "ckpt" / "last.pt").exists()),
                          key=lambda p: p.stat().st_mtime)
            if not runs:
                raise MissingArtifactError(f"no {stage} run with a resumable checkpoint in {self.root}",
                                           hint=f"start one with `posekit {stage}`")
            return runs[-1]
        return self.resolve_run(ref if "/" in ref else f"{stage}/{ref}")

    def resolve_run(self, ref: str) -> Path:
        """``ref`` is a run directory, ``STAGE/RUN_ID``, ``STAGE/latest`` or ``latest`` (newest of any stage)."""
        p = Path(ref)
        if p.is_dir():
            return p.resolve()
        parts = ref.split("/")
        if ref == "latest":
            candidates = []
            for stage in STAGES:
                marker = self.runs_dir(stage) / "latest"
                if marker.exists():
                    run = self.runs_dir(stage) / marker.read_text().strip()
                    candidates.append((run.stat().st_mtime if run.exists() else 0, run))
            if not candidates:
                raise MissingArtifactError(f"no finished runs in {self.root / 'runs'}", hint="run `posekit pretrain` first")
            return max(candidates)[1]
        if len(parts) == 2 and parts[0] in STAGES:
            stage, run_id = parts
            if run_id == "latest":
                marker = self.runs_dir(stage) / "latest"
                if not marker.exists():
                    raise MissingArtifactError(f"no finished {stage} run in {self.root}", hint=f"run `posekit {stage}` first")
                run_id = marker.read_text().strip()
            run = self.runs_dir(stage) / run_id
            if run.is_dir():
                return run
        raise MissingArtifactError(
            f"no run {ref!r} in {self.root / 'runs'}",
            hint="pass a run directory, STAGE/RUN_ID, STAGE/latest or latest",
        )

    def resolve_checkpoint(self, run: str, checkpoint: str) -> Path:
        """``run`` (as :meth:`resolve_run` takes it) + ``checkpoint`` (final, best, last, or a ``.pt`` file path) →
        the checkpoint file."""
        if checkpoint not in CHECKPOINT_NAMES:
            path = Path(checkpoint)
            if not path.is_file():
                raise MissingArtifactError(f"no checkpoint file {path}",
                                           hint=f"use one of {', '.join(CHECKPOINT_NAMES)} or a .pt path")
            return path.resolve()
        run_dir = self.resolve_run(run)
        path = run_dir / "ckpt" / f"{checkpoint}.pt"
        if not path.exists():
            have = sorted(p.stem for p in (run_dir / "ckpt").glob("*.pt"))
            stage = run_dir.parent.name if run_dir.parent.name in STAGES else "STAGE"
            hint = (f"this run has {', '.join(have)}; use one of those, or finish it with "
                    f"`posekit {stage} --resume {run_dir}`" if have else
                    "the run has no checkpoints yet; resume or re-run it")
            raise MissingArtifactError(f"{path} does not exist (run not finished?)", hint=hint)
        return path
