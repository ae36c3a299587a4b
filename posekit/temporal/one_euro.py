"""The One-Euro filter (Casiez, Roussel & Vogel, CHI 2012): an exponential smoother whose cut-off frequency rises
with the signal's speed, so a still joint stops jittering and a moving one lags little.

For a sample ``x_t`` at time ``t`` (seconds) and the previous filtered value ``x̂``::

    dx   = (x_t − x̂) / Δt,            dx̂ = α(Δt, d_cutoff) · dx + (1 − α) · dx̂
    fc   = min_cutoff + beta · |dx̂|,  x̂  = α(Δt, fc) · x_t + (1 − α) · x̂
    α(Δt, fc) = 1 / (1 + 1 / (2π · fc · Δt))

posekit filters keypoints in pixels but measures their speed in units of the person's size (``scale``: the side of
the crop the network saw, per second), so ``beta`` means the same for a near and a far person.
"""

from __future__ import annotations

import math

import numpy as np


def alpha(dt: float, cutoff: float) -> float:
    """The smoothing factor of a first-order low-pass filter at ``cutoff`` Hz sampled every ``dt`` seconds."""
    return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))


class OneEuroFilter:
    """Filters arrays of any fixed shape (e.g. keypoints ``[K,2]``) sample by sample; ``min_cutoff`` (Hz) sets the
    smoothing of slow motion (lower: smoother), ``beta`` how fast the cut-off rises with speed (higher: less lag),
    ``d_cutoff`` (Hz) the smoothing of the speed estimate. Non-finite samples pass through and leave the state."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
            raise ValueError(f"One-Euro needs min_cutoff > 0, beta ≥ 0, d_cutoff > 0 (got {min_cutoff}, {beta}, "
                             f"{d_cutoff})")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None
        self.time: float | None = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """The filtered sample at time ``t`` (seconds); ``scale``: the unit of speed for ``beta`` (pixels)."""
        x = np.asarray(x, dtype=np.float64)
        if self.value is None or self.time is None:
            self.value, self.speed, self.time = x.copy(), np.zeros_like(x), t
            return x.copy()
        if not t > self.time:  # a repeated or earlier time: nothing to filter against
            return x.copy()
        dt = t - self.time
        ok = np.isfinite(x) & np.isfinite(self.value)
        dx = np.where(ok, (x - self.value) / dt, 0.0)
        a_d = alpha(dt, self.d_cutoff)
        speed = a_d * dx + (1 - a_d) * self.speed
        cutoff = self.min_cutoff + self.beta * np.abs(speed) / max(scale, 1e-9)
        a = 1.0 / (1.0 + 1.0 / (2 * np.pi * cutoff * dt))
        out = np.where(ok, a * x + (1 - a) * self.value, x)
        fresh = np.isfinite(x) & ~np.isfinite(self.value)  # a joint seen for the first time starts its own state
        self.value = np.where(ok | fresh, out, self.value)
        self.speed = np.where(ok, speed, np.where(fresh, 0.0, self.speed))
        self.time = t
        return out
