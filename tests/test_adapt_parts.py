"""Unit tests of the multi-level alignment pieces: losses, masks, EMA, occlusion, view warps, style transfer."""

import math

import pytest
import torch
from torch import nn

from posekit.data.augment import sample_affine
from posekit.data.codec import HeatmapCodec
from posekit.data.warp import view_to_base
from posekit.losses.adversarial import DomainAdversarialLoss
from posekit.losses.consistency import MaskedConsistency, confidence_mask
from posekit.losses.infomax import InfoMaxLoss
from posekit.methods.ema import EMATeacher
from posekit.methods.occlusion import occlude_patches, pick_confident_joints
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


# -- the authors' code's pieces as options ------------------------------------------------------------

def _tiny_method(**sections):
    from posekit.config.schema import AdaptConfig, ModelConfig
    from posekit.data.meta import MPII16
    from posekit.methods.multilevel import MultiLevelMethod
    from posekit.models.factory import build_pose_net

    cfg = AdaptConfig.model_validate({"style": {"enabled": False}, **sections})
    torch.manual_seed(0)
    model = build_pose_net(ModelConfig(backbone="resnet18", width=0.25, deconv_channels=16), 16)
    return MultiLevelMethod(model, HeatmapCodec(64, 16, 1.0), cfg, MPII16, 0)


def _batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    kp = torch.cat([torch.rand(2, 16, 2, generator=g) * 64, torch.full((2, 16, 1), 2.0)], -1)
    return {"image": torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8, generator=g), "keypoints": kp,
            "target_image": torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8, generator=g)}


def _inputs(method, batch) -> dict:
    """Run one step; return what the student saw on the target (its second forward) and what the teacher saw."""
    seen = {"student": []}
    student, predict = method.model.forward, method.teacher.predict

    def spy_student(images):
        seen["student"].append(images.detach().clone())
        return student(images)

    def spy_teacher(images):
        seen["teacher"] = images.detach().clone()
        return predict(images)

    method.model.forward, method.teacher.predict = spy_student, spy_teacher
    method.losses(batch, 0)
    method.model.forward, method.teacher.predict = student, predict
    return {"student": seen["student"][1], "teacher": seen.get("teacher")}


IDENTITY = {"rotation": 0, "scale": [1, 1], "shear": [0, 0], "translate": 0, "flip": 0, "colour": 0}


def test_target_crop_is_drawn_once_and_shared_by_both_views():
    from posekit.data.augment import normalise, render_views, resize_matrix

    batch = _batch()
    plain = normalise(render_views(batch["target_image"], resize_matrix((64, 64), 64, 2), 64, None, normalised=False))
    method = _tiny_method(target_augment={**IDENTITY, "crop": [0.6, 0.8]}, occlusion={"enabled": False})
    seen = _inputs(method, batch)
    assert torch.equal(seen["student"], seen["teacher"])  # one base frame: identity views of it coincide
    assert (seen["student"] - plain).abs().mean() > 0.1  # and it is a zoomed crop, not the plain resize
    uncropped = _inputs(_tiny_method(target_augment=IDENTITY, occlusion={"enabled": False}), batch)
    assert torch.equal(uncropped["student"], plain) and torch.equal(uncropped["teacher"], plain)


def test_weak_and_strong_target_views_have_their_own_settings():
    from posekit.data.augment import normalise, render_views, resize_matrix

    batch = _batch(1)
    plain = normalise(render_views(batch["target_image"], resize_matrix((64, 64), 64, 2), 64, None, normalised=False))
    seen = _inputs(_tiny_method(teacher_augment=IDENTITY, occlusion={"enabled": False}), batch)
    assert torch.equal(seen["teacher"], plain)  # weak: as set
    assert (seen["student"] - plain).abs().mean() > 0.1  # strong: target_augment's rotation, scale, colour


def test_occlusion_runs_with_consistency_off():
    """The occlusion needs the teacher's confidences but not the consistency loss: with consistency off it must
    still change the student's target view, in one 2·size square per image (view geometry)."""
    batch = _batch(2)
    common = {"consistency": {"enabled": False}, "infomax": {"enabled": False}}
    occluded = _inputs(_tiny_method(occlusion={"rate": 1.0, "threshold": 0.0, "size": 4}, **common), batch)
    clean = _inputs(_tiny_method(occlusion={"enabled": False}, **common), batch)
    assert occluded["teacher"] is not None and clean["teacher"] is None  # the teacher runs for the occlusion only
    changed = (occluded["student"] != clean["student"]).any(1).flatten(1).sum(1)
    assert (changed > 0).all() and (changed <= 8 * 8).all(), changed


def _rotation_scale(angle_deg: float, scale: float, size: int, t=(0.0, 0.0)) -> torch.Tensor:
    a = torch.deg2rad(torch.tensor(angle_deg))
    c = (size - 1) / 2
    m = torch.eye(3)
    m[:2, :2] = scale * torch.tensor([[torch.cos(a), -torch.sin(a)], [torch.sin(a), torch.cos(a)]])
    m[:2, 2] = torch.tensor([c, c]) + torch.tensor(t) - m[:2, :2] @ torch.tensor([c, c])
    return m[None]


