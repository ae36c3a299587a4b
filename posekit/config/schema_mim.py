"""Configuration of the masked-image-modelling method (second paper): ``pretrain --method mae`` and
``adapt --method mim``, and of its convolutional 2.5D sanity baseline ``pretrain --method supervised25d``. Defaults
marked [A] in docs/mim.md are posekit's choices, not the paper's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from posekit.config.schema import AugmentConfig, DataConfig, ModelConfig, Name, OptimConfig, Strict, TrainConfig


class ViTConfig(Strict):
    patch_size: int = Field(16, description="patch side in pixels (4, 8, 16 or 32)")
    dim: int = Field(768, ge=8, description="token width (ViT-B: 768)")
    depth: int = Field(12, ge=1, description="transformer blocks (ViT-B: 12)")
    heads: int = Field(12, ge=1, description="attention heads (ViT-B: 12)")
    mlp_ratio: float = Field(4.0, gt=0)
    head_channels: int = Field(256, ge=8, description="channels of the keypoint head's deconvolutions (ViTPose: 256)")
    pretrained: Literal["none", "mae_imagenet"] = Field(
        "none", description="encoder initialisation before MAE pre-training (or for init=scratch): mae_imagenet = "
                            "He et al.'s ImageNet MAE ViT-B/16 weights, downloaded once")

    @model_validator(mode="after")
    def _shapes(self) -> ViTConfig:
        if self.patch_size not in (4, 8, 16, 32):
            raise ValueError(f"patch_size must be 4, 8, 16 or 32, got {self.patch_size}")
        if self.dim % self.heads or self.dim % 4:
            raise ValueError(f"dim {self.dim} must be a multiple of 4 and of heads ({self.heads})")
        return self


class MIMDataConfig(Strict):
    source: Name = Field("synth_src", description="prepared labelled source dataset")
    target: Name | None = Field("synth_tgt", description="prepared unlabelled target dataset; its labels are never used")
    train_split: Name = Field("train", description="source split used for training")
    target_split: Name = Field("train", description="target split used (images, and masks when target_masks)")
    transductive: bool = Field(False, description="allow target_split to be an evaluation split (recorded in outputs)")
    val_split: Name | None = Field("val", description="labelled source split for validation; null = none")
    input_size: int = Field(256, ge=16, description="network input side in pixels (square, a multiple of the patch)")
    num_workers: int = Field(2, ge=0)
    target_masks: bool = Field(True, description="use the target's foreground masks (weighting, augmentation); "
                                                 "false = plain MAE on target images")


class MAEConfig(Strict):
    mask_ratio: float = Field(0.75, gt=0, lt=1, description="fraction of tokens masked per image (MAE)")
    decoder_dim: int = Field(512, ge=8)
    decoder_depth: int = Field(8, ge=1)
    decoder_heads: int = Field(16, ge=1)
    norm_pix: bool = Field(True, description="standardise each target patch (MAE's norm_pix_loss)")
    fg_weight: float = Field(1.0, ge=0, description="L_WMAE weight of foreground pixels")
    bg_weight: float = Field(0.1, ge=0, description="L_WMAE weight of background pixels (= fg_weight: plain MAE)")


class SegAugmentConfig(Strict):
    mode: Literal["none", "bg_swap", "cutpaste"] = Field(
        "bg_swap", description="bg_swap: foreground onto another image; cutpaste: moved foreground onto another image")
    prob: float = Field(0.5, ge=0, le=1, description="chance per image (images with a mask only)")


class ScheduleConfig(Strict):
    lr: float = Field(1.5e-4, gt=0, le=1, description="peak AdamW learning rate (≤ 1)")
    scale_lr: bool = Field(True, description="multiply lr by batch_size/256 (MAE's rule)")
    weight_decay: float = Field(0.05, ge=0)
    warmup: float = Field(0.05, ge=0, lt=1, description="linear warm-up, fraction of train.steps; then cosine to 0")
    layer_decay: float = Field(1.0, gt=0, le=1, description="lr × decay^(depth − layer) per encoder block (1 = off)")


class MAEPretrainConfig(Strict):
    """``posekit pretrain --method mae``: stage 1, masked reconstruction of source and target images."""

    method: Literal["mae"] = "mae"
    data: MIMDataConfig = MIMDataConfig()
    augment: AugmentConfig = Field(AugmentConfig(rotation=0.0, scale=(0.8, 1.2), translate=0.05, colour=0.0),
                                   description="geometric augmentation of every image (and its mask)")
    model: ViTConfig = ViTConfig()
    mae: MAEConfig = MAEConfig()
    segaug: SegAugmentConfig = SegAugmentConfig()
    optim: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig(batch_size=64, select="last")

    @model_validator(mode="after")
    def _check(self) -> MAEPretrainConfig:
        if self.train.select != "last":
            raise ValueError("train.select must be last for MAE pre-training (there is no keypoint metric)")
        if self.data.input_size % self.model.patch_size:
            raise ValueError(f"data.input_size {self.data.input_size} is not a multiple of model.patch_size")
        return self


class AttentionRegConfig(Strict):
    enabled: bool = Field(True, description="L_attn between the encoder's and the auxiliary network's attention")
    weight: float = Field(30.0, ge=0, description="λ_attn (posekit's choice on the built-in benchmark's target val split, docs/mim.md)")
    layers: int = Field(1, ge=1, description="average the attention of the last L blocks")
    distance: Literal["mse", "kl"] = Field("mse", description="mse on maps scaled by N, or KL(aux ‖ encoder)")
    on_target: bool = Field(True, description="also regularise on target images (no labels needed)")

    @model_validator(mode="before")
    @classmethod
    def _drop_auxiliary(cls, values):
        """Runs saved before the only choice of f^A (the frozen stage-1 encoder) stopped being an option."""
        if isinstance(values, dict) and values.get("auxiliary") == "init":
            values = {k: v for k, v in values.items() if k != "auxiliary"}
        return values


class Head3DConfig(Strict):
    sigma: float = Field(2.0, gt=0, description="Gaussian sigma of the heatmap targets, heatmap pixels")
    depth_weight: float = Field(1.0, ge=0, description="λ_z of the root-relative depth L1 term")
    depth_scale: float = Field(1.0, gt=0, description="metres per depth unit (1 for bodies, 0.1 suits hands)")


class MIMAdaptConfig(Strict):
    """``posekit adapt --method mim``: stage 2, keypoint fine-tuning with attention regularisation."""

    method: Literal["mim"] = "mim"
    init: str | None = Field(None, description="MAE pretrain run (default pretrain/latest), or 'scratch' for "
                                               "random initialisation (the source-only baseline)")
    data: MIMDataConfig = MIMDataConfig()
    model: ViTConfig | None = Field(None, description="filled from the MAE run; required with init=scratch")
    augment: AugmentConfig = Field(AugmentConfig(rotation=30.0, scale=(0.75, 1.25), colour=0.25),
                                   description="source augmentation")
    target_augment: AugmentConfig = Field(AugmentConfig(rotation=0.0, scale=(0.9, 1.1), flip=0.5, colour=0.0),
                                          description="augmentation of target images for L_attn")
    head: Head3DConfig = Head3DConfig()
    attention: AttentionRegConfig = AttentionRegConfig()
    optim: ScheduleConfig = ScheduleConfig(lr=5e-4, scale_lr=False, weight_decay=0.1, layer_decay=0.75)
    train: TrainConfig = TrainConfig(batch_size=32)


class DepthHeadConfig(Strict):
    """The depth half of :class:`Head3DConfig` (the heatmap sigma is ``data.sigma`` where the data section has one)."""

    depth_weight: float = Field(1.0, ge=0, description="λ_z of the root-relative depth L1 term (as adapt --method mim)")
    depth_scale: float = Field(1.0, gt=0, description="metres per depth unit (1 for bodies, 0.1 suits hands)")


class Supervised25DConfig(Strict):
    """``posekit pretrain --method supervised25d``: SimpleBaseline (ResNet + deconvolutions) with K heatmaps and K
    root-relative depth maps, trained on the source's 2D and 3D labels with mim's 2.5D loss (docs/mim.md)."""

    method: Literal["supervised25d"] = "supervised25d"
    data: DataConfig = DataConfig()
    augment: AugmentConfig = Field(AugmentConfig(), description="source augmentation (the defaults: adapt --method "
                                                                 "mim's and pretrain's)")
    model: ModelConfig = ModelConfig()
    head: DepthHeadConfig = DepthHeadConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
