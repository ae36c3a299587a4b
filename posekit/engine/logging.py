"""Console output (rich) and the JSON-lines metrics file.

Two consoles, as Unix tools do: ``results`` (stdout) for what a command produces (tables, lists), ``console``
(stderr) for messages, panels and progress. Neither interprets Rich markup: file names, dataset names and keys
that users choose are printed as they are (``[x]`` stays ``[x]``); styles are given with ``style=`` or ``Text``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from posekit.workspace import atomic_write_text

# Tables stay readable when output is captured (CI logs, files): 120 columns unless a terminal says otherwise.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120, markup=False)
results = Console(width=None if sys.stdout.isatty() else 120, markup=False, soft_wrap=True)  # lines never broken


def labelled(label: str, style: str, text: str) -> Text:
    """``label`` in ``style`` followed by ``text`` printed as is, e.g. ``labelled("error:", "bold red", message)``."""
    return Text.assemble((label, style), " ", text)


def make_progress(transient: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        console=console,
        transient=transient,
    )


class MetricsWriter:
    """Appends one JSON object per line to ``metrics.jsonl``, flushed at once so a crash loses nothing logged.
    A writer that is not ``enabled`` (ranks other than 0 of a torchrun job) writes nothing. ``tensorboard``: a
    folder that mirrors every record as TensorBoard scalars (:mod:`posekit.engine.tensorboard`)."""

    def __init__(self, path: Path, enabled: bool = True, tensorboard: Path | None = None):
        self.path = Path(path)
        self.enabled = enabled
        self.mirror = None
        if tensorboard is not None and enabled:
            from posekit.engine.tensorboard import TensorBoardMirror

            self.mirror = TensorBoardMirror(tensorboard)

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after ``step`` (used on resume, so the file matches an uninterrupted run)."""
        if self.mirror is not None:
            self.mirror.purge_after(step)
        if not (self.enabled and self.path.exists()):
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill mid-write
            if record.get("step", 0) <= step:
                keep.append(line)
        atomic_write_text(self.path, "".join(line + "\n" for line in keep))

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        if self.mirror is not None:
            self.mirror.write(record)

    def close(self) -> None:
        if self.mirror is not None:
            self.mirror.close()
