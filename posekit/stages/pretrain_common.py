"""What the pretraining methods on the labelled source split share (``supervised``, ``supervised25d``): the split
checks, the batches, validation on ``data.val_split`` and Adam over the network ``self.model`` that
``build_method`` builds, its trunk at ``optim.backbone_lr_mult``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import torch

from posekit.data.dataset import H5KeypointDataset
from posekit.data.loaders import step_batches
from posekit.engine import distributed
from posekit.engine.method import Method
from posekit.engine.optim import build_optimizer, schedule_summary
from posekit.errors import ConfigError, DataError
from posekit.evaluation.evaluate import split_scorer
from posekit.stages.template import RunBuilder


class LabelledSourceRun(RunBuilder):
    """A pretraining run on ``data.source:data.train_split`` (with its 3D labels when ``with_3d``)."""

    with_3d: ClassVar[bool] = False

    def check(self) -> None:
        d, t = self.cfg.data, self.cfg.train
        _, _, train_path = self.ws.require_split(f"{d.source}:{d.train_split}")
        self.train_ds = H5KeypointDataset(train_path, with_3d=self.with_3d)
        self.val_path = self.ws.require_split(f"{d.source}:{d.val_split}")[2] if d.val_split else None
        if t.select == "source_val" and self.val_path is None:
            raise ConfigError("train.select=source_val needs data.val_split",
                              hint="set data.val_split or train.select=last")
        if len(self.train_ds) < t.batch_size:
            raise DataError(f"{train_path}: {len(self.train_ds)} samples, fewer than one batch of {t.batch_size}",
                            hint="lower train.batch_size or prepare more samples")
        self.meta = self.train_ds.meta
        self.lineage = {"source": self.ws.dataset_lineage(d.source)}
        self.run_inputs = {"inputs": [self.lineage["source"]]}

    def build_optimizer(self, method: Method):
        return build_optimizer(self.model.parameters(), self.model.backbone.parameters(),
                               total_steps=self.cfg.train.steps, **self.cfg.optim.schedule_numbers())

    def batches(self, start_step: int, device: torch.device) -> Iterator[dict]:
        d, t = self.cfg.data, self.cfg.train
        return step_batches(self.train_ds, t.batch_size, t.seed, start_step, d.num_workers, device,
                            distributed.shard())

    def validator(self, device: torch.device):
        d = self.cfg.data
        if self.val_path is None:
            return None
        return split_scorer(self.val_path, d.input_size, d.sigma, device, self.cfg.train.batch_size, self.precision)

    def schedule_line(self) -> str:
        """The start-up panel's schedule line."""
        t = self.cfg.train
        return f"{t.steps} steps × batch {t.batch_size}, {schedule_summary(t.steps, **self.cfg.optim.schedule_numbers())}"
