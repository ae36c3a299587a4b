"""The ``pretrain`` stage: supervised training on the labelled source domain."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from posekit import __version__
from posekit.config.load import config_sha1
from posekit.config.schema import PretrainConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.dataset import H5KeypointDataset
from posekit.engine import distributed
from posekit.engine.device import pick_device, prepare_for_device
from posekit.engine.optim import build_optimizer, schedule_summary
from posekit.engine.seed import seed_everything
from posekit.engine.trainer import Trainer
from posekit.errors import ConfigError, DataError
from posekit.evaluation.evaluate import predict_split, score_split
from posekit.methods.supervised import SupervisedMethod
from posekit.models.pose_net import PoseNet
from posekit.stages.common import (
    create_run,
    dataset_lineage,
    device_summary,
    finalise,
    resume_state,
    run_lock,
    startup_panel,
    step_batches,
)
from posekit.workspace import Workspace

SELECT_METRIC = "pck@0.05"


def source_val_scorer(val_path: Path, input_size: int, sigma: float, device: torch.device, batch_size: int):
    """``model → {"pck@0.05": All}`` on a labelled source split (visible joints, bbox normalisation)."""

    def validate(net: torch.nn.Module) -> dict[str, float]:
        pred = predict_split(net, val_path, input_size, sigma, device, batch_size=batch_size)
        return {SELECT_METRIC: score_split(pred, val_path, 0.05, "bbox", 2)["groups"]["All"]}

    return validate


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
    device = distributed.setup(pick_device(t.device))
    distributed.per_rank_batch(t.batch_size, distributed.world_size())
    seed_everything(t.seed)
    model = PoseNet(cfg.model, meta.num_joints).to(device)
    codec = HeatmapCodec(d.input_size, d.input_size // 4, d.sigma, t.supervise_occluded)
    method = SupervisedMethod(model, codec, cfg.augment, meta, t.seed)
    layout = prepare_for_device(method, t.channels_last, t.compile, t.compile_backend, device)
    distributed.replicate(method, device)
    optimizer, scheduler = build_optimizer(cfg.optim, t.steps, model.parameters(), model.backbone.parameters())

    lineage = {"source": dataset_lineage(ws, d.source)}
    run_dir = resume or distributed.from_main(lambda: create_run(ws, "pretrain", name, cfg, device,
                                                                 {"inputs": [lineage["source"]]}))
    with run_lock(ws, "pretrain", run_dir):
        header = {
            "stage": "pretrain", "method": method.name, "posekit_version": __version__, "torch_version": str(torch.__version__),
            "config": cfg.model_dump(mode="json"), "config_sha1": config_sha1(cfg),
            "keypoints": json.loads(meta.to_json()), "lineage": lineage,
        }
        validate = source_val_scorer(val_path, d.input_size, d.sigma, device, t.batch_size) if val_path else None
        trainer = Trainer(method, optimizer, scheduler, iter(()), run_dir, t.steps, device, header,
                          log_every=t.log_every, ckpt_every=t.ckpt_every, val_every=t.val_every, validate=validate,
                          select_key=SELECT_METRIC if t.select == "source_val" else None, amp=t.amp)
        if resume is not None:
            resume_state(trainer, run_dir)
        trainer.batches = step_batches(train_ds, t.batch_size, t.seed, trainer.state.step, d.num_workers, device)
        startup_panel("posekit pretrain", {
            "run": str(run_dir),
            "device": device_summary(device, trainer.amp, layout),
            "model": f"{cfg.model.backbone} ×{cfg.model.width} width, "
                     f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, {cfg.model.pretrained} init",
            "data": f"{d.source}:{d.train_split} ({len(train_ds)} images, {meta.num_joints} joints)   "
                    f"val {d.source}:{d.val_split if val_path else '-'}",
            **distributed.describe(t.batch_size, device),
            "schedule": f"{t.steps} steps × batch {t.batch_size}, {schedule_summary(cfg.optim, t.steps)}",
            "select": t.select,
        })
        last_val = trainer.fit()
        finalise(ws, "pretrain", run_dir, trainer, t.select, last_val)
    return run_dir
