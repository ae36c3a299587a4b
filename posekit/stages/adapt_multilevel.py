"""``adapt`` (method ``multilevel``): multi-level alignment in a mean teacher, from a supervised pretrain run, and
its ablations (each level switches off on its own)."""

from __future__ import annotations

import torch

from posekit.config.schema import AdaptConfig
from posekit.data.codec import HeatmapCodec
from posekit.engine.carry_over import carry_adam_state, pretrain_optimiser_state
from posekit.engine.method import Method
from posekit.engine.optim import build_optimizer, schedule_summary
from posekit.methods.multilevel import MultiLevelMethod
from posekit.models.factory import build_pose_net
from posekit.stages.adapt_common import AdaptFromPretrain
from posekit.stages.template import register


@register
class MultiLevelAdapt(AdaptFromPretrain):
    stage, method, config = "adapt", "multilevel", AdaptConfig
    summary = "2D: image (style), feature (adversarial) and pose (information maximisation) alignment in a mean teacher"
    architecture = "simplebaseline"
    starts_from, default, doc = ("pretrain", "supervised"), True, "docs/adapt.md"
    cfg: AdaptConfig

    def build_method(self, device: torch.device) -> Method:
        cfg, d, t = self.cfg, self.cfg.data, self.cfg.train
        model = build_pose_net(cfg.model, self.meta.num_joints, load_pretrained=False)  # init or last.pt weights
        if self.init is not None:
            model.load_state_dict(self.init["model"])  # strict: every tensor must match
        codec = HeatmapCodec(d.input_size, d.input_size // 4, d.sigma, t.supervise_occluded, d.targets)
        return MultiLevelMethod(model.to(device), codec, cfg, self.meta, t.seed).to(device)

    def build_optimizer(self, method: Method):
        cfg = self.cfg
        student, disc = method.param_groups()
        optimizer, scheduler = build_optimizer(
            student, method.model.backbone.parameters(), total_steps=cfg.train.steps,
            constant=[{"params": disc, "lr": cfg.adversarial.lr}] if disc else [], **cfg.optim.schedule_numbers())
        if cfg.optim.state == "pretrain" and self.init is not None:  # DAML: adaptation continues the pretraining Adam
            carry_adam_state(optimizer, list(method.model.parameters()), pretrain_optimiser_state(self.init_path),
                             str(self.init_path))
        return optimizer, scheduler

    def panel(self, method: Method) -> dict[str, str]:
        cfg, d, t = self.cfg, self.cfg.data, self.cfg.train
        levels = [name for name, on in ((f"image ({cfg.style.kind})", cfg.style.enabled), ("consistency", cfg.consistency.enabled),
                                        ("occlusion", cfg.occlusion.enabled), ("feature", cfg.adversarial.enabled),
                                        ("pose", cfg.infomax.enabled)) if on]
        return {
            "init": f"{self.init_path}",
            "data": f"source {d.source}:{d.train_split} ({len(self.src_ds)})   target {d.target}:{d.target_split} "
                    f"({len(self.tgt_ds)}, labels unused)" + ("   TRANSDUCTIVE" if d.transductive else ""),
            "levels": ", ".join(levels) or "none (source-only continuation)",
            "weights": f"cons {cfg.consistency.weight:g}, adv {cfg.adversarial.weight:g}, im {cfg.infomax.weight:g}; "
                       f"EMA {cfg.teacher.ema:g} ({cfg.teacher.buffers} buffers)",
            "schedule": f"{t.steps} steps × batch {t.batch_size}+{t.batch_size}, {schedule_summary(t.steps, **cfg.optim.schedule_numbers())}",
            "select": t.select + ("  [ORACLE: uses target test labels]" if t.select == "oracle" else ""),
        }
