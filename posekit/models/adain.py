"""AdaIN style transfer (Huang & Belongie 2017): an ImageNet encoder, AdaIN, a mirrored decoder.

Three encoders are supported:

- ``vgg_normalised``: the network of pytorch-AdaIN / UDAPE / DAML (VGG-19 to relu4_1, a leading 1×1 conv,
  reflection padding), loaded from their ``vgg_normalised.pth`` (an ``nn.Sequential`` state dict with keys
  ``0.weight`` … ``52.bias``; only the first 31 layers, up to relu4_1, are used). Input: RGB in [0, 1].
- ``torchvision``: torchvision's ImageNet VGG-19 ``features[:21]`` (zero padding), input normalised with the
  ImageNet statistics inside the module. Not identical to ``vgg_normalised``; a decoder must be trained for it.
- ``efficientnet_lite0``: the early stages of EfficientNet-Lite0 with its ImageNet weights (the ``posekit[weights]``
  package): the ReLU6 expansion activations where the resolution first reaches 1/2, 1/4 and 1/8 (96, 144 and 240
  channels), the analogue of VGG's relu2_1, relu3_1 and relu4_1. No published decoder exists; train one with
  ``stylize --train-decoder``.

The decoder has the layout of pytorch-AdaIN's ``decoder.pth`` (keys ``1.weight`` … ``26.bias``), so published
decoder weights load directly; for the EfficientNet encoder only its first convolution takes 240 channels.
"""

from __future__ import annotations

import torch
from torch import nn

from posekit.data.augment import IMAGENET_MEAN, IMAGENET_STD, normalise


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


def decoder(in_channels: int = 512) -> nn.Sequential:
    """pytorch-AdaIN's decoder: the encoder's last features (``in_channels``, 1/8; VGG relu4_1: 512) → RGB image."""
    up = [nn.Upsample(scale_factor=2, mode="nearest")]
    layers = _conv(in_channels, 256) + up + _conv(256, 256) + _conv(256, 256) + _conv(256, 256) + _conv(256, 128) + up
    layers += _conv(128, 128) + _conv(128, 64) + up + _conv(64, 64) + [nn.ReflectionPad2d(1), nn.Conv2d(64, 3, 3)]
    return nn.Sequential(*layers)


def mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and std (unbiased variance + eps, as pytorch-AdaIN) of ``[B,C,H,W]``, in float32
    (features from a bf16-autocast encoder too)."""
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1).float()
    return flat.mean(-1)[..., None, None], (flat.var(-1, unbiased=True) + eps).sqrt()[..., None, None]


def adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Give ``content`` features the channel statistics of ``style`` features."""
    cm, cs = mean_std(content)
    sm, ss = mean_std(style)
    return (content.float() - cm) / cs * ss + sm


class VGGEncoder(nn.Module):
    """Returns the relu1_1, relu2_1, relu3_1 and relu4_1 activations of ``[B,3,H,W]`` RGB images in [0, 1]."""

    out_channels = 512

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


class LiteEncoder(nn.Module):
    """EfficientNet-Lite0's early stages: ``[B,3,H,W]`` RGB in [0, 1] → the expansion activations (after BN +
    ReLU6) of the first block at 1/2, 1/4 and 1/8 resolution: ``[B,96,H/2,W/2]``, ``[B,144,H/4,W/4]``,
    ``[B,240,H/8,W/8]``. ``net`` is timm's whole ``tf_efficientnet_lite0`` (so its ImageNet weights load by their
    timm names); only its stem and first blocks run. Frozen, and always in eval mode (stored BN statistics)."""

    out_channels = 240

    def __init__(self):
        super().__init__()
        import timm

        self.net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
        self._taps: list[torch.Tensor] = []
        for stage in (1, 2, 3):
            self.net.blocks[stage][0].bn1.register_forward_hook(lambda _m, _i, out: self._taps.append(out))
        for p in self.parameters():
            p.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> LiteEncoder:
        return super().train(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        self._taps = []
        x = net.blocks[0](net.bn1(net.conv_stem((images - 0.5) / 0.5)))  # TF EfficientNets: mean = std = 0.5
        x = net.blocks[2](net.blocks[1](x))
        first = net.blocks[3][0]
        first.bn1(first.conv_pw(x))  # the 1/8 expansion; the rest of the network is not needed
        return self._taps


ENCODERS = ("vgg_normalised", "torchvision", "efficientnet_lite0")


def style_encoder(kind: str) -> nn.Module:
    """The AdaIN encoder ``kind`` (one of ``ENCODERS``), without weights."""
    return LiteEncoder() if kind == "efficientnet_lite0" else VGGEncoder(kind)


SPACES = ("rgb", "imagenet")


def denormalise(images: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised → RGB (the inverse of ``normalise``)."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device, dtype=images.dtype)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=images.device, dtype=images.dtype)[:, None, None]
    return images * std + mean


class StyleTransfer(nn.Module):
    """``forward(content, style, alpha)`` → stylised images ``[B,3,H,W]`` in [0, 1] (H, W multiples of 8); inputs
    are RGB in [0, 1].

    ``alpha`` ``[B]`` blends AdaIN features with the content features: ``t = α·AdaIN(f_c, f_s) + (1−α)·f_c``.

    ``space``: what the network reads and writes. ``rgb`` (default; pytorch-AdaIN, whose ``vgg_normalised`` was
    made for [0, 1] RGB): images in [0, 1], the output clamped to [0, 1]. ``imagenet`` (DAML's and UDAPE's code,
    which run the style network on their ImageNet-normalised training tensors and train the decoder on them): the
    encoder reads normalised images, the decoder writes normalised images, clamped to the normalised bounds of
    [0, 1] (DAML's ``recover_min``/``recover_max``) and returned as RGB.
    """

    def __init__(self, encoder_kind: str = "vgg_normalised", space: str = "rgb"):
        super().__init__()
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        self.encoder = style_encoder(encoder_kind)
        self.decoder = decoder(self.encoder.out_channels)
        self.space = space

    def _to_net(self, images: torch.Tensor) -> torch.Tensor:
        return normalise(images) if self.space == "imagenet" else images

    def _from_net(self, images: torch.Tensor) -> torch.Tensor:
        return (denormalise(images.float()) if self.space == "imagenet" else images).clamp(0, 1)

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        fc = self.encoder(self._to_net(content))[-1]
        fs = self.encoder(self._to_net(style))[-1]
        t = adain(fc, fs)
        a = alpha.to(t.dtype)[:, None, None, None]
        return self._from_net(self.decoder(a * t + (1 - a) * fc))

    def losses(self, content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder training losses (α = 1) of RGB images in [0, 1] (read in ``space``): content MSE at the
        encoder's last level (VGG: relu4_1) and the mean/std style loss summed over all its levels (VGG:
        relu1_1..4_1)."""
        content, style = self._to_net(content), self._to_net(style)
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
