"""The convolutional 2.5D baseline (``pretrain --method supervised25d``): its network, its loss (mim's keypoint
loss) and 3D evaluation of its runs through the same path as mim's."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from posekit.cli import app
from posekit.config.schema import AugmentConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import KeypointMeta
from posekit.inference import heatmap_forward
from posekit.losses.pose3d import Keypoint25DLoss, root_relative_depth
from posekit.methods.supervised25d import Supervised25DMethod
from posekit.models.factory import ARCHITECTURES, describe
from tests.conftest import TINY_TRAIN

runner = CliRunner()
SLIM = {"backbone": "resnet18", "width": 0.25, "deconv_channels": 64, "pretrained": "none"}


def test_network_gives_heatmaps_and_depth_maps_at_a_quarter_of_the_input():
    net = ARCHITECTURES["simplebaseline25d"](SLIM, 5).eval()
    out = net(torch.rand(2, 3, 64, 64))
    assert out["heatmaps"].shape == out["depth"].shape == (2, 5, 16, 16)
    assert describe("simplebaseline25d", SLIM) == "resnet18 (2.5D head)"
    xy, _, flipped = heatmap_forward(net, torch.rand(2, 3, 64, 64), 1.0, flip_perm=[0, 2, 1, 4, 3])
    assert xy.shape == (2, 5, 2) and flipped["depth"].shape == (2, 5, 16, 16)  # the flip test averages depth too


def test_loss_is_mims_keypoint_loss_on_the_same_view():
    """No augmentation: the method's terms equal Keypoint25DLoss on the codec's targets and root-relative depth."""
    meta = KeypointMeta("toy", ("a", "b", "c"), ((1, 2),))
    net = ARCHITECTURES["simplebaseline25d"](SLIM, 3)
    codec = HeatmapCodec(64, 16, 1.0)
    still = AugmentConfig(rotation=0.0, scale=(1.0, 1.0), translate=0.0, flip=0.0, colour=0.0)
    method = Supervised25DMethod(net, codec, still, meta, (0,), 0.5, 0.1, seed=0)
    kp = torch.tensor([[[10.0, 12.0, 2.0], [30.0, 40.0, 2.0], [50.0, 20.0, 1.0]]]).repeat(2, 1, 1)
    kp3d = torch.rand(2, 3, 3) + torch.tensor([0.0, 0.0, 3.0])
    batch = {"image": torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8), "keypoints": kp, "keypoints3d": kp3d}
    net.eval()  # BatchNorm with running statistics, so two forward passes agree
    terms = method.losses(batch, 0)
    images, _, _ = method.augmented_view(batch["image"], still, 64)  # draws nothing random
    out = net(images)
    targets, weights = codec.encode(kp)
    total, heat, depth = Keypoint25DLoss(0.5)(out["heatmaps"], out["depth"], targets, weights,
                                              root_relative_depth(kp3d, (0,), 0.1))
    assert torch.allclose(terms["heatmap"], heat) and torch.allclose(terms["depth"], depth)
    assert torch.allclose(terms["loss"], total)


def test_pretrain_supervised25d_then_eval_mpjpe_beside_the_mean_pose_floor(ws_copy):
    result = runner.invoke(app, ["-w", str(ws_copy), "pretrain", "--method", "supervised25d", *TINY_TRAIN,
                                 "--steps", "2"])
    assert result.exit_code == 0, result.output
    run = next((ws_copy / "runs/pretrain").glob("*-supervised25d"))
    logged = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if "loss/loss" in x]
    assert {"loss/heatmap", "loss/depth"} <= set(logged[0])
    ckpt = torch.load(run / "ckpt/final.pt", weights_only=True)
    assert ckpt["architecture"] == "simplebaseline25d" and ckpt["root_joints"] == [2, 3]

    result = runner.invoke(app, ["-w", str(ws_copy), "eval", "pretrain/latest", "--data", "synth_src:test",
                                 "--data", "synth_tgt:test", "--metric", "mpjpe"])
    assert result.exit_code == 0, result.output
    assert "mean-pose floor" in result.output
    for split in ("synth_src-test", "synth_tgt-test"):
        report = json.loads((run / "eval" / f"{split}-mpjpe.json").read_text())
        assert report["unit"] == "mm" and report["value"] > 0
        assert "ground-truth root depth" in report["coordinate_space"]
        assert report["mean_pose_floor"]["source"] == "synth_src:train" and report["mean_pose_floor"]["value"] > 0
    result = runner.invoke(app, ["-w", str(ws_copy), "eval", "pretrain/latest", "--data", "synth_tgt:test"])
    assert result.exit_code == 0, result.output  # and the 2D metrics, as for any keypoint model