def test_base_geometry_is_the_base_square_seen_through_the_view():
    from posekit.methods.occlusion import occlude_in_base

    fill = (0.5, 0.5, 0.5)
    images = torch.arange(64 * 64, dtype=torch.float32).reshape(1, 1, 64, 64).expand(1, 3, 64, 64) / 4096
    # identity view: a 2·half square at the centre, filled with a contiguous copy from elsewhere
    out = occlude_in_base(images, torch.eye(3)[None], torch.tensor([[20.0, 30.0]]), torch.tensor([True]), 3, fill,
                          torch.Generator().manual_seed(0))
    changed = (out != images).any(1)[0]
    assert changed[27:33, 17:23].all() and changed.sum() <= 36
    patch = out[0, 0, 27:33, 17:23]
    assert torch.allclose(patch - patch[0, 0], images[0, 0, :6, :6] - images[0, 0, 0, 0], atol=1e-5)
    # a view rotated by 45° and zoomed 1.5×: the square arrives rotated and 1.5² times larger, on the joint
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(1, 3, 64, 64, generator=g)
    m = _rotation_scale(45, 1.5, 64)
    centre = torch.tensor([[30.0, 34.0]])
    out = occlude_in_base(noise, m, centre, torch.tensor([True]), 5, fill, g)
    changed = (out != noise).any(1)[0]
    ys, xs = torch.nonzero(changed, as_tuple=True)
    assert abs(changed.sum().item() / (10 * 1.5) ** 2 - 1) < 0.15
    box = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
    assert box > 1.7 * changed.sum()  # a diamond in the view, not an axis-aligned square
    back = (torch.linalg.inv(m)[0] @ torch.stack([xs.float(), ys.float(), torch.ones_like(xs, dtype=torch.float32)]))
    assert ((back[:2].T - centre.round()).abs() <= 5.5).all()  # every changed pixel un-warps into the base square
    view_centre = m[0, :2, :2] @ (centre[0] - 0.5) + m[0, :2, 2]  # the square [c − 5, c + 5) centres on c − ½
    assert torch.allclose(torch.stack([xs.float().mean(), ys.float().mean()]), view_centre, atol=1.0)
    assert torch.equal(occlude_in_base(noise, m, centre, torch.tensor([False]), 5, fill, g), noise)


def test_code_geometry_shifts_the_square_and_blanks_what_unwarps_outside():
    """The code un-warps with its translation divided by the stride (4): the square lands 3/4 of the view's
    translation short of the joint, and view pixels whose un-warped position leaves the frame become the fill."""
    from posekit.methods.occlusion import occlude_in_base

    fill = (0.25, 0.5, 0.75)
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    m = _rotation_scale(0, 1.0, 64, t=(12.0, -8.0))
    centre = torch.tensor([[30.0, 30.0]])
    out = occlude_in_base(noise, m, centre, torch.tensor([True]), 4, fill, torch.Generator().manual_seed(3),
                          code_quirks=True, stride=4.0)
    blank = torch.zeros(64, 64, dtype=torch.bool)
    blank[:, :3], blank[62:] = True, True  # un-warped x = x − 3 < 0, y = y + 2 > 63
    assert torch.allclose(out[0][:, blank], torch.tensor(fill)[:, None].expand(3, int(blank.sum())))
    changed = (out[0] != noise[0]).any(0) & ~blank
    ys, xs = torch.nonzero(changed, as_tuple=True)
    # the joint is at (30, 30) + t = (42, 22) in the view; the code's square centres on (30, 30) + t/4 = (33, 28)
    assert changed.sum() == 64 and (xs.min(), xs.max(), ys.min(), ys.max()) == (29, 36, 24, 31)
    exact = occlude_in_base(noise, m, centre, torch.tensor([True]), 4, fill, torch.Generator().manual_seed(3))
    ys, xs = torch.nonzero((exact[0] != noise[0]).any(0), as_tuple=True)
    assert len(xs) == 64 and (xs.min(), xs.max(), ys.min(), ys.max()) == (38, 45, 18, 25)  # base: on the joint


def test_teacher_fp32_runs_outside_the_steps_autocast():
    student = nn.Sequential(nn.Linear(4, 4))
    x = torch.rand(2, 4)
    for fp32, dtype in ((False, torch.bfloat16), (True, torch.float32)):
        teacher = EMATeacher(student, 0.9, fp32=fp32)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # what a CUDA step's bf16 autocast does to the teacher
            assert teacher.predict(x).dtype == dtype
    assert torch.equal(teacher.predict(x), teacher.model(x))


