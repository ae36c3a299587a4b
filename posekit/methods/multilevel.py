"""Multi-level alignment (DAML): mean teacher with keypoint occlusion + image-level style mixing
+ feature-level adversarial alignment + pose-level information maximisation. Every level can be switched off,
which gives the baselines and the paper's Table 6 rows from one method."""

from __future__ import annotations

import torch
from torch import nn

from posekit.config.schema import AdaptConfig
from posekit.data.augment import (
    full_precision,
    jitter_factors,
    normalise,
    render_views,
    resize_matrix,
    sample_affine,
)
from posekit.data.codec import HeatmapCodec, from_heatmap_coords
from posekit.data.meta import KeypointMeta
from posekit.data.occlusion import occlude_patches, pick_confident_joints
from posekit.data.warp import view_to_base
from posekit.losses.adversarial import DomainAdversarialLoss, reversal_coefficient
from posekit.losses.consistency import MaskedConsistency, confidence_mask
from posekit.losses.infomax import InfoMaxLoss
from posekit.methods.ema import EMATeacher
from posekit.methods.supervised import SupervisedMethod
from posekit.models.discriminator import FeatureEnhancement, PatchDiscriminator


class MultiLevelMethod(SupervisedMethod):
    """Batch: ``image``/``keypoints`` (source, uint8 / crop pixels), optionally ``styled`` ``[B,k,3,H,W]`` uint8
    (cached stylised variants of the source images), and ``target_image`` uint8 (labels never read).

    Returns ``loss`` and its terms ``sup``, ``cons``, ``adv``, ``im`` (each weighted term is logged unweighted).
    """

    name = "multilevel"

    def __init__(self, model: nn.Module, codec: HeatmapCodec, cfg: AdaptConfig, meta: KeypointMeta, seed: int):
        super().__init__(model, codec, cfg.augment, meta, seed)
        self.cfg = cfg
        self.teacher = EMATeacher(model, cfg.teacher.ema, cfg.teacher.buffers)
        self.consistency = MaskedConsistency()
        self.infomax = InfoMaxLoss(cfg.infomax.normalise, cfg.infomax.threshold)
        # deconv features (DAML code) or the backbone's output (the paper's "feature encoder")
        self.feature_key = "features" if cfg.adversarial.features == "deconv" else "encoder"
        channels = model.head.final.in_channels if self.feature_key == "features" else model.backbone.out_channels
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
        images = batch["image"]
        if not (self.cfg.style.enabled and "styled" in batch):
            return images
        styled = batch["styled"]
        b, k = styled.shape[:2]
        pick, use = self.draw(b, lambda n: (torch.randint(k, (n,), generator=self.generator),
                                            torch.rand(n, generator=self.generator) < self.cfg.style.prob))
        pick, use = pick.to(images.device), use.to(images.device)
        chosen = styled[torch.arange(b, device=images.device), pick]
        return torch.where(use[:, None, None, None], chosen, images)

    @full_precision
    def _target_view(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One random view of the base frame (the resized crop) of uint8 or [0, 1] images: the view in [0, 1] and
        its base→view matrix."""
        b, _, h, w = images.shape
        s = self.codec.input_size
        a = self.cfg.target_augment
        view, _ = self.draw(b, lambda n: sample_affine(n, (s, s), s, a.rotation, a.scale, a.shear, a.translate, 0.0,
                                                       generator=self.generator, device=images.device))
        crop_to_view = view @ resize_matrix((h, w), s, b, device=images.device)
        factors = self.draw(b, lambda n: jitter_factors(n, a.colour, self.generator))
        return render_views(images, crop_to_view, s, factors, normalised=False), view

    # -- step ----------------------------------------------------------------------------------------------
    def forward(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        c = self.cfg
        stride = self.codec.stride
        src_images, src_kp = self.prepare_inputs({"image": self._source_images(batch), "keypoints": batch["keypoints"]})
        targets, weights = self.codec.encode(src_kp)
        out_s = self.replica("model")(src_images)
        sup = self.loss_fn(out_s["heatmaps"], targets, weights)
        losses = {"sup": sup}
        total = sup

        tgt = batch["target_image"]  # uint8; each view converts its own chunks
        need_target = c.consistency.enabled or self.adversarial is not None or c.infomax.enabled
        if not need_target:
            return {"loss": total, **losses}

        student_view, v_s = self._target_view(tgt)
        if c.consistency.enabled:
            teacher_view, v_t = self._target_view(tgt)
            with torch.no_grad():
                t_maps = view_to_base(self.teacher.predict(normalise(teacher_view))["heatmaps"].float(), v_t, stride)
                b, w = t_maps.shape[0], t_maps.shape[-1]
                peaks, idx = t_maps.flatten(2).max(-1)
                argmax = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], -1).float()
                base_xy = from_heatmap_coords(argmax, stride)  # [B,K,2] base-frame input pixels
                if c.occlusion.enabled:
                    joint, apply = pick_confident_joints(peaks, c.occlusion.threshold, c.occlusion.rate, self.generator)
                    centre = base_xy[torch.arange(b, device=tgt.device), joint]
                    with torch.autocast(tgt.device.type, enabled=False):  # geometry in float32
                        centre_view = (v_s[:, :2, :2] @ centre[..., None]).squeeze(-1) + v_s[:, :2, 2]
                    student_view = occlude_patches(student_view, centre_view, apply, c.occlusion.size, self.generator)
                pseudo = self.codec.encode(torch.cat([base_xy, torch.full_like(base_xy[..., :1], 2.0)], -1))[0]
                if c.consistency.mask == "random":
                    lo, hi = c.consistency.random_range
                    threshold = lo + (hi - lo) * torch.rand((), generator=self.generator).item()
                else:
                    threshold = 0.0
                mask = confidence_mask(peaks, c.consistency.mask, c.consistency.quantile, threshold)
        out_t = self.replica("model")(normalise(student_view))
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

    def after_step(self, step: int) -> None:
        self.teacher.update(self.model)

    def inference_model(self) -> nn.Module:
        return self.teacher.model

    def checkpoint_weights(self) -> dict:
        return {"model": self.model.state_dict(), "teacher": self.teacher.model.state_dict()}
