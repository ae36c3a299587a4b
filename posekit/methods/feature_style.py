"""Image levels that need no pretrained style network and no cache: cross-domain MixStyle (the target's channel
statistics mixed into the source's early features, Zhou et al., ICLR 2021) and random convolutions (a random
linear filter over the source image, Xu et al., ICLR 2021)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

EPS = 1e-6


def channel_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image channel mean and standard deviation of features ``[B,C,H,W]`` → two ``[B,C,1,1]`` float32
    tensors, detached (MixStyle stops the gradient through the statistics)."""
    x = x.detach().float()
    return x.mean((2, 3), keepdim=True), (x.var((2, 3), keepdim=True) + EPS).sqrt()


def beta_draws(n: int, alpha: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` draws of Beta(α, α) ``[n]`` made from ``generator`` (torch's Beta sampler takes no generator): a seed
    drawn from it feeds NumPy's sampler, so the draws follow the run's seed and resume with it."""
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=n)).float()


class CrossDomainMixStyle:
    """MixStyle across domains: while the student sees target views, the channel statistics of the outputs of
    ``layers`` (e.g. a backbone's stride-4 and stride-8 stages) are recorded; in the next source pass each source
    image, with probability ``prob``, has its features re-normalised to statistics mixed λ · own + (1 − λ) · a
    random target image's, λ ~ Beta(α, α), drawn per image and shared by the layers (Zhou et al.'s defaults:
    α = 0.1, probability 0.5; their statistics are detached, as here).

    Hooks exist only inside ``capture()`` and ``mix()``, so the teacher (a copy of the student), evaluation and
    export never carry them.
    """

    def __init__(self, layers: Sequence[nn.Module], alpha: float, prob: float):
        self.layers = list(layers)
        self.alpha, self.prob = alpha, prob
        self.target: list[tuple[torch.Tensor, torch.Tensor]] = []

    @contextmanager
    def _hooked(self, hook) -> Iterator[None]:
        handles = [layer.register_forward_hook(hook) for layer in self.layers]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    @contextmanager
    def capture(self) -> Iterator[None]:
        """Record each layer's target statistics during the forward pass inside the block."""
        self.target = []
        with self._hooked(lambda _m, _i, out: self.target.append(channel_statistics(out))):
            yield

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(use [n] bool, λ [n], partner [n] index into the captured target batch)``."""
        use = torch.rand(n, generator=generator) < self.prob
        lam = beta_draws(n, self.alpha, generator)
        partner = torch.randint(self.target[0][0].shape[0], (n,), generator=generator)
        return use, lam, partner

    @contextmanager
    def mix(self, draws: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> Iterator[None]:
        """Mix the captured target statistics into the source features of the one forward pass inside the block
        (the layers fire in the order they were captured), with ``draws`` from ``sample``."""
        if not self.target:
            raise RuntimeError("CrossDomainMixStyle.mix before a capture: no target statistics")
        layer = iter(range(len(self.layers)))

        def hook(_module, _inputs, out: torch.Tensor) -> torch.Tensor:
            use, lam, partner = (t.to(out.device) for t in draws)
            mu_t, sig_t = self.target[next(layer)]
            mu, sig = channel_statistics(out)
            lam = lam.view(-1, 1, 1, 1)
            mu_mix = lam * mu + (1 - lam) * mu_t[partner]
            sig_mix = lam * sig + (1 - lam) * sig_t[partner]
            mixed = ((out.float() - mu) / sig * sig_mix + mu_mix).to(out.dtype)
            return torch.where(use.view(-1, 1, 1, 1), mixed, out)

        with self._hooked(hook):
            yield


def random_convolution_draws(n: int, kernel_sizes: Sequence[int], prob: float, generator: torch.Generator
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(use [n] bool, filters [n,3,3,K,K], α [n])`` for ``random_convolution``: per image a kernel size k from
    ``kernel_sizes`` (its filter in the centre of a K × K zero kernel, K the largest size), weights ~ N(0, 1 / (3 k²))
    (RandConv's He-style scale) and α ~ U(0, 1)."""
    big = max(kernel_sizes)
    use = torch.rand(n, generator=generator) < prob
    size = torch.tensor(kernel_sizes)[torch.randint(len(kernel_sizes), (n,), generator=generator)]
    weights = torch.randn(n, 3, 3, big, big, generator=generator)
    r = torch.arange(big) - big // 2
    inside = (r.abs()[None, :, None] <= size[:, None, None] // 2) & (r.abs()[None, None, :] <= size[:, None, None] // 2)
    weights = weights * inside[:, None, None] / (3 * size.float() ** 2).sqrt().view(-1, 1, 1, 1, 1)
    return use, weights, torch.rand(n, generator=generator)


def random_convolution(images: torch.Tensor, draws: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                       ) -> torch.Tensor:
    """Random-convolution views of ``images`` ``[B,3,H,W]`` in [0, 1] where ``use`` is true (others returned as
    they are), with ``draws`` from ``random_convolution_draws``: each image filtered by its own random 3 → 3 filter
    (reflect-padded), each output channel re-standardised to the input channel's mean and standard deviation, then
    blended α · input + (1 − α) · filtered (RandConv's "mix" variant) and clamped to [0, 1], so a view stays an
    image."""
    use, weights, alpha = (t.to(images.device) for t in draws)
    b, c, h, w = images.shape
    big = weights.shape[-1]
    x = images.float()
    flat = x.reshape(1, b * c, h, w)
    if big > 1:
        flat = nn.functional.pad(flat, (big // 2,) * 4, mode="reflect")
    out = nn.functional.conv2d(flat, weights.reshape(b * c, c, big, big), groups=b).reshape(b, c, h, w)
    mu, sig = channel_statistics(x)
    mu_o, sig_o = channel_statistics(out)
    out = (out - mu_o) / sig_o * sig + mu
    alpha = alpha.view(-1, 1, 1, 1)
    out = (alpha * x + (1 - alpha) * out).clamp(0, 1).to(images.dtype)
    return torch.where(use.view(-1, 1, 1, 1), out, images)
