"""Device selection."""

from __future__ import annotations


def pick_device(name: str):
    import torch

    from posekit.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available", hint="use --set train.device=cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}", hint="use auto, cpu, cuda or cuda:N") from None
