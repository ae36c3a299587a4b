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
    """A training objective around one or more networks.

    ``forward(batch, step)`` returns a dict of scalar tensors with the total under ``"loss"``; ``train_step`` turns it
    into one optimiser step (methods that update in several phases per step override ``train_step`` instead).
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

    def forward(self, batch: dict, step: int) -> dict[str, torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def inference_model(self) -> nn.Module:  # pragma: no cover - interface
        raise NotImplementedError

    def train_step(self, batch: dict, step: int, optimizer: torch.optim.Optimizer,
                   autocast: Callable[[], contextlib.AbstractContextManager]) -> dict[str, torch.Tensor]:
        """One optimisation step on ``batch``: the loss terms (``forward`` under ``autocast()``), one backward pass
        of ``"loss"`` and one optimiser step. Returns the terms (the trainer logs them)."""
        with autocast():
            losses = self(batch, step)
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

    def augmented_view(self, images: torch.Tensor, a, size: int, keypoints: torch.Tensor | None = None,
                       flip_perm: list[int] | None = None):
        """One random view per image, drawn from ``self.generator``: an affine warp of ``[B,3,H,W]`` images (uint8,
        or float in [0, 1]) to ``size`` (``a`` is an AugmentConfig), colour jitter, ImageNet normalisation. Returns the images,
        the keypoints ``[B,K,3]`` moved into the view with left/right swapped where flipped (None without
        keypoints), and the ``[B]`` flip flags."""
        from posekit.data.augment import (
            compose,
            fit_matrix,
            flip_joints,
            jitter_factors,
            render_views,
            sample_affine,
            sample_resized_crop,
            transform_keypoints,
        )

        b, _, h, w = images.shape
        crop = a.crop
        hw = (h, w) if crop is None else (size, size)  # with a crop, the affine acts on the resize-padded crop
        m, flipped = self.draw(b, lambda n: sample_affine(n, hw, size, a.rotation, a.scale, a.shear, a.translate,
                                                          a.flip, generator=self.generator, device=images.device))
        if crop is not None:
            rrc = self.draw(b, lambda n: sample_resized_crop(n, size, crop, self.generator, images.device))
            m = compose(m, rrc, fit_matrix((h, w), size, b, device=images.device))
        out = render_views(images, m, size, self.draw(b, lambda n: jitter_factors(n, a.colour, self.generator)))
        if keypoints is not None:
            keypoints = flip_joints(transform_keypoints(keypoints, m), flipped, flip_perm)
        return out, keypoints, flipped

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
