"""``pretrain`` (method ``supervised25d``): the convolutional 2.5D sanity baseline of the 3D method — SimpleBaseline
(ResNet + deconvolutions) with K heatmaps and K root-relative depth maps, trained on the labelled source domain's
2D and 3D labels with ``adapt --method mim``'s keypoint loss, targets and depth units (docs/mim.md)."""

from __future__ import annotations

import torch

from posekit.config.schema_mim import Supervised25DConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.roots import root_joints
from posekit.engine.method import Method
from posekit.methods.supervised25d import Supervised25DMethod
from posekit.models.factory import build_pose_net25d
from posekit.stages.pretrain_common import LabelledSourceRun
from posekit.stages.template import register


@register
class Supervised25DPretrain(LabelledSourceRun):
    stage, method, config = "pretrain", "supervised25d", Supervised25DConfig
    summary = "3D sanity baseline: SimpleBaseline (ResNet + deconvolutions) + 2.5D head on the source's 2D+3D labels"
    architecture = "simplebaseline25d"
    depth, doc, with_3d = True, "docs/mim.md", True
    cfg: Supervised25DConfig

    def check(self) -> None:
        super().check()
        self.root = root_joints(self.meta)

    def build_method(self, device: torch.device) -> Method:
        d, t, h = self.cfg.data, self.cfg.train, self.cfg.head
        self.model = build_pose_net25d(self.cfg.model, self.meta.num_joints).to(device)
        codec = HeatmapCodec(d.input_size, d.input_size // 4, d.sigma, t.supervise_occluded, d.targets)
        return Supervised25DMethod(self.model, codec, self.cfg.augment, self.meta, self.root, h.depth_weight,
                                   h.depth_scale, t.seed)

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
            "schedule": self.schedule_line(),
            "select": t.select,
        }
