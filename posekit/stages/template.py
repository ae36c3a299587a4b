"""The one run template every training (stage, method) pair goes through, and the registry of those pairs.

A pair is a :class:`RunBuilder` subclass registered with :func:`register`. The template calls it in this order::

    check()                      split checks, datasets, init checkpoint (before any device or file is touched)
    device + per-rank batch      distributed.setup / per_rank_batch(builder.rank_batch)
    seed                         seed_everything(train.seed)
    build_method(device)         networks and the training objective, on the device
    NHWC / compile, replicate    prepare_for_device, distributed.replicate
    build_optimizer(method)      optimiser and LR schedule
    run dir + lock, header       runs/<stage>/<id>/ (config.yaml, env.json, lineage.json); checkpoint_header
    Trainer(batches=builder.batches, validate=builder.validator(device), ...)
    resume                       ckpt/last.pt of the run when resuming
    panel, fit, finalise         start-up panel, the training loop, ckpt/final.pt and runs/<stage>/latest

Adding a method: write one module in ``posekit/stages/`` with a registered builder (and its configuration schema
in ``posekit/config/``), then import the module in ``posekit/stages/__init__.py``, which looks builders up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import torch
from pydantic import BaseModel

from posekit.config.load import config_sha1
from posekit.data.meta import KeypointMeta
from posekit.engine import distributed
from posekit.engine.checkpoint import checkpoint_header
from posekit.engine.device import pick_device, prepare_for_device
from posekit.engine.logging import console
from posekit.engine.method import Method
from posekit.engine.precision import FP32, Precision, resolve_amp
from posekit.engine.seed import seed_everything
from posekit.engine.tensorboard import require_tensorboard
from posekit.engine.trainer import Trainer
from posekit.errors import ConfigError
from posekit.evaluation.evaluate import SELECT_METRIC
from posekit.models.factory import network_family
from posekit.registry import Registry
from posekit.stages.common import create_run, device_summary, finalise, resume_state, run_lock, startup_panel
from posekit.workspace import Workspace

EVAL_SPLITS = ("test", "val")


class RunBuilder:
    """What one (stage, method) pair supplies to :func:`run_training`; ``cfg`` is its validated configuration,
    ``resume`` the run directory being continued (None for a new run)."""

    stage: ClassVar[str]
    method: ClassVar[str]
    config: ClassVar[type[BaseModel]]
    summary: ClassVar[str]
    architecture: ClassVar[str | None] = None  # the keypoint network it trains (posekit.models.factory)

    def __init__(self, ws: Workspace, cfg: BaseModel, resume: Path | None):
        self.ws, self.cfg, self.resume = ws, cfg, resume
        self.rank_batch = cfg.train.batch_size  # the global batch each step splits over the ranks
        self.meta: KeypointMeta | None = None
        self.lineage: dict = {}  # the checkpoint header's lineage
        self.run_inputs: dict | None = None  # the run's lineage.json when it differs from ``lineage``
        self.precision: Precision = FP32  # set by the template (train.amp on this device) before validator()

    def uses_target(self) -> bool:
        """Whether the run reads ``data.target``'s ``data.target_split`` (then evaluation splits need
        ``data.transductive``)."""
        return False

    def check(self) -> None:
        """Validate the configuration against the workspace and open the datasets; set ``meta`` and ``lineage``."""
        raise NotImplementedError

    def build_method(self, device: torch.device) -> Method:
        raise NotImplementedError

    def build_optimizer(self, method: Method) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        raise NotImplementedError

    def batches(self, start_step: int, device: torch.device) -> Iterator[dict]:
        raise NotImplementedError

    def validator(self, device: torch.device) -> Callable[[torch.nn.Module], dict[str, float]] | None:
        """Scores the inference network during training (None: no validation)."""
        return None

    def select_key(self) -> str | None:
        """The validation value that picks ``best.pt`` (None: the last step's weights become final)."""
        return SELECT_METRIC if self.cfg.train.select == "source_val" else None

    def header_extra(self) -> dict:
        """Checkpoint header keys of this method beyond the common ones."""
        return {}

    def panel(self, method: Method) -> dict[str, str]:
        """The start-up panel's lines after ``run`` and ``device``."""
        raise NotImplementedError

    def notes(self) -> list[str]:
        """Lines printed under the start-up panel."""
        return []


METHODS: dict[str, Registry[type[RunBuilder]]] = {"pretrain": Registry("--method"), "adapt": Registry("--method")}


def register(builder: type[RunBuilder]) -> type[RunBuilder]:
    """Class decorator: make ``builder`` the (``builder.stage``, ``builder.method``) pair."""
    return METHODS[builder.stage].register(builder.method)(builder)


def default_method(stage: str) -> str:
    return {"pretrain": "supervised", "adapt": "multilevel"}[stage]


def _check_target_split(builder: RunBuilder) -> None:
    d = builder.cfg.data
    if builder.uses_target() and d.target_split in EVAL_SPLITS and not d.transductive:
        raise ConfigError(f"data.target_split={d.target_split!r} is an evaluation split",
                          hint="adapt on the unlabelled train split, or set data.transductive=true (then recorded)")


def run_training(builder: RunBuilder, name: str) -> Path:
    """Run one training stage from start (or from ``builder.resume``) to ``ckpt/final.pt``; returns the run
    directory. The order of the steps is the module docstring's."""
    _check_target_split(builder)
    builder.check()  # may complete the configuration (adapt: model and input size from the init checkpoint)
    ws, cfg, resume, stage = builder.ws, builder.cfg, builder.resume, builder.stage
    t = cfg.train
    if t.tensorboard:
        require_tensorboard()
    device = distributed.setup(pick_device(t.device))
    distributed.per_rank_batch(builder.rank_batch, distributed.world_size())
    seed_everything(t.seed)
    method = builder.build_method(device)
    precision = resolve_amp(t.amp, device, network_family(cfg.model))
    builder.precision = precision
    layout = prepare_for_device(method, t.channels_last, t.compile, t.compile_backend, device)
    distributed.replicate(method, device)
    optimizer, scheduler = builder.build_optimizer(method)

    run_dir = resume or distributed.from_main(lambda: create_run(ws, stage, name, cfg, device, precision,
                                                                   builder.run_inputs or builder.lineage))
    with run_lock(ws, stage, run_dir):
        header = checkpoint_header(
            stage, method.name, cfg.model_dump(mode="json"), architecture=builder.architecture,
            config_sha1=config_sha1(cfg), keypoints=json.loads(builder.meta.to_json()), lineage=builder.lineage,
            transductive=bool(getattr(cfg.data, "transductive", False)), **builder.header_extra())
        trainer = Trainer(method, optimizer, scheduler, lambda step: builder.batches(step, device), run_dir, t.steps,
                          device, header, log_every=t.log_every, ckpt_every=t.ckpt_every,
                          val_every=getattr(t, "val_every", 0), validate=builder.validator(device),
                          select_key=builder.select_key(), select_name=t.select, precision=precision,
                          tensorboard=t.tensorboard)
        if resume is not None:
            resume_state(trainer, run_dir)
        startup_panel(f"posekit {stage}" + ("" if builder.method == default_method(stage) else f" --method {builder.method}"),
                      {"run": str(run_dir), "device": device_summary(device, precision, layout),
                       **builder.panel(method), **distributed.describe(t.batch_size, device)})
        for line in builder.notes():
            console.print(line)
        last_val = trainer.fit()
        finalise(ws, stage, run_dir, trainer, t.select, last_val)
    return run_dir
