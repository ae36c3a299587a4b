"""AdamW parameter groups with layer-wise learning-rate decay for ViT models, and the warm-up + cosine schedule."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn


def warmup_cosine_lambda(total: int, warmup: float) -> Callable[[int], float]:
    """LR factor of a step: linear from 0 to 1 over ``warmup·total`` steps, then a half cosine down to 0."""
    ramp = max(1, round(warmup * total)) if warmup > 0 else 0

    def factor(step: int) -> float:
        if step < ramp:
            return (step + 1) / ramp
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - ramp) / max(1, total - ramp))))

    return factor


def layer_id(name: str, depth: int) -> int:
    """0 for the patch embedding, ``i+1`` for encoder block ``i``, ``depth+1`` for everything after (norm, heads)."""
    if name.startswith("encoder.patch_embed"):
        return 0
    if name.startswith("encoder.blocks."):
        return int(name.split(".")[2]) + 1
    return depth + 1


def vit_param_groups(model: nn.Module, lr: float, weight_decay: float, layer_decay: float,
                     depth: int) -> list[dict]:
    """AdamW groups: lr × ``layer_decay^(depth+1−layer)``; no weight decay on biases, norms and 1-D tensors."""
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        layer = layer_id(name, depth)
        decay = param.ndim > 1 and not name.endswith(".bias")
        key = (layer, decay)
        if key not in groups:
            groups[key] = {"params": [], "lr": lr * layer_decay ** (depth + 1 - layer),
                           "weight_decay": weight_decay if decay else 0.0}
        groups[key]["params"].append(param)
    return [groups[k] for k in sorted(groups)]
