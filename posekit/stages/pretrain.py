"""The ``pretrain`` stage: supervised training on the labelled source domain."""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path

import torch
from rich.panel import Panel
from torch.utils.data import DataLoader

from posekit import __version__
from posekit.config.load import config_sha1, config_to_yaml
from posekit.config.schema import PretrainConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.dataset import H5KeypointDataset, StepBatchSampler
from posekit.engine.checkpoint import load_checkpoint, save_checkpoint
from posekit.engine.device import pick_device
from posekit.engine.logging import console
from posekit.engine.seed import seed_everything
from posekit.engine.trainer import Trainer, multistep_lambda
from posekit.errors import ConfigError, DataError
from posekit.evaluation.evaluate import predict_split, score_split
from posekit.methods.supervised import SupervisedMethod
from posekit.models.pose_net import PoseNet
from posekit.workspace import Workspace, atomic_write_json, atomic_write_text, now_iso

SELECT_METRIC = "pck@0.05"


def _lineage(ws: Workspace, dataset: str) -> dict:
    manifest = ws.data_dir(dataset) / "manifest.json"
    info = json.loads(manifest.read_text()) if manifest.exists() else {}
    return {"dataset": dataset, "params_sha1": info.get("params_sha1"), "converter": info.get("converter")}


def run_pretrain(ws: Workspace, cfg: PretrainConfig, name: str, resume: Path | None = None) -> Path:
    """Train, checkpoint and select; returns the run directory."""
    d, t = cfg.data, cfg.train
    _, _, train_path = ws.require_split(f"{d.source}:{d.train_split}")
    train_ds = H5KeypointDataset(train_path)
    val_path = ws.require_split(f"{d.source}:{d.val_split}")[2] if d.val_split else None
    if t.select == "source_val" and val_path is None:
        raise ConfigError("train.select=source_val needs data.val_split", hint="set data.val_split or train.select=last")
    if len(train_ds) < t.batch_size:
        raise DataError(f"{train_path}: {len(train_ds)} samples, fewer than one batch of {t.batch_size}",
                        hint="lower train.batch_size or prepare more samples")
    meta = train_ds.meta
    device = pick_device(t.device)
    seed_everything(t.seed)
    model = PoseNet(cfg.model, meta.num_joints).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    codec = HeatmapCodec(d.input_size, d.input_size // 4, d.sigma, t.supervise_occluded)
    method = SupervisedMethod(model, codec, cfg.augment, meta, t.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multistep_lambda(t.steps, cfg.optim.milestones, cfg.optim.gamma))

    if resume is None:
        run_dir = ws.new_run_dir("pretrain", name)
        atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
        atomic_write_json(run_dir / "env.json", {
            "posekit": __version__, "torch": str(torch.__version__), "python": platform.python_version(),
            "device": str(device), "cuda": torch.version.cuda, "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "started": now_iso(),
        })
        atomic_write_json(run_dir / "lineage.json", {"stage": "pretrain", "inputs": [_lineage(ws, d.source)]})
    else:
        run_dir = resume
    header = {
        "stage": "pretrain", "method": method.name, "posekit_version": __version__, "torch_version": str(torch.__version__),
        "teacher": None, "config": cfg.model_dump(mode="json"), "config_sha1": config_sha1(cfg),
        "keypoints": json.loads(meta.to_json()), "lineage": {"source": _lineage(ws, d.source)},
    }

    def validate(net: torch.nn.Module) -> dict[str, float]:
        pred = predict_split(net, val_path, d.input_size, d.sigma, device, batch_size=t.batch_size)
        return {SELECT_METRIC: score_split(pred, val_path, 0.05, "bbox", 2)["groups"]["All"]}

    trainer = Trainer(method, optimizer, scheduler, iter(()), run_dir, t.steps, device, header,
                      log_every=t.log_every, ckpt_every=t.ckpt_every, val_every=t.val_every,
                      validate=validate if val_path else None,
                      select_key=SELECT_METRIC if t.select == "source_val" else None, amp=t.amp)
    if resume is not None:
        trainer.load_full_state(load_checkpoint(run_dir / "ckpt" / "last.pt"))
        console.print(f"resuming {run_dir.name} at step {trainer.state.step}/{t.steps}")
    sampler = StepBatchSampler(len(train_ds), t.batch_size, t.seed, start_step=trainer.state.step)
    loader = DataLoader(train_ds, batch_sampler=sampler, num_workers=d.num_workers,
                        pin_memory=device.type == "cuda", persistent_workers=d.num_workers > 0)
    trainer.batches = iter(loader)

    console.print(Panel.fit(
        f"run       {run_dir}\n"
        f"device    {device} ({torch.get_num_threads()} threads)   amp {'bf16' if trainer.amp else 'off'}\n"
        f"model     {cfg.model.backbone} ×{cfg.model.width} width, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, "
        f"{cfg.model.pretrained} init\n"
        f"data      {d.source}:{d.train_split} ({len(train_ds)} images, {meta.num_joints} joints)   "
        f"val {d.source}:{d.val_split if val_path else '-'}\n"
        f"schedule  {t.steps} steps × batch {t.batch_size}, Adam lr {cfg.optim.lr:g}, ×{cfg.optim.gamma:g} at "
        f"{[round(f * t.steps) for f in cfg.optim.milestones]}\n"
        f"select    {t.select}",
        title="posekit pretrain", border_style="cyan"))
    last_val = trainer.fit()

    best = run_dir / "ckpt" / "best.pt"
    if t.select == "source_val" and best.exists():
        shutil.copyfile(best, run_dir / "ckpt" / ".final.tmp")
        (run_dir / "ckpt" / ".final.tmp").replace(run_dir / "ckpt" / "final.pt")
        chosen = f"best source-val step {trainer.state.best_step}"
    else:
        save_checkpoint(run_dir / "ckpt" / "final.pt", trainer.weights_only_state("last", last_val))
        chosen = f"last step {trainer.state.step}"
    ws.set_latest("pretrain", run_dir)
    console.print(f"[green]done[/]: {run_dir / 'ckpt' / 'final.pt'} ({chosen})")
    return run_dir
