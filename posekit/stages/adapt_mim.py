"""``adapt`` (method ``mim``): stage 2 of masked-image-modelling adaptation, 2.5D keypoint fine-tuning of an MAE
pretrain run's encoder (or of a random one: the source-only baseline) with attention regularisation."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from posekit.config.schema_mim import MIMAdaptConfig, ViTConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.dataset import H5KeypointDataset
from posekit.data.loaders import domain_batches
from posekit.data.roots import root_joints
from posekit.engine import distributed
from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.method import Method
from posekit.engine.vit_optim import vit_param_groups, warmup_cosine_lambda
from posekit.errors import CheckpointError, ConfigError, DataError
from posekit.evaluation.evaluate import split_scorer
from posekit.methods.mim import MIMMethod
from posekit.models.factory import build_vitpose
from posekit.models.vit_weights import load_mae_imagenet
from posekit.stages.template import RunBuilder, register
from posekit.workspace import Workspace

SCRATCH = "scratch"


def resolve_mim_init(ws: Workspace, cfg: MIMAdaptConfig) -> tuple[MIMAdaptConfig, dict | None, str]:
    """Fill ``model`` (and ``data.input_size``) from the MAE run, or check them for ``init=scratch``."""
    if cfg.init == SCRATCH:
        if cfg.model is None:
            raise ConfigError("init=scratch needs the architecture", hint="pass a preset with a model section, "
                                                                          "e.g. -c mim_demo, or --set model.dim=...")
        return cfg, None, SCRATCH
    path = ws.resolve_checkpoint(cfg.init or "pretrain/latest", "final")
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


@register
class MIMAdapt(RunBuilder):
    stage, method, config = "adapt", "mim", MIMAdaptConfig
    summary = "3D: ViT + 2.5D head fine-tuned from an MAE run, attention regularised on source and target"
    architecture = "vitpose25d"
    depth, starts_from, doc = True, ("pretrain", "mae"), "docs/mim.md"
    cfg: MIMAdaptConfig

    def uses_target(self) -> bool:
        att = self.cfg.attention
        return bool(att.enabled and att.on_target)

    def check(self) -> None:
        if self.resume is None:
            self.cfg, self.init, self.init_label = resolve_mim_init(self.ws, self.cfg)
        else:
            self.init_label = self.cfg.init or SCRATCH
            has_ckpt = (self.resume / "ckpt" / "last.pt").exists()
            self.init = None if has_ckpt or self.init_label == SCRATCH else load_checkpoint(self.init_label)
        cfg, d, t = self.cfg, self.cfg.data, self.cfg.train
        if d.input_size % cfg.model.patch_size:
            raise ConfigError(f"data.input_size {d.input_size} is not a multiple of the patch size {cfg.model.patch_size}")
        if self.uses_target() and not d.target:
            raise ConfigError("attention.on_target needs data.target", hint="set data.target or attention.on_target=false")
        if self.uses_target() and distributed.world_size() > 1:
            raise ConfigError("adapt --method mim with attention.on_target runs in one process only",
                              hint="run without torchrun, or set attention.on_target=false")
        _, _, src_path = self.ws.require_split(f"{d.source}:{d.train_split}")
        self.src_ds = H5KeypointDataset(src_path, with_3d=True)
        self.meta = self.src_ds.meta
        self.tgt_ds = None
        if self.uses_target():
            _, _, tgt_path = self.ws.require_split(f"{d.target}:{d.target_split}")
            self.tgt_ds = H5KeypointDataset(tgt_path)
        self.val_path = self.ws.require_split(f"{d.source}:{d.val_split}")[2] if d.val_split else None
        if t.select == "source_val" and self.val_path is None:
            raise ConfigError("train.select=source_val needs data.val_split")
        for ds in (self.src_ds, self.tgt_ds):
            if ds is not None and len(ds) < t.batch_size:
                raise DataError(f"{ds.path}: {len(ds)} samples, fewer than one batch of {t.batch_size}")
        self.lineage = {
            "init": {"checkpoint": self.init_label, "config_sha1": self.init.get("config_sha1") if self.init else None},
            "source": self.ws.dataset_lineage(d.source),
            "target": self.ws.dataset_lineage(d.target) if self.uses_target() else None}
        self.root = root_joints(self.meta)

    def build_method(self, device: torch.device) -> Method:
        cfg, d, t = self.cfg, self.cfg.data, self.cfg.train
        model = build_vitpose(cfg.model, self.meta.num_joints)
        if self.init is None and cfg.model.pretrained == "mae_imagenet" and self.resume is None:
            load_mae_imagenet(model.encoder)
        if self.init is not None:
            encoder_state = {k[len("encoder."):]: v for k, v in self.init["model"].items() if k.startswith("encoder.")}
            model.encoder.load_state_dict(encoder_state)  # strict: the MAE encoder must fit
        self.model = model.to(device)
        codec = HeatmapCodec(d.input_size, d.input_size // 4, cfg.head.sigma, t.supervise_occluded)
        return MIMMethod(self.model, codec, cfg, self.meta, self.root, t.seed).to(device)

    def build_optimizer(self, method: Method):
        cfg, t = self.cfg, self.cfg.train
        groups = vit_param_groups(self.model, cfg.optim.lr * (t.batch_size / 256 if cfg.optim.scale_lr else 1.0),
                                  cfg.optim.weight_decay, cfg.optim.layer_decay, cfg.model.depth)
        optimizer = torch.optim.AdamW(groups)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine_lambda(t.steps, cfg.optim.warmup))

    def batches(self, start_step: int, device: torch.device) -> Iterator[dict]:
        d, t = self.cfg.data, self.cfg.train
        return domain_batches(self.src_ds, self.tgt_ds, t.batch_size, t.seed, start_step, d.num_workers, device,
                              distributed.shard())

    def validator(self, device: torch.device):
        if self.val_path is None:
            return None
        return split_scorer(self.val_path, self.cfg.data.input_size, self.cfg.head.sigma, device,
                            self.cfg.train.batch_size, self.precision)

    def header_extra(self) -> dict:
        return {"root_joints": list(self.root)}

    def panel(self, method: Method) -> dict[str, str]:
        cfg, d, t, att, v = self.cfg, self.cfg.data, self.cfg.train, self.cfg.attention, self.cfg.model
        return {
            "init": self.init_label,
            "model": f"ViT p{v.patch_size} d{v.dim}×{v.depth} h{v.heads} + 2.5D head ({v.head_channels} ch), "
                     f"input {d.input_size}, {sum(p.numel() for p in self.model.parameters()) / 1e6:.2f} M params",
            "data": f"source {d.source}:{d.train_split} ({len(self.src_ds)}, 2D+3D labels)" +
                    (f"   target {d.target}:{d.target_split} ({len(self.tgt_ds)}, images only)" if self.tgt_ds else "") +
                    ("   TRANSDUCTIVE" if d.transductive else ""),
            "loss": f"heatmap + {cfg.head.depth_weight:g}·depth (root {[self.meta.names[i] for i in self.root]})" +
                    (f" + {att.weight:g}·attention ({att.distance}, last {att.layers} block(s), "
                     f"{'source+target' if self.uses_target() else 'source'})" if att.enabled else ", no attention term"),
            "schedule": f"{t.steps} steps × batch {t.batch_size}, AdamW lr {cfg.optim.lr:g}, layer decay "
                        f"{cfg.optim.layer_decay:g}, warm-up {cfg.optim.warmup:g} + cosine",
            "select": t.select,
        }
