"""An optional TensorBoard mirror of ``metrics.jsonl`` (``train.tensorboard=true``): every logged record becomes
scalars of the run's ``tensorboard/`` event files. ``torch.utils.tensorboard`` needs the ``tensorboard`` package,
which posekit does not depend on: ``pip install 'posekit[tensorboard]'``."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from posekit.errors import ConfigError


def require_tensorboard() -> None:
    """Raise a one-line ConfigError naming the extra unless the ``tensorboard`` package is installed."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("train.tensorboard=true needs the tensorboard package, which is not installed",
                          hint="pip install 'posekit[tensorboard]', or drop --set train.tensorboard=true")


def scalars(record: dict) -> dict[str, float]:
    """A metrics.jsonl record → ``{tag: value}``: training records keep their keys (``loss/sup``, ``lr``, ...),
    validation records are prefixed with their split (``source_val/pck@0.05``); ``step``, ``split`` and
    non-numeric values are left out."""
    prefix = f"{record['split']}/" if "split" in record else ""
    return {prefix + k: float(v) for k, v in record.items()
            if k not in ("step", "split") and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)}


class TensorBoardMirror:
    """Writes each record's :func:`scalars` at its step into ``log_dir``, flushed at once. After a resume
    (:meth:`purge_after`) the first events carry TensorBoard's purge step, which hides what the killed process had
    logged past the checkpoint, as ``metrics.jsonl`` drops those lines."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.purge_step: int | None = None
        self._writer = None

    def purge_after(self, step: int) -> None:
        self.purge_step = step + 1

    def write(self, record: dict) -> None:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.log_dir), purge_step=self.purge_step)
        for tag, value in scalars(record).items():
            self._writer.add_scalar(tag, value, record["step"])
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
