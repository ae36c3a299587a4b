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
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from posekit.errors import ConfigError, DataError, MissingArtifactError, WorkspaceBusy, WriteError
from posekit.faults import crash_point
from posekit.version import __version__

WORKSPACE_SCHEMA = 1
STAGES = ("pretrain", "adapt")
# names that become one path component: datasets, splits, style caches, run names and ids
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_RULE = "1–100 letters, digits, '.', '_' or '-', starting with a letter or digit"

_created_runs: list[Path] = []  # run directories this process created (see discard_unstarted_runs)
_lock_fds: set[int] = set()  # lock file descriptors this process holds (see _drop_inherited_locks)


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a dataset/split/style/run name (one path component, a safe character set), or None."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return f"{name!r} is not a valid name ({NAME_RULE})"
    return None


def check_name(name: str, what: str) -> str:
    """``name`` if it is a valid name, else ConfigError naming ``what`` (e.g. ``--name``)."""
    problem = name_problem(name)
    if problem:
        raise ConfigError(f"{what} {problem}", hint="names become folder and file names inside the workspace: "
                                                    "no '/', no leading '.', e.g. synth_src or run-2")
    return name


def resolve_path(path: Path, what: str) -> Path:
    """``path`` made absolute with symbolic links followed; a link loop is a MissingArtifactError naming ``what``."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # Python < 3.13 raises RuntimeError for a loop, later ones OSError
        raise MissingArtifactError(f"{what} {path}: cannot be resolved ({exc})",
                                   hint="it is a symbolic link loop or unreadable; pass the real folder") from None


def forget_created_runs() -> None:
    """Start a new command: the runs created so far in this process are not its to discard."""
    _created_runs.clear()


def discard_unstarted_runs() -> None:
    """Remove the run directories this process created that hold no checkpoint yet: called when a command fails
    with an error, so a run that never started leaves nothing behind (interrupted runs are kept for --resume)."""
    while _created_runs:
        run = _created_runs.pop()
        if run.is_dir() and not any((run / "ckpt").glob("*.pt")):
            shutil.rmtree(run, ignore_errors=True)


def _drop_inherited_locks() -> None:
    """In a forked child (DataLoader or converter worker): close the inherited lock descriptors, so the lock goes
    with the parent process and an orphaned worker cannot hold it."""
    for fd in list(_lock_fds):
        with contextlib.suppress(OSError):
            os.close(fd)
    _lock_fds.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


# -- the one writer of artifacts -------------------------------------------------------------------------------
# Every file posekit hands to a user or to a later command is written here: to a temporary file in the target
# folder (``.NAME.XXXXXXXX.tmp``), flushed to disk, then renamed over NAME, so a reader sees the old file or the
# whole new one, never a part. A write the system refuses (ENOSPC, EDQUOT, EFBIG, EACCES, EROFS, a folder that
# cannot be created, a file in the way) raises ``posekit.errors.WriteError``: one line naming NAME and the cause,
# and no temporary is left behind. tests/test_one_writer.py fails on a module that writes an output file otherwise.
def _refused(exc: OSError, shown: Path) -> OSError:
    """``exc`` as a WriteError naming ``shown`` (a WriteError already names its artifact and is kept)."""
    return exc if isinstance(exc, WriteError) else WriteError(shown, exc)


def output_folder(path: Path) -> bool:
    """Create the output folder ``path`` (and its parents) that the writer will fill; True if it did not exist. A
    refusal (a read-only filesystem, permissions, a file in the way) is a WriteError naming ``path``."""
    path = Path(path)
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _refused(exc, path) from None
    return created


@contextlib.contextmanager
def atomic_output(path: Path, shown: Path | None = None) -> Iterator[Path]:
    """A temporary path in ``path``'s folder for the block to write ``path``'s content to, by any means (a library
    that writes files itself, such as ``torch.onnx`` or PIL, or a stream written piece by piece); renamed to ``path``
    when the block ends without error, removed when it fails. A refused write, in the block or around it, is a
    WriteError naming ``shown`` (default ``path``): ``shown`` is the final name of a file written into a staging
    folder first. The folder is created if missing. Libraries that pick a format from the file name must be told
    the format: the temporary's name ends in ``.tmp``."""
    path = Path(path)
    shown = Path(shown) if shown is not None else path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _refused(exc, shown) from None
    tmp = Path(name)
    try:
        try:
            os.close(fd)
            yield tmp
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)  # a delayed write error (e.g. NFS, a full disk) surfaces here
            finally:
                os.close(fd)
            os.chmod(tmp, 0o644)
            crash_point(f"write {path.name}")
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno is None and not isinstance(exc, WriteError):
                raise  # not a refused write (e.g. PIL's UnidentifiedImageError): the caller's to report
            raise _refused(exc, shown) from None
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_with(path: Path, write: Callable[[Path], object], shown: Path | None = None) -> None:
    """``write(tmp)`` writes ``path``'s content into the temporary file ``tmp``, which then replaces ``path``
    (:func:`atomic_output`), e.g. ``atomic_write_with(p, lambda tmp: image.save(tmp, format="PNG"))``."""
    with atomic_output(path, shown) as tmp:
        write(tmp)


