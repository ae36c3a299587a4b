"""``adapt --method mim``: stage 2 of the MIM method, from an MAE pretrain run (or from scratch)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from posekit import __version__
from posekit.config.load import config_sha1
from posekit.config.schema_mim import MIMAdaptConfig, ViTConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.dataset import H5KeypointDataset
from posekit.data.roots import root_joints
from posekit.engine import distributed
from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.device import pick_device, prepare_for_device
from posekit.engine.seed import seed_everything
from posekit.engine.trainer import Trainer
from posekit.engine.vit_optim import vit_param_groups, warmup_cosine_lambda
from posekit.errors import CheckpointError, ConfigError, DataError
from posekit.methods.mim import MIMMethod
from posekit.models.vit import ViTEncoder
from posekit.models.vit_pose import ViTPose25D
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
from posekit.stages.evaluate import resolve_checkpoint
from posekit.stages.pretrain import SELECT_METRIC, source_val_scorer
from posekit.workspace import Workspace

SCRATCH = "scratch"


def build_vitpose(v: ViTConfig, num_joints: int) -> ViTPose25D:
    return ViTPose25D(ViTEncoder(v.patch_size, v.dim, v.depth, v.heads, v.mlp_ratio), v.head_channels, num_joints)


def resolve_mim_init(ws: Workspace, cfg: MIMAdaptConfig) -> tuple[MIMAdaptConfig, dict | None, str]:
    """Fill ``model`` (and ``data.input_size``) from the MAE run, or check them for ``init=scratch``."""
    if cfg.init == SCRATCH:
        if cfg.model is None:
            raise ConfigError("init=scratch needs the architecture", hint="pass a preset with a model section, "
                                                                          "e.g. -c mim_demo, or --set model.dim=...")
        return cfg, None, SCRATCH
    path = resolve_checkpoint(ws, cfg.init or "pretrain/latest", "final")
    init = load_checkpoint(path)
    if init.get("stage") != "pretrain" or init.get("method") != "mae":
        raise CheckpointError(f"{path}: --init must be an MAE pretrain run (this one is {init.get('stage')} "
                              f"{init.get('method')!r})", hint="run `posekit pretrain --method mae` first, or "
                                                                 "--init scratch for the source-only baseline")
    model = ViTConfig.model_validate(init["config"]["model"])
    if cfg.model is not None and cfg.model.model_dump(exclude={"head_channels"}) != model.model_dump(
            exclude={"head_channels"}):
        raise ConfigError("model settings differ from the MAE run's encoder", hint="drop the model.* overrides")
    model = model.model_copy(update={"head_channels": (cfg.model or model).head_channels})
    return cfg.model_copy(update={"model": model, "init": str(path)}), init, str(path)


def run_adapt_mim(ws: Workspace, cfg: MIMAdaptConfig, name: str, resume: Path | None = None) -> Path:
    if resume is None:
        cfg, init, init_label = resolve_mim_init(ws, cfg)
    else:
        init_label = cfg.init or SCRATCH
        has_ckpt = (resume / "ckpt" / "last.pt").exists()
        init = None if has_ckpt or init_label == SCRATCH else load_checkpoint(Path(init_label))
    d, t, att = cfg.data, cfg.train, cfg.attention
    if d.input_size % cfg.model.patch_size:
        raise ConfigError(f"data.input_size {d.input_size} is not a multiple of the patch size {cfg.model.patch_size}")
    use_target = att.enabled and att.on_target
    if use_target and not d.target:
        raise ConfigError("attention.on_target needs data.target", hint="set data.target or attention.on_target=false")
    if use_target and distributed.world_size() > 1:
        raise ConfigError("adapt --method mim with attention.on_target runs in one process only",
                          hint="run without torchrun, or set attention.on_target=false")
    _, _, src_path = ws.require_split(f"{d.source}:{d.train_split}")
    src_ds = H5KeypointDataset(src_path, with_3d=True)
    meta = src_ds.meta
    tgt_ds = None
    if use_target:
        _, _, tgt_path = ws.require_split(f"{d.target}:{d.target_split}")
        tgt_ds = H5KeypointDataset(tgt_path)
    val_path = ws.require_split(f"{d.source}:{d.val_split}")[2] if d.val_split else None
    if t.select == "source_val" and val_path is None:
        raise ConfigError("train.select=source_val needs data.val_split")
    for ds in (src_ds, tgt_ds):
        if ds is not None and len(ds) < t.batch_size:
            raise DataError(f"{ds.path}: {len(ds)} samples, fewer than one batch of {t.batch_size}")

    device = distributed.setup(pick_device(t.device))
    distributed.per_rank_batch(t.batch_size, distributed.world_size())
    seed_everything(t.seed)
    model = build_vitpose(cfg.model, meta.num_joints)
    if init is None and cfg.model.pretrained == "mae_imagenet" and resume is None:
        load_mae_imagenet(model.encoder)
    if init is not None:
        encoder_state = {k[len("encoder."):]: v for k, v in init["model"].items() if k.startswith("encoder.")}
        model.encoder.load_state_dict(encoder_state)  # strict: the MAE encoder must fit
    model = model.to(device)
    codec = HeatmapCodec(d.input_size, d.input_size // 4, cfg.head.sigma, t.supervise_occluded)
    root = root_joints(meta)
    method = MIMMethod(model, codec, cfg, meta, root, t.seed).to(device)
    layout = prepare_for_device(method, t.channels_last, t.compile, t.compile_backend, device)
    distributed.replicate(method, device)
    groups = vit_param_groups(model, cfg.optim.lr * (t.batch_size / 256 if cfg.optim.scale_lr else 1.0),
                              cfg.optim.weight_decay, cfg.optim.layer_decay, cfg.model.depth)
    optimizer = torch.optim.AdamW(groups)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine_lambda(t.steps, cfg.optim.warmup))

    lineage = {"init": {"checkpoint": init_label, "config_sha1": init.get("config_sha1") if init else None},
               "source": dataset_lineage(ws, d.source),
               "target": dataset_lineage(ws, d.target) if use_target else None}
    run_dir = resume or distributed.from_main(lambda: create_run(ws, "adapt", name, cfg, device, lineage))
    with run_lock(ws, "adapt", run_dir):
        header = {"stage": "adapt", "method": method.name, "posekit_version": __version__,
                  "torch_version": str(torch.__version__), "config": cfg.model_dump(mode="json"),
                  "config_sha1": config_sha1(cfg), "keypoints": json.loads(meta.to_json()), "lineage": lineage,
                  "root_joints": list(root), "transductive": False}
        validate = source_val_scorer(val_path, d.input_size, cfg.head.sigma, device, t.batch_size) if val_path else None
        trainer = Trainer(method, optimizer, scheduler, iter(()), run_dir, t.steps, device, header,
                          log_every=t.log_every, ckpt_every=t.ckpt_every, val_every=t.val_every, validate=validate,
                          select_key=SELECT_METRIC if t.select == "source_val" else None, amp=t.amp)
        if resume is not None:
            resume_state(trainer, run_dir)
        batches = step_batches(src_ds, t.batch_size, t.seed, trainer.state.step, d.num_workers, device)
        if tgt_ds is not None:
            batches = paired_batches(batches, step_batches(tgt_ds, t.batch_size, t.seed + 1, trainer.state.step,
                                                           d.num_workers, device))
        trainer.batches = batches
        v = cfg.model
        startup_panel("posekit adapt --method mim", {
            "run": str(run_dir),
            "device": device_summary(device, trainer.amp, layout),
            "init": init_label,
            "model": f"ViT p{v.patch_size} d{v.dim}×{v.depth} h{v.heads} + 2.5D head ({v.head_channels} ch), "
                     f"input {d.input_size}, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params",
            "data": f"source {d.source}:{d.train_split} ({len(src_ds)}, 2D+3D labels)" +
                    (f"   target {d.target}:{d.target_split} ({len(tgt_ds)}, images only)" if tgt_ds else ""),
            "loss": f"heatmap + {cfg.head.depth_weight:g}·depth (root {[meta.names[i] for i in root]})" +
                    (f" + {att.weight:g}·attention ({att.distance}, last {att.layers} block(s), "
                     f"{'source+target' if use_target else 'source'})" if att.enabled else ", no attention term"),
            **distributed.describe(t.batch_size, device),
            "schedule": f"{t.steps} steps × batch {t.batch_size}, AdamW lr {cfg.optim.lr:g}, layer decay "
                        f"{cfg.optim.layer_decay:g}, warm-up {cfg.optim.warmup:g} + cosine",
            "select": t.select,
        })
        last_val = trainer.fit()
        finalise(ws, "adapt", run_dir, trainer, t.select, last_val)
    return run_dir
