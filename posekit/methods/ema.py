"""The mean teacher: an exponential moving average of the student's parameters."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMATeacher(nn.Module):
    """Holds a frozen copy of ``student``; ``update`` moves its parameters towards the student's.

    Buffers (BatchNorm running statistics) follow ``buffers``:
    - ``"own"`` (DAML code): the teacher runs in train mode, so its running statistics come from its own forward
      passes on weak target views, and it normalises with batch statistics during training;
    - ``"copy"``: the teacher runs in eval mode and copies the student's buffers after every update.
    Evaluation always runs the teacher in eval mode with its stored running statistics.

    ``fp32``: ``predict`` runs in float32 even inside the training step's bf16 autocast (DAML's teacher is fp32).
    """

    def __init__(self, student: nn.Module, momentum: float, buffers: str = "own", fp32: bool = False):
        super().__init__()
        self.model = copy.deepcopy(student)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.momentum = momentum
        self.buffers = buffers
        self.fp32 = fp32

    @torch.no_grad()
    def update(self, student: nn.Module, average_buffers: bool = False) -> None:
        """Move the parameters towards the student's. ``average_buffers`` (for a run in which the teacher never
        runs, so ``own`` buffers would stay the initial checkpoint's): floating-point buffers (BatchNorm running
        statistics) take the same moving average of the student's, integer ones (batch counters) are copied."""
        t_params = list(self.model.parameters())
        s_params = [p.detach() for p in student.parameters()]
        torch._foreach_mul_(t_params, self.momentum)
        torch._foreach_add_(t_params, s_params, alpha=1 - self.momentum)
        if self.buffers == "copy" or average_buffers:
            for tb, sb in zip(self.model.buffers(), student.buffers()):
                if self.buffers == "copy" or not tb.is_floating_point():
                    tb.copy_(sb)
                else:
                    tb.mul_(self.momentum).add_(sb, alpha=1 - self.momentum)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.model.train(self.buffers == "own")
        if not self.fp32:
            return self.model(images)
        with torch.autocast("cpu", enabled=False), torch.autocast(images.device.type, enabled=False):
            return self.model(images.float())
