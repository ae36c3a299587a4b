"""Unit tests of the multi-level alignment pieces: losses, masks, EMA, occlusion, view warps, style transfer."""

import math

import pytest
import torch
from torch import nn

from posekit.data.augment import sample_affine
from posekit.data.codec import HeatmapCodec
from posekit.data.occlusion import occlude_patches, pick_confident_joints
from posekit.data.warp import view_to_base
from posekit.losses.adversarial import DomainAdversarialLoss
from posekit.losses.consistency import MaskedConsistency, confidence_mask
from posekit.losses.infomax import InfoMaxLoss
from posekit.methods.ema import EMATeacher
from posekit.models.discriminator import grad_reverse
from posekit.stylize.transfer import colour_match, fda


def test_consistency_is_zero_on_identical_maps_and_counts_masked_joints_in_the_mean():
    a = torch.rand(2, 3, 4, 4)
    loss = MaskedConsistency()
    assert loss(a, a, torch.ones(2, 3)) == 0
    b = a + 1.0
    mask = torch.tensor([[1.0, 0, 0], [0, 0, 0]])
    assert torch.isclose(loss(b, a, mask), torch.tensor(1 / 6))  # one (b, k) of six, squared error 1


def test_quantile_mask_keeps_the_confident_half_and_random_mask_uses_the_threshold():
    peaks = torch.tensor([[0.1, 0.9], [0.5, 0.7]])
    assert confidence_mask(peaks, "quantile", 0.5, 0.0).tolist() == [[0, 1], [0, 1]]
    assert confidence_mask(peaks, "random", 0.5, 0.6).tolist() == [[0, 1], [0, 1]]
    assert confidence_mask(peaks, "random", 0.5, 0.05).tolist() == [[1, 1], [1, 1]]


def test_infomax_rewards_diversity_and_matches_the_code_formula():
    codec = HeatmapCodec(64, 16, 1.0)
    kp = torch.tensor([[[10.0, 10, 2], [50, 50, 2]], [[30.0, 40, 2], [20, 5, 2]]])
    sharp = codec.encode(kp)[0] * 50  # softmax over raw heatmaps (no temperature) needs large peaks to be sharp
    flat = torch.zeros_like(sharp)
    same = sharp[:1].expand(2, -1, -1, -1)  # both images predict the same place: less diverse
    for normalise in ("code", "log"):
        im = InfoMaxLoss(normalise)
        assert im(sharp) < im(same)  # equally sharp, but the same place in every image: less diverse
        # uniform maps have maximal entropies: they cancel under H·W normalisation; each term is 1 under log
        assert torch.isclose(im(flat), torch.tensor(0.0 if normalise == "code" else 1.0), atol=1e-6)
    only_confident = InfoMaxLoss("log", threshold=100.0)  # no joint passes: only the diversity term remains
    assert only_confident(sharp) < 0
    # by hand, one joint on a 1×2 heatmap, two images with logits (0, ln 3) and (ln 3, 0): each image's x projection
    # is softmax → (1/4, 3/4) or (3/4, 1/4), entropy h = −(¼ ln ¼ + ¾ ln ¾); the y projection has one bin (entropy
    # 0); the batch-mean map is uniform over 2 bins (entropy ln 2). The code's loss divides by H·W = 2.
    x = torch.tensor([[[[0.0, math.log(3)]]], [[[math.log(3), 0.0]]]])
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert InfoMaxLoss("code")(x).item() == pytest.approx((h + 0 - math.log(2)) / 2, abs=1e-6)


def test_gradient_reversal_and_adversarial_loss():
    x = torch.ones(3, requires_grad=True)
    (grad_reverse(x) * 2).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -2.0))
    disc = nn.Conv2d(4, 1, 1)
    loss_fn = DomainAdversarialLoss(disc)
    fs = torch.randn(2, 4, 3, 3, requires_grad=True)
    ft = torch.randn(2, 4, 3, 3, requires_grad=True)
    loss = loss_fn(fs, ft)
    loss.backward()
    # the features receive the reversed gradient of the discriminator's loss
    fs2, ft2 = fs.detach().requires_grad_(), ft.detach().requires_grad_()
    logits = disc(torch.cat([fs2, ft2]))
    labels = torch.cat([torch.zeros_like(logits[:2]), torch.ones_like(logits[2:])])
    bce = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none").flatten(1).mean(1)
    (bce[:2].mean() + bce[2:].mean()).backward()
    assert torch.allclose(fs.grad, -fs2.grad) and torch.allclose(ft.grad, -ft2.grad)
    assert disc.weight.grad is not None and disc.weight.grad.abs().sum() > 0


