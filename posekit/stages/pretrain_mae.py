"""``pretrain --method mae``: stage 1 of the MIM method on source and target images together."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from posekit import __version__
from posekit.config.load import config_sha1
from posekit.config.schema_mim import MAEPretrainConfig
from posekit.data.dataset import H5KeypointDataset
from posekit.engine import distributed
from posekit.engine.device import pick_device, prepare_for_device
from posekit.engine.logging import console
from posekit.engine.seed import seed_everything
from posekit.engine.trainer import Trainer
from posekit.engine.vit_optim import vit_param_groups, warmup_cosine_lambda
from posekit.errors import DataError
from posekit.methods.mae import MAEMethod
from posekit.models.vit import MAEDecoder, MaskedAutoencoder, ViTEncoder
from posekit.models.vit_weights import load_mae_imagenet
from posekit.stages.common import (
    create_run,
    dataset_lineage,
    device_summary,
    finalise,
    paired_batches,
    resume_state,
    run_lock,
    startup_panel,
    step_batches,
)
from posekit.workspace import Workspace


def build_mae(cfg: MAEPretrainConfig) -> MaskedAutoencoder:
    v, m = cfg.model, cfg.mae
    encoder = ViTEncoder(v.patch_size, v.dim, v.depth, v.heads, v.mlp_ratio)
    if v.pretrained == "mae_imagenet":
        load_mae_imagenet(encoder)
    return MaskedAutoencoder(encoder, MAEDecoder(v.dim, m.decoder_dim, m.decoder_depth, m.decoder_heads, v.patch_size))


def mask_note(ds: H5KeypointDataset, name: str, wanted: bool) -> str:
    if not wanted:
        return f"{name}: masks not used (data.target_masks=false): plain MAE, no segmentation augmentation"
    if ds.with_masks:
        return f"{name}: foreground masks → weighted reconstruction and segmentation-guided augmentation"
    return f"{name}: no masks in the dataset → plain MAE (w ≡ 1), no segmentation augmentation"


def run_pretrain_mae(ws: Workspace, cfg: MAEPretrainConfig, name: str, resume: Path | None = None) -> Path:
    d, t = cfg.data, cfg.train
    _, _, src_path = ws.require_split(f"{d.source}:{d.train_split}")
    src_ds = H5KeypointDataset(src_path, with_masks=True)
    tgt_ds, tgt_path = None, None
    if d.target:
        _, _, tgt_path = ws.require_split(f"{d.target}:{d.target_split}")
        tgt_ds = H5KeypointDataset(tgt_path, with_masks=d.target_masks)
    half = t.batch_size // 2 if tgt_ds is not None else t.batch_size
    if tgt_ds is not None and t.batch_size % 2:
        raise DataError(f"train.batch_size={t.batch_size} must be even: half source, half target images")
    for ds, path in ((src_ds, src_path), (tgt_ds, tgt_path)):
        if ds is not None and len(ds) < half:
            raise DataError(f"{path}: {len(ds)} samples, fewer than one batch of {half}")
    device = distributed.setup(pick_device(t.device))
    distributed.per_rank_batch(half, distributed.world_size())
    seed_everything(t.seed)
    mae = build_mae(cfg).to(device)
    method = MAEMethod(mae, cfg, t.seed)
    layout = prepare_for_device(method, t.channels_last, t.compile, t.compile_backend, device)
    distributed.replicate(method, device)
    lr = cfg.optim.lr * (t.batch_size / 256 if cfg.optim.scale_lr else 1.0)
    groups = vit_param_groups(mae, lr, cfg.optim.weight_decay, cfg.optim.layer_decay, cfg.model.depth)
    optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine_lambda(t.steps, cfg.optim.warmup))

    lineage = {"source": dataset_lineage(ws, d.source),
               "target": dataset_lineage(ws, d.target) if d.target else None}
    run_dir = resume or distributed.from_main(lambda: create_run(ws, "pretrain", name, cfg, device, lineage))
    with run_lock(ws, "pretrain", run_dir):
        header = {"stage": "pretrain", "method": method.name, "posekit_version": __version__,
                  "torch_version": str(torch.__version__), "config": cfg.model_dump(mode="json"),
                  "config_sha1": config_sha1(cfg), "keypoints": json.loads(src_ds.meta.to_json()), "lineage": lineage}
        trainer = Trainer(method, optimizer, scheduler, iter(()), run_dir, t.steps, device, header,
                          log_every=t.log_every, ckpt_every=t.ckpt_every, amp=t.amp)
        if resume is not None:
            resume_state(trainer, run_dir)
        batches = step_batches(src_ds, half, t.seed, trainer.state.step, d.num_workers, device)
        if tgt_ds is not None:
            batches = paired_batches(batches, step_batches(tgt_ds, half, t.seed + 1, trainer.state.step,
                                                           d.num_workers, device))
        trainer.batches = batches
        v = cfg.model
        startup_panel("posekit pretrain --method mae", {
            "run": str(run_dir),
            "device": device_summary(device, trainer.amp, layout),
            "model": f"ViT p{v.patch_size} d{v.dim}×{v.depth} h{v.heads} ({sum(p.numel() for p in mae.encoder.parameters()) / 1e6:.2f} M "
                     f"encoder params), decoder {cfg.mae.decoder_dim}×{cfg.mae.decoder_depth}, input {d.input_size}",
            "data": f"{d.source}:{d.train_split} ({len(src_ds)})" +
                    (f" + {d.target}:{d.target_split} ({len(tgt_ds)}, images only)" if tgt_ds is not None else ""),
            "loss": f"mask ratio {cfg.mae.mask_ratio:g}, weights fg {cfg.mae.fg_weight:g} / bg {cfg.mae.bg_weight:g}"
                    f"{' (plain MAE)' if cfg.mae.fg_weight == cfg.mae.bg_weight else ''}, norm_pix {cfg.mae.norm_pix}",
            "augment": f"segmentation-guided {cfg.segaug.mode} (p {cfg.segaug.prob:g})",
            **distributed.describe(t.batch_size, device),
            "schedule": f"{t.steps} steps × batch {half}+{half if tgt_ds is not None else 0}, AdamW lr {lr:.3g}, "
                        f"warm-up {cfg.optim.warmup:g} + cosine",
        })
        console.print(mask_note(src_ds, f"source {d.source}", True))
        if tgt_ds is not None:
            console.print(mask_note(tgt_ds, f"target {d.target}", d.target_masks))
        trainer.fit()
        finalise(ws, "pretrain", run_dir, trainer, "last", {})
    return run_dir
