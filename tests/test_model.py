import pytest
import torch
import torchvision

from posekit.config.schema import ModelConfig
from posekit.errors import MissingArtifactError
from posekit.models.factory import build_pose_net


@pytest.mark.parametrize("backbone, width", [("resnet18", 0.25), ("resnet50", 0.125)])
def test_heatmaps_are_a_quarter_of_the_input(backbone, width):
    net = build_pose_net(ModelConfig(backbone=backbone, width=width, deconv_channels=64), num_joints=16)
    out = net(torch.randn(2, 3, 96, 96))
    assert out["heatmaps"].shape == (2, 16, 24, 24)
    assert out["features"].shape == (2, round(64 * width), 24, 24)  # deconv channels scale with the width
    out["heatmaps"].sum().backward()


def test_slim_width_shrinks_the_network():
    full = sum(p.numel() for p in build_pose_net(ModelConfig(backbone="resnet18"), 16).parameters())
    slim = sum(p.numel() for p in build_pose_net(ModelConfig(backbone="resnet18", width=0.5), 16).parameters())
    assert slim < full / 3


def test_missing_imagenet_weights_give_a_clean_error(monkeypatch):
    def offline(self, *args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(MissingArtifactError) as info:
        build_pose_net(ModelConfig(backbone="resnet18", pretrained="imagenet"), 16)
    assert "resnet18" in info.value.message
    assert "resnet18-f37072fd.pth" in info.value.hint and "model.pretrained=none" in info.value.hint
