"""``pretrain`` (method ``supervised``): SimpleBaseline heatmap training on the labelled source domain."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from posekit.config.schema import PretrainConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.dataset import H5KeypointDataset
from posekit.data.loaders import step_batches
from posekit.engine import distributed
from posekit.engine.method import Method
from posekit.engine.optim import build_optimizer, schedule_summary
from posekit.errors import ConfigError, DataError
from posekit.evaluation.evaluate import split_scorer
from posekit.methods.supervised import SupervisedMethod
from posekit.models.factory import build_pose_net
from posekit.stages.template import RunBuilder, register


@register
class SupervisedPretrain(RunBuilder):
    stage, method, config = "pretrain", "supervised", PretrainConfig
    summary = "SimpleBaseline (ResNet + deconvolutions) on the source labels"
    architecture = "simplebaseline"
    default, doc = True, "docs/cli.md"
    cfg: PretrainConfig

    def check(self) -> None:
        d, t = self.cfg.data, self.cfg.train
        _, _, train_path = self.ws.require_split(f"{d.source}:{d.train_split}")
        self.train_ds = H5KeypointDataset(train_path)
        self.val_path = self.ws.require_split(f"{d.source}:{d.val_split}")[2] if d.val_split else None
        if t.select == "source_val" and self.val_path is None:
            raise ConfigError("train.select=source_val needs data.val_split",
                              hint="set data.val_split or train.select=last")
        if len(self.train_ds) < t.batch_size:
            raise DataError(f"{train_path}: {len(self.train_ds)} samples, fewer than one batch of {t.batch_size}",
                            hint="lower train.batch_size or prepare more samples")
        self.meta = self.train_ds.meta
        self.lineage = {"source": self.ws.dataset_lineage(d.source)}
        self.run_inputs = {"inputs": [self.lineage["source"]]}

    def build_method(self, device: torch.device) -> Method:
        d, t = self.cfg.data, self.cfg.train
        self.model = build_pose_net(self.cfg.model, self.meta.num_joints).to(device)
        codec = HeatmapCodec(d.input_size, d.input_size // 4, d.sigma, t.supervise_occluded, d.targets)
        return SupervisedMethod(self.model, codec, self.cfg.augment, self.meta, t.seed)

    def build_optimizer(self, method: Method):
        return build_optimizer(self.model.parameters(), self.model.backbone.parameters(),
                               total_steps=self.cfg.train.steps, **self.cfg.optim.schedule_numbers())

    def batches(self, start_step: int, device: torch.device) -> Iterator[dict]:
        d, t = self.cfg.data, self.cfg.train
        return step_batches(self.train_ds, t.batch_size, t.seed, start_step, d.num_workers, device,
                              distributed.shard())

    def validator(self, device: torch.device):
        d = self.cfg.data
        if self.val_path is None:
            return None
        return split_scorer(self.val_path, d.input_size, d.sigma, device, self.cfg.train.batch_size, self.precision)

    def panel(self, method: Method) -> dict[str, str]:
        cfg, d, t = self.cfg, self.cfg.data, self.cfg.train
        return {
            "model": f"{cfg.model.backbone} ×{cfg.model.width} width, "
                     f"{sum(p.numel() for p in self.model.parameters()) / 1e6:.2f} M params, {cfg.model.pretrained} init",
            "data": f"{d.source}:{d.train_split} ({len(self.train_ds)} images, {self.meta.num_joints} joints)   "
                    f"val {d.source}:{d.val_split if self.val_path else '-'}",
            "schedule": f"{t.steps} steps × batch {t.batch_size}, {schedule_summary(t.steps, **cfg.optim.schedule_numbers())}",
            "select": t.select,
        }
