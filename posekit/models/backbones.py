"""torchvision ResNet backbones returning the stride-32 feature map, with an optional width multiplier."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from posekit.errors import MissingArtifactError

SPECS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2), "ResNet18_Weights"),
    "resnet34": (BasicBlock, (3, 4, 6, 3), "ResNet34_Weights"),
    "resnet50": (Bottleneck, (3, 4, 6, 3), "ResNet50_Weights"),
    "resnet101": (Bottleneck, (3, 4, 23, 3), "ResNet101_Weights"),
}


class _WidthResNet(ResNet):
    """torchvision's ResNet with every stage's width multiplied by ``width`` (the stem keeps 64 channels)."""

    def __init__(self, block, layers, width: float):
        self._width = width
        super().__init__(block, list(layers))

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        return super()._make_layer(block, max(8, round(planes * self._width)), blocks, stride, dilate)


class ResNetBackbone(nn.Module):
    """``[B,3,H,W]`` → ``[B,C,H/32,W/32]``; ``out_channels`` is C."""

    def __init__(self, depth: str, width: float = 1.0, pretrained: str = "none"):
        super().__init__()
        block, layers, weights_enum = SPECS[depth]
        net = _WidthResNet(block, layers, width)
        if pretrained == "imagenet":
            net.load_state_dict(load_imagenet_state(depth, weights_enum))
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels = self.layer4[-1].conv3.out_channels if block is Bottleneck else self.layer4[-1].conv2.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))


def load_imagenet_state(depth: str, weights_enum: str) -> dict:
    """ImageNet weights through torchvision's weights API (downloaded once to the torch hub cache)."""
    weights = getattr(torchvision.models, weights_enum).IMAGENET1K_V1
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - network and hash errors come in many types
        raise MissingArtifactError(
            f"could not load ImageNet weights for {depth} ({exc.__class__.__name__})",
            hint=f"download {weights.url} to {target} (or set TORCH_HOME), or use --set model.pretrained=none",
        ) from None
