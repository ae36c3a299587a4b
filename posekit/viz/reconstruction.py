"""MAE reconstructions as pictures: original, masked input and reconstruction side by side."""

from __future__ import annotations

import numpy as np
import torch

from posekit.data.augment import IMAGENET_MEAN, IMAGENET_STD, normalise, resize_matrix, warp_images
from posekit.models.vit import MaskedAutoencoder, patchify, random_masking, unpatchify


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return ((x.cpu() * std + mean).clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).numpy()


@torch.no_grad()
def reconstruct(mae: MaskedAutoencoder, crops: np.ndarray, input_size: int, mask_ratio: float, norm_pix: bool,
                seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For ``crops`` ``[B,H,W,3]`` uint8: (input, masked input with masked patches at the mean colour, reconstruction with the
    visible patches pasted back), each ``[S,S,3]`` uint8. With ``norm_pix`` the predicted patches are
    un-standardised with each true patch's mean and std (MAE's visualisation)."""
    device = next(mae.parameters()).device
    images = torch.from_numpy(crops).permute(0, 3, 1, 2).float().to(device) / 255.0
    b, _, h, w = images.shape
    x = normalise(warp_images(images, resize_matrix((h, w), input_size, b, device=device), input_size))
    p = mae.encoder.patch_size
    keep, mask, restore = random_masking(b, (input_size // p) ** 2, mask_ratio, torch.Generator().manual_seed(seed),
                                         device)
    mae.eval()
    pred = mae(x, keep, restore).float()
    target = patchify(x, p)
    if norm_pix:
        pred = pred * (target.var(-1, keepdim=True) + 1e-6).sqrt() + target.mean(-1, keepdim=True)
    m = mask[..., None]
    masked = unpatchify(target * (1 - m), p)
    pasted = unpatchify(target * (1 - m) + pred * m, p)
    return [(_to_uint8(x[i]), _to_uint8(masked[i]), _to_uint8(pasted[i])) for i in range(b)]
