"""RegDA, regressive domain adaptation (Jiang et al., CVPR'21), after tllib's published code: a main regression head
and an adversarial one share the feature extractor ψ (backbone + deconvolutions); each step has three updates.

- A (source): ψ, the main head f and the adversarial head f' minimise KL(f(x_s), labels) + margin · trade_off ·
  KL(f'(x_s), ground truth of f(x_s)): f' learns to agree with f where labels exist.
- B (target, f' only): minimise trade_off · KL(f'(x_t), ground false of f(x_t)): f' is pushed towards the other
  joints' locations, i.e. to disagree with f as much as it can (maximise the regression disparity).
- C (target, ψ only): minimise trade_off · KL(f'(x_t), ground truth of f(x_t)): the features move so that even
  the adversarial head agrees with f (minimise the disparity).

f' reads ψ's features through the warm-start gradient layer: identity forward, gradient × λ(step) backward, λ rising
from 0 towards 0.1. Steps B and C run the same augmented target view through the updated networks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from itertools import chain

import torch
from torch import nn

from posekit.config.schema_regda import RegDAConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import KeypointMeta
from posekit.engine.method import augment_seed
from posekit.losses.regda import heatmap_kl, pseudo_labels, scale_gradient, warm_start_coefficient
from posekit.methods.views import ViewMethod
from posekit.models.pose_net import SoftmaxPoseNet, conv_head


class RegDAMethod(ViewMethod):
    """Batch: ``image``/``keypoints`` (source, uint8 / crop pixels) and ``target_image`` uint8 (labels never read).

    :meth:`train_step` returns ``loss`` (the three updates' weighted losses summed) and the unweighted terms ``sup``
    (A, main head on source labels), ``src_disparity`` (A, f' against f's ground truth on source), ``tgt_false``
    (B) and ``tgt_truth`` (C).
    """

    name = "regda"

    def __init__(self, model: SoftmaxPoseNet, codec: HeatmapCodec, cfg: RegDAConfig, meta: KeypointMeta, seed: int):
        super().__init__()
        self.model, self.codec, self.cfg = model, codec, cfg
        self.adv_head = conv_head(model.head.final[0].in_channels, meta.num_joints, model.head_layers)
        self.flip_perm = meta.flip_permutation()
        self.generator = torch.Generator().manual_seed(augment_seed(seed))

    # -- parameters ----------------------------------------------------------------------------------------
    def feature_parameters(self) -> list[nn.Parameter]:
        """ψ: the backbone and the deconvolutions."""
        return list(self.model.backbone.parameters()) + list(self.model.head.deconv.parameters())

    def param_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter], list[nn.Parameter]]:
        """(ψ, main head, adversarial head)."""
        return self.feature_parameters(), list(self.model.head.final.parameters()), list(self.adv_head.parameters())

    # -- networks ------------------------------------------------------------------------------------------
    def _heads(self, images: torch.Tensor, step: int, train_features: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Main and adversarial logits ``[B,K,h,w]`` of normalised images. ``train_features=False``: no gradient
        reaches ψ or the main head (the same forward pass, BatchNorm statistics included, without their graph)."""
        with torch.set_grad_enabled(train_features and torch.is_grad_enabled()):
            out = self.model(images)
        coeff = warm_start_coefficient(step, self.cfg.regda.gradient_lo, self.cfg.regda.gradient_hi,
                                       self.cfg.regda.gradient_alpha, self.cfg.regda.gradient_max_iters)
        return out["logits"], self.adv_head(scale_gradient(out["features"], coeff))

    def train_step(self, batch: dict, step: int, optimizer: torch.optim.Optimizer,
                   autocast: Callable[[], contextlib.AbstractContextManager]) -> dict[str, torch.Tensor]:
        """Steps A, B and C of the module docstring, each one backward pass and one optimiser step over the
        parameters it trains (the others' gradients are dropped, so SGD leaves them, their momentum and their
        weight decay alone)."""
        r, sigma = self.cfg.regda, self.codec.sigma
        s = self.codec.input_size
        with autocast():  # A: source
            images, keypoints, _ = self.augmented_view(batch["image"], self.cfg.augment, s,
                                                       batch["keypoints"].float(), self.flip_perm)
            targets, weights = self.codec.encode(keypoints)
            y_s, y_s_adv = self._heads(images, step)
            truth_s, _ = pseudo_labels(y_s, sigma)
            sup = heatmap_kl(y_s, targets, weights)
            src_disparity = heatmap_kl(y_s_adv, truth_s, weights, r.epsilon)
            loss_a = sup + r.margin * r.trade_off * src_disparity
        self._update(optimizer, loss_a, keep=None)

        with torch.no_grad():
            target_view, _, _ = self.augmented_view(batch["target_image"], self.cfg.target_augment, s)
        with autocast():  # B: the adversarial head towards the ground false (ψ's gradient would be dropped: none made)
            y_t, y_t_adv = self._heads(target_view, step, train_features=False)
            _, false_t = pseudo_labels(y_t, sigma)
            tgt_false = heatmap_kl(y_t_adv, false_t, None, r.epsilon)
        self._update(optimizer, r.trade_off * tgt_false, keep=list(self.adv_head.parameters()))

        with autocast():  # C: the features towards the ground truth
            y_t, y_t_adv = self._heads(target_view, step)
            truth_t, _ = pseudo_labels(y_t, sigma)
            tgt_truth = heatmap_kl(y_t_adv, truth_t, None, r.epsilon)
        self._update(optimizer, r.trade_off * tgt_truth, keep=self.feature_parameters())

        total = loss_a.detach() + r.trade_off * (tgt_false.detach() + tgt_truth.detach())
        return {"loss": total, "sup": sup.detach(), "src_disparity": src_disparity.detach(),
                "tgt_false": tgt_false.detach(), "tgt_truth": tgt_truth.detach()}

    def _update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, keep: list[nn.Parameter] | None) -> None:
        """Backward ``loss`` and step ``optimizer`` over ``keep`` (None: every parameter that got a gradient)."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if keep is not None:
            kept = {id(p) for p in keep}
            for p in chain(self.model.parameters(), self.adv_head.parameters()):
                if id(p) not in kept:
                    p.grad = None
        optimizer.step()

    def inference_model(self) -> nn.Module:
        return self.model

    def trainable_modules(self) -> tuple[str, ...]:
        return ("model", "adv_head")
