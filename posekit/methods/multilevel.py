"""Multi-level alignment (DAML): mean teacher with keypoint occlusion + image-level style mixing
+ feature-level adversarial alignment + pose-level information maximisation. Every level can be switched off,
which gives the baselines and the paper's Table 6 rows from one method."""

from __future__ import annotations

import torch
from torch import nn

from posekit.config.schema import AdaptConfig, AugmentConfig
from posekit.data.augment import (
    IMAGENET_MEAN,
    full_precision,
    jitter_factors,
    normalise,
    render_views,
    resize_matrix,
    sample_affine,
    sample_resized_crop,
)
from posekit.data.codec import HeatmapCodec, from_heatmap_coords
from posekit.data.meta import KeypointMeta
from posekit.data.warp import view_to_base
from posekit.errors import ConfigError
from posekit.losses.adversarial import DomainAdversarialLoss, reversal_coefficient
from posekit.losses.consistency import MaskedConsistency, confidence_mask
from posekit.losses.infomax import InfoMaxLoss
from posekit.methods.ema import EMATeacher
from posekit.methods.feature_style import (
    CrossDomainMixStyle,
    random_convolution,
    random_convolution_draws,
)
from posekit.methods.occlusion import occlude_code_warps, occlude_in_base, occlude_patches, pick_confident_joints
from posekit.methods.supervised import SupervisedMethod
from posekit.models.discriminator import FeatureEnhancement, PatchDiscriminator


def style_layers(model: nn.Module) -> list[nn.Module]:
    """The backbone modules MixStyle mixes statistics after (stride 4 and 8); ConfigError for a backbone that has
    none."""
    layers = getattr(model.backbone, "style_layers", None)
    if layers is None:
        raise ConfigError(f"style.kind=mixstyle: the backbone {type(model.backbone).__name__} has no stride-4/8 "
                          "feature stages to mix", hint="use a convolutional backbone, or style.kind=randconv")
    return layers()


