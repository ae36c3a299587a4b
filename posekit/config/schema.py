"""Pydantic models for every stage's configuration. Unknown keys are rejected."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Strict):
    source: str = Field("synth_src", description="prepared source dataset (workspace data/<name>)")
    train_split: str = Field("train", description="split used for training")
    val_split: str | None = Field("val", description="labelled source split for validation/selection; null = none")
    input_size: int = Field(256, ge=32, description="network input side in pixels (square)")
    sigma: float = Field(2.0, gt=0, description="Gaussian target sigma in heatmap pixels")
    num_workers: int = Field(2, ge=0, description="DataLoader worker processes")

    @model_validator(mode="after")
    def _divisible(self) -> DataConfig:
        if self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 (ResNet stride), got {self.input_size}")
        return self


class AugmentConfig(Strict):
    rotation: float = Field(30.0, ge=0, le=180, description="rotation ±degrees")
    scale: tuple[float, float] = Field((0.75, 1.25), description="scale range")
    shear: tuple[float, float] = Field((0.0, 0.0), description="horizontal shear range, degrees")
    translate: float = Field(0.05, ge=0, le=0.5, description="translation ± fraction of the input side")
    flip: float = Field(0.5, ge=0, le=1, description="probability of a horizontal flip (joints swapped)")
    colour: float = Field(0.25, ge=0, le=1, description="brightness/contrast/saturation jitter strength")


class ModelConfig(Strict):
    backbone: Literal["resnet18", "resnet34", "resnet50", "resnet101"] = Field("resnet50", description="ResNet depth")
    width: float = Field(1.0, gt=0, le=1.0, description="channel width multiplier (<1 = slim, CPU-friendly)")
    deconv_channels: int = Field(256, ge=8, description="channels of each deconv layer (scaled by width)")
    pretrained: Literal["none", "imagenet"] = Field("none", description="backbone initialisation")

    @model_validator(mode="after")
    def _imagenet_full_width(self) -> ModelConfig:
        if self.pretrained == "imagenet" and self.width != 1.0:
            raise ValueError("ImageNet weights exist only for width 1.0; set model.pretrained=none for slim models")
        return self


class OptimConfig(Strict):
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    weight_decay: float = Field(0.0, ge=0)
    milestones: tuple[float, ...] = Field(
        (0.643, 0.857), description="LR ×gamma at these fractions of train.steps (DAML: epochs 45, 60 of 70)"
    )
    gamma: float = Field(0.1, gt=0, le=1)


class TrainConfig(Strict):
    steps: int = Field(2000, ge=1, description="optimisation steps")
    batch_size: int = Field(32, ge=1)
    log_every: int = Field(20, ge=1, description="steps between metrics.jsonl lines")
    val_every: int = Field(0, ge=0, description="steps between source-val evaluations (0 = at the end only)")
    ckpt_every: int = Field(200, ge=1, description="steps between resumable checkpoints (ckpt/last.pt)")
    select: Literal["last", "source_val"] = Field(
        "last", description="which weights become final.pt: the last step or the best on source validation"
    )
    seed: int = Field(0)
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    amp: bool = Field(True, description="bf16 autocast on GPU (ignored on CPU)")
    supervise_occluded: bool = Field(True, description="train on labelled but occluded joints (v=1)")


class PretrainConfig(Strict):
    """``posekit pretrain``: supervised heatmap training on the labelled source domain."""

    method: Literal["supervised"] = "supervised"
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
