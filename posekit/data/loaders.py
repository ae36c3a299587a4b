"""Infinite, resumable training batches through DataLoaders: the order of every batch is a function of (seed,
step), so a resumed run sees the batches an uninterrupted one would; in a torchrun job each process reads its rows
of each global batch (``shard`` = (rank, world size))."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from posekit.data.dataset import StepBatchSampler
from posekit.signals import dataloader_worker_init


def step_batches(dataset: Dataset, batch_size: int, seed: int, start_step: int, workers: int,
                 device: torch.device, shard: tuple[int, int] = (0, 1)) -> Iterator[dict]:
    """Infinite, resumable batches (order = f(seed, step)) through a DataLoader; with ``shard`` = (rank, world)
    this process's rows of each global batch of ``batch_size``."""
    sampler = StepBatchSampler(len(dataset), batch_size, seed, start_step=start_step, shard=shard)
    return iter(DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=device.type == "cuda",
                           persistent_workers=workers > 0, worker_init_fn=dataloader_worker_init))


def target_seed(seed: int) -> int:
    """The seed of the target batches' order: not the source's (``seed``), so the two domains are not drawn in
    lockstep when their splits have the same size."""
    return seed + 1


def paired_batches(source: Iterator[dict], target: Iterator[dict]) -> Iterator[dict]:
    """Merge a source and a target batch per step; target keys get a ``target_`` prefix."""
    for s, t in zip(source, target):
        yield {**s, **{f"target_{k}": v for k, v in t.items()}}


def domain_batches(source: Dataset, target: Dataset | None, batch_size: int, seed: int, start_step: int,
                   workers: int, device: torch.device, shard: tuple[int, int] = (0, 1)) -> Iterator[dict]:
    """Source batches, merged with target batches (keys prefixed ``target_``, their own order) when ``target`` is
    given; resumable from ``start_step`` like :func:`step_batches`."""
    batches = step_batches(source, batch_size, seed, start_step, workers, device, shard)
    if target is None:
        return batches
    return paired_batches(batches, step_batches(target, batch_size, target_seed(seed), start_step, workers, device,
                                                shard))