def atomic_write_bytes(path: Path, data: bytes, shown: Path | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename (:func:`atomic_output`).
    Libraries whose own file writers cannot fail cleanly (``torch.save``/``torch.jit.save``: a refused write in
    their C++ writer aborts the process) write into an ``io.BytesIO`` whose bytes come here."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write_with(path, write, shown)


@contextlib.contextmanager
def staged_files(out: Path) -> Iterator[Path]:
    """A staging folder inside the output folder ``out`` for a set of files written together (each through the
    writer, with ``shown=out / NAME``): moved into ``out`` when the block succeeds (the JSON records last, so a
    reader that finds one finds the files it lists); on any error the staging folder disappears, and so does ``out``
    if this call created it. A refused write names ``out`` or ``out/NAME``."""
    created = output_folder(out)
    try:
        stage = Path(tempfile.mkdtemp(prefix=".posekit-stage-", dir=out))
    except OSError as exc:
        if created:
            out.rmdir()
        raise _refused(exc, out) from None
    try:
        yield stage
        for f in sorted(stage.iterdir(), key=lambda p: (p.suffix == ".json", p.name)):
            try:
                os.replace(f, out / f.name)
            except OSError as exc:
                raise _refused(exc, out / f.name) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_text(path: Path, text: str, shown: Path | None = None) -> None:
    atomic_write_bytes(path, text.encode(), shown)


def atomic_write_json(path: Path, obj: Any, shown: Path | None = None) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", shown)


def atomic_write_image(path: Path, image: Any, format: str = "PNG", shown: Path | None = None, **options: Any) -> None:
    """A PIL image saved in ``format`` (encoded in memory, so a refused write is the writer's to report)."""
    buf = io.BytesIO()
    image.save(buf, format=format, **options)
    atomic_write_bytes(path, buf.getvalue(), shown)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


CHECKPOINT_NAMES = ("final", "best", "last")


def snapshot_name(step: int) -> str:
    """The checkpoint name (file stem under ``ckpt/``) of the weights kept after ``step`` steps
    (``train.snapshot_every``)."""
    return f"step-{step:06d}"


class Workspace:
    """Paths and bookkeeping for one workspace directory."""

    def __init__(self, root: Path):
        if not str(root).strip():
            raise ConfigError("the workspace path is empty", hint="pass --workspace/-w DIR (or set POSEKIT_WORKSPACE)")
        self.root = resolve_path(Path(root), "workspace")

    # -- creation -------------------------------------------------------------------------------------------
    def ensure(self) -> Workspace:
        """Create the workspace if needed (for commands that write)."""
        marker = self.root / "workspace.json"
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"workspace {self.root} is a file, not a directory", hint="pass another --workspace")
        if marker.exists():
            self.check_marker()
        else:
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
        self.check_marker()
        return self

    def check_marker(self) -> dict:
        """Read and check ``workspace.json``: a JSON object whose ``schema_version`` this posekit reads."""
        marker = self.root / "workspace.json"
        try:
            info = json.loads(marker.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{marker}: unreadable workspace marker ({exc.__class__.__name__})",
                            hint=f"restore it, or write {{\"schema_version\": {WORKSPACE_SCHEMA}}} into it if this "
                                 "folder is a posekit workspace") from None
        version = info.get("schema_version") if isinstance(info, dict) else None
        if version != WORKSPACE_SCHEMA:
            raise DataError(f"{marker}: workspace schema version {version!r}, this posekit reads {WORKSPACE_SCHEMA}",
                            hint="use the posekit version that created this workspace, or another --workspace")
        return info

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
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise WorkspaceBusy(f"{what} in {self.root} is being written by {holder}",
                                hint="wait for that command to finish (runs of pretrain/adapt/eval may run side by side)") from None
        _lock_fds.add(fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} ({' '.join(os.path.basename(a) for a in sys.argv[:3])})".encode(), 0)
            yield
        finally:
            _lock_fds.discard(fd)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- data -----------------------------------------------------------------------------------------------
    def data_dir(self, dataset: str) -> Path:
        return self.root / "data" / check_name(dataset, "dataset")

    def split_path(self, dataset: str, split: str) -> Path:
        return self.data_dir(dataset) / f"{check_name(split, 'split')}.h5"

    def style_dir(self, name: str) -> Path:
        return self.root / "styles" / check_name(name, "style cache")

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
        base = self.runs_dir(stage) / f"{stamp}-{check_name(name, '--name')}"
        run, i = base, 1
        while run.exists():
            i += 1
            run = base.with_name(f"{base.name}-{i}")
        (run / "ckpt").mkdir(parents=True)
        _created_runs.append(run)
        return run

    def set_latest(self, stage: str, run_dir: Path) -> None:
        atomic_write_text(self.runs_dir(stage) / "latest", run_dir.name + "\n")

    def dataset_lineage(self, dataset: str) -> dict:
        """What a run records of a dataset it read: its name, parameter digest and converter (from its manifest)."""
        manifest = self.data_dir(dataset) / "manifest.json"
        info = json.loads(manifest.read_text()) if manifest.exists() else {}
        return {"dataset": dataset, "params_sha1": info.get("params_sha1"), "converter": info.get("converter")}

    def resolve_resumable(self, stage: str, ref: str) -> Path:
        """The run to ``--resume``: a run directory, ``STAGE/RUN_ID``, ``RUN_ID``, ``STAGE/NAME`` or ``NAME`` (its
        ``--name``, :meth:`resolve_run`), or ``latest`` / ``STAGE/latest`` (the newest run of ``stage`` that has a
        resumable ``ckpt/last.pt``, finished or not)."""
        path = Path(ref)
        other = next((s for s in STAGES if s != stage and ref.startswith(f"{s}/")), None)
        if path.is_dir():
            path = check_run_dir(resolve_path(path, "run"))
            other = path.parent.name if path.parent.name in STAGES and path.parent.name != stage else None
        if other is not None:
            raise ConfigError(f"{ref} is a{'n' if other[0] in 'aeiou' else ''} {other} run; `{stage} --resume` "
                              f"continues {stage} runs", hint=f"continue it with `posekit {other} --resume {ref}`")
        if path.is_dir():
            return path
        if ref in ("latest", f"{stage}/latest"):
            runs = sorted((p for p in self.runs_dir(stage).glob("*") if (p / "ckpt" / "last.pt").exists()),
                          key=lambda p: p.stat().st_mtime)
            if not runs:
                raise MissingArtifactError(f"no {stage} run with a resumable checkpoint in {self.root}",
                                           hint=f"start one with `posekit {stage}`")
            return runs[-1]
        return self.resolve_run(ref if "/" in ref else f"{stage}/{ref}")

    def resolve_run(self, ref: str) -> Path:
        """``ref`` is a run directory, ``STAGE/RUN_ID``, ``STAGE/NAME`` (the ``--name`` of a run: the one run id ending
        in ``-NAME``), ``STAGE/latest`` or ``latest`` (newest of any stage). Exact ids and ``latest`` come first."""
        p = Path(ref)
        if p.is_dir():
            return check_run_dir(resolve_path(p, "run"))
        parts = ref.split("/")
        if ref == "latest":
            candidates = []
            for stage in STAGES:
                if (self.runs_dir(stage) / "latest").exists():
                    run = self.latest_run(stage)
                    candidates.append((run.stat().st_mtime, run))
            if not candidates:
                raise MissingArtifactError(f"no finished runs in {self.root / 'runs'}", hint="run `posekit pretrain` first")
            return max(candidates)[1]
        if len(parts) == 2 and parts[0] in STAGES:
            stage, run_id = parts
            if run_id == "latest":
                return self.latest_run(stage)
            run = self.runs_dir(stage) / check_name(run_id, "run id")
            if run.is_dir():
                return run
            named = self.runs_named(stage, run_id)
            if len(named) == 1:
                return named[0]
            if named:
                raise ConfigError(f"{ref!r} names {len(named)} {stage} runs",
                                  hint=f"pass one by its id: {', '.join(f'{stage}/{r.name}' for r in named)}")
        raise MissingArtifactError(
            f"no run {ref!r} in {self.root / 'runs'}",
            hint="pass a run directory, STAGE/RUN_ID, STAGE/NAME (its --name), STAGE/latest or latest",
        )

    def runs_named(self, stage: str, name: str) -> list[Path]:
        """The runs of ``stage`` whose id ends in ``-NAME`` (``<date>-<time>-NAME``, or ``…-NAME-2`` for a second run
        of that name started in the same second), oldest first."""
        same_second = re.compile(rf"\d{{8}}-\d{{6}}-{re.escape(name)}-\d+")
        return sorted(p for p in self.runs_dir(stage).glob("*")
                      if p.is_dir() and (p.name.endswith(f"-{name}") or same_second.fullmatch(p.name)))

    def latest_run(self, stage: str) -> Path:
        """The run ``runs/<stage>/latest`` names; a marker naming no run of the stage is a DataError naming it."""
        marker = self.runs_dir(stage) / "latest"
        if not marker.exists():
            raise MissingArtifactError(f"no finished {stage} run in {self.root}", hint=f"run `posekit {stage}` first")
        run_id = marker.read_text(errors="replace").strip()
        run = self.runs_dir(stage) / run_id
        if name_problem(run_id) or not run.is_dir():
            raise DataError(f"{marker} names {run_id!r}, which is not a run in {self.runs_dir(stage)}",
                            hint=f"write the id of a finished {stage} run into it, or pass STAGE/RUN_ID")
        return run

    def resolve_checkpoint(self, run: str, checkpoint: str) -> Path:
        """``run`` (as :meth:`resolve_run` takes it) + ``checkpoint`` (final, best, last, ``step-N`` — a weight
        snapshot, ``train.snapshot_every`` — or a ``.pt`` file path) → the checkpoint file."""
        snapshot = re.fullmatch(r"step-(\d+)", checkpoint)
        if snapshot:
            checkpoint = snapshot_name(int(snapshot.group(1)))
        elif checkpoint not in CHECKPOINT_NAMES:
            path = Path(checkpoint)
            if not path.is_file():
                raise MissingArtifactError(f"no checkpoint file {path}",
                                           hint=f"use one of {', '.join(CHECKPOINT_NAMES)} or a .pt path")
            return path.resolve()
        run_dir = self.resolve_run(run)
        path = run_dir / "ckpt" / f"{checkpoint}.pt"
        if not path.exists():
            raise missing_checkpoint(run_dir, checkpoint)
        return path


