"""AdaIN style transfer (Huang & Belongie 2017): VGG-19 encoder up to relu4_1, AdaIN, mirrored decoder.

Two encoders are supported:

- ``vgg_normalised``: the network of pytorch-AdaIN / UDAPE / DAML (a leading 1×1 conv, reflection padding), loaded
  from their ``vgg_normalised.pth`` (an ``nn.Sequential`` state dict with keys ``0.weight`` … ``52.bias``; only the
  first 31 layers, up to relu4_1, are used). Input: RGB in [0, 1].
- ``torchvision``: torchvision's ImageNet VGG-19 ``features[:21]`` (zero padding), input normalised with the
  ImageNet statistics inside the module. Not identical to ``vgg_normalised``; a decoder must be trained for it.

The decoder has the layout of pytorch-AdaIN's ``decoder.pth`` (keys ``1.weight`` … ``26.bias``), so published
decoder weights load directly.
"""

from __future__ import annotations

import torch
from torch import nn

from posekit.data.augment import IMAGENET_MEAN, IMAGENET_STD


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]


def vgg_normalised() -> nn.Sequential:
    """The first 31 layers (to relu4_1) of pytorch-AdaIN's ``vgg_normalised`` network."""
    pool = [nn.MaxPool2d(2, 2, 0, ceil_mode=True)]
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    layers += _conv(3, 64) + _conv(64, 64) + pool
    layers += _conv(64, 128) + _conv(128, 128) + pool
    layers += _conv(128, 256) + _conv(256, 256) + _conv(256, 256) + _conv(256, 256) + pool
    layers += _conv(256, 512)
    return nn.Sequential(*layers)


def decoder() -> nn.Sequential:
    """pytorch-AdaIN's decoder: relu4_1 features (512 ch, 1/8) → RGB image."""
    up = [nn.Upsample(scale_factor=2, mode="nearest")]
    layers = _conv(512, 256) + up + _conv(256, 256) + _conv(256, 256) + _conv(256, 256) + _conv(256, 128) + up
    layers += _conv(128, 128) + _conv(128, 64) + up + _conv(64, 64) + [nn.ReflectionPad2d(1), nn.Conv2d(64, 3, 3)]
    return nn.Sequential(*layers)


def mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and std (unbiased variance + eps, as pytorch-AdaIN) of ``[B,C,H,W]``."""
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1)
    return flat.mean(-1)[..., None, None], (flat.var(-1, unbiased=True) + eps).sqrt()[..., None, None]


def adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Give ``content`` features the channel statistics of ``style`` features."""
    cm, cs = mean_std(content)
    sm, ss = mean_std(style)
    return (content - cm) / cs * ss + sm


class VGGEncoder(nn.Module):
    """Returns the relu1_1, relu2_1, relu3_1 and relu4_1 activations of ``[B,3,H,W]`` RGB images in [0, 1]."""

    def __init__(self, kind: str = "vgg_normalised"):
        super().__init__()
        self.kind = kind
        if kind == "vgg_normalised":
            net = vgg_normalised()
            cuts = (4, 11, 18, 31)
        elif kind == "torchvision":
            import torchvision

            net = torchvision.models.vgg19().features[:21]
            cuts = (2, 7, 12, 21)
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[:, None, None], persistent=False)
            self.register_buffer("std", torch.tensor(IMAGENET_STD)[:, None, None], persistent=False)
        else:
            raise ValueError(f"unknown encoder kind {kind!r}")
        self.net = net
        self.cuts = cuts
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = images if self.kind == "vgg_normalised" else (images - self.mean) / self.std
        feats, start = [], 0
        for cut in self.cuts:
            x = self.net[start:cut](x)
            feats.append(x)
            start = cut
        return feats


class StyleTransfer(nn.Module):
    """``forward(content, style, alpha)`` → stylised images ``[B,3,H,W]`` in [0, 1] (H, W multiples of 8).

    ``alpha`` ``[B]`` blends AdaIN features with the content features: ``t = α·AdaIN(f_c, f_s) + (1−α)·f_c``.
    """

    def __init__(self, encoder_kind: str = "vgg_normalised"):
        super().__init__()
        self.encoder = VGGEncoder(encoder_kind)
        self.decoder = decoder()

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        fc = self.encoder(content)[-1]
        fs = self.encoder(style)[-1]
        t = adain(fc, fs)
        a = alpha.to(t.dtype)[:, None, None, None]
        return self.decoder(a * t + (1 - a) * fc).clamp(0, 1)

    def losses(self, content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder training losses (α = 1): content MSE at relu4_1 and the mean/std style loss at relu1_1..4_1."""
        fc = self.encoder(content)[-1]
        style_feats = self.encoder(style)
        t = adain(fc, style_feats[-1])
        out = self.decoder(t)
        out_feats = self.encoder(out)
        content_loss = nn.functional.mse_loss(out_feats[-1], t)
        style_loss = out.new_zeros(())
        for o, s in zip(out_feats, style_feats):
            om, os_ = mean_std(o)
            sm, ss = mean_std(s)
            style_loss = style_loss + nn.functional.mse_loss(om, sm) + nn.functional.mse_loss(os_, ss)
        return content_loss, style_loss
