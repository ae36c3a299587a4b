"""``adapt`` (method ``regda``): tllib's regressive domain adaptation from a supervised pretrain run (docs/regda.md).
Checks, datasets, batches and validation are the multi-level method's (without its style cache)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from posekit.config.schema_regda import RegDAConfig
from posekit.data.codec import HeatmapCodec
from posekit.engine import distributed
from posekit.engine.method import Method
from posekit.errors import CheckpointError, ConfigError
from posekit.methods.regda import RegDAMethod
from posekit.models.factory import build_softmax_pose_net
from posekit.stages.adapt_common import AdaptFromPretrain
from posekit.stages.template import register

HEADS = "head.final."  # the pretrain network's 1×1 head: RegDA's two heads replace it


def load_features(model: torch.nn.Module, pretrain_state: dict, path: Path) -> None:
    """Load a SimpleBaseline pretrain run's backbone and deconvolutions into ``model``; its heads keep their fresh
    initialisation (tllib loads the pretrained network with ``strict=False``, which leaves the new heads alone)."""
    state = {k: v for k, v in pretrain_state.items() if not k.startswith(HEADS)}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError:
        raise CheckpointError(f"{path}: its network does not fit (model settings differ)",
                              hint="use a `posekit pretrain` (supervised) run") from None
    if unexpected or any(not k.startswith(HEADS) for k in missing):
        raise CheckpointError(f"{path}: not a SimpleBaseline pretrain run ({len(unexpected)} unexpected, "
                              f"{sum(not k.startswith(HEADS) for k in missing)} missing tensors)",
                              hint="use a `posekit pretrain` (supervised) run")


@register
class RegDAAdapt(AdaptFromPretrain):
    stage, method, config = "adapt", "regda", RegDAConfig
    summary = ("2D baseline (tllib RegDA): adversarial regressor head, minimax on target ground-false heatmaps; "
               "softmax heatmaps, KL losses")
    architecture = "simplebaseline_softmax"
    starts_from, doc = ("pretrain", "supervised"), "docs/regda.md"
    cfg: RegDAConfig

    def check(self) -> None:
        if distributed.launched() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError("adapt --method regda runs in one process (its three updates per step are not "
                              "data-parallel)", hint="run it without torchrun")
        super().check()

    def style_cache(self) -> Path | None:
        return None

    def build_method(self, device: torch.device) -> Method:
        cfg, d, t = self.cfg, self.cfg.data, self.cfg.train
        model = build_softmax_pose_net(cfg.model, self.meta.num_joints, load_pretrained=False)
        if self.init is not None:
            load_features(model, self.init["model"], self.init_path)
        codec = HeatmapCodec(d.input_size, d.input_size // 4, d.sigma, t.supervise_occluded, d.targets)
        return RegDAMethod(model.to(device), codec, cfg, self.meta, t.seed).to(device)

    def build_optimizer(self, method: Method):
        o = self.cfg.optim
        features, head, adv_head = method.param_groups()
        groups = [{"params": features, "lr": o.lr * o.feature_lr_mult}, {"params": head, "lr": o.lr},
                  {"params": adv_head, "lr": o.lr}]
        optimizer = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1 + o.lr_gamma * step) ** -o.lr_decay)

    def panel(self, method: Method) -> dict[str, str]:
        d, t, o, r = self.cfg.data, self.cfg.train, self.cfg.optim, self.cfg.regda
        end = (1 + o.lr_gamma * t.steps) ** -o.lr_decay
        return {
            "init": f"{self.init_path} (backbone + deconvolutions; both heads start fresh)",
            "data": f"source {d.source}:{d.train_split} ({len(self.src_ds)})   target {d.target}:{d.target_split} "
                    f"({len(self.tgt_ds)}, labels unused)" + ("   TRANSDUCTIVE" if d.transductive else ""),
            "losses": f"KL; margin {r.margin:g} × trade-off {r.trade_off:g} (source), trade-off {r.trade_off:g} "
                      f"(target); warm-start gradient {r.gradient_lo:g}→{r.gradient_hi:g} over {r.gradient_max_iters}",
            "schedule": f"{t.steps} steps × batch {t.batch_size}+{t.batch_size}, 3 updates each; SGD lr {o.lr:g} heads, "
                        f"{o.lr * o.feature_lr_mult:g} features, ×{end:.2f} at the end",
            "select": t.select + ("  [ORACLE: uses target test labels]" if t.select == "oracle" else ""),
        }
