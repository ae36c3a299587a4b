"""Fault injection for the crash-safety tests: ``POSEKIT_CRASH_AT=POINT[:N]`` kills the process with SIGKILL the
N-th time (default 1st) execution passes ``crash_point(POINT)``. Unset (the normal case), it does nothing. With
``POSEKIT_CRASH_SIGNAL=TERM`` it sends SIGTERM to the whole process group instead (the process and its DataLoader
or pool workers, as a job scheduler does; start the process in its own session).

Points: ``train.step`` (after an optimiser step and any checkpoint due at it), ``write NAME`` (the temporary file
of the artifact called NAME, e.g. ``write last.pt`` or ``write train.h5``, is complete but not yet renamed into
place), ``h5.append`` (a dataset split is half written), ``stylize.chunk`` (a style cache is half written).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_passes: Counter[str] = Counter()


def crash_point(name: str) -> None:
    spec = os.environ.get("POSEKIT_CRASH_AT")
    if not spec:
        return
    point, nth = spec.rsplit(":", 1) if ":" in spec else (spec, "1")
    if point != name:
        return
    _passes[name] += 1
    if _passes[name] == int(nth):
        if os.environ.get("POSEKIT_CRASH_SIGNAL") == "TERM":
            os.killpg(os.getpgrp(), signal.SIGTERM)
        else:
            os.kill(os.getpid(), signal.SIGKILL)
