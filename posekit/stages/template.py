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

import contextlib
import json
import platform
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar, TypeVar

import torch
import yaml
from pydantic import BaseModel
from rich.panel import Panel

from posekit.config.load import config_sha1, config_to_yaml
from posekit.data.meta import KeypointMeta
from posekit.engine import distributed
from posekit.engine.checkpoint import checkpoint_header, load_checkpoint, save_checkpoint
from posekit.engine.device import pick_device, prepare_for_device
from posekit.engine.logging import console, labelled
from posekit.engine.method import Method
from posekit.engine.precision import FP32, Precision, cpu_units, resolve_amp
from posekit.engine.seed import seed_everything
from posekit.engine.tensorboard import require_tensorboard
from posekit.engine.trainer import Loop, Trainer
from posekit.errors import ConfigError, MissingArtifactError
from posekit.evaluation.evaluate import SELECT_METRIC
from posekit.models.factory import network_family
from posekit.registry import Registry
from posekit.version import __version__
from posekit.workspace import Workspace, atomic_write_json, atomic_write_text, atomic_write_with, now_iso

EVAL_SPLITS = ("test", "val")
M = TypeVar("M", bound=BaseModel)


class RunBuilder:
    """What one (stage, method) pair supplies to :func:`run_training`; ``cfg`` is its validated configuration,
    ``resume`` the run directory being continued (None for a new run)."""

    stage: ClassVar[str]
    method: ClassVar[str]
    config: ClassVar[type[BaseModel]]
    summary: ClassVar[str]
    architecture: ClassVar[str | None] = None  # the keypoint network it trains (posekit.models.factory)
    # what the method is (report, eval, `posekit list methods` and the CLI read these, never the method's name):
    keypoint_head: ClassVar[bool] = True  # its runs predict keypoints (False: a reconstruction-only pretraining)
    depth: ClassVar[bool] = False  # it also predicts root-relative depth (3D metrics apply)
    starts_from: ClassVar[tuple[str, str] | None] = None  # (stage, method) of the run it continues, if any
    default: ClassVar[bool] = False  # the stage's method when neither --method nor the preset names one
    doc: ClassVar[str] = ""  # the page that explains it

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
    """The method the stage's builders declare as its default (exactly one per stage)."""
    defaults = [name for name in METHODS[stage].names() if METHODS[stage].get(name).default]
    if len(defaults) != 1:
        raise ValueError(f"{stage} has {len(defaults)} default methods ({defaults}); exactly one builder must say so")
    return defaults[0]


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
        loop = Loop(t.steps, log_every=t.log_every, ckpt_every=t.ckpt_every, val_every=getattr(t, "val_every", 0),
                    snapshot_every=getattr(t, "snapshot_every", 0), select_key=builder.select_key(), select_name=t.select, tensorboard=t.tensorboard)
        trainer = Trainer(method, optimizer, scheduler, lambda step: builder.batches(step, device), run_dir, device,
                          header, loop, validate=builder.validator(device), precision=precision)
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


# --- the run's lifecycle: its directory, resumption, the start-up panel and the final weights ---


def environment(device: torch.device, precision: Precision) -> dict:
    """What ran a run: versions, device, threads, the CPU and its bf16 units, and the precision chosen and why."""
    return {
        "posekit": __version__, "torch": str(torch.__version__), "python": platform.python_version(),
        "device": str(device), "cuda": torch.version.cuda, "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "cpu": cpu_units().to_json(),
        **precision.to_json(), "started": now_iso(), "world_size": distributed.world_size(),
    }


def create_run(ws: Workspace, stage: str, name: str, cfg: BaseModel, device: torch.device, precision: Precision,
               lineage: dict) -> Path:
    """A new ``runs/<stage>/<id>/`` with config.yaml, env.json and lineage.json."""
    run_dir = ws.new_run_dir(stage, name)
    atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
    atomic_write_json(run_dir / "env.json", environment(device, precision))
    atomic_write_json(run_dir / "lineage.json", {"stage": stage, **lineage})
    return run_dir


def resume_config(run_dir: Path, model: type[M]) -> M:
    """The configuration to continue ``run_dir`` with: its last checkpoint's, or config.yaml when it was killed
    before the first checkpoint."""
    ckpt = run_dir / "ckpt" / "last.pt"
    if ckpt.exists():
        return model.model_validate(load_checkpoint(ckpt)["config"])
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        raise MissingArtifactError(f"{run_dir} is not a resumable run (no ckpt/last.pt, no config.yaml)",
                                   hint="start a new run instead")
    return model.model_validate(yaml.safe_load(cfg_path.read_text()))


def run_lock(ws: Workspace, stage: str, run_dir: Path) -> contextlib.AbstractContextManager:
    """One writer per run, so a second --resume is refused: the run's lock, held by rank 0 for a torchrun job."""
    return ws.lock(f"runs/{stage}/{run_dir.name}") if distributed.is_main() else contextlib.nullcontext()


def resume_state(trainer: Trainer, run_dir: Path) -> None:
    """Load ``run_dir``'s last checkpoint into ``trainer``; without one, start again from step 0 in the same run.
    Temporary files a killed process left behind are removed (the caller holds the run's lock)."""
    if distributed.is_main():
        for stale in run_dir.rglob(".*.tmp"):
            stale.unlink()
    ckpt = run_dir / "ckpt" / "last.pt"
    if ckpt.exists():
        trainer.load_full_state(load_checkpoint(ckpt))
        console.print(f"resuming {run_dir.name} at step {trainer.state.step}/{trainer.total}")
    else:
        trainer.metrics.truncate_after(0)
        console.print(f"resuming {run_dir.name}: no checkpoint was written yet, starting again from step 0")


def device_summary(device: torch.device, precision: Precision, layout: str) -> str:
    """The start-up panel's device line: device, threads, precision and why, memory format and compilation."""
    threads = torch.get_num_threads()
    return f"{device} ({threads} thread{'' if threads == 1 else 's'})   {precision.describe()}   {layout}"


def startup_panel(title: str, lines: dict[str, str]) -> None:
    width = max(len(k) for k in lines)
    console.print(Panel.fit("\n".join(f"{k.ljust(width)}  {v}" for k, v in lines.items()), title=title,
                            border_style="cyan"))


def finalise(ws: Workspace, stage: str, run_dir: Path, trainer: Trainer, select: str, last_val: dict) -> None:
    """Write ``ckpt/final.pt`` from the selected weights and point ``runs/<stage>/latest`` at the run (rank 0's
    job in a torchrun job)."""
    if not distributed.is_main():
        return
    best = run_dir / "ckpt" / "best.pt"
    if select != "last" and best.exists():
        atomic_write_with(run_dir / "ckpt" / "final.pt", lambda tmp: shutil.copyfile(best, tmp))
        chosen = f"best {select} step {trainer.state.best_step}"
    else:
        save_checkpoint(run_dir / "ckpt" / "final.pt", trainer.weights_only_state("last", last_val))
        chosen = f"last step {trainer.state.step}"
    ws.set_latest(stage, run_dir)
    console.print(labelled("done:", "green", f"{run_dir / 'ckpt' / 'final.pt'} ({chosen})"))
    if select == "oracle":
        console.print("ORACLE: these weights were selected on target test labels", style="bold red")
