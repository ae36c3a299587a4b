"""The one training loop every stage uses: step-based, AMP on GPU, divergence guard, resumable checkpoints."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from posekit.engine import distributed
from posekit.engine.checkpoint import save_checkpoint
from posekit.engine.logging import MetricsWriter, console, make_progress
from posekit.engine.method import Method
from posekit.engine.precision import FP32, Precision
from posekit.engine.seed import capture_rng, restore_rng
from posekit.errors import TrainingDiverged
from posekit.faults import crash_point
from posekit.workspace import snapshot_name


@dataclass(frozen=True)
class Loop:
    """The loop's settings: ``steps`` in all; metrics.jsonl every ``log_every`` steps, ``ckpt/last.pt`` every
    ``ckpt_every``, the inference weights kept as ``ckpt/step-NNNNNN.pt`` every ``snapshot_every`` (0: never),
    validation every ``val_every`` (0: only at the end); ``select_key`` names the validation value that
    picks ``best.pt`` (None: no best.pt), recorded as selected by ``select_name``; ``tensorboard`` mirrors the metrics
    into ``run_dir/tensorboard/``."""

    steps: int
    log_every: int = 20
    ckpt_every: int = 200
    val_every: int = 0
    snapshot_every: int = 0
    select_key: str | None = None
    select_name: str = "source_val"
    tensorboard: bool = False


@dataclass
class TrainState:
    step: int = 0
    best_metric: float = -math.inf
    best_step: int = -1


def multistep_lambda(total: int, milestones: tuple[float, ...], gamma: float) -> Callable[[int], float]:
    """LR factor as a pure function of the step: ×gamma after each milestone (fractions of ``total``)."""
    bounds = [round(f * total) for f in milestones]
    return lambda step: gamma ** sum(step >= b for b in bounds)


class PendingLosses:
    """The loss terms of the steps since they were last read, kept on the device: reading them (for a log line, a
    checkpoint or a validation) is the step loop's only host synchronisation, once per interval instead of every
    step. Reading averages them over the ranks of a torchrun job and stops the run at the first non-finite term."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.rows: list[torch.Tensor] = []
        self.names: tuple[str, ...] = ()

    def add(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        self.names = tuple(losses)
        self.steps.append(step)
        self.rows.append(torch.stack([v.detach().float() for v in losses.values()]))

    def read(self, last_good: Path) -> list[dict[str, float]]:
        """Each pending step's ``{term: value}`` (rank means), oldest first; raises TrainingDiverged naming the
        first step with a non-finite term (no checkpoint has been written since: reads come before every write)."""
        if not self.rows:
            return []
        rows = distributed.mean_over_ranks(torch.stack(self.rows))
        steps, self.steps, self.rows = self.steps, [], []
        out = []
        for step, row in zip(steps, rows):
            values = dict(zip(self.names, row))
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                kept = (f"the last good checkpoint is {last_good}" if last_good.exists()
                        else "no checkpoint was written before it")
                raise TrainingDiverged(f"non-finite loss term {', '.join(bad)} at step {step}",
                                       hint=f"{kept}; lower optim.lr (--set optim.lr=...) or check the data")
            out.append(values)
        return out


class Trainer:
    """Runs ``method`` for ``total_steps`` on the batches ``batches(start_step)`` yields (an infinite iterator
    whose order is a function of the step, so that a resumed run sees the batches an uninterrupted one would).

    ``loop`` holds the schedule of logs, checkpoints and validations (:class:`Loop`); ``validate(model) ->
    {"name": value}`` is called every ``loop.val_every`` steps and at the end when given. ``ckpt_header`` is stored
    in every checkpoint.

    In a torchrun job every rank runs the loop on its slice of each batch; logged losses are means over the ranks,
    and rank 0 alone validates and writes metrics and checkpoints while the others wait.
    """

    def __init__(self, method: Method, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, batches: Callable[[int], Iterator[dict]],
                 run_dir: Path, device: torch.device, ckpt_header: dict[str, Any], loop: Loop,
                 validate: Callable[[torch.nn.Module], dict[str, float]] | None = None, precision: Precision = FP32):
        self.method, self.optimizer, self.scheduler = method, optimizer, scheduler
        self.make_batches, self.run_dir, self.loop = batches, Path(run_dir), loop
        self.device, self.header, self.validate, self.precision = device, ckpt_header, validate, precision
        self.state = TrainState()
        self.main = distributed.is_main()
        self.metrics = MetricsWriter(self.run_dir / "metrics.jsonl", enabled=self.main,
                                     tensorboard=self.run_dir / "tensorboard" if loop.tensorboard else None)

    @property
    def total(self) -> int:
        """The run's length in steps (``loop.steps``)."""
        return self.loop.steps

    # -- checkpoints ---------------------------------------------------------------------------------------
    def full_state(self) -> dict[str, Any]:
        """Everything resume needs. In a torchrun job it gathers every rank's method RNG (call it on every rank)."""
        rng = {"global": capture_rng(), "method": self.method.rng_state()}
        if distributed.active():
            rng["method_by_rank"] = distributed.gather(self.method.rng_state())
        return {
            **self.header,
            "step": self.state.step,
            **self.method.checkpoint_weights(),
            "method_state": self.method.state_dict(),
            "optim": self.optimizer.state_dict(),
            "sched": self.scheduler.state_dict(),
            "rng": rng,
            "train_state": {"best_metric": self.state.best_metric, "best_step": self.state.best_step},
        }

    def weights_only_state(self, selected_by: str, metrics: dict[str, float]) -> dict[str, Any]:
        return {**self.header, "step": self.state.step, **self.method.checkpoint_weights(),
                "selected_by": selected_by, "metrics": metrics}

    def load_full_state(self, ckpt: dict[str, Any]) -> None:
        self.method.load_state_dict(ckpt["method_state"])
        self.optimizer.load_state_dict(ckpt["optim"])
        self.scheduler.load_state_dict(ckpt["sched"])
        restore_rng(ckpt["rng"]["global"])
        by_rank = ckpt["rng"].get("method_by_rank")  # a torchrun job's; resumed with another world size, rank 0's
        same_world = by_rank is not None and len(by_rank) == distributed.world_size()
        self.method.load_rng_state(by_rank[distributed.rank()] if same_world else ckpt["rng"]["method"])
        self.state = TrainState(ckpt["step"], ckpt["train_state"]["best_metric"], ckpt["train_state"]["best_step"])
        self.metrics.truncate_after(self.state.step)

    # -- loop ----------------------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast where ``precision`` says so (:mod:`posekit.engine.precision`), around the methods' forward
        passes."""
        return self.precision.autocast(self.device.type)

    def _to_device(self, batch: dict) -> dict:
        return {k: (v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}

    def _run_validation(self) -> dict[str, float]:
        """Validate (and keep best.pt) on rank 0; the other ranks of a torchrun job wait at a barrier."""
        if self.validate is None:
            return {}
        results = self._validate() if self.main else {}
        distributed.barrier()
        return results

    def _validate(self) -> dict[str, float]:
        model = self.method.inference_model()
        results = self.validate(model)
        model.train()
        self.metrics.write({"step": self.state.step, "split": "source_val", **results})
        key = self.loop.select_key
        if key and results.get(key, -math.inf) > self.state.best_metric:
            self.state.best_metric = results[key]
            self.state.best_step = self.state.step
            save_checkpoint(self.run_dir / "ckpt" / "best.pt", self.weights_only_state(self.loop.select_name, results))
        return results

    def fit(self) -> dict[str, float]:
        """Train from the current step (0, or where :meth:`load_full_state` left it) to ``total_steps``: log every
        ``loop.log_every`` steps to metrics.jsonl, validate every ``loop.val_every`` (keeping ``best.pt``), write
        ``ckpt/last.pt`` every ``loop.ckpt_every`` and at the end. Stops with TrainingDiverged at the first non-finite
        loss term, before any checkpoint could hold it. Returns the last validation's results ({} without one)."""
        batches = self.make_batches(self.state.step)
        self.method.train()
        sums: dict[str, float] = {}
        count, t_data, t_iter = 0, 0.0, 0.0
        last_val: dict[str, float] = {}
        pending = PendingLosses()
        last_good = self.run_dir / "ckpt" / "last.pt"
        with make_progress() as progress:
            task = progress.add_task("train", total=self.total, completed=self.state.step, info="")
            tick = time.perf_counter()
            while self.state.step < self.total:
                batch = self._to_device(next(batches))
                t_loaded = time.perf_counter()
                losses = self.method.train_step(batch, self.state.step, self.optimizer, self._autocast)
                pending.add(self.state.step, losses)
                self.scheduler.step()
                self.method.after_step(self.state.step)
                self.state.step += 1
                now = time.perf_counter()
                t_data += t_loaded - tick
                t_iter += now - tick
                tick = now
                count += 1
                step = self.state.step
                log_due = step % self.loop.log_every == 0 or step == self.total
                val_due = self.loop.val_every and step % self.loop.val_every == 0 and step != self.total
                ckpt_due = step % self.loop.ckpt_every == 0 or step == self.total
                snap_due = self.loop.snapshot_every and step % self.loop.snapshot_every == 0
                if log_due or val_due or ckpt_due or snap_due:  # losses checked before any weights are written
                    for values in pending.read(last_good):
                        for k, v in values.items():
                            sums[k] = sums.get(k, 0.0) + v
                if log_due:
                    record = {"step": step, "lr": self.optimizer.param_groups[0]["lr"],
                              "time/iter": t_iter / count, "time/data": t_data / count}
                    record.update({f"loss/{k}": v / count for k, v in sums.items()})
                    if self.device.type == "cuda":
                        record["mem/max_gb"] = torch.cuda.max_memory_allocated() / 2**30
                    self.metrics.write(record)
                    progress.update(task, info=f"loss {record['loss/loss']:.2e}  {1 / max(record['time/iter'], 1e-9):.1f} it/s")
                    sums, count, t_data, t_iter = {}, 0, 0.0, 0.0
                if val_due:
                    last_val = self._run_validation()
                if snap_due and self.main:
                    save_checkpoint(self.run_dir / "ckpt" / f"{snapshot_name(step)}.pt",
                                    self.weights_only_state("step", {}))
                if ckpt_due:
                    state = self.full_state()
                    if self.main:
                        save_checkpoint(self.run_dir / "ckpt" / "last.pt", state)
                crash_point("train.step")
                progress.update(task, completed=step)
                tick = time.perf_counter()
        distributed.check_replicated(self.method)
        last_val = self._run_validation() or last_val
        self.metrics.close()
        if last_val:
            console.print("source validation: " + ", ".join(f"{k} {v:.4f}" for k, v in last_val.items()))
        return last_val
