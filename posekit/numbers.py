"""The one check of a number a user gives posekit: command-line options (declared with :class:`Bounds`, checked by
``posekit.cli._common.handle_errors`` before a command runs), API parameters (:func:`check_number`) and the few
values parsed from text (``--pose-families``). The configuration's pydantic models give the same guarantee with
``allow_inf_nan=False`` and ``Field(ge=..., le=...)``.

A number passes when it is a number of the right kind (an integer where one is needed; never ``True``/``False``),
finite, and within its bounds; otherwise a :class:`~posekit.errors.ConfigError` names the value, the option and the
bound it breaks (``--margin must be ≤ 100, got 1e+300``).

Sizes that multiply into memory (``--cell`` × ``--num`` of ``posekit show``, image sides, batch sizes) carry a
documented maximum here too, so that a typo cannot make posekit allocate gigabytes before failing.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from posekit.errors import ConfigError

# documented maxima (docs/cli.md): well above any real use, far below what would exhaust a machine
MAX_BATCH = 4096  # images or crops per forward pass
MAX_SIDE = 4096  # an image or crop side in pixels
MAX_COUNT = 10_000_000  # samples or images to generate or draw
MAX_STEPS = 100_000_000  # optimisation steps


def _show(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bound(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Bounds:
    """What a number must be: an integer (``integer``) or any real, ``lo ≤ x ≤ hi`` (``<`` where ``lo_open`` /
    ``hi_open``); None leaves that side open (finite numbers only, always). As ``Annotated`` metadata of a CLI
    option, ``posekit.cli._common.handle_errors`` checks the option with it before the command runs."""

    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    lo_open: bool = False
    hi_open: bool = False
    hint: str | None = None

    def check(self, value: Any, name: str) -> Any:
        return check_number(value, name, lo=self.lo, hi=self.hi, integer=self.integer, lo_open=self.lo_open,
                            hi_open=self.hi_open, hint=self.hint)

    def describe(self) -> str:
        """``an integer in [1, 4096]``, ``a number > 0``..."""
        kind = "an integer" if self.integer else "a number"
        if self.lo is not None and self.hi is not None:
            return (f"{kind} in {'(' if self.lo_open else '['}{_bound(self.lo)}, {_bound(self.hi)}"
                    f"{')' if self.hi_open else ']'}")
        if self.lo is not None:
            return f"{kind} {'>' if self.lo_open else '≥'} {_bound(self.lo)}"
        if self.hi is not None:
            return f"{kind} {'<' if self.hi_open else '≤'} {_bound(self.hi)}"
        return "a finite integer" if self.integer else "a finite number"


def check_number(value: Any, name: str, *, lo: float | None = None, hi: float | None = None, integer: bool = False,
                 lo_open: bool = False, hi_open: bool = False, hint: str | None = None) -> Any:
    """``value`` as an ``int`` (``integer``) or ``float`` when it is a finite number of that kind within the bounds;
    else ConfigError ``{name} must be ..., got {value}`` naming the bound it breaks."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
            integer and not isinstance(value, numbers.Integral)):
        raise ConfigError(f"{name} must be {kind}, got {_show(value)}", hint=hint)
    if isinstance(value, numbers.Integral):
        value = int(value)  # exact, however large: compared below without a float conversion
    else:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {_show(value)}", hint=hint)
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ConfigError(f"{name} must be {'>' if lo_open else '≥'} {_bound(lo)}, got {_show(value)}", hint=hint)
    if hi is not None and (value >= hi if hi_open else value > hi):
        raise ConfigError(f"{name} must be {'<' if hi_open else '≤'} {_bound(hi)}, got {_show(value)}", hint=hint)
    return value


def parse_number(text: str, name: str, **bounds: Any) -> Any:
    """A number written as text (``"2"``, ``"0.5"``), checked by :func:`check_number`; text that is not a number is a
    ConfigError naming ``name`` too."""
    integer = bounds.get("integer", False)
    try:
        value = int(text.strip()) if integer else float(text.strip())
    except (ValueError, AttributeError):
        raise ConfigError(f"{name} must be {'an integer' if integer else 'a number'}, got {_show(text)}",
                          hint=bounds.get("hint")) from None
    return check_number(value, name, **bounds)


def check_flag(value: Any, name: str) -> bool:
    """A yes/no parameter of the API: ``True`` or ``False`` (numpy's too), never a truthy string such as ``'no'``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ConfigError(f"{name} must be True or False, got {_show(value)}")
