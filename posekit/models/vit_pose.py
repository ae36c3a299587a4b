"""ViTPose-style 2.5D pose network: ViT tokens → 2D heatmaps and root-relative depth maps at 1/4 of the input."""

from __future__ import annotations

import math

import torch
from torch import nn

from posekit.models.vit import ViTEncoder


class Head25D(nn.Module):
    """Tokens ``[B,N,D]`` on a ``g×g`` grid (stride ``p``) → features, heatmaps and depth maps at stride 4, each
    ``[B,·,g·p/4,g·p/4]``: ``log2(p/4)`` deconvolutions (k4, s2, BN, ReLU), then one 1×1 conv for ``K`` heatmaps
    and ``K`` depth maps."""

    def __init__(self, dim: int, patch_size: int, channels: int, num_joints: int):
        super().__init__()
        ups = int(math.log2(patch_size // 4))
        if 4 * 2**ups != patch_size:
            raise ValueError(f"patch size {patch_size} must be 4·2^n (4, 8, 16, 32)")
        layers: list[nn.Module] = []
        in_ch = dim
        for _ in range(ups):
            layers += [nn.ConvTranspose2d(in_ch, channels, 4, 2, 1, bias=False), nn.BatchNorm2d(channels),
                       nn.ReLU(inplace=True)]
            in_ch = channels
        self.deconv = nn.Sequential(*layers)
        self.out_channels = in_ch
        self.final = nn.Conv2d(in_ch, 2 * num_joints, 1)
        self.num_joints = num_joints
        for m in self.modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, d = tokens.shape
        g = math.isqrt(n)
        features = self.deconv(tokens.transpose(1, 2).reshape(b, d, g, g))
        out = self.final(features)
        return features, out[:, : self.num_joints], out[:, self.num_joints :]


class ViTPose25D(nn.Module):
    """``[B,3,S,S]`` → ``{"heatmaps": [B,K,S/4,S/4], "depth": [B,K,S/4,S/4], "features": [B,C,S/4,S/4],
    "attention": list of [B,heads,N,N]}`` (the last ``attention_layers`` blocks' maps; empty by default).

    ``depth`` holds each joint's root-relative depth in units of ``depth_scale`` metres, read where the joint's
    heatmap is (see posekit/losses/pose3d.py).
    """

    def __init__(self, encoder: ViTEncoder, head_channels: int, num_joints: int):
        super().__init__()
        self.encoder = encoder
        self.head = Head25D(encoder.dim, encoder.patch_size, head_channels, num_joints)

    def forward(self, images: torch.Tensor, attention_layers: int = 0) -> dict:
        tokens, maps = self.encoder(images, attention_layers=attention_layers)
        features, heatmaps, depth = self.head(tokens)
        return {"heatmaps": heatmaps, "depth": depth, "features": features, "attention": maps}
