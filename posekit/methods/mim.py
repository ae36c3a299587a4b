"""Stage 2 of the MIM method: 2.5D keypoint fine-tuning with attention regularisation (``adapt --method mim``)."""

from __future__ import annotations

import copy

import torch

from posekit.config.schema_mim import MIMAdaptConfig
from posekit.data.augment import flip_joints
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import KeypointMeta
from posekit.engine.method import augment_seed
from posekit.losses.attention import attention_distribution, attention_loss
from posekit.losses.pose3d import Keypoint25DLoss, root_relative_depth
from posekit.methods.views import ViewMethod
from posekit.models.vit_pose import ViTPose25D


class MIMMethod(ViewMethod):
    """``L = L_kpt + λ_attn · L_attn``.

    ``L_kpt``: heatmap MSE plus λ_z × L1 on root-relative depth, on augmented source images. ``L_attn``: the
    distance between the encoder's attention distribution and the frozen auxiliary encoder's (a copy of the encoder
    at the start of fine-tuning), on the same source images and, with ``attention.on_target``, on target images.
    Batch: ``image``, ``keypoints`` ``[B,K,3]``, ``keypoints3d`` ``[B,K,3]`` (camera metres) and, for the target
    term, ``target_image``.
    """

    name = "mim"

    def __init__(self, model: ViTPose25D, codec: HeatmapCodec, cfg: MIMAdaptConfig, meta: KeypointMeta,
                 root: tuple[int, ...], seed: int):
        super().__init__()
        self.model = model
        self.codec, self.cfg, self.root = codec, cfg, root
        self.flip_perm = meta.flip_permutation()
        self.loss_fn = Keypoint25DLoss(cfg.head.depth_weight)
        self.att = cfg.attention
        self.aux = None
        if self.att.enabled:
            self.aux = copy.deepcopy(model.encoder).requires_grad_(False)
        self.generator = torch.Generator().manual_seed(augment_seed(seed))

    def _attention_term(self, maps: list[torch.Tensor], images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            _, aux_maps = self.aux(images, attention_layers=self.att.layers)
        return attention_loss(attention_distribution(maps), attention_distribution(aux_maps), self.att.distance)

    def losses(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        images, keypoints, flipped = self.augmented_view(batch["image"], self.cfg.augment,
                                                         self.codec.input_size, batch["keypoints"].float(),
                                                         self.flip_perm)
        z = root_relative_depth(batch["keypoints3d"].float(), self.root, self.cfg.head.depth_scale)
        z = flip_joints(z[..., None], flipped, self.flip_perm)[..., 0]
        targets, weights = self.codec.encode(keypoints)
        layers = self.att.layers if self.aux is not None else 0
        out = self.replica("model")(images, attention_layers=layers)
        total, heat, depth = self.loss_fn(out["heatmaps"], out["depth"], targets, weights, z)
        losses = {"heatmap": heat, "depth": depth}
        if self.aux is not None:
            attn = self._attention_term(out["attention"], images)
            if self.att.on_target:
                t_images, _, _ = self.augmented_view(batch["target_image"], self.cfg.target_augment,
                                                     self.codec.input_size)
                _, t_maps = self.model.encoder(t_images, attention_layers=layers)
                attn = 0.5 * (attn + self._attention_term(t_maps, t_images))
            losses["attention"] = attn
            total = total + self.att.weight * attn
        return {"loss": total, **losses}

    def inference_model(self) -> ViTPose25D:
        return self.model

    def trainable_modules(self) -> tuple[str, ...]:
        return ("model",)
