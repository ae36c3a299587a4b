"""SimpleBaseline: a backbone (posekit/models/backbones.py) + three stride-2 deconvolutions + 1×1 head; heatmaps at 1/4 of the input."""

from __future__ import annotations

import torch
from torch import nn

from posekit.models.backbones import build_backbone, freeze_batchnorm


class DeconvHead(nn.Module):
    """``[B,C,h,w]`` → features ``[B,D,8h,8w]`` (3 × ConvTranspose k4 s2 + BN + ReLU) and heatmaps ``[B,K,8h,8w]``."""

    def __init__(self, in_channels: int, channels: int, num_joints: int):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(3):
            layers += [nn.ConvTranspose2d(in_channels, channels, 4, 2, 1, bias=False), nn.BatchNorm2d(channels),
                       nn.ReLU(inplace=True)]
            in_channels = channels
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(channels, num_joints, 1)
        for m in self.modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.deconv(x)
        return features, self.final(features)


class PoseNet(nn.Module):
    """``[B,3,S,S]`` → ``{"heatmaps": [B,K,S/4,S/4], "features": [B,D,S/4,S/4], "encoder": [B,C,S/32,S/32]}``
    (the deconv features and the backbone's output, either of which can feed a domain discriminator).

    ``pretrained`` ("none" or "imagenet") initialises the backbone; ``weights`` is a local weights file for a
    ``timm:<name>`` backbone. With ``freeze_bn`` the backbone's BatchNorm layers stay frozen through every
    ``train()`` call.
    """

    def __init__(self, num_joints: int, backbone: str = "resnet50", width: float = 1.0, deconv_channels: int = 256,
                 pretrained: str = "none", weights: str | None = None, freeze_bn: bool = False):
        super().__init__()
        self.backbone = build_backbone(backbone, width=width, weights=weights, pretrained=pretrained)
        channels = max(8, round(deconv_channels * width))
        self.head = DeconvHead(self.backbone.out_channels, channels, num_joints)
        self.frozen_bn = freeze_batchnorm(self.backbone) if freeze_bn else []

    def train(self, mode: bool = True) -> PoseNet:
        super().train(mode)
        for layer in self.frozen_bn:
            layer.eval()
        return self

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        encoded = self.backbone(images)
        features, heatmaps = self.head(encoded)
        return {"heatmaps": heatmaps, "features": features, "encoder": encoded}


class PoseNet25D(PoseNet):
    """SimpleBaseline with a 2.5D output, the convolutional counterpart of ViTPose25D (posekit/models/vit_pose.py):
    its 1×1 head gives ``2K`` maps, ``[B,3,S,S]`` → ``{"heatmaps": [B,K,S/4,S/4], "depth": [B,K,S/4,S/4],
    "features", "encoder"}``. ``depth`` holds each joint's root-relative depth in units of ``depth_scale`` metres,
    read where the joint's heatmap is (posekit/losses/pose3d.py)."""

    def __init__(self, num_joints: int, backbone: str = "resnet50", width: float = 1.0, deconv_channels: int = 256,
                 pretrained: str = "none", weights: str | None = None, freeze_bn: bool = False):
        super().__init__(2 * num_joints, backbone, width, deconv_channels, pretrained, weights, freeze_bn)
        self.num_joints = num_joints

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().forward(images)
        maps, k = out["heatmaps"], self.num_joints
        return {**out, "heatmaps": maps[:, :k], "depth": maps[:, k:]}


def conv_head(channels: int, num_joints: int, layers: int = 2) -> nn.Sequential:
    """A regression head ``[B,D,h,w]`` → ``[B,K,h,w]``: ``layers`` − 1 × (3×3 conv + BN + ReLU), then a 1×1 conv
    (tllib's RegDA heads, ``num_head_layers``); convolutions initialised N(0, 0.001²) with zero bias."""
    modules: list[nn.Module] = []
    for _ in range(layers - 1):
        modules += [nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU()]
    modules.append(nn.Conv2d(channels, num_joints, 1))
    head = nn.Sequential(*modules)
    for m in head.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=0.001)
            nn.init.zeros_(m.bias)
    return head


class SoftmaxPoseNet(PoseNet):
    """SimpleBaseline whose 1×1 head is a :func:`conv_head` (two layers by default) and whose heatmaps are each joint's spatial
    softmax: ``[B,3,S,S]`` → ``{"heatmaps": [B,K,S/4,S/4]`` (probabilities over the map), ``"logits"`` (what a KL
    loss trains), ``"features"``, ``"encoder"}``. RegDA trains it (posekit/methods/regda.py)."""

    def __init__(self, num_joints: int, backbone: str = "resnet50", width: float = 1.0, deconv_channels: int = 256,
                 pretrained: str = "none", weights: str | None = None, freeze_bn: bool = False, head_layers: int = 2):
        super().__init__(num_joints, backbone, width, deconv_channels, pretrained, weights, freeze_bn)
        self.head_layers = head_layers
        self.head.final = conv_head(self.head.final.in_channels, num_joints, head_layers)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().forward(images)
        logits = out["heatmaps"]
        b, k, h, w = logits.shape
        heatmaps = torch.softmax(logits.float().reshape(b, k, h * w), -1).reshape(b, k, h, w)
        return {**out, "heatmaps": heatmaps, "logits": logits}
