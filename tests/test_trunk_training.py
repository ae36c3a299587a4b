"""Training a pretrained trunk: the backbone's learning-rate multiplier, linear warm-up, frozen BatchNorm."""

import copy

import pytest
import torch

from posekit.config.schema import AugmentConfig, ModelConfig, OptimConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import MPII16
from posekit.engine.optim import build_optimizer, warmup_multistep_lambda
from posekit.engine.trainer import multistep_lambda
from posekit.methods.supervised import SupervisedMethod
from posekit.models.factory import build_pose_net


def _net(**model):
    return build_pose_net(ModelConfig(backbone="resnet18", width=0.25, deconv_channels=16, **model), 16)


def _lrs(optimizer, scheduler, steps: int) -> list[list[float]]:
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return out


def test_backbone_and_head_get_their_learning_rates():
    net = _net()
    disc = [torch.nn.Parameter(torch.zeros(3))]
    optimizer, _ = build_optimizer(net.parameters(), net.backbone.parameters(), total_steps=100,
                                   constant=[{"params": disc, "lr": 5e-4}],
                                   **OptimConfig(lr=1e-3, backbone_lr_mult=0.1).schedule_numbers())
    head, trunk, d = optimizer.param_groups  # head first: the trainer logs group 0's rate
    assert {id(p) for p in trunk["params"]} == {id(p) for p in net.backbone.parameters()}
    assert {id(p) for p in head["params"]} == {id(p) for p in net.head.parameters()}
    assert d["params"] == disc
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-4, 5e-4])


def test_defaults_keep_the_single_group_and_the_multistep_schedule():
    """optim's defaults build what the stages built before the options: one group, ×gamma at the milestones."""
    net = _net()
    cfg = OptimConfig()
    optimizer, scheduler = build_optimizer(net.parameters(), net.backbone.parameters(), total_steps=20,
                                           **cfg.schedule_numbers())
    assert len(optimizer.param_groups) == 1
    assert [id(p) for p in optimizer.param_groups[0]["params"]] == [id(p) for p in net.parameters()]
    decay = multistep_lambda(20, cfg.milestones, cfg.gamma)
    assert [lr for (lr,) in _lrs(optimizer, scheduler, 20)] == pytest.approx([cfg.lr * decay(s) for s in range(20)])


def test_warm_up_ramps_linearly_then_follows_the_milestones():
    net = _net()
    cfg = OptimConfig(lr=1e-3, backbone_lr_mult=0.5, warmup_steps=4, milestones=(0.5,), gamma=0.1)
    disc = [torch.nn.Parameter(torch.zeros(2))]
    optimizer, scheduler = build_optimizer(net.parameters(), net.backbone.parameters(), total_steps=10,
                                           constant=[{"params": disc, "lr": 2e-4}], **cfg.schedule_numbers())
    lrs = _lrs(optimizer, scheduler, 10)
    head = [1e-3 * f for f in (0.25, 0.5, 0.75, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.1)]
    assert [row[0] for row in lrs] == pytest.approx(head)
    assert [row[1] for row in lrs] == pytest.approx([lr * 0.5 for lr in head])
    assert [row[2] for row in lrs] == pytest.approx([2e-4] * 10)  # the constant group keeps its rate
    assert warmup_multistep_lambda(10, (0.5,), 0.1, 0)(3) == 1.0


def test_frozen_batchnorm_keeps_statistics_and_affine_through_training():
    net = _net(freeze_bn=True)
    method = SupervisedMethod(net, HeatmapCodec(64, 16, 2.0), AugmentConfig(), MPII16, 0)
    bns = [m for m in net.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not any(p.requires_grad for m in bns for p in m.parameters())
    before = copy.deepcopy(net.state_dict())
    optimizer, _ = build_optimizer(net.parameters(), net.backbone.parameters(), total_steps=5,
                                   **OptimConfig(lr=1e-2).schedule_numbers())
    method.train()  # the trainer's call: must not re-enable the frozen layers
    assert bns and not any(m.training for m in bns) and net.head.deconv[1].training
    g = torch.Generator().manual_seed(0)
    batch = {"image": torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=g),
             "keypoints": torch.cat([torch.rand(4, 16, 2, generator=g) * 64, torch.full((4, 16, 1), 2.0)], -1)}
    for step in range(2):
        optimizer.zero_grad()
        method.losses(batch, step)["loss"].backward()
        optimizer.step()
    after = net.state_dict()
    frozen = [f"backbone.{name}.{leaf}" for name, m in net.backbone.named_modules() if m in bns
              for leaf in ("weight", "bias", "running_mean", "running_var")]
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(before["backbone.stem.0.weight"], after["backbone.stem.0.weight"])  # convolutions train
    assert not torch.equal(before["head.deconv.1.running_mean"], after["head.deconv.1.running_mean"])  # head BN: not frozen
    teacher = copy.deepcopy(net).train()  # the EMA teacher is a deep copy: it inherits the frozen layers
    assert not any(m.training for m in teacher.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_unfrozen_batchnorm_is_todays_behaviour():
    net = _net()
    net.train()
    assert all(m.training for m in net.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert all(p.requires_grad for p in net.parameters())
