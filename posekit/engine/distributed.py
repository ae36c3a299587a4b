"""Data-parallel training under torchrun: one process per GPU (or per CPU process), PyTorch's
DistributedDataParallel (docs/performance.md).

Outside torchrun every helper is a no-op for rank 0 of 1, so a single process behaves exactly as without this
module. Under torchrun (``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set) :func:`setup` joins the job's process
group: NCCL on CUDA (each process on ``cuda:LOCAL_RANK``), gloo on CPU. Rank 0 alone writes files and prints.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from posekit.engine.logging import console, results
from posekit.engine.method import Method
from posekit.errors import ConfigError

T = TypeVar("T")
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched() -> bool:
    """Whether torchrun started this process."""
    return all(key in os.environ for key in TORCHRUN_ENV)


def active() -> bool:
    """Whether this process belongs to an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def shard() -> tuple[int, int]:
    """(rank, world size): which rows of each global batch this process reads."""
    return rank(), world_size()


def is_main() -> bool:
    """Rank 0: the one process that writes metrics, checkpoints and the console."""
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join the torchrun job (nothing outside torchrun) and return this process's device; destroyed at exit."""
    if not launched():
        return device
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed, which torchrun needs",
                          hint="run the command without torchrun")
    if device.type == "cuda":
        if device.index is not None and int(os.environ["WORLD_SIZE"]) > 1:
            raise ConfigError(f"train.device={device} names one GPU, but under torchrun each process takes "
                              "cuda:LOCAL_RANK", hint="use --set train.device=cuda (or auto)")
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ConfigError(f"torchrun training runs on cuda or cpu, not {device.type}", hint="use --set train.device=cuda")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    atexit.register(dist.destroy_process_group)
    console.quiet = results.quiet = not is_main()
    return device


def per_rank_batch(global_batch: int, world: int) -> int:
    """This process's share of a global batch; the processes must split it evenly."""
    if global_batch % world:
        raise ConfigError(f"train.batch_size={global_batch} does not split evenly over {world} processes",
                          hint=f"train.batch_size is the global batch: set it to a multiple of {world}")
    return global_batch // world


def barrier() -> None:
    if active():
        dist.barrier(device_ids=[torch.cuda.current_device()] if dist.get_backend() == "nccl" else None)


def from_main(make: Callable[[], T]) -> T:
    """``make()`` run by rank 0 alone, its result sent to every rank (e.g. the new run directory)."""
    if not active():
        return make()
    box = [make() if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: T) -> list[T]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def mean_over_ranks(values: torch.Tensor) -> list:
    """A tensor averaged element-wise over all ranks (one all-reduce), as nested Python floats (``tolist``)."""
    if not active():
        return values.tolist()
    flat = values.detach().float().clone()
    dist.all_reduce(flat)
    return (flat / world_size()).tolist()


def replicate(method: Method, device: torch.device) -> None:
    """Make ``method`` this rank's replica: SyncBatchNorm where the backend has it (CUDA), its trainable networks
    wrapped in DistributedDataParallel, its random draws cut to this rank's rows of the global batch."""
    if not active():
        return
    if device.type == "cuda":  # torch's SyncBatchNorm refuses CPU tensors: on gloo each rank normalises its slice
        nn.SyncBatchNorm.convert_sync_batchnorm(method)
    method.shard = (rank(), world_size())
    method.replicate(lambda m: DistributedDataParallel(m, device_ids=[device.index] if device.type == "cuda" else None))


def check_replicated(module: nn.Module) -> None:
    """Raise unless every rank holds the same parameters (student, EMA teacher, discriminator): two float64 sums
    per tensor, gathered once. Buffers are left out: without SyncBatchNorm their statistics are per rank."""
    if not active():
        return
    names, params = zip(*module.named_parameters())
    mine = torch.stack([torch.stack([p.detach().double().sum(), p.detach().double().square().sum()]) for p in params])
    for other, theirs in enumerate(gather(mine.cpu())):
        differs = (theirs != mine.cpu()).any(1).nonzero().flatten().tolist()
        if differs:
            raise RuntimeError(f"rank {rank()}: {len(differs)} parameter tensors differ from rank {other}'s "
                               f"(first {names[differs[0]]}): the data-parallel replicas diverged")


def describe(global_batch: int, device: torch.device) -> dict[str, str]:
    """Start-up panel lines for a torchrun job (none for a single process)."""
    if not active():
        return {}
    world = world_size()
    bn = "SyncBatchNorm" if device.type == "cuda" else "per-process BatchNorm statistics (no SyncBatchNorm on CPU)"
    return {"processes": f"{world} × {dist.get_backend()} (DistributedDataParallel), {bn}",
            "batch": f"global {global_batch} = {world} × {global_batch // world} per process; "
                     "LR not scaled: the global batch is train.batch_size"}
