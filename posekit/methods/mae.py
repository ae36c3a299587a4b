"""Stage 1 of the MIM method: masked reconstruction of source and target images (``pretrain --method mae``)."""

from __future__ import annotations

import torch

from posekit.config.schema_mim import MAEPretrainConfig
from posekit.data.augment import colour_jitter, jitter_factors, jitter_order, normalise, sample_affine, warp_images
from posekit.engine.method import Method, augment_seed
from posekit.losses.wmae import patch_targets, pixel_weights, wmae_loss
from posekit.methods.segaug import segment_augment
from posekit.models.vit import MaskedAutoencoder, patchify, random_masking


def warp_with_masks(images: torch.Tensor, masks: torch.Tensor, m: torch.Tensor, size: int,
                    mode: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """Warp ``[B,3,H,W]`` images and ``[B,1,H,W]`` 0/1 masks by the same ``[B,3,3]`` matrices (``mode``:
    bilinear or nearest sampling); masks stay binary."""
    out = warp_images(torch.cat([images, masks], 1), m, size, mode)
    return out[:, :3], (out[:, 3:] > 0.5).to(images.dtype)


def images_and_masks(batch: dict, prefixes: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack the images ``[B,3,H,W]`` in [0, 1], masks ``[B,1,H,W]`` (zeros where missing) and ``has_mask`` ``[B]``
    of the batch's source (prefix "") and target ("target_") parts."""
    images, masks, has = [], [], []
    for prefix in prefixes:
        x = batch[prefix + "image"].float() / 255.0
        if prefix + "mask" in batch:
            masks.append(batch[prefix + "mask"].float()[:, None])
            has.append(torch.ones(x.shape[0], dtype=torch.bool, device=x.device))
        else:
            masks.append(torch.zeros_like(x[:, :1]))
            has.append(torch.zeros(x.shape[0], dtype=torch.bool, device=x.device))
        images.append(x)
    return torch.cat(images), torch.cat(masks), torch.cat(has)


class MAEMethod(Method):
    """Augment (geometry on image and mask, then segmentation-guided), mask tokens, reconstruct, L_WMAE.

    Batch: ``image`` uint8 ``[B,3,H,W]`` (+ ``mask`` ``[B,H,W]`` when the dataset has masks), and the same keys with
    a ``target_`` prefix for the target half.
    """

    name = "mae"

    def __init__(self, mae: MaskedAutoencoder, cfg: MAEPretrainConfig, seed: int):
        super().__init__()
        self.mae = mae
        self.cfg = cfg
        self.generator = torch.Generator().manual_seed(augment_seed(seed))
        self.prefixes = ("", "target_") if cfg.data.target else ("",)

    def prepare_inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Augmented, normalised images ``[B,3,S,S]``, their masks ``[B,1,S,S]`` and ``has_mask`` ``[B]``."""
        images, masks, has = images_and_masks(batch, self.prefixes)
        b, _, h, w = images.shape
        a, size = self.cfg.augment, self.cfg.data.input_size
        m, _ = self.draw(b, lambda n: sample_affine(n, (h, w), size, a.rotation, a.scale, a.shear, a.translate,
                                                    a.flip, generator=self.generator, device=images.device,
                                                    integer_translate=a.integer_translate))
        images, masks = warp_with_masks(images, masks, m, size, a.interpolation)
        factors = self.draw(b, lambda n: jitter_factors(n, a.colour, self.generator))
        order = None
        if factors is not None and a.jitter_order == "random":
            order = self.draw(b, lambda n: jitter_order(n, self.generator))
        images = colour_jitter(images, factors, order)
        images, masks = segment_augment(self.cfg.segaug.mode, images, masks, has, self.cfg.segaug.prob, self.generator)
        return normalise(images), masks, has

    def losses(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        images, masks, has = self.prepare_inputs(batch)
        b, p = images.shape[0], self.mae.encoder.patch_size
        n = (images.shape[-1] // p) ** 2
        keep, token_mask, restore = self.draw(
            b, lambda k: random_masking(k, n, self.cfg.mae.mask_ratio, self.generator, images.device))
        pred = self.replica("mae")(images, keep, restore)
        target = patch_targets(images, p, self.cfg.mae.norm_pix)
        weights = patchify(pixel_weights(masks, has, self.cfg.mae.fg_weight, self.cfg.mae.bg_weight)
                           .expand(-1, 1, *images.shape[-2:]), p)
        loss = wmae_loss(pred, target, weights, token_mask)
        return {"loss": loss, "reconstruction": loss}

    def inference_model(self) -> MaskedAutoencoder:
        return self.mae

    def trainable_modules(self) -> tuple[str, ...]:
        return ("mae",)
