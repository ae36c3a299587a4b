"""Training the AdaIN decoder on source and target images: content + w × style, α = 1. posekit's w = 0.1 is the
``--style_weight 0.1`` of UDAPE's README command for its decoder (``adain/train/train_human.py``, whose own default
is 1.0; DAML's README loads ``decoder_s2l_0_1.pth.tar``, the name that command's ``--exp_name s2h_0_1`` pattern
gives). UDAPE's trainer also reads ImageNet-normalised, augmented views (``StyleTransfer(space="imagenet")``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from posekit.engine.method import Method
from posekit.models.adain import StyleTransfer


class AdaINDecoderMethod(Method):
    """Each step is source-content/target-style or the reverse (a coin flip), as in UDAPE's decoder trainer.

    Batch: ``image`` (source) and ``target_image`` uint8 ``[B,3,H,W]``.
    """

    name = "adain_decoder"

    def __init__(self, net: StyleTransfer, style_weight: float, seed: int):
        super().__init__()
        self.net = net
        self.style_weight = style_weight
        self.generator = torch.Generator().manual_seed(seed)

    def losses(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        source = batch["image"].float() / 255.0
        target = batch["target_image"].float() / 255.0
        if target.shape[-2:] != source.shape[-2:]:
            target = F.interpolate(target, size=source.shape[-2:], mode="bilinear", align_corners=False)
        content, style = (source, target) if torch.rand((), generator=self.generator) < 0.5 else (target, source)
        content_loss, style_loss = self.net.losses(content, style)
        return {"loss": content_loss + self.style_weight * style_loss, "content": content_loss, "style": style_loss}

    def inference_model(self) -> nn.Module:
        return self.net.decoder

    def rng_state(self) -> dict:
        return {"coin": self.generator.get_state()}

    def load_rng_state(self, state: dict) -> None:
        if "coin" in state:
            self.generator.set_state(state["coin"])
