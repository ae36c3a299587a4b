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
