"""Configuration of ``posekit adapt --method regda``: tllib's regressive domain adaptation (docs/regda.md). The
defaults are tllib's (examples/domain_adaptation/keypoint_detection/regda.py and tllib/alignment/regda.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from posekit.config.schema import AdaptDataConfig, AdaptTrainConfig, AugmentConfig, ModelConfig, Strict


class RegDAOptimConfig(Strict):
    lr: float = Field(0.1, gt=0, description="SGD learning rate of the two regression heads (tllib --lr)")
    feature_lr_mult: float = Field(0.1, gt=0, description="the feature extractor's (backbone + deconvolutions) LR "
                                                          "as a fraction of lr (tllib: 0.1)")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (Nesterov, as tllib)")
    weight_decay: float = Field(1e-4, ge=0)
    lr_gamma: float = Field(1e-4, ge=0, description="LR × (1 + lr_gamma · step)^(−lr_decay) (tllib --lr-gamma; its "
                                                    "15,000-step schedule ends at ×0.50)")
    lr_decay: float = Field(0.75, ge=0, description="tllib --lr-decay")


class RegDALossConfig(Strict):
    margin: float = Field(4.0, ge=0, description="weight (× trade_off) of the adversarial head's source term in "
                                                 "step A (tllib --margin)")
    trade_off: float = Field(1.0, ge=0, description="weight of the regression-disparity terms (tllib --trade-off)")
    epsilon: float = Field(1e-7, ge=0, description="added to the pseudo-label maps before they are normalised "
                                                   "(tllib: JointsKLLoss(epsilon=1e-7) for the disparity)")
    gradient_lo: float = Field(0.0, description="warm-start gradient layer between the features and the "
                                                "adversarial head: factor at step 0 (tllib: 0)")
    gradient_hi: float = Field(0.1, description="... factor it rises towards (tllib: 0.1)")
    gradient_alpha: float = Field(1.0, gt=0, description="... steepness α (tllib: 1)")
    gradient_max_iters: int = Field(1000, ge=1, description="... steps N of 2(hi−lo)/(1+e^(−α·step/N)) − (hi−lo) + "
                                                            "lo (tllib: 1000, of 15,000 steps)")

    @model_validator(mode="after")
    def _gradient_rises(self):
        """The warm-start factor rises from lo to hi: lo > hi would turn the schedule upside down."""
        if self.gradient_lo > self.gradient_hi:
            raise ValueError(f"gradient_lo ({self.gradient_lo:g}) must be ≤ gradient_hi ({self.gradient_hi:g})")
        return self


class RegDAConfig(Strict):
    """``posekit adapt --method regda``: an adversarial regressor head plays a minimax game with the feature
    extractor on unlabelled target images (ground-false heatmaps)."""

    method: Literal["regda"] = "regda"
    data: AdaptDataConfig = AdaptDataConfig()
    augment: AugmentConfig = Field(AugmentConfig(), description="source augmentation (posekit's adapt default)")
    target_augment: AugmentConfig = Field(
        AugmentConfig(flip=0.0), description="augmentation of the target view (one per step; steps B and C see it)")
    model: ModelConfig | None = Field(None, description="filled from the init checkpoint; must match it if given")
    init: str | None = Field(None, description="pretrain run (dir, pretrain/ID, pretrain/NAME or pretrain/latest) whose backbone and "
                                               "deconvolutions start the network; both heads start fresh, as in tllib")
    optim: RegDAOptimConfig = RegDAOptimConfig()
    train: AdaptTrainConfig = AdaptTrainConfig()
    regda: RegDALossConfig = RegDALossConfig()
