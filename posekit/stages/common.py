"""Pieces every training stage shares: run directories, loaders, the start-up panel and final selection."""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import torch
import yaml
from pydantic import BaseModel
from rich.panel import Panel
from torch.utils.data import DataLoader, Dataset

from posekit.config.load import config_to_yaml
from posekit.data.dataset import StepBatchSampler
from posekit.engine import distributed
from posekit.engine.checkpoint import load_checkpoint, save_checkpoint
from posekit.engine.logging import console, labelled
from posekit.engine.precision import Precision, cpu_units
from posekit.engine.trainer import Trainer
from posekit.errors import MissingArtifactError
from posekit.signals import dataloader_worker_init
from posekit.version import __version__
from posekit.workspace import Workspace, atomic_write_json, atomic_write_text, now_iso

M = TypeVar("M", bound=BaseModel)


def dataset_lineage(ws: Workspace, dataset: str) -> dict:
    manifest = ws.data_dir(dataset) / "manifest.json"
    info = json.loads(manifest.read_text()) if manifest.exists() else {}
    return {"dataset": dataset, "params_sha1": info.get("params_sha1"), "converter": info.get("converter")}


def environment(device: torch.device, precision: Precision) -> dict:
    """What ran a run: versions, device, threads, the CPU and its bf16 units, and the precision chosen and why."""
    return {
        "posekit": __version__, "torch": str(torch.__version__), "python": platform.python_version(),
        "device": str(device), "cuda": torch.version.cuda, "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "cpu": cpu_units().to_json(),
        **precision.to_json(), "started": now_iso(), "world_size": distributed.world_size(),
    }


def create_run(ws: Workspace, stage: str, name: str, cfg: BaseModel, device: torch.device, precision: Precision,
               lineage: dict) -> Path:
    """A new ``runs/<stage>/<id>/`` with config.yaml, env.json and lineage.json."""
    run_dir = ws.new_run_dir(stage, name)
    atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
    atomic_write_json(run_dir / "env.json", environment(device, precision))
    atomic_write_json(run_dir / "lineage.json", {"stage": stage, **lineage})
    return run_dir


def resume_config(run_dir: Path, model: type[M]) -> M:
    """The configuration to continue ``run_dir`` with: its last checkpoint's, or config.yaml when it was killed
    before the first checkpoint."""
    ckpt = run_dir / "ckpt" / "last.pt"
    if ckpt.exists():
        return model.model_validate(load_checkpoint(ckpt)["config"])
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        raise MissingArtifactError(f"{run_dir} is not a resumable run (no ckpt/last.pt, no config.yaml)",
                                   hint="start a new run instead")
    return model.model_validate(yaml.safe_load(cfg_path.read_text()))


def run_lock(ws: Workspace, stage: str, run_dir: Path) -> contextlib.AbstractContextManager:
    """One writer per run, so a second --resume is refused: the run's lock, held by rank 0 for a torchrun job."""
    return ws.lock(f"runs/{stage}/{run_dir.name}") if distributed.is_main() else contextlib.nullcontext()


def resume_state(trainer: Trainer, run_dir: Path) -> None:
    """Load ``run_dir``'s last checkpoint into ``trainer``; without one, start again from step 0 in the same run.
    Temporary files a killed process left behind are removed (the caller holds the run's lock)."""
    if distributed.is_main():
        for stale in run_dir.rglob(".*.tmp"):
            stale.unlink()
    ckpt = run_dir / "ckpt" / "last.pt"
    if ckpt.exists():
        trainer.load_full_state(load_checkpoint(ckpt))
        console.print(f"resuming {run_dir.name} at step {trainer.state.step}/{trainer.total}")
    else:
        trainer.metrics.truncate_after(0)
        console.print(f"resuming {run_dir.name}: no checkpoint was written yet, starting again from step 0")


def step_batches(dataset: Dataset, batch_size: int, seed: int, start_step: int, workers: int,
                 device: torch.device) -> Iterator[dict]:
    """Infinite, resumable batches (order = f(seed, step)) through a DataLoader; in a torchrun job this process's
    rows of each global batch of ``batch_size``."""
    sampler = StepBatchSampler(len(dataset), batch_size, seed, start_step=start_step,
                               shard=(distributed.rank(), distributed.world_size()))
    return iter(DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=device.type == "cuda",
                           persistent_workers=workers > 0, worker_init_fn=dataloader_worker_init))


def target_seed(seed: int) -> int:
    """The seed of the target batches' order: not the source's (``seed``), so the two domains are not drawn in
    lockstep when their splits have the same size."""
    return seed + 1


def paired_batches(source: Iterator[dict], target: Iterator[dict]) -> Iterator[dict]:
    """Merge a source and a target batch per step; target keys get a ``target_`` prefix."""
    for s, t in zip(source, target):
        yield {**s, **{f"target_{k}": v for k, v in t.items()}}


def domain_batches(source: Dataset, target: Dataset | None, batch_size: int, seed: int, start_step: int,
                   workers: int, device: torch.device) -> Iterator[dict]:
    """Source batches, merged with target batches (keys prefixed ``target_``, their own order) when ``target`` is
    given; resumable from ``start_step`` like :func:`step_batches`."""
    batches = step_batches(source, batch_size, seed, start_step, workers, device)
    if target is None:
        return batches
    return paired_batches(batches, step_batches(target, batch_size, target_seed(seed), start_step, workers, device))


def device_summary(device: torch.device, precision: Precision, layout: str) -> str:
    """The start-up panel's device line: device, threads, precision and why, memory format and compilation."""
    threads = torch.get_num_threads()
    return f"{device} ({threads} thread{'' if threads == 1 else 's'})   {precision.describe()}   {layout}"


def startup_panel(title: str, lines: dict[str, str]) -> None:
    width = max(len(k) for k in lines)
    console.print(Panel.fit("\n".join(f"{k.ljust(width)}  {v}" for k, v in lines.items()), title=title,
                            border_style="cyan"))


def finalise(ws: Workspace, stage: str, run_dir: Path, trainer: Trainer, select: str, last_val: dict) -> None:
    """Write ``ckpt/final.pt`` from the selected weights and point ``runs/<stage>/latest`` at the run (rank 0's
    job in a torchrun job)."""
    if not distributed.is_main():
        return
    best = run_dir / "ckpt" / "best.pt"
    if select != "last" and best.exists():
        shutil.copyfile(best, run_dir / "ckpt" / ".final.tmp")
        (run_dir / "ckpt" / ".final.tmp").replace(run_dir / "ckpt" / "final.pt")
        chosen = f"best {select} step {trainer.state.best_step}"
    else:
        save_checkpoint(run_dir / "ckpt" / "final.pt", trainer.weights_only_state("last", last_val))
        chosen = f"last step {trainer.state.step}"
    ws.set_latest(stage, run_dir)
    console.print(labelled("done:", "green", f"{run_dir / 'ckpt' / 'final.pt'} ({chosen})"))
    if select == "oracle":
        console.print("ORACLE: these weights were selected on target test labels", style="bold red")
