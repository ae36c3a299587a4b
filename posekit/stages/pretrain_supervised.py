"""``pretrain`` (method ``supervised``): SimpleBaseline heatmap training on the labelled source domain."""

from __future__ import annotations

import torch

from posekit.config.schema import PretrainConfig
from posekit.data.codec import HeatmapCodec
from posekit.engine.method import Method
from posekit.methods.supervised import SupervisedMethod
from posekit.models.factory import build_pose_net
from posekit.stages.pretrain_common import LabelledSourceRun
from posekit.stages.template import register


@register
class SupervisedPretrain(LabelledSourceRun):
    stage, method, config = "pretrain", "supervised", PretrainConfig
    summary = "SimpleBaseline (ResNet + deconvolutions) on the source labels"
    architecture = "simplebaseline"
    default, doc = True, "docs/cli.md"
    cfg: PretrainConfig

    def build_method(self, device: torch.device) -> Method:
        d, t = self.cfg.data, self.cfg.train
        self.model = build_pose_net(self.cfg.model, self.meta.num_joints).to(device)
        codec = HeatmapCodec(d.input_size, d.input_size // 4, d.sigma, t.supervise_occluded, d.targets)
        return SupervisedMethod(self.model, codec, self.cfg.augment, self.meta, t.seed)

    def panel(self, method: Method) -> dict[str, str]:
        cfg, d, t = self.cfg, self.cfg.data, self.cfg.train
        return {
            "model": f"{cfg.model.backbone} ×{cfg.model.width} width, "
                     f"{sum(p.numel() for p in self.model.parameters()) / 1e6:.2f} M params, {cfg.model.pretrained} init",
            "data": f"{d.source}:{d.train_split} ({len(self.train_ds)} images, {self.meta.num_joints} joints)   "
                    f"val {d.source}:{d.val_split if self.val_path else '-'}",
            "schedule": self.schedule_line(),
            "select": t.select,
        }
