"""Checkpoints: plain dicts of tensors and Python containers, written atomically, read with ``weights_only=True``.

Every checkpoint: ``format`` ("posekit.ckpt"), ``version``, the run's header (:func:`checkpoint_header`:
``stage``, ``method``, ``architecture``, ``posekit_version``, ``torch_version``, ``config`` (resolved, JSON-able),
``config_sha1``, ``keypoints`` (KeypointMeta as a dict), ``lineage``, ``transductive``, and for 3D runs
``root_joints``), ``step``, and the method's weights: ``model`` (state dict; MIM/multi-level: the student) and
``teacher`` (state dict or None).

``ckpt/last.pt`` (resumable) adds ``method_state`` (the method's other modules and buffers), ``optim``, ``sched``,
``rng`` (``global``, ``method``, and ``method_by_rank`` in a torchrun job) and ``train_state`` (``best_metric``,
``best_step``). ``best.pt`` and ``final.pt`` add ``selected_by`` and ``metrics`` instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from posekit.errors import CheckpointError, MissingArtifactError
from posekit.version import __version__
from posekit.workspace import STAGES, atomic_write_bytes

FORMAT = "posekit.ckpt"
VERSION = 1


def checkpoint_header(stage: str, method: str, config: dict, *, architecture: str | None = None,
                      config_sha1: str | None = None, keypoints: dict | None = None, lineage: dict | None = None,
                      transductive: bool = False, **extra: Any) -> dict[str, Any]:
    """The header stored in every checkpoint of a run (the module docstring lists the keys)."""
    return {"stage": stage, "method": method, "architecture": architecture, "posekit_version": __version__,
            "torch_version": str(torch.__version__), "config": config, "config_sha1": config_sha1,
            "keypoints": keypoints, "lineage": lineage, "transductive": transductive, **extra}


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Serialise ``payload`` (plus format/version keys) and write it atomically."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buf)
    buf.seek(0)
    try:  # never write a checkpoint that posekit itself could not read back safely
        torch.load(buf, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise TypeError(f"checkpoint payload holds a non-plain object: {str(exc).splitlines()[-3][:200]}") from None
    atomic_write_bytes(Path(path), buf.getvalue())


def _unreadable_hint(path: Path, why: str = "the file may be truncated") -> str:
    """What to do about an unreadable checkpoint of a run: use its other copy of the weights only where one exists."""
    if path.parent.name != "ckpt":
        return f"{why}; use an intact copy or re-run the stage that wrote it"
    if path.name == "last.pt":
        run = path.parent.parent
        if (path.parent / "final.pt").is_file():
            return f"{why}; the run is finished: its ckpt/final.pt holds the selected weights (eval, predict and " \
                   "export read it)"
        if run.parent.name in STAGES:
            return (f"{why}; delete it and `posekit {run.parent.name} --resume "
                    f"{run.parent.name}/{run.name}` restarts the run from step 0, or re-run the stage")
        return f"{why}; delete it to restart from step 0, or re-run the stage"
    if (path.parent / "last.pt").is_file():
        return f"{why}; the run's {path.parent / 'last.pt'} holds its last weights, or re-run the stage"
    return f"{why}; re-run the stage"


PASS_A_CHECKPOINT = "pass a .pt file written by posekit pretrain/adapt (e.g. RUN/ckpt/final.pt)"


def _zip_kind(path: Path) -> str | None:
    """What a zip file holds: ``torchscript`` (torch.jit.save: ``code/``, ``constants.pkl``), ``torch``
    (torch.save: ``data.pkl``) or ``other``; None where it is no readable zip (torch.load then says why)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    return "torch" if any(n.endswith("/data.pkl") for n in names) else "other"


def _export_error(path: Path, fmt: str) -> CheckpointError:
    """A ``posekit export`` file (or another TorchScript/ONNX model) given where a checkpoint is read."""
    source = None
    with contextlib.suppress(OSError, ValueError, AttributeError):  # the JSON export writes beside it names the source
        source = json.loads(path.with_name(path.name + ".json").read_text()).get("checkpoint")
    where = f"it was exported from {source}: pass that checkpoint or its run" if source else \
        "pass the run it was exported from, or its ckpt/*.pt (e.g. RUN/ckpt/final.pt)"
    return CheckpointError(f"{path}: this is a{'n' if fmt == 'ONNX' else ''} {fmt} export, not a checkpoint",
                           hint=where)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a posekit checkpoint safely; refuses pickled objects and other formats with a message saying what the
    file is (empty, a TorchScript or ONNX export, another zip, not a PyTorch file)."""
    path = Path(path)
    if not path.is_file():
        raise MissingArtifactError(f"no checkpoint at {path}", hint="list a run's checkpoints with `ls RUN/ckpt`")
    with open(path, "rb") as f:
        magic = f.read(4)
    if not magic:
        raise CheckpointError(f"{path}: not a readable checkpoint (empty file, 0 bytes)",
                              hint=_unreadable_hint(path, "a copy or write was cut short") if path.parent.name == "ckpt"
                              else PASS_A_CHECKPOINT)
    if path.suffix == ".onnx":
        raise _export_error(path, "ONNX")
    if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):  # torch.save's zip, or a legacy pickle
        raise CheckpointError(f"{path}: not a readable checkpoint (not a PyTorch file)", hint=PASS_A_CHECKPOINT)
    kind = _zip_kind(path) if magic.startswith(b"PK") else "torch"
    if kind == "torchscript":
        raise _export_error(path, "TorchScript")
    if kind == "other":
        raise CheckpointError(f"{path}: not a readable checkpoint (a zip archive that torch.save did not write)",
                              hint=PASS_A_CHECKPOINT)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f"a {found.group(1)}" if found else "pickled Python objects"
        raise CheckpointError(
            f"{path}: refused, it holds {what}, which weights_only loading does not allow",
            hint="posekit checkpoints hold only tensors and plain containers; re-export the weights as a state dict",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({exc.__class__.__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})",
            hint=_unreadable_hint(path),
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a posekit checkpoint (no format key {FORMAT!r})",
                              hint="pass a file written by posekit pretrain/adapt")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')}, this posekit reads {VERSION}")
    return ckpt
