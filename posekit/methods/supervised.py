"""Supervised heatmap training on labelled source images (``posekit pretrain``)."""

from __future__ import annotations

import torch
from torch import nn

from posekit.config.schema import AugmentConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import KeypointMeta
from posekit.engine.method import augment_seed
from posekit.losses.heatmap import WeightedHeatmapMSE
from posekit.methods.views import ViewMethod


class SupervisedMethod(ViewMethod):
    """Augment a uint8 batch on the device, encode Gaussian targets, regress heatmaps.

    Batch: ``image`` uint8 ``[B,3,H,W]``, ``keypoints`` ``[B,K,3]`` in stored-crop pixels.
    """

    name = "supervised"

    def __init__(self, model: nn.Module, codec: HeatmapCodec, augment: AugmentConfig, meta: KeypointMeta, seed: int):
        super().__init__()
        self.model = model
        self.codec = codec
        self.augment = augment
        self.flip_perm = meta.flip_permutation()
        self.loss_fn = WeightedHeatmapMSE()
        self.generator = torch.Generator().manual_seed(augment_seed(seed))

    def prepare_inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented, normalised images ``[B,3,S,S]`` and keypoints ``[B,K,3]`` in input pixels."""
        images, keypoints, _ = self.augmented_view(batch["image"], self.augment, self.codec.input_size,
                                                   batch["keypoints"].float(), self.flip_perm)
        return images, keypoints

    def losses(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        images, keypoints = self.prepare_inputs(batch)
        targets, weights = self.codec.encode(keypoints)
        pred = self.replica("model")(images)["heatmaps"]
        heatmap = self.loss_fn(pred, targets, weights)
        return {"loss": heatmap, "heatmap": heatmap}

    def inference_model(self) -> nn.Module:
        return self.model

    def trainable_modules(self) -> tuple[str, ...]:
        return ("model",)