def test_ema_moves_parameters_and_handles_buffers():
    student = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    teacher = EMATeacher(student, 0.9, buffers="copy")
    with torch.no_grad():
        student[0].weight.add_(1.0)
        student[1].running_mean.fill_(3.0)
    before = teacher.model[0].weight.clone()
    teacher.update(student)
    assert torch.allclose(teacher.model[0].weight, 0.9 * before + 0.1 * student[0].weight)
    assert torch.equal(teacher.model[1].running_mean, torch.full((2,), 3.0))
    own = EMATeacher(student, 0.9, buffers="own")
    student[1].running_mean.fill_(5.0)
    own.update(student)
    assert torch.equal(own.model[1].running_mean, torch.full((2,), 3.0))  # keeps its own statistics
    assert not any(p.requires_grad for p in own.parameters())


def test_occlusion_copies_a_patch_only_where_asked():
    images = torch.arange(2 * 1 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16)
    out = occlude_patches(images, torch.tensor([[8.0, 8.0], [8.0, 8.0]]), torch.tensor([True, False]), 2,
                          torch.Generator().manual_seed(0))
    assert torch.equal(out[1], images[1])
    changed = (out[0] != images[0]).squeeze(0)
    assert changed[6:10, 6:10].all() and changed.sum() == 16
    patch = out[0, 0, 6:10, 6:10]
    assert torch.equal(patch - patch[0, 0], images[0, 0, :4, :4] - images[0, 0, 0, 0])  # a contiguous copy


def test_confident_joint_choice():
    peaks = torch.tensor([[0.1, 0.95, 0.2], [0.1, 0.2, 0.3]])
    joint, apply = pick_confident_joints(peaks, 0.9, 1.0, torch.Generator().manual_seed(0))
    assert joint[0] == 1 and apply.tolist() == [True, False]
    many = torch.tensor([[0.95, 0.1, 0.99, 0.5, 0.91]]).expand(4000, 5)  # joints 0, 2 and 4 are confident
    joint, apply = pick_confident_joints(many, 0.9, 0.5, torch.Generator().manual_seed(1))
    counts = torch.bincount(joint, minlength=5) / 4000
    assert counts[[1, 3]].sum() == 0 and (counts[[0, 2, 4]] - 1 / 3).abs().max() < 0.03  # uniform among them
    assert abs(apply.float().mean() - 0.5) < 0.03


def test_view_to_base_inverts_the_view_warp():
    codec = HeatmapCodec(64, 16, 1.0)
    base_xy = torch.tensor([[[30.0, 26.0]]])
    view, _ = sample_affine(1, (64, 64), 64, 30, (0.9, 1.1), (-10, 10), 0.05, 0.0, torch.Generator().manual_seed(2))
    view_xy = (view[:, :2, :2] @ base_xy[0, 0, :, None]).squeeze(-1) + view[:, :2, 2]
    maps_view = codec.encode(torch.cat([view_xy[:, None], torch.full((1, 1, 1), 2.0)], -1))[0]
    back, _ = codec.decode(view_to_base(maps_view, view, codec.stride))
    assert torch.allclose(back, base_xy, atol=1.0)


def test_colour_match_and_fda():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(2, 3, 32, 32, generator=g) * 0.5
    style = 0.5 + torch.rand(2, 3, 32, 32, generator=g) * 0.3
    out = colour_match(content, style, torch.ones(2))
    assert torch.allclose(out.mean((2, 3)), style.mean((2, 3)), atol=1e-3)
    assert torch.equal(colour_match(content, style, torch.zeros(2)), content)
    mixed = fda(content, style, torch.ones(2), beta=0.05)
    assert torch.allclose(mixed.mean((2, 3)), style.mean((2, 3)), atol=0.02)  # the DC term comes from the style
    assert torch.allclose(fda(content, style, torch.zeros(2), 0.05), content)


def test_reversal_coefficient_schedules():
    from posekit.losses.adversarial import reversal_coefficient

    assert reversal_coefficient("none", 0, 100) == 1.0
    ramp = [reversal_coefficient("dann", s, 100) for s in (0, 10, 50, 100)]
    assert ramp[0] == 0.0 and ramp == sorted(ramp) and abs(ramp[1] - 0.4621) < 1e-4 and ramp[-1] > 0.9999
    disc = nn.Conv2d(4, 1, 1)
    fs, ft = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    grads = []
    for coeff in (1.0, 0.25):
        f = fs.clone().requires_grad_()
        disc.zero_grad()
        DomainAdversarialLoss(disc)(f, ft, coeff).backward()
        grads.append((f.grad, disc.weight.grad.clone()))
    assert torch.allclose(grads[1][0], 0.25 * grads[0][0])  # the features' reversed gradient is scaled
    assert torch.equal(grads[1][1], grads[0][1])  # the discriminator's is not
