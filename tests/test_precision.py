"""train.amp = auto | bf16 | off: the choice per device, CPU units and network family, and what bf16 changes."""

from __future__ import annotations

import pytest
import torch

from posekit.config.schema import ModelConfig, TrainConfig
from posekit.engine.precision import FP32, CpuUnits, Precision, resolve_amp
from posekit.models.factory import build_pose_net, network_family

CPU = torch.device("cpu")
AMX = CpuUnits("Intel Xeon (test)", "AVX512", amx=True, avx512_bf16=True)
ZEN4 = CpuUnits("AMD EPYC (test)", "AVX512", amx=False, avx512_bf16=True)
AVX2 = CpuUnits("an older CPU (test)", "AVX2", amx=False, avx512_bf16=False)


@pytest.mark.parametrize(("units", "family", "bf16"), [
    (AMX, "resnet", True), (ZEN4, "resnet", True), (AVX2, "resnet", False),
    (AMX, "vit", True), (AVX2, "vit", False), (AMX, "vit_narrow", False),
    (AMX, "efficientnet_lite", False), (ZEN4, "efficientnet_lite", False),
    (AMX, "timm", False), (AMX, "adain", True), (AMX, "a family nobody measured", False),
])
def test_auto_on_a_cpu_follows_its_units_and_the_network_family(units, family, bf16):
    chosen = resolve_amp("auto", CPU, family, units)
    assert chosen.bf16 is bf16
    assert chosen.reason.startswith("auto: ")
    if bf16:
        assert units.units() in chosen.reason and family in chosen.reason
    elif not units.bf16:
        assert "no bf16 units" in chosen.reason


def test_bf16_and_off_are_obeyed_and_cuda_always_gets_bf16_unless_off():
    assert resolve_amp("off", CPU, "resnet", AMX) == FP32
    assert resolve_amp("off", torch.device("cuda"), "resnet", AMX) == FP32
    assert resolve_amp("bf16", CPU, "efficientnet_lite", AVX2).bf16  # asked for: on, though emulated
    assert "emulated" in resolve_amp("bf16", CPU, "resnet", AVX2).reason
    for setting in ("auto", "bf16"):
        for family in ("resnet", "efficientnet_lite", "timm"):
            assert resolve_amp(setting, torch.device("cuda"), family, AVX2).bf16
    assert not resolve_amp("auto", torch.device("mps"), "resnet", AMX).bf16
    with pytest.raises(ValueError, match="auto, bf16, off"):
        resolve_amp("fp16", CPU, "resnet", AMX)


def test_train_amp_reads_the_old_booleans_and_refuses_other_values():
    assert TrainConfig().amp == "auto"
    assert TrainConfig(amp=True).amp == "auto" and TrainConfig(amp=False).amp == "off"
    assert TrainConfig.model_validate({"amp": "bf16"}).amp == "bf16"
    with pytest.raises(ValueError):
        TrainConfig(amp="fp16")


def test_network_family_of_each_kind_of_model_section():
    assert network_family(ModelConfig(backbone="resnet18", width=0.5)) == "resnet"
    assert network_family({"backbone": "efficientnet_lite0"}) == "efficientnet_lite"
    assert network_family({"backbone": "timm:mobilenetv3_small_100"}) == "timm"
    assert network_family({"patch_size": 16, "dim": 192, "depth": 12, "heads": 3}) == "vit"  # ViT-Tiny
    assert network_family({"patch_size": 8, "dim": 128, "depth": 4, "heads": 4}) == "vit_narrow"  # the CPU demo's


def test_autocast_context_casts_convolutions_only_when_on():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    with FP32.autocast("cpu"):
        assert conv(x).dtype == torch.float32
    with Precision(True, "test").autocast("cpu"):
        assert conv(x).dtype == torch.bfloat16
    assert Precision(True, "x").label == "bf16" and FP32.describe() == "fp32 (off)"


def test_bf16_heatmaps_and_keypoints_stay_close_to_fp32():
    """The demo network (resnet18 ×0.5) in eval mode, fp32 against bf16 autocast on the same crops. bf16 keeps 8
    bits of mantissa: the heatmaps differ by under a per cent of their range and the decoded peaks by under an input
    pixel for nearly every joint (measured: 0.6 % and 95 %). Stated tolerances: heatmaps within 2 % of the fp32
    range, at least 90 % of the keypoints within 1 input pixel."""
    from posekit.inference import heatmap_forward

    torch.manual_seed(0)
    net = build_pose_net(ModelConfig(backbone="resnet18", width=0.5), 16).eval()
    for m in net.head.modules():  # SimpleBaseline starts its head at std 0.001 (flat maps); give it distinct peaks
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.kaiming_normal_(m.weight)
    images = torch.rand(8, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    xy32, _, out32 = heatmap_forward(net, images, 1.5)
    xy16, _, out16 = heatmap_forward(net, images, 1.5, precision=Precision(True, "test"))
    assert out16["heatmaps"].dtype == torch.float32  # decoded in float32 either way
    span = out32["heatmaps"].max() - out32["heatmaps"].min()
    assert (out16["heatmaps"] - out32["heatmaps"]).abs().max() <= 0.02 * span
    assert not torch.equal(out16["heatmaps"], out32["heatmaps"])  # bf16 did run
    close = ((xy16 - xy32).norm(dim=-1) <= 1.0).float().mean()
    assert close >= 0.9, close


def test_a_bf16_training_step_keeps_weights_and_adam_state_in_float32():
    from posekit.config.schema import AugmentConfig
    from posekit.data.codec import HeatmapCodec
    from posekit.data.meta import MPII16
    from posekit.methods.supervised import SupervisedMethod

    torch.manual_seed(0)
    net = build_pose_net(ModelConfig(backbone="resnet18", width=0.25, deconv_channels=64), 16)
    method = SupervisedMethod(net, HeatmapCodec(64, 16, 2.0), AugmentConfig(), MPII16, 0)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    seen = []
    net.backbone.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    g = torch.Generator().manual_seed(2)
    batch = {"image": torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=g),
             "keypoints": torch.cat([torch.rand(4, 16, 2, generator=g) * 64, torch.full((4, 16, 1), 2.0)], -1)}
    before = {k: v.clone() for k, v in net.state_dict().items()}
    losses = method.train_step(batch, 0, optimizer, lambda: Precision(True, "test").autocast("cpu"))
    assert seen == [torch.bfloat16]  # the network ran in bf16
    assert losses["loss"].dtype == torch.float32 and torch.isfinite(losses["loss"])
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert all(t.dtype == torch.float32 for s in optimizer.state.values() for t in s.values() if t.numel() > 1)
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())  # and it trained
