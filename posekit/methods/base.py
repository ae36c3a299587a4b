"""The contract between a method and the shared trainer."""

from __future__ import annotations

import torch
from torch import nn


class Method(nn.Module):
    """A training objective around one or more networks.

    ``forward(batch, step)`` returns a dict of scalar tensors with the total under ``"loss"``.
    ``inference_model()`` is the network evaluation and validation use (the teacher when a method has one).
    """

    name = "base"

    def forward(self, batch: dict, step: int) -> dict[str, torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def inference_model(self) -> nn.Module:  # pragma: no cover - interface
        raise NotImplementedError

    def checkpoint_weights(self) -> dict:
        """``{"model": student state dict, "teacher": teacher state dict or None}`` for checkpoints."""
        return {"model": self.inference_model().state_dict(), "teacher": None}

    def after_step(self, step: int) -> None:
        """Hook after each optimiser step (e.g. an EMA update)."""

    def rng_state(self) -> dict:
        return {}

    def load_rng_state(self, state: dict) -> None:
        pass
