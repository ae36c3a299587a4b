"""The prediction path maps heatmap peaks back to original pixels through the resize and the stored affine."""

import numpy as np
import torch
from torch import nn

from posekit.data.codec import HeatmapCodec
from posekit.data.h5format import H5Writer
from posekit.data.meta import MPII16
from posekit.evaluation.evaluate import predict_split, score_split


class FixedPeaks(nn.Module):
    """Ignores the image and returns Gaussian heatmaps peaking at fixed input-pixel coordinates."""

    def __init__(self, xy_input: torch.Tensor, codec: HeatmapCodec):
        super().__init__()
        self.xy, self.codec = xy_input, codec

    def forward(self, images):
        kp = torch.cat([self.xy, torch.full_like(self.xy[..., :1], 2.0)], -1).expand(images.shape[0], -1, -1)
        return {"heatmaps": self.codec.encode(kp)[0]}


def test_predictions_land_in_original_pixels(tmp_path):
    n, crop, inp = 3, 64, 128
    codec = HeatmapCodec(inp, inp // 4, 2.0)
    xy_in = 20 + torch.rand(1, 16, 2, generator=torch.Generator().manual_seed(0)) * 80
    xy_crop = (xy_in + 0.5) * crop / inp - 0.5
    affine = np.array([[3.0, 0.0, 10.0], [0.0, 3.0, 20.0]], dtype=np.float32)  # crop → original
    orig = xy_crop[0].numpy() @ affine[:, :2].T + affine[:, 2]
    kp_orig = np.concatenate([orig, np.full((16, 1), 2.0)], 1).astype(np.float32)
    path = tmp_path / "s.h5"
    with H5Writer(path, MPII16, (crop, crop)) as w:
        w.append({"images": np.zeros((n, crop, crop, 3), np.uint8),
                  "keypoints": np.tile(np.concatenate([xy_crop[0].numpy(), np.full((16, 1), 2.0)], 1), (n, 1, 1)),
                  "keypoints_orig": np.tile(kp_orig, (n, 1, 1)), "affine": np.tile(affine, (n, 1, 1)),
                  "bbox": np.tile([0, 0, 300, 300], (n, 1)), "orig_size": np.tile([400, 400], (n, 1)),
                  "source_id": np.array(["a", "b", "c"], dtype=object)})
    pred = predict_split(FixedPeaks(xy_in, codec), path, inp, 2.0, torch.device("cpu"), batch_size=2, legacy=True)
    assert np.abs(pred.keypoints - orig[None]).max() < 0.2  # 0.05 input px × 1/2 resize × 3 affine, plus slack
    scores = score_split(pred, path, 0.05, "bbox", 2)
    assert scores["groups"]["All"] == 1.0
    assert np.allclose(pred.legacy_joint_acc, 1.0)


def _split(path, size, keypoints, affine, bbox):
    n = len(keypoints)
    with H5Writer(path, MPII16, (size, size)) as w:
        w.append({"images": np.zeros((n, size, size, 3), np.uint8), "keypoints": keypoints.astype(np.float32),
                  "keypoints_orig": keypoints.astype(np.float32), "affine": affine.astype(np.float32),
                  "bbox": bbox, "orig_size": np.tile([400, 400], (n, 1)),
                  "source_id": np.array([str(i) for i in range(n)], dtype=object)})


def test_mean_pose_floor_predicts_the_source_mean_in_every_target_crop(tmp_path):
    from posekit.evaluation.baselines import mean_pose, mean_pose_predictions

    rng = np.random.default_rng(0)
    src = np.concatenate([rng.uniform(0, 64, (5, 16, 2)), np.full((5, 16, 1), 2.0)], -1)
    src[0, 3, 2] = 0  # an unlabelled joint does not enter the mean
    src[0, 3, :2] = 1e6
    _split(tmp_path / "src.h5", 64, src, np.tile(np.eye(3)[:2], (5, 1, 1)), np.tile([0, 0, 63, 63], (5, 1)))
    expected = src[..., :2].mean(0) / 64
    expected[3] = src[1:, 3, :2].mean(0) / 64
    np.testing.assert_allclose(mean_pose(tmp_path / "src.h5"), expected, rtol=1e-6)

    # target crops of 128 px, each placed in its original image by its own crop → original affine
    affine = np.array([[[2.0, 0, 10], [0, 2.0, 20]], [[0.5, 0, 0], [0, 0.5, 5]]])
    gt = np.zeros((2, 16, 3))
    gt[..., :2] = np.einsum("nij,kj->nki", affine[:, :, :2], expected * 128) + affine[:, None, :, 2]
    gt[..., 2] = 2
    gt[1, :, :2] += 50  # the second image's person is elsewhere: the floor misses it
    _split(tmp_path / "tgt.h5", 128, gt, affine, np.tile([0, 0, 100, 100], (2, 1)))
    pred = mean_pose_predictions(tmp_path / "src.h5", tmp_path / "tgt.h5")
    np.testing.assert_allclose(pred.keypoints[0], gt[0, :, :2], atol=1e-4)
    assert score_split(pred, tmp_path / "tgt.h5", 0.05, "bbox", 2)["groups"]["All"] == 0.5


def test_eval_results_under_other_settings_get_their_own_file_names():
    from posekit.stages.evaluate import result_suffix

    assert result_suffix("standard", None, 0.05, "bbox", False) == ""
    assert result_suffix("standard", None, 0.1, "image", True) == "-pck0.1-image-occluded"
    assert result_suffix("legacy", None, 0.05, "bbox", False) == "-legacy"
    assert result_suffix("legacy", None, 0.1, "bbox", False) == "-legacy-pck0.1"  # not the @0.05 legacy file
    assert result_suffix("standard", "mpjpe", 0.05, "bbox", False) == "-mpjpe"
    # the flip test never shares a file with the plain result of the same settings
    assert result_suffix("standard", None, 0.05, "bbox", False, flip=True) == "-flip"
    assert result_suffix("standard", None, 0.1, "image", True, flip=True) == "-pck0.1-image-occluded-flip"
    assert result_suffix("legacy", None, 0.05, "bbox", False, flip=True) == "-legacy-flip"
    assert result_suffix("standard", "mpjpe", 0.05, "bbox", False, flip=True) == "-mpjpe-flip"
