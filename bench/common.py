"""What the benchmark scripts share: running a posekit stage as its own process."""

from __future__ import annotations

import subprocess
import sys
import time


def posekit(ws: str, *args: str, env: dict[str, str] | None = None) -> float:
    """Run ``python -m posekit -w WS ARGS``; exit with the end of its output if it fails. Returns its wall seconds."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "posekit", "-w", str(ws), *args], capture_output=True, text=True,
                          check=False, env=env)
    if proc.returncode != 0:
        sys.exit(f"posekit {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start