def test_enhancement_module_normalises_each_domain_with_its_own_statistics():
    from posekit.models.discriminator import FeatureEnhancement

    enh = FeatureEnhancement(4)
    nn.init.normal_(enh.block[-1].weight)  # zero-initialised, the block would hide what its BatchNorm does
    seen = []
    disc = nn.Conv2d(4, 1, 1)
    disc.register_forward_hook(lambda _m, inputs, _out: seen.append(inputs[0].detach()))
    loss_fn = DomainAdversarialLoss(disc, enh).train()
    g = torch.Generator().manual_seed(0)
    fs = torch.randn(3, 4, 5, 5, generator=g)
    for shift in (0.0, 10.0):  # a target batch from a very different distribution
        loss_fn(fs, torch.randn(3, 4, 5, 5, generator=g) * 3 + shift)
    assert torch.allclose(seen[0][:3], seen[1][:3], atol=1e-5)  # the source half does not see the target batch
    assert torch.allclose(seen[0][:3], enh(fs), atol=1e-5)


def test_adam_state_carries_over_from_pretraining(tmp_path):
    import copy

    import pytest

    from posekit.engine.carry_over import carry_adam_state, pretrain_optimiser_state
    from posekit.engine.checkpoint import save_checkpoint
    from posekit.errors import CheckpointError

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    pre = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        pre.zero_grad()
        net(torch.randn(5, 3)).square().sum().backward()
        pre.step()
    (tmp_path / "ckpt").mkdir()
    save_checkpoint(tmp_path / "ckpt" / "last.pt", {"stage": "pretrain", "optim": pre.state_dict()})
    saved = pretrain_optimiser_state(tmp_path / "ckpt" / "final.pt")
    # adaptation: a copy of the network plus an extra module, two groups; carried, it steps like the pretraining Adam
    adapted, extra = copy.deepcopy(net), nn.Linear(2, 2)
    opt = torch.optim.Adam([{"params": [*adapted.parameters(), *extra.parameters()]}, {"params": []}], lr=1e-2)
    assert carry_adam_state(opt, list(adapted.parameters()), saved, "last.pt") == 4
    x = torch.randn(5, 3)
    for model, optimiser in ((net, pre), (adapted, opt)):
        optimiser.zero_grad()
        model(x).square().sum().backward()
        optimiser.step()
    for a, b in zip(net.parameters(), adapted.parameters(), strict=True):
        assert torch.allclose(a, b)
    assert float(opt.state[next(adapted.parameters())]["step"]) == 4  # the step count continues (bias correction)
    fresh = torch.optim.Adam(copy.deepcopy(net).parameters(), lr=1e-2)
    with pytest.raises(CheckpointError, match="the adapted network has 2"):
        carry_adam_state(fresh, list(nn.Linear(3, 4).parameters()), saved, "last.pt")
    with pytest.raises(CheckpointError, match="optim.state=pretrain") as err:
        pretrain_optimiser_state(tmp_path / "elsewhere" / "final.pt")
    assert "optim.state=fresh" in err.value.hint


def _pseudo_labels(method, batch) -> torch.Tensor:
    """The consistency loss's pseudo-label heatmaps ``[B,K,h,w]`` of one step."""
    seen = {}
    hook = method.consistency.register_forward_pre_hook(lambda _, args: seen.update(pseudo=args[1].detach().clone()))
    method.losses(batch, 0)
    hook.remove()
    return seen["pseudo"]


def test_refined_pseudo_labels_sit_between_heatmap_pixels_and_argmax_ones_on_them():
    """DAML's rectify centres each pseudo-label on the teacher's integer argmax; `refined` centres it on the
    teacher's sub-pixel estimate (the decoder evaluation uses), within a pixel of the argmax."""
    codec = HeatmapCodec(64, 16, 1.0)
    views = {"target_augment": IDENTITY, "occlusion": {"enabled": False}, "data": {"targets": "subpixel"}}
    peaks = {}
    for kind in ("argmax", "refined"):
        method = _tiny_method(**views, consistency={"pseudo_labels": kind})
        xy = codec.decode(_pseudo_labels(method, _batch()))[0]  # input pixels; exact for a sub-pixel Gaussian
        peaks[kind] = (xy + 0.5) / codec.stride - 0.5  # heatmap pixels
    off_grid = (peaks["refined"] - peaks["refined"].round()).abs()
    assert torch.allclose(peaks["argmax"], peaks["argmax"].round(), atol=1e-3)
    assert (off_grid > 0.05).float().mean() > 0.25  # an untrained teacher: where its peak is not concave, no offset
    assert (peaks["refined"] - peaks["argmax"]).abs().max() <= 1.0 + 1e-3


def test_refined_pseudo_labels_refuse_code_targets():
    from pydantic import ValidationError

    from posekit.config.schema import AdaptConfig

    with pytest.raises(ValidationError, match="set data.targets=subpixel"):
        AdaptConfig.model_validate({"consistency": {"pseudo_labels": "refined"}, "data": {"targets": "code"}})
    AdaptConfig.model_validate({"consistency": {"pseudo_labels": "refined"}})  # subpixel is the default
