"""Pieces every training stage shares: run directories, loaders, the start-up panel and final selection."""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch
from pydantic import BaseModel
from rich.panel import Panel
from torch.utils.data import DataLoader, Dataset

from posekit import __version__
from posekit.config.load import config_to_yaml
from posekit.data.dataset import StepBatchSampler
from posekit.engine.checkpoint import save_checkpoint
from posekit.engine.logging import console
from posekit.engine.trainer import Trainer
from posekit.workspace import Workspace, atomic_write_json, atomic_write_text, now_iso


def dataset_lineage(ws: Workspace, dataset: str) -> dict:
    manifest = ws.data_dir(dataset) / "manifest.json"
    info = json.loads(manifest.read_text()) if manifest.exists() else {}
    return {"dataset": dataset, "params_sha1": info.get("params_sha1"), "converter": info.get("converter")}


def create_run(ws: Workspace, stage: str, name: str, cfg: BaseModel, device: torch.device, lineage: dict) -> Path:
    """A new ``runs/<stage>/<id>/`` with config.yaml, env.json and lineage.json."""
    run_dir = ws.new_run_dir(stage, name)
    atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
    atomic_write_json(run_dir / "env.json", {
        "posekit": __version__, "torch": str(torch.__version__), "python": platform.python_version(),
        "device": str(device), "cuda": torch.version.cuda, "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "started": now_iso(),
    })
    atomic_write_json(run_dir / "lineage.json", {"stage": stage, **lineage})
    return run_dir


def step_batches(dataset: Dataset, batch_size: int, seed: int, start_step: int, workers: int,
                 device: torch.device) -> Iterator[dict]:
    """Infinite, resumable batches (order = f(seed, step)) through a DataLoader."""
    sampler = StepBatchSampler(len(dataset), batch_size, seed, start_step=start_step)
    return iter(DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=device.type == "cuda",
                           persistent_workers=workers > 0))


def paired_batches(source: Iterator[dict], target: Iterator[dict]) -> Iterator[dict]:
    """Merge a source and a target batch per step; target keys get a ``target_`` prefix."""
    for s, t in zip(source, target):
        yield {**s, **{f"target_{k}": v for k, v in t.items()}}


def startup_panel(title: str, lines: dict[str, str]) -> None:
    width = max(len(k) for k in lines)
    console.print(Panel.fit("\n".join(f"{k.ljust(width)}  {v}" for k, v in lines.items()), title=title,
                            border_style="cyan"))


def finalise(ws: Workspace, stage: str, run_dir: Path, trainer: Trainer, select: str, last_val: dict) -> None:
    """Write ``ckpt/final.pt`` from the selected weights and point ``runs/<stage>/latest`` at the run."""
    best = run_dir / "ckpt" / "best.pt"
    if select != "last" and best.exists():
        shutil.copyfile(best, run_dir / "ckpt" / ".final.tmp")
        (run_dir / "ckpt" / ".final.tmp").replace(run_dir / "ckpt" / "final.pt")
        chosen = f"best {select} step {trainer.state.best_step}"
    else:
        save_checkpoint(run_dir / "ckpt" / "final.pt", trainer.weights_only_state("last", last_val))
        chosen = f"last step {trainer.state.step}"
    ws.set_latest(stage, run_dir)
    console.print(f"[green]done[/]: {run_dir / 'ckpt' / 'final.pt'} ({chosen})")
    if select == "oracle":
        console.print("[bold red]ORACLE: these weights were selected on target test labels[/]")