def check_run_dir(path: Path) -> Path:
    """``path`` if it is a run directory (it holds config.yaml or ckpt/), else MissingArtifactError saying what is
    expected there."""
    if (path / "config.yaml").is_file() or (path / "ckpt").is_dir():
        return path
    if (path / "workspace.json").is_file():
        what = "it is a workspace; pass one of its runs as STAGE/RUN_ID, STAGE/NAME or STAGE/latest (with -w)"
    elif path.name == "runs" or path.name in STAGES and path.parent.name == "runs":
        what = "it holds runs; pass one of them (runs/STAGE/RUN_ID), or STAGE/latest"
    else:
        what = "pass a run directory (runs/STAGE/RUN_ID), STAGE/RUN_ID, STAGE/NAME, STAGE/latest or latest"
    raise MissingArtifactError(f"{path} is not a posekit run (no config.yaml, no ckpt/)", hint=what)


def missing_checkpoint(run_dir: Path, checkpoint: str) -> MissingArtifactError:
    """The error for a run without ``ckpt/<checkpoint>.pt``, from what the run holds: finished (final.pt) or not."""
    path = run_dir / "ckpt" / f"{checkpoint}.pt"
    have = sorted(p.stem for p in (run_dir / "ckpt").glob("*.pt"))
    if "final" in have:
        if checkpoint == "best":
            return MissingArtifactError(
                f"{path} does not exist: the run is finished and selected its last weights ({_selection(run_dir)})",
                hint="its final.pt holds them (the same weights as last.pt); use --checkpoint final")
        return MissingArtifactError(f"{path} does not exist: the run is finished and holds {', '.join(have)}.pt",
                                    hint="use --checkpoint final, its selected weights")
    resume = f"`posekit {run_dir.parent.name} --resume {run_dir.parent.name}/{run_dir.name}`"
    hint = (f"this run has {', '.join(have)}.pt only; finish it with {resume}" if have
            else f"the run has no checkpoint yet; continue it with {resume} or re-run the stage")
    return MissingArtifactError(f"{path} does not exist (run not finished?)", hint=hint)


def _selection(run_dir: Path) -> str:
    """How a finished run without best.pt chose its final weights, from its config.yaml (train.select)."""
    import yaml

    try:
        select = (yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("train", {}).get("select")
    except (OSError, yaml.YAMLError, AttributeError):
        select = None
    if select in (None, "last"):
        return "train.select=last"
    return f"train.select={select}, but no validation picked a best step"
