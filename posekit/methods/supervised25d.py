"""Supervised 2.5D training on labelled source images (``pretrain --method supervised25d``): the convolutional
sanity baseline of the 3D method, trained with ``adapt --method mim``'s keypoint loss and nothing else."""

from __future__ import annotations

import torch
from torch import nn

from posekit.config.schema import AugmentConfig
from posekit.data.augment import flip_joints
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import KeypointMeta
from posekit.engine.method import augment_seed
from posekit.losses.pose3d import Keypoint25DLoss, root_relative_depth
from posekit.methods.views import ViewMethod


class Supervised25DMethod(ViewMethod):
    """``L = heatmap MSE + λ_z · L1(root-relative depth)`` on augmented source images: MIMMethod's ``L_kpt``
    (posekit/methods/mim.py) with the same targets, depth units and flip handling, without the attention term.

    Batch: ``image`` uint8 ``[B,3,H,W]``, ``keypoints`` ``[B,K,3]`` in stored-crop pixels, ``keypoints3d``
    ``[B,K,3]`` (camera metres).
    """

    name = "supervised25d"

    def __init__(self, model: nn.Module, codec: HeatmapCodec, augment: AugmentConfig, meta: KeypointMeta,
                 root: tuple[int, ...], depth_weight: float, depth_scale: float, seed: int):
        super().__init__()
        self.model = model
        self.codec, self.augment, self.root, self.depth_scale = codec, augment, root, depth_scale
        self.flip_perm = meta.flip_permutation()
        self.loss_fn = Keypoint25DLoss(depth_weight)
        self.generator = torch.Generator().manual_seed(augment_seed(seed))

    def losses(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        images, keypoints, flipped = self.augmented_view(batch["image"], self.augment, self.codec.input_size,
                                                         batch["keypoints"].float(), self.flip_perm)
        z = root_relative_depth(batch["keypoints3d"].float(), self.root, self.depth_scale)
        z = flip_joints(z[..., None], flipped, self.flip_perm)[..., 0]  # depth follows its joint when flipped
        targets, weights = self.codec.encode(keypoints)
        out = self.replica("model")(images)
        total, heat, depth = self.loss_fn(out["heatmaps"], out["depth"], targets, weights, z)
        return {"loss": total, "heatmap": heat, "depth": depth}

    def inference_model(self) -> nn.Module:
        return self.model

    def trainable_modules(self) -> tuple[str, ...]:
        return ("model",)
