"""Mixed precision: whether a network runs under bf16 autocast on a device, and why (``train.amp``, ``--amp``).

``auto`` (the default) turns bf16 autocast on

- on CUDA, for every network (as before CPUs were considered);
- on a CPU that has bf16 matrix units (Intel AMX tiles or AVX512-BF16, e.g. Sapphire Rapids, AMD Zen 4), for the
  network families in which it was measured to pay there (:data:`CPU_BF16_PAYS`, from ``bench/precision.py``;
  docs/performance.md): ResNets, ViTs of ViT-Tiny's width and more, and the AdaIN style network, whose time goes
  into dense convolutions and matrix products. Not for the depthwise EfficientNet-Lite trunks (bf16 no faster
  than fp32 there), nor for ViTs narrower than 192 channels such as the CPU demo's (slower: the casts cost more
  than the small matrix products gain), nor for an arbitrary ``timm:`` model, which nobody measured.

``bf16`` forces autocast on (a CPU without the units emulates bf16, slowly); ``off`` runs float32. Either way only
the forward passes of the networks run in bf16: weights, gradients and optimiser state stay float32 (autocast
casts copies), and losses, heatmap decoding, view warps and EMA updates run in float32 (``full_precision`` in
:mod:`posekit.data.augment`, and the losses cast their inputs up).
"""

from __future__ import annotations

import contextlib
import functools
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

AmpSetting = Literal["auto", "bf16", "off"]
AMP_SETTINGS: tuple[str, ...] = ("auto", "bf16", "off")

# network family → whether bf16 autocast pays on a CPU with bf16 units (bench/precision.py, docs/performance.md)
# (adain: the AdaIN style network of `posekit stylize`, whose dense VGG-like decoder dominates with either encoder)
CPU_BF16_PAYS: dict[str, bool] = {"resnet": True, "vit": True, "vit_narrow": False, "efficientnet_lite": False,
                                  "timm": False, "adain": True}


@dataclass(frozen=True)
class CpuUnits:
    """What this CPU offers for bf16: its model name, torch's vector capability and the bf16 matrix units."""

    model: str
    capability: str
    amx: bool
    avx512_bf16: bool

    @property
    def bf16(self) -> bool:
        return self.amx or self.avx512_bf16

    def units(self) -> str:
        found = [name for name, has in (("AMX", self.amx), ("AVX512-BF16", self.avx512_bf16)) if has]
        return " + ".join(found) if found else "no bf16 units"

    def to_json(self) -> dict:
        return {"model": self.model, "capability": self.capability, "amx": self.amx, "avx512_bf16": self.avx512_bf16}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def cpu_units() -> CpuUnits:
    """This machine's :class:`CpuUnits` (asked once per process)."""
    return CpuUnits(_cpu_model(), torch.backends.cpu.get_cpu_capability(), bool(torch.cpu._is_amx_tile_supported()),
                    bool(torch.cpu._is_avx512_bf16_supported()))


@dataclass(frozen=True)
class Precision:
    """The outcome of :func:`resolve_amp`: ``bf16`` (autocast on or off) and ``reason`` (one line for the start-up
    panel, env.json and evaluation outputs)."""

    bf16: bool
    reason: str

    @property
    def label(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    def describe(self) -> str:
        return f"{self.label} ({self.reason})"

    def autocast(self, device_type: str) -> contextlib.AbstractContextManager:
        """bf16 autocast on ``device_type`` when :attr:`bf16`, else a context that changes nothing."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=torch.bfloat16)

    def to_json(self) -> dict:
        return {"precision": self.label, "reason": self.reason}


FP32 = Precision(False, "off")


def resolve_amp(setting: str, device: torch.device, family: str, units: CpuUnits | None = None) -> Precision:
    """Whether a network of ``family`` (``resnet``, ``efficientnet_lite``, ``vit``, ``timm``, ...) runs under bf16
    autocast on ``device`` for the ``setting`` auto | bf16 | off; ``units`` defaults to this CPU's."""
    if setting not in AMP_SETTINGS:
        raise ValueError(f"amp {setting!r}: use one of {', '.join(AMP_SETTINGS)}")
    if setting == "off":
        return FP32
    if device.type == "cuda":
        return Precision(True, f"{setting}: CUDA")
    if device.type != "cpu":
        return Precision(False, f"{setting}: no bf16 autocast on {device.type}")
    units = units or cpu_units()
    if setting == "bf16":
        return Precision(True, "asked" + ("" if units.bf16 else "; this CPU has no bf16 units, so it is emulated"))
    if not units.bf16:
        return Precision(False, "auto: this CPU has no bf16 units (AMX, AVX512-BF16)")
    if not CPU_BF16_PAYS.get(family, False):
        return Precision(False, f"auto: bf16 does not pay for {family} on a CPU")
    return Precision(True, f"auto: CPU {units.units()}, {family}")
