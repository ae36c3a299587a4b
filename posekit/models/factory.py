"""The one place networks are built: from a configuration section (a pydantic model or the plain mapping a checkpoint
stores), with no dependence on the configuration classes themselves.

A new architecture plugs in by adding a builder to ``ARCHITECTURES``; checkpoints name theirs in the header's
``architecture`` key (checkpoints written before that key existed are read through ``LEGACY_ARCHITECTURE``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from posekit.config.backbones import BACKBONES
from posekit.models.pose_net import PoseNet, PoseNet25D, SoftmaxPoseNet
from posekit.models.vit import MAEDecoder, MaskedAutoencoder, ViTEncoder
from posekit.models.vit_pose import ViTPose25D
from posekit.models.vit_weights import load_mae_imagenet


def fields(section: Any) -> dict[str, Any]:
    """A configuration section as a plain dict (pydantic models are dumped; mappings are copied)."""
    return section.model_dump() if hasattr(section, "model_dump") else dict(section)


def build_pose_net(model: Mapping | Any, num_joints: int, load_pretrained: bool = True) -> PoseNet:
    """SimpleBaseline (a registered backbone + deconvolution head) from a ``model`` section: backbone, width,
    deconv_channels, pretrained, weights, freeze_bn. ``load_pretrained=False`` skips reading ImageNet weights (for a
    network whose weights come from a checkpoint next)."""
    m = fields(model)
    return PoseNet(num_joints, backbone=m["backbone"], width=m["width"], deconv_channels=m["deconv_channels"],
                   pretrained=m["pretrained"] if load_pretrained else "none", weights=m.get("weights"),
                   freeze_bn=m.get("freeze_bn", False))


def build_softmax_pose_net(model: Mapping | Any, num_joints: int, load_pretrained: bool = True) -> SoftmaxPoseNet:
    """SimpleBaseline with a two-layer head and spatial-softmax heatmaps (RegDA's network) from a ``model`` section."""
    m = fields(model)
    return SoftmaxPoseNet(num_joints, backbone=m["backbone"], width=m["width"], deconv_channels=m["deconv_channels"],
                          pretrained=m["pretrained"] if load_pretrained else "none", weights=m.get("weights"),
                          freeze_bn=m.get("freeze_bn", False))


def build_pose_net25d(model: Mapping | Any, num_joints: int, load_pretrained: bool = True) -> PoseNet25D:
    """SimpleBaseline with K heatmaps and K root-relative depth maps (the convolutional 2.5D baseline) from a
    ``model`` section."""
    m = fields(model)
    return PoseNet25D(num_joints, backbone=m["backbone"], width=m["width"], deconv_channels=m["deconv_channels"],
                      pretrained=m["pretrained"] if load_pretrained else "none", weights=m.get("weights"),
                      freeze_bn=m.get("freeze_bn", False))


def vit_encoder(model: Mapping | Any) -> ViTEncoder:
    """The ViT encoder of a ``model`` section (patch_size, dim, depth, heads, mlp_ratio); random weights."""
    v = fields(model)
    return ViTEncoder(v["patch_size"], v["dim"], v["depth"], v["heads"], v["mlp_ratio"])


def build_vitpose(model: Mapping | Any, num_joints: int, load_pretrained: bool = True) -> ViTPose25D:
    """ViT encoder + 2.5D keypoint head (head_channels) from a ``model`` section (random weights: stage 2 loads the
    MAE encoder, or ImageNet MAE weights for ``init=scratch``, itself)."""
    return ViTPose25D(vit_encoder(model), fields(model)["head_channels"], num_joints)


def build_mae(model: Mapping | Any, mae: Mapping | Any) -> MaskedAutoencoder:
    """The masked autoencoder of an MAE pre-training run: the ``model`` section's encoder (ImageNet MAE weights when
    its ``pretrained`` is ``mae_imagenet``) and a decoder from the ``mae`` section."""
    v, m = fields(model), fields(mae)
    encoder = vit_encoder(v)
    if v["pretrained"] == "mae_imagenet":
        load_mae_imagenet(encoder)
    return MaskedAutoencoder(encoder, MAEDecoder(v["dim"], m["decoder_dim"], m["decoder_depth"], m["decoder_heads"],
                                                 v["patch_size"]))


VIT_BF16_MIN_DIM = 192  # ViTs narrower than ViT-Tiny lose time to bf16 casts on a CPU (bench/precision.py)

# every builder takes (model section, num_joints, load_pretrained)
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "simplebaseline": build_pose_net,
    "simplebaseline_softmax": build_softmax_pose_net,
    "vitpose25d": build_vitpose,
    "simplebaseline25d": build_pose_net25d,
}
# checkpoints from before the header named its architecture: by the method that trained them
LEGACY_ARCHITECTURE = {"supervised": "simplebaseline", "multilevel": "simplebaseline", "mim": "vitpose25d"}


def describe(architecture: str, model: Mapping | Any) -> str:
    """A short name of a network, e.g. ``resnet18`` or ``ViT p16 d384×6``."""
    m = fields(model)
    if architecture == "vitpose25d":
        return f"ViT p{m['patch_size']} d{m['dim']}×{m['depth']}"
    return str(m["backbone"]) + {"simplebaseline_softmax": " (softmax heads)",
                                 "simplebaseline25d": " (2.5D head)"}.get(architecture, "")


def network_family(model: Mapping | Any) -> str:
    """The family of a ``model`` section's network, which decides where bf16 autocast pays on a CPU
    (:mod:`posekit.engine.precision`): ``vit`` for a ViT section of 192 or more channels (ViT-Tiny and up),
    ``vit_narrow`` for a narrower one (the CPU demo's), else the backbone's (``resnet``, ``efficientnet_lite``),
    ``timm`` for a ``timm:<name>`` trunk."""
    m = fields(model)
    if "patch_size" in m:
        return "vit" if m["dim"] >= VIT_BF16_MIN_DIM else "vit_narrow"
    spec = BACKBONES.get(m["backbone"])
    return spec.family if spec is not None else "timm"
