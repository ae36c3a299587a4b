"""Device selection and the per-device options of the training networks."""

from __future__ import annotations


def pick_device(name: str, option: str = "--set train.device"):
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` → a torch.device; errors name ``option``, the way the user chose it
    (``--set train.device`` for the training stages, ``--device`` for eval, predict, report and stylize)."""
    import torch

    from posekit.errors import ConfigError

    cpu = f"{option}=cpu" if option.startswith("--set") else f"{option} cpu"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available", hint=f"use {cpu}")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}", hint="use auto, cpu, cuda or cuda:N") from None


def prepare_for_device(method, channels_last: bool | None, compile_mode: str, compile_backend: str, device) -> str:
    """Put ``method``'s networks in NHWC memory format (``channels_last``; None = on CUDA only) and compile the ones
    the optimiser trains in place (``nn.Module.compile``: state-dict keys and checkpoints stay as they are).
    Call it after moving the method to ``device`` and before replicating it for torchrun. Returns a short
    description for the start-up panel."""
    import torch

    nhwc = device.type == "cuda" if channels_last is None else channels_last
    if nhwc:
        method.to(memory_format=torch.channels_last)
    if compile_mode != "off":
        for name in method.trainable_modules():
            getattr(method, name).compile(mode=None if compile_mode == "default" else compile_mode,
                                          backend=compile_backend)
    compiled = "off" if compile_mode == "off" else f"{compile_mode} ({compile_backend})"
    return f"{'channels-last' if nhwc else 'contiguous'}, compile {compiled}"
