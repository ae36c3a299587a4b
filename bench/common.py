"""What the benchmark scripts share: running a posekit stage as its own process, and timing one training step."""

from __future__ import annotations

import subprocess
import sys
import time

import torch


def posekit(ws: str, *args: str, env: dict[str, str] | None = None) -> float:
    """Run ``python -m posekit -w WS ARGS``; exit with the end of its output if it fails. Returns its wall seconds."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "posekit", "-w", str(ws), *args], capture_output=True, text=True,
                          check=False, env=env)
    if proc.returncode != 0:
        sys.exit(f"posekit {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def step(method, optimizer, batch: dict, device: torch.device, amp: bool) -> None:
    """One training step as the trainer runs it: forward (bf16 autocast when ``amp``), backward, optimiser update."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        losses = method.losses(batch, 0)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    optimizer.step()
    method.after_step(0)


def timed(fn, device: torch.device) -> float:
    """Wall seconds of ``fn()``; on CUDA between two synchronisations."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t