class MultiLevelMethod(SupervisedMethod):
    """Batch: ``image``/``keypoints`` (source, uint8 / crop pixels), optionally ``styled`` ``[B,k,3,H,W]`` uint8
    (cached stylised variants of the source images), and ``target_image`` uint8 (labels never read).

    Returns ``loss`` and its terms ``sup``, ``cons``, ``adv``, ``im`` (each weighted term is logged unweighted).
    """

    name = "multilevel"

    def __init__(self, model: nn.Module, codec: HeatmapCodec, cfg: AdaptConfig, meta: KeypointMeta, seed: int):
        super().__init__(model, codec, cfg.augment, meta, seed)
        self.cfg = cfg
        self.teacher = EMATeacher(model, cfg.teacher.ema, cfg.teacher.buffers, cfg.teacher.fp32)
        self.consistency = MaskedConsistency()
        self.infomax = InfoMaxLoss(cfg.infomax.normalise, cfg.infomax.threshold)
        # deconv features (DAML code) or the backbone's output (the paper's "feature encoder")
        self.feature_key = "features" if cfg.adversarial.features == "deconv" else "encoder"
        channels = model.head.final.in_channels if self.feature_key == "features" else model.backbone.out_channels
        self.mixstyle = None
        if cfg.style.enabled and cfg.style.kind == "mixstyle":
            self.mixstyle = CrossDomainMixStyle(style_layers(model), cfg.style.mixstyle_alpha, cfg.style.prob)
        self.adversarial = None
        if cfg.adversarial.enabled:
            enh = FeatureEnhancement(channels) if cfg.adversarial.enhancement else None
            self.adversarial = DomainAdversarialLoss(PatchDiscriminator(channels), enh)

    # -- parameters ----------------------------------------------------------------------------------------
    def param_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(student side: network and enhancement module, scheduled LR; discriminator: constant LR)."""
        student = list(self.model.parameters())
        disc: list[nn.Parameter] = []
        if self.adversarial is not None:
            disc = list(self.adversarial.discriminator.parameters())
            if self.adversarial.enhancement is not None:
                student += list(self.adversarial.enhancement.parameters())
        return student, disc

    # -- views ---------------------------------------------------------------------------------------------
    def _source_images(self, batch: dict) -> torch.Tensor:
        """The source images ``[B,3,H,W]`` (uint8, or [0, 1] after a random convolution) with the image level's
        cached stylised variants or random convolutions swapped in (``style.prob`` of them)."""
        images, s = batch["image"], self.cfg.style
        if s.enabled and s.kind == "randconv":
            draws = self.draw(images.shape[0],
                              lambda n: random_convolution_draws(n, s.randconv_kernels, s.prob, self.generator))
            return random_convolution(images.float() / 255 if images.dtype == torch.uint8 else images, draws)
        if not (s.enabled and s.kind == "cache" and "styled" in batch):
            return images
        styled = batch["styled"]
        b, k = styled.shape[:2]
        pick, use = self.draw(b, lambda n: (torch.randint(k, (n,), generator=self.generator),
                                            torch.rand(n, generator=self.generator) < self.cfg.style.prob))
        pick, use = pick.to(images.device), use.to(images.device)
        chosen = styled[torch.arange(b, device=images.device), pick]
        return torch.where(use[:, None, None, None], chosen, images)

    @full_precision
    def _base_frame(self, images: torch.Tensor) -> torch.Tensor:
        """Stored-crop → base-frame matrices ``[B,3,3]``: the crop resized to the input, then, with
        ``target_augment.crop``, DAML's random resized crop, drawn once per image for both views."""
        b, _, h, w = images.shape
        s = self.codec.input_size
        base = resize_matrix((h, w), s, b, device=images.device)
        crop = self.cfg.target_augment.crop
        if crop is None:
            return base
        return self.draw(b, lambda n: sample_resized_crop(n, s, crop, self.generator, images.device)) @ base

    @full_precision
    def _target_view(self, images: torch.Tensor, base: torch.Tensor,
                     a: AugmentConfig) -> tuple[torch.Tensor, torch.Tensor]:
        """One random view (augmentation ``a``) of the base frame (``base``: crop→base matrices) of uint8 or
        [0, 1] images: the view in [0, 1] and its base→view matrix."""
        b = images.shape[0]
        s = self.codec.input_size
        view, _ = self.draw(b, lambda n: sample_affine(n, (s, s), s, a.rotation, a.scale, a.shear, a.translate, 0.0,
                                                       generator=self.generator, device=images.device,
                                                       integer_translate=a.integer_translate))
        factors = self.draw(b, lambda n: jitter_factors(n, a.colour, self.generator))
        return render_views(images, view @ base, s, factors, normalised=False, mode=a.interpolation,
                            order=self.draw_jitter_order(b, a, factors)), view

    def _occlude(self, student_view: torch.Tensor, v_s: torch.Tensor, peaks: torch.Tensor,
                 argmax: torch.Tensor) -> torch.Tensor:
        """Occlude one confident joint (teacher ``peaks`` ``[B,K]``, base-frame heatmap ``argmax`` ``[B,K,2]``)
        of the student's views ``[B,3,S,S]`` in the geometry ``occlusion.geometry`` says."""
        o, stride = self.cfg.occlusion, self.codec.stride
        joint, apply = pick_confident_joints(peaks, o.threshold, o.rate, self.generator)
        pick = argmax[torch.arange(argmax.shape[0], device=argmax.device), joint]
        with torch.autocast(student_view.device.type, enabled=False):  # geometry in float32
            if o.geometry == "view":
                centre = (v_s[:, :2, :2] @ from_heatmap_coords(pick, stride)[..., None]).squeeze(-1) + v_s[:, :2, 2]
                return occlude_patches(student_view, centre, apply, o.size, self.generator)
            if o.geometry == "warps":  # the code's procedure itself
                return occlude_code_warps(student_view, v_s, pick * stride, apply, o.size, IMAGENET_MEAN,
                                          self.generator, stride=stride)
            code = o.geometry == "code"
            centre = pick * stride if code else from_heatmap_coords(pick, stride)  # the code: heatmap px × stride
            return occlude_in_base(student_view, v_s, centre, apply, o.size, IMAGENET_MEAN, self.generator,
                                   code_quirks=code, stride=stride)

    # -- step ----------------------------------------------------------------------------------------------
    def losses(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        """The loss terms of one step on a source + target ``batch``: source heatmaps, then each enabled level
        (consistency with occlusion, feature adversary, information maximisation); ``step`` of ``cfg.train.steps``
        sets the gradient-reversal ramp."""
        c = self.cfg
        stride = self.codec.stride
        src_images, src_kp = self.prepare_inputs({"image": self._source_images(batch), "keypoints": batch["keypoints"]})
        targets, weights = self.codec.encode(src_kp)
        need_target = c.consistency.enabled or self.adversarial is not None or c.infomax.enabled
        # MixStyle needs the target's statistics first: the source pass then follows the target pass
        out_s = None if self.mixstyle is not None else self.replica("model")(src_images)
        if not need_target:
            sup = self.loss_fn(out_s["heatmaps"], targets, weights)
            return {"loss": sup, "sup": sup}

        tgt = batch["target_image"]  # uint8; each view converts its own chunks

        base = self._base_frame(tgt)
        student_view, v_s = self._target_view(tgt, base, c.target_augment)
        if c.consistency.enabled or c.occlusion.enabled:  # both need the teacher, neither needs the other
            teacher_view, v_t = self._target_view(tgt, base, c.weak_augment)
            with torch.no_grad():
                t_maps = view_to_base(self.teacher.predict(normalise(teacher_view))["heatmaps"].float(), v_t, stride)
                w = t_maps.shape[-1]
                peaks, idx = t_maps.flatten(2).max(-1)
                argmax = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], -1).float()
                if c.occlusion.enabled:
                    student_view = self._occlude(student_view, v_s, peaks, argmax)
                if c.consistency.enabled:
                    if c.consistency.pseudo_labels == "refined":
                        base_xy = self.codec.decode(t_maps)[0]  # [B,K,2] base-frame input pixels, sub-pixel
                    else:
                        base_xy = from_heatmap_coords(argmax, stride)  # [B,K,2] base-frame input pixels
                    pseudo = self.codec.encode(torch.cat([base_xy, torch.full_like(base_xy[..., :1], 2.0)], -1))[0]
                    if c.consistency.mask == "random":
                        lo, hi = c.consistency.random_range
                        threshold = lo + (hi - lo) * torch.rand((), generator=self.generator).item()
                    else:
                        threshold = 0.0
                    mask = confidence_mask(peaks, c.consistency.mask, c.consistency.quantile, threshold)
        if self.mixstyle is None:
            out_t = self.replica("model")(normalise(student_view))
        else:
            with self.mixstyle.capture():
                out_t = self.replica("model")(normalise(student_view))
            draws = self.draw(src_images.shape[0], lambda n: self.mixstyle.sample(n, self.generator))
            with self.mixstyle.mix(draws):
                out_s = self.replica("model")(src_images)
        sup = self.loss_fn(out_s["heatmaps"], targets, weights)
        losses = {"sup": sup}
        total = sup
        s_maps = view_to_base(out_t["heatmaps"].float(), v_s, stride)
        if c.consistency.enabled:
            cons = self.consistency(s_maps, pseudo, mask)
            losses["cons"] = cons
            total = total + c.consistency.weight * cons
        if self.adversarial is not None:
            coeff = reversal_coefficient(c.adversarial.warmup, step, c.train.steps)
            adv = self.replica("adversarial")(out_s[self.feature_key], out_t[self.feature_key], coeff)
            losses["adv"] = adv
            total = total + c.adversarial.weight * adv
        if c.infomax.enabled:
            im = self.infomax(s_maps)
            losses["im"] = im
            total = total + c.infomax.weight * im
        return {"loss": total, **losses}

    def trainable_modules(self) -> tuple[str, ...]:
        return ("model",) if self.adversarial is None else ("model", "adversarial")

    @property
    def teacher_runs(self) -> bool:
        """Whether the teacher sees the weak target views (consistency or occlusion needs its predictions)."""
        return self.cfg.consistency.enabled or self.cfg.occlusion.enabled

    def after_step(self, step: int) -> None:
        # a teacher that never runs (the source-only continuation) would keep the init's BatchNorm statistics with
        # `own` buffers: it averages the student's instead, so the evaluated teacher is the EMA of what trained
        self.teacher.update(self.model, average_buffers=not self.teacher_runs)

    def inference_model(self) -> nn.Module:
        return self.teacher.model

    def checkpoint_weights(self) -> dict:
        return {"model": self.model.state_dict(), "teacher": self.teacher.model.state_dict()}
