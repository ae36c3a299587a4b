"""Continuing a pretrain run's Adam in adaptation (``optim.state=pretrain``): DAML's code builds one student
optimiser for pretraining and adaptation, so adaptation starts with the pretraining moments and step count."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from posekit.engine.checkpoint import load_checkpoint
from posekit.errors import CheckpointError

HINT = "set optim.state=fresh (a new Adam), or --init a pretrain run whose ckpt/last.pt is there"


def pretrain_optimiser_state(init_path: Path) -> dict:
    """The optimiser state dict a pretrain run ended with: ``optim`` of the ``last.pt`` beside its ``final.pt``
    (``init_path``), i.e. the moments of its last step, as DAML keeps them whichever weights it loads."""
    last = Path(init_path).parent / "last.pt"
    if not last.is_file():
        raise CheckpointError(f"{last}: optim.state=pretrain needs the pretrain run's optimiser state, and this "
                              "file is missing", hint=HINT)
    ckpt = load_checkpoint(last)
    if ckpt.get("stage") != "pretrain" or not isinstance(ckpt.get("optim"), dict):
        raise CheckpointError(f"{last}: holds no pretrain optimiser state (stage {ckpt.get('stage')!r})", hint=HINT)
    return ckpt["optim"]


def carry_adam_state(optimizer: torch.optim.Optimizer, params: list[nn.Parameter], saved: dict, origin: str) -> int:
    """Give ``params`` (parameters of ``optimizer``) the per-parameter state of the single-group optimiser state
    dict ``saved``, in order (``exp_avg``, ``exp_avg_sq``, ``step``): the pretraining Adam continues on them.
    Hyper-parameters (learning rate, betas) stay the adaptation's. Returns how many parameters got a state."""
    groups, state = saved.get("param_groups", []), saved.get("state", {})
    if len(groups) != 1 or len(groups[0]["params"]) != len(params):
        raise CheckpointError(f"{origin}: its optimiser holds {sum(len(g['params']) for g in groups)} parameters "
                              f"in {len(groups)} groups, the adapted network has {len(params)}", hint=HINT)
    carried = 0
    for index, p in zip(groups[0]["params"], params, strict=True):
        old = state.get(index)
        if old is None:  # never stepped (no gradient during pretraining): Adam starts it fresh
            continue
        if old["exp_avg"].shape != p.shape:
            raise CheckpointError(f"{origin}: optimiser state of parameter {index} has shape "
                                  f"{tuple(old['exp_avg'].shape)}, the network's is {tuple(p.shape)}", hint=HINT)
        optimizer.state[p] = {k: (torch.empty_like(p).copy_(v) if torch.is_tensor(v) and v.shape == p.shape
                                  else (v.clone() if torch.is_tensor(v) else v)) for k, v in old.items()}
        carried += 1
    return carried
