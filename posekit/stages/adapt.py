"""The ``adapt`` stage: unsupervised adaptation from a pretrain run (multi-level alignment and its ablations)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from posekit import __version__
from posekit.config.load import config_sha1
from posekit.config.schema import AdaptConfig, ModelConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.dataset import H5KeypointDataset
from posekit.engine import distributed
from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.device import pick_device, prepare_for_device
from posekit.engine.optim import build_optimizer, schedule_summary
from posekit.engine.seed import seed_everything
from posekit.engine.trainer import Trainer
from posekit.errors import CheckpointError, ConfigError, DataError
from posekit.evaluation.evaluate import predict_split, score_split
from posekit.methods.multilevel import MultiLevelMethod
from posekit.models.pose_net import PoseNet
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
from posekit.stylize.cache import StyledSourceDataset, validate_cache
from posekit.workspace import Workspace

EVAL_SPLITS = ("test", "val")


def resolve_init(ws: Workspace, cfg: AdaptConfig) -> tuple[AdaptConfig, dict, Path]:
    """Load the init checkpoint and fill ``model``, ``data.input_size`` and ``data.sigma`` from it."""
    path = resolve_checkpoint(ws, cfg.init or "pretrain/latest", "final")
    init = load_checkpoint(path)
    if init.get("stage") != "pretrain":
        raise CheckpointError(f"{path}: --init must be a pretrain run (this checkpoint is from {init.get('stage')!r})",
                              hint="pass --init pretrain/latest, pretrain/RUN_ID or a pretrain run's directory")
    icfg = init["config"]
    model = ModelConfig.model_validate(icfg["model"])
    if cfg.model is not None and cfg.model != model:
        raise ConfigError("model settings differ from the init checkpoint's", hint="drop the model.* overrides")
    for key in ("input_size", "sigma"):
        mine = getattr(cfg.data, key)
        if mine is not None and mine != icfg["data"][key]:
            raise ConfigError(f"data.{key}={mine} differs from the init checkpoint's {icfg['data'][key]}",
                              hint=f"drop --set data.{key}")
    data = cfg.data.model_copy(update={"input_size": icfg["data"]["input_size"], "sigma": icfg["data"]["sigma"]})
    return cfg.model_copy(update={"model": model, "data": data, "init": str(path)}), init, path


def run_adapt(ws: Workspace, cfg: AdaptConfig, name: str, resume: Path | None = None) -> Path:
    if resume is None:
        cfg, init, init_path = resolve_init(ws, cfg)
    else:  # weights come from the run's last checkpoint, or from the init when it was killed before one
        init_path = Path(cfg.init)
        init = None if (resume / "ckpt" / "last.pt").exists() else load_checkpoint(init_path)
    d, t = cfg.data, cfg.train
    if d.target_split in EVAL_SPLITS and not d.transductive:
        raise ConfigError(f"data.target_split={d.target_split!r} is an evaluation split",
                          hint="adapt on the unlabelled train split, or set data.transductive=true (then recorded)")
    _, _, src_path = ws.require_split(f"{d.source}:{d.train_split}")
    _, _, tgt_path = ws.require_split(f"{d.target}:{d.target_split}")
    val_path = ws.require_split(f"{d.source}:{d.val_split}")[2] if d.val_split else None
    oracle_path = None
    if t.select == "oracle":
        if not t.oracle_data:
            raise ConfigError("train.select=oracle needs train.oracle_data=DATASET:SPLIT (labelled target data)")
        oracle_path = ws.require_split(t.oracle_data)[2]
    if t.select == "source_val" and val_path is None:
        raise ConfigError("train.select=source_val needs data.val_split")
    cache_path = None
    if cfg.style.enabled:
        cache_path = ws.root / "styles" / (cfg.style.cache or f"{d.source}__{d.target}") / "cache.h5"
    src_ds = H5KeypointDataset(src_path)
    if cache_path is not None:
        validate_cache(cache_path, len(src_ds), dataset_lineage(ws, d.source)["params_sha1"])
        src_ds = StyledSourceDataset(src_path, cache_path)
    tgt_ds = H5KeypointDataset(tgt_path)
    meta = src_ds.meta
    if tgt_ds.meta.names != meta.names:
        raise DataError(f"source {d.source} and target {d.target} have different keypoints "
                        f"({meta.num_joints} vs {tgt_ds.meta.num_joints})", hint="map both to one skeleton when preparing")
    for ds, path in ((src_ds, src_path), (tgt_ds, tgt_path)):
        if len(ds) < t.batch_size:
            raise DataError(f"{path}: {len(ds)} samples, fewer than one batch of {t.batch_size}")

    device = distributed.setup(pick_device(t.device))
    distributed.per_rank_batch(t.batch_size, distributed.world_size())
    seed_everything(t.seed)
    model = PoseNet(cfg.model, meta.num_joints, load_pretrained=False)  # weights come from the init or last.pt
    if init is not None:
        if [n for n in init["keypoints"]["names"]] != list(meta.names):
            raise DataError(f"{init_path}: trained on other keypoints than {d.source}")
        model.load_state_dict(init["model"])  # strict: every tensor must match
    model = model.to(device)
    codec = HeatmapCodec(d.input_size, d.input_size // 4, d.sigma, t.supervise_occluded)
    method = MultiLevelMethod(model, codec, cfg, meta, t.seed).to(device)
    layout = prepare_for_device(method, t.channels_last, t.compile, t.compile_backend, device)
    distributed.replicate(method, device)
    student, disc = method.param_groups()
    optimizer, scheduler = build_optimizer(cfg.optim, t.steps, student, model.backbone.parameters(),
                                           [{"params": disc, "lr": cfg.adversarial.lr}] if disc else [])

    lineage = {"init": {"checkpoint": str(init_path), "config_sha1": init.get("config_sha1") if init else None},
               "source": dataset_lineage(ws, d.source), "target": dataset_lineage(ws, d.target),
               "style_cache": str(cache_path) if cache_path else None}
    run_dir = resume or distributed.from_main(lambda: create_run(ws, "adapt", name, cfg, device, lineage))
    with run_lock(ws, "adapt", run_dir):
        header = {"stage": "adapt", "method": method.name, "posekit_version": __version__,
                  "torch_version": str(torch.__version__), "config": cfg.model_dump(mode="json"),
                  "config_sha1": config_sha1(cfg), "keypoints": json.loads(meta.to_json()), "lineage": lineage,
                  "transductive": d.transductive}

        scorers = []
        if val_path:
            scorers.append(("", source_val_scorer(val_path, d.input_size, d.sigma, device, t.batch_size)))
        if oracle_path:
            def oracle(net):
                pred = predict_split(net, oracle_path, d.input_size, d.sigma, device, batch_size=t.batch_size)
                return {SELECT_METRIC: score_split(pred, oracle_path, 0.05, "bbox", 2)["groups"]["All"]}
            scorers.append(("oracle/", oracle))

        def validate(net):
            out = {}
            for prefix, fn in scorers:
                out.update({prefix + k: v for k, v in fn(net).items()})
            return out

        select_key = {"last": None, "source_val": SELECT_METRIC, "oracle": "oracle/" + SELECT_METRIC}[t.select]
        trainer = Trainer(method, optimizer, scheduler, iter(()), run_dir, t.steps, device, header,
                          log_every=t.log_every, ckpt_every=t.ckpt_every, val_every=t.val_every,
                          validate=validate if scorers else None, select_key=select_key, select_name=t.select,
                          amp=t.amp)
        if resume is not None:
            resume_state(trainer, run_dir)
        trainer.batches = paired_batches(
            step_batches(src_ds, t.batch_size, t.seed, trainer.state.step, d.num_workers, device),
            step_batches(tgt_ds, t.batch_size, t.seed + 1, trainer.state.step, d.num_workers, device))
        levels = [name for name, on in (("image", cfg.style.enabled), ("consistency", cfg.consistency.enabled),
                                        ("occlusion", cfg.occlusion.enabled), ("feature", cfg.adversarial.enabled),
                                        ("pose", cfg.infomax.enabled)) if on]
        startup_panel("posekit adapt", {
            "run": str(run_dir),
            "device": device_summary(device, trainer.amp, layout),
            "init": f"{init_path}",
            "data": f"source {d.source}:{d.train_split} ({len(src_ds)})   target {d.target}:{d.target_split} "
                    f"({len(tgt_ds)}, labels unused)" + ("   TRANSDUCTIVE" if d.transductive else ""),
            "levels": ", ".join(levels) or "none (source-only continuation)",
            "weights": f"cons {cfg.consistency.weight:g}, adv {cfg.adversarial.weight:g}, im {cfg.infomax.weight:g}; "
                       f"EMA {cfg.teacher.ema:g} ({cfg.teacher.buffers} buffers)",
            **distributed.describe(t.batch_size, device),
            "schedule": f"{t.steps} steps × batch {t.batch_size}+{t.batch_size}, {schedule_summary(cfg.optim, t.steps)}",
            "select": t.select + ("  [ORACLE: uses target test labels]" if t.select == "oracle" else ""),
        })
        last_val = trainer.fit()
        finalise(ws, "adapt", run_dir, trainer, t.select, last_val)
    return run_dir
