"""``pretrain`` (method ``mae``): stage 1 of masked-image-modelling adaptation, masked reconstruction of source and
target images together."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from posekit.config.schema_mim import MAEPretrainConfig
from posekit.data.dataset import H5KeypointDataset
from posekit.data.loaders import domain_batches
from posekit.engine import distributed
from posekit.engine.method import Method
from posekit.engine.vit_optim import vit_param_groups, warmup_cosine_lambda
from posekit.errors import DataError
from posekit.methods.mae import MAEMethod
from posekit.models.factory import build_mae
from posekit.stages.template import RunBuilder, register


def mask_note(ds: H5KeypointDataset, name: str, wanted: bool) -> str:
    if not wanted:
        return f"{name}: masks not used (data.target_masks=false): plain MAE, no segmentation augmentation"
    if ds.with_masks:
        return f"{name}: foreground masks → weighted reconstruction and segmentation-guided augmentation"
    return f"{name}: no masks in the dataset → plain MAE (w ≡ 1), no segmentation augmentation"


@register
class MAEPretrain(RunBuilder):
    stage, method, config = "pretrain", "mae", MAEPretrainConfig
    summary = "masked autoencoder on source and target images (stage 1 of the 3D method; no keypoint head)"
    architecture = None
    keypoint_head, doc = False, "docs/mim.md"
    cfg: MAEPretrainConfig

    def uses_target(self) -> bool:
        return bool(self.cfg.data.target)

    def check(self) -> None:
        d, t = self.cfg.data, self.cfg.train
        _, _, src_path = self.ws.require_split(f"{d.source}:{d.train_split}")
        self.src_ds = H5KeypointDataset(src_path, with_masks=True)
        self.tgt_ds, tgt_path = None, None
        if d.target:
            _, _, tgt_path = self.ws.require_split(f"{d.target}:{d.target_split}")
            self.tgt_ds = H5KeypointDataset(tgt_path, with_masks=d.target_masks)
        # half source, half target images per step
        self.half = t.batch_size // 2 if self.tgt_ds is not None else t.batch_size
        if self.tgt_ds is not None and t.batch_size % 2:
            raise DataError(f"train.batch_size={t.batch_size} must be even: half source, half target images")
        for ds, path in ((self.src_ds, src_path), (self.tgt_ds, tgt_path)):
            if ds is not None and len(ds) < self.half:
                raise DataError(f"{path}: {len(ds)} samples, fewer than one batch of {self.half}")
        self.rank_batch = self.half
        self.meta = self.src_ds.meta
        self.lineage = {"source": self.ws.dataset_lineage(d.source),
                        "target": self.ws.dataset_lineage(d.target) if d.target else None}

    def build_method(self, device: torch.device) -> Method:
        self.mae = build_mae(self.cfg.model, self.cfg.mae).to(device)
        return MAEMethod(self.mae, self.cfg, self.cfg.train.seed)

    def build_optimizer(self, method: Method):
        cfg, t = self.cfg, self.cfg.train
        self.lr = cfg.optim.lr * (t.batch_size / 256 if cfg.optim.scale_lr else 1.0)
        groups = vit_param_groups(self.mae, self.lr, cfg.optim.weight_decay, cfg.optim.layer_decay, cfg.model.depth)
        optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.95))
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine_lambda(t.steps, cfg.optim.warmup))

    def batches(self, start_step: int, device: torch.device) -> Iterator[dict]:
        d, t = self.cfg.data, self.cfg.train
        return domain_batches(self.src_ds, self.tgt_ds, self.half, t.seed, start_step, d.num_workers, device,
                              distributed.shard())

    def panel(self, method: Method) -> dict[str, str]:
        cfg, d, t, v = self.cfg, self.cfg.data, self.cfg.train, self.cfg.model
        enc_params = sum(p.numel() for p in self.mae.encoder.parameters()) / 1e6
        return {
            "model": f"ViT p{v.patch_size} d{v.dim}×{v.depth} h{v.heads} ({enc_params:.2f} M encoder params), "
                     f"decoder {cfg.mae.decoder_dim}×{cfg.mae.decoder_depth}, input {d.input_size}",
            "data": f"{d.source}:{d.train_split} ({len(self.src_ds)})" +
                    (f" + {d.target}:{d.target_split} ({len(self.tgt_ds)}, images only)" if self.tgt_ds else "") +
                    ("   TRANSDUCTIVE" if d.transductive else ""),
            "loss": f"mask ratio {cfg.mae.mask_ratio:g}, weights fg {cfg.mae.fg_weight:g} / bg {cfg.mae.bg_weight:g}"
                    f"{' (plain MAE)' if cfg.mae.fg_weight == cfg.mae.bg_weight else ''}, norm_pix {cfg.mae.norm_pix}",
            "augment": f"segmentation-guided {cfg.segaug.mode} (p {cfg.segaug.prob:g})",
            "schedule": f"{t.steps} steps × batch {self.half}+{self.half if self.tgt_ds is not None else 0}, AdamW lr "
                        f"{self.lr:.3g}, warm-up {cfg.optim.warmup:g} + cosine",
        }

    def notes(self) -> list[str]:
        d = self.cfg.data
        lines = [mask_note(self.src_ds, f"source {d.source}", True)]
        if self.tgt_ds is not None:
            lines.append(mask_note(self.tgt_ds, f"target {d.target}", d.target_masks))
        return lines
