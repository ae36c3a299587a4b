"""The contract between a method and the shared trainer."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

T = TypeVar("T")


def augment_seed(seed: int) -> int:
    """The seed of a method's own augmentation generator for ``train.seed``: offset by a prime so that its draws are
    not the global generator's (seeded with ``train.seed`` itself)."""
    return seed + 7919


class Method(nn.Module):
    """A training objective around one or more networks. The trainer's one contract is :meth:`train_step`: one
    optimisation step on a batch, returning the loss terms it logs (scalar tensors, the total under ``"loss"``).

    A method whose step is one backward pass defines :meth:`losses` (the terms of ``batch`` at ``step``) and inherits
    ``train_step``; one that updates in several phases per step (RegDA's minimax) defines ``train_step`` itself.
    ``inference_model()`` is the network evaluation and validation use (the teacher when a method has one).

    In a data-parallel job (posekit/engine/distributed.py) each process holds one replica: ``shard`` is
    (rank, world size), the batch it sees is its rows of the global batch, and the training forward passes of the
    ``trainable_modules()`` run through ``replica(name)``, their DistributedDataParallel wrappers.
    """

    name = "base"
    shard: tuple[int, int] = (0, 1)

    def __init__(self) -> None:
        super().__init__()
        self._replicas: dict[str, nn.Module] = {}  # a plain dict: state dicts keep the unwrapped modules' keys

    def losses(self, batch: dict, step: int) -> dict[str, torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError(f"{type(self).__name__} defines neither losses() nor train_step()")

    def inference_model(self) -> nn.Module:  # pragma: no cover - interface
        raise NotImplementedError

    def train_step(self, batch: dict, step: int, optimizer: torch.optim.Optimizer,
                   autocast: Callable[[], contextlib.AbstractContextManager]) -> dict[str, torch.Tensor]:
        """One optimisation step on ``batch``: the loss terms (:meth:`losses` under ``autocast()``), one backward
        pass of ``"loss"`` and one optimiser step. Returns the terms (the trainer logs them)."""
        with autocast():
            losses = self.losses(batch, step)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        return losses

    def trainable_modules(self) -> tuple[str, ...]:
        """Names of the submodules the optimiser trains (the EMA teacher is not one)."""
        return ()

    def replicate(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Route the training forward passes of the trainable modules through ``wrap(module)``."""
        self._replicas = {name: wrap(getattr(self, name)) for name in self.trainable_modules()}

    def replica(self, name: str) -> nn.Module:
        """The module to run a training forward pass through: its wrapper when replicated, else itself."""
        return self._replicas[name] if name in self._replicas else getattr(self, name)

    def draw(self, rows: int, sample: Callable[[int], T]) -> T:
        """``sample(n)`` (random draws for ``n`` samples: a tensor, None, or a tuple of them) made for the whole
        global batch and cut to this process's ``rows``, so every sample gets the draw one process would give it."""
        rank, world = self.shard
        if world == 1:
            return sample(rows)
        out = sample(rows * world)

        def cut(t):
            return None if t is None else t[rank * rows : (rank + 1) * rows]

        return tuple(map(cut, out)) if isinstance(out, tuple) else cut(out)

    def checkpoint_weights(self) -> dict:
        """``{"model": student state dict, "teacher": teacher state dict or None}`` for checkpoints."""
        return {"model": self.inference_model().state_dict(), "teacher": None}

    def after_step(self, step: int) -> None:
        """Hook after each optimiser step (e.g. an EMA update)."""

    def rng_state(self) -> dict:
        """The method's own random state (its augmentation generator, when it has one as ``self.generator``)."""
        generator = getattr(self, "generator", None)
        return {"augment": generator.get_state()} if isinstance(generator, torch.Generator) else {}

    def load_rng_state(self, state: dict) -> None:
        generator = getattr(self, "generator", None)
        if isinstance(generator, torch.Generator) and "augment" in state:
            generator.set_state(state["augment"])
