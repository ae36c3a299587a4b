"""The pose network's optimiser: Adam with the backbone in its own parameter group (``optim.backbone_lr_mult``),
and the step schedule: linear warm-up (``optim.warmup_steps``), then ×gamma at each milestone."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from posekit.config.schema import OptimConfig
from posekit.engine.trainer import multistep_lambda


def warmup_multistep_lambda(total: int, milestones: tuple[float, ...], gamma: float,
                            warmup_steps: int) -> Callable[[int], float]:
    """LR factor of a step: ``(step+1)/warmup_steps`` during the warm-up, times the multistep factor."""
    decay = multistep_lambda(total, milestones, gamma)
    if warmup_steps == 0:
        return decay
    return lambda step: min(1.0, (step + 1) / warmup_steps) * decay(step)


def network_groups(params: Iterable[nn.Parameter], backbone: Iterable[nn.Parameter], lr: float,
                   backbone_lr_mult: float) -> list[dict]:
    """Param groups of the trained parameters in ``params`` (frozen ones are left out): the head and the rest at
    ``lr`` first (the learning rate the trainer logs), then those of ``backbone`` at ``lr·backbone_lr_mult``; one
    group when the multiplier is 1, the layout of runs saved before the option existed, so that they resume."""
    trained = [p for p in params if p.requires_grad]
    if backbone_lr_mult == 1.0:
        return [{"params": trained, "lr": lr}]
    trunk = {id(p) for p in backbone}
    return [{"params": [p for p in trained if id(p) not in trunk], "lr": lr},
            {"params": [p for p in trained if id(p) in trunk], "lr": lr * backbone_lr_mult}]


def build_optimizer(optim: OptimConfig, total_steps: int, params: Iterable[nn.Parameter],
                    backbone: Iterable[nn.Parameter], constant: Iterable[dict] = ()
                    ) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam over the network's groups (warm-up + milestones) and the ``constant`` groups (dicts with ``params`` and
    ``lr``, e.g. a discriminator's, kept at their learning rate); weight decay ``optim.weight_decay`` on all."""
    groups = network_groups(params, backbone, optim.lr, optim.backbone_lr_mult)
    constant = list(constant)
    schedule = warmup_multistep_lambda(total_steps, optim.milestones, optim.gamma, optim.warmup_steps)
    optimizer = torch.optim.Adam(groups + constant, weight_decay=optim.weight_decay)
    lambdas = [schedule] * len(groups) + [lambda _: 1.0] * len(constant)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


def schedule_summary(optim: OptimConfig, total_steps: int) -> str:
    """One line for a stage's start-up panel: ``Adam lr 0.001, ×0.1 at [386, 514]`` plus the trunk options in use."""
    text = f"Adam lr {optim.lr:g}, ×{optim.gamma:g} at {[round(f * total_steps) for f in optim.milestones]}"
    if optim.backbone_lr_mult != 1.0:
        text += f", backbone ×{optim.backbone_lr_mult:g}"
    if optim.warmup_steps:
        text += f", {optim.warmup_steps} warm-up steps"
    return text
