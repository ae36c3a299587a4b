"""The image-level style methods ``posekit stylize --method`` runs, by name: each restyles a batch of content images
``[B,3,H,W]`` (RGB in [0, 1]) toward a batch of style images of the same shape, blended by ``alpha`` ``[B]``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from posekit.registry import Registry
from posekit.stylize.transfer import colour_match, fda


@dataclass(frozen=True)
class Stylizer:
    """One style method: ``apply(content, style, alpha, beta, net)`` → restyled images; ``network``: it needs the
    AdaIN style network the stage builds (``net``; None for the others); ``default_alpha``: its α range when none
    is given; ``keys``: the configuration keys of its own that its images depend on (they enter the cache's
    settings hash)."""

    name: str
    summary: str
    default_alpha: tuple[float, float]
    apply: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, torch.nn.Module | None], torch.Tensor]
    network: bool = False
    keys: tuple[str, ...] = ()


STYLIZERS: Registry[Stylizer] = Registry("--method")


def register(stylizer: Stylizer) -> Stylizer:
    return STYLIZERS.register(stylizer.name)(stylizer)


# the training-free methods keep at least half of the target's statistics; AdaIN mixes α ~ U(0, 1) as DAML's code
# does (--s2t-alpha 0 1)
register(Stylizer("colour", "per-channel mean and std of the style image", (0.5, 1.0),
                  lambda content, style, alpha, beta, net: colour_match(content, style, alpha)))
register(Stylizer("fda", "Fourier domain adaptation: the style's low-frequency amplitudes (--beta)", (0.5, 1.0),
                  lambda content, style, alpha, beta, net: fda(content, style, alpha, beta), keys=("beta",)))
register(Stylizer("adain", "AdaIN: an encoder's feature statistics, decoded (--encoder, --vgg, --decoder or "
                           "--train-decoder)", (0.0, 1.0),
                  lambda content, style, alpha, beta, net: net(content, style, alpha).float(), network=True,
                  keys=("encoder", "vgg", "decoder", "train_decoder", "decoder_steps")))
