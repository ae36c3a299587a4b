"""The pose network's optimiser: Adam with the backbone in its own parameter group (``optim.backbone_lr_mult``),
and the step schedule: linear warm-up (``optim.warmup_steps``), then ×gamma at each milestone."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

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


def build_optimizer(params: Iterable[nn.Parameter], backbone: Iterable[nn.Parameter], *, total_steps: int,
                    lr: float, weight_decay: float, milestones: tuple[float, ...], gamma: float,
                    backbone_lr_mult: float, warmup_steps: int, constant: Iterable[dict] = ()
                    ) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam over the network's groups (warm-up + milestones, fractions of ``total_steps``) and the ``constant`` groups
    (dicts with ``params`` and ``lr``, e.g. a discriminator's, kept at their learning rate); ``weight_decay`` on all.
    The numbers are an ``optim`` section's (``**cfg.optim.schedule_numbers()``)."""
    groups = network_groups(params, backbone, lr, backbone_lr_mult)
    constant = list(constant)
    schedule = warmup_multistep_lambda(total_steps, milestones, gamma, warmup_steps)
    optimizer = torch.optim.Adam(groups + constant, weight_decay=weight_decay)
    lambdas = [schedule] * len(groups) + [lambda _: 1.0] * len(constant)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


def schedule_summary(total_steps: int, *, lr: float, weight_decay: float, milestones: tuple[float, ...],
                     gamma: float, backbone_lr_mult: float, warmup_steps: int) -> str:
    """One line for a stage's start-up panel: ``Adam lr 0.001, ×0.1 at [386, 514]`` plus the trunk options in use
    (the same numbers as ``build_optimizer``; weight decay is not shown)."""
    text = f"Adam lr {lr:g}, ×{gamma:g} at {[round(f * total_steps) for f in milestones]}"
    if backbone_lr_mult != 1.0:
        text += f", backbone ×{backbone_lr_mult:g}"
    if warmup_steps:
        text += f", {warmup_steps} warm-up steps"
    return text
