"""Published MAE ImageNet weights for a ViT-B/16 encoder (He et al. 2022), for users with a network."""

from __future__ import annotations

from pathlib import Path

import torch

from posekit.errors import CheckpointError, MissingArtifactError
from posekit.models.vit import ViTEncoder

MAE_VIT_B16_URL = "https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_base.pth"
VIT_B16 = {"patch_size": 16, "dim": 768, "depth": 12, "heads": 12}
DROPPED = ("cls_token", "pos_embed", "mask_token")  # posekit's ViT has no class token and fixed positions


def convert_mae_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MAE/timm encoder names → posekit's (``patch_embed.proj.*`` → ``patch_embed.*``, ``mlp.fc1/fc2`` →
    ``mlp.0/mlp.2``); the class token, the learned/fixed position table and decoder weights are dropped."""
    out = {}
    for key, value in state.items():
        if key in DROPPED or key.startswith("decoder"):
            continue
        key = key.replace("patch_embed.proj.", "patch_embed.").replace("mlp.fc1.", "mlp.0.").replace("mlp.fc2.", "mlp.2.")
        out[key] = value
    return out


def load_mae_imagenet(encoder: ViTEncoder, path: Path | None = None) -> None:
    """Load the MAE ImageNet-1k weights into a ViT-B/16 ``encoder`` (downloaded once to the torch hub cache)."""
    shape = {"patch_size": encoder.patch_size, "dim": encoder.dim, "depth": encoder.depth,
             "heads": encoder.blocks[0].attn.heads}
    if shape != VIT_B16:
        raise CheckpointError(f"MAE ImageNet weights exist for ViT-B/16 only, not {shape}",
                              hint="set model.patch_size=16, dim=768, depth=12, heads=12, or model.pretrained=none")
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(MAE_VIT_B16_URL).name
    try:
        if path is not None:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raw = torch.hub.load_state_dict_from_url(MAE_VIT_B16_URL, map_location="cpu", progress=True,
                                                     weights_only=True)
    except Exception as exc:  # noqa: BLE001 - network and file errors come in many types
        raise MissingArtifactError(f"could not load the MAE ImageNet weights ({exc.__class__.__name__})",
                                   hint=f"download {MAE_VIT_B16_URL} to {target} (or set TORCH_HOME), "
                                        "or use --set model.pretrained=none") from None
    state = convert_mae_state(raw.get("model", raw))
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"the MAE weights do not fit posekit's ViT-B/16 (missing {missing[:3]}, unexpected "
                              f"{unexpected[:3]})", hint="use the official mae_pretrain_vit_base.pth")
