"""``pretrain`` (method ``supervised25d``): the convolutional 2.5D sanity baseline of the 3D method — SimpleBaseline
(ResNet + deconvolutions) with K heatmaps and K root-relative depth maps, trained on the labelled source domain's
2D and 3D labels with ``adapt --method mim``'s keypoint loss, targets and depth units (docs/mim.md)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from posekit.config.schema_mim import Supervised25DConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.dataset import H5KeypointDataset
from posekit.data.loaders import step_batches
from posekit.data.roots import root_joints
from posekit.engine import distributed
from posekit.engine.method import Method
from posekit.engine.optim import build_optimizer, schedule_summary
from posekit.errors import ConfigError, DataError
from posekit.evaluation.evaluate import split_scorer
from posekit.methods.supervised25d import Supervised25DMethod
from posekit.models.factory import build_pose_net25d
from posekit.stages.template import RunBuilder, register


@register
class Supervised25DPretrain(RunBuilder):
    stage, method, config = "pretrain", "supervised25d", Supervised25DConfig
    summary = "3D sanity baseline: SimpleBaseline (ResNet + deconvolutions) + 2.5D head on the source's 2D+3D labels"
    architecture = "simplebaseline25d"
    depth, doc = True, "docs/mim.md"
    cfg: Supervised25DConfig

    def check(self) -> None:
        d, t = self.cfg.data, self.cfg.train
        _, _, train_path = self.ws.require_split(f"{d.source}:{d.train_split}")
        self.train_ds = H5KeypointDataset(train_path, with_3d=True)
        self.val_path = self.ws.require_split(f"{d.source}:{d.val_split}")[2] if d.val_split else None
        if t.select == "source_val" and self.val_path is None:
            raise ConfigError("train.select=source_val needs data.val_split",
                              hint="set data.val_split or train.select=last")
        if len(self.train_ds) < t.batch_size:
            raise DataError(f"{train_path}: {len(self.train_ds)} samples, fewer than one batch of {t.batch_size}",
                            hint="lower train.batch_size or prepare more samples")
        self.meta = self.train_ds.meta
        self.root = root_joints(self.meta)
        self.lineage = {"source": self.ws.dataset_lineage(d.source)}
        self.run_inputs = {"inputs": [self.lineage["source"]]}

    def build_method(self, device: torch.device) -> Method:
        d, t, h = self.cfg.data, self.cfg.train, self.cfg.head
        self.model = build_pose_net25d(self.cfg.model, self.meta.num_joints).to(device)
        codec = HeatmapCodec(d.input_size, d.input_size // 4, d.sigma, t.supervise_occluded, d.targets)
        return Supervised25DMethod(self.model, codec, self.cfg.augment, self.meta, self.root, h.depth_weight,
                                   h.depth_scale, t.seed)

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

    def header_extra(self) -> dict:
        return {"root_joints": list(self.root)}

    def panel(self, method: Method) -> dict[str, str]:
        cfg, d, t, h = self.cfg, self.cfg.data, self.cfg.train, self.cfg.head
        return {
            "model": f"{cfg.model.backbone} ×{cfg.model.width} width + 2.5D head, "
                     f"{sum(p.numel() for p in self.model.parameters()) / 1e6:.2f} M params, {cfg.model.pretrained} init",
            "data": f"{d.source}:{d.train_split} ({len(self.train_ds)} images, {self.meta.num_joints} joints, 2D+3D "
                    f"labels)   val {d.source}:{d.val_split if self.val_path else '-'}",
            "loss": f"heatmap + {h.depth_weight:g}·depth (root {[self.meta.names[i] for i in self.root]}, "
                    f"{h.depth_scale:g} m per unit)",
            "schedule": f"{t.steps} steps × batch {t.batch_size}, {schedule_summary(t.steps, **cfg.optim.schedule_numbers())}",
            "select": t.select,
        }
