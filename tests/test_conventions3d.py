"""End-to-end checks of the 2.5D conventions (issue 30): depth sign, scale and root, the intrinsics of the stored
labels and of an augmented view, left/right depths under flips, depth read under the predicted Gaussian, and the
lifting of 2D + depth back to camera coordinates. Each would fail on a wrong convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from posekit.data.codec import HeatmapCodec
from posekit.data.h5format import read_arrays, validate_h5
from posekit.data.roots import root_joints
from posekit.evaluation.evaluate import predict_split
from posekit.evaluation.lift import score_split_3d
from posekit.evaluation.metrics3d import parse_metric3d
from posekit.losses.pose3d import root_relative_depth

SPLIT = "data/synth_tgt/test.h5"


def project(joints: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    uvw = np.einsum("nij,nkj->nki", intrinsics, joints)
    return uvw[..., :2] / uvw[..., 2:]


def test_stored_3d_labels_are_camera_metres_whose_pinhole_projection_is_the_2d_label(tiny_ws):
    arrays = read_arrays(tiny_ws / SPLIT, ("keypoints3d", "intrinsics", "keypoints_orig", "keypoints", "affine"))
    joints, k = arrays["keypoints3d"].astype(np.float64), arrays["intrinsics"].astype(np.float64)
    assert (joints[..., 2] > 1).all() and (joints[..., 2] < 20).all()  # z forward, metres, a few away
    # y points down as the image's v does: the head top is above (smaller y than) the ankles on upright bodies
    names = validate_h5(tiny_ws / SPLIT)["meta"].names
    head, ankles = names.index("head_top"), [names.index("left_ankle"), names.index("right_ankle")]
    assert np.median(joints[:, head, 1] - joints[:, ankles, 1].mean(1)) < -0.5
    # the intrinsics are those of the original pixels: the projection lands on keypoints_orig ...
    labelled = arrays["keypoints_orig"][..., 2] >= 1
    assert np.abs(project(joints, k) - arrays["keypoints_orig"][..., :2])[labelled].max() < 1e-3
    # ... and the crop labels are keypoints_orig through the inverse of the crop → original affine
    a = arrays["affine"].astype(np.float64)
    crop = np.einsum("nij,nkj->nki", np.linalg.inv(a[:, :, :2]), arrays["keypoints_orig"][..., :2] - a[:, None, :, 2])
    assert np.abs(crop - arrays["keypoints"][..., :2])[labelled].max() < 1e-3


class Oracle(nn.Module):
    """A perfect 2.5D network for one split, read in order: for each batch it returns the training targets
    themselves: the codec's Gaussian at each joint (input pixels) and a depth map holding the joint's root-relative
    depth (``root_relative_depth`` / depth_scale, as ``MIMMethod`` encodes it). For a mirrored batch (the flip test)
    it answers as a correct network must: slot k holds the mirror image of joint ``perm[k]`` at its depth."""

    def __init__(self, path, input_size: int, sigma: float, depth_scale: float, ramp: float = 0.0):
        super().__init__()
        arrays = read_arrays(path, ("keypoints", "keypoints3d"))
        meta = validate_h5(path)["meta"]
        h, w = (int(v) for v in validate_h5(path)["image_size"])
        s = input_size / max(h, w)
        kp = torch.from_numpy(arrays["keypoints"]).float()
        kp[..., :2] = (kp[..., :2] + 0.5) * s - 0.5  # crop → input pixels (the resize, pixel centres at integers)
        self.kp, self.perm, self.size = kp, meta.flip_permutation(), input_size
        self.codec = HeatmapCodec(input_size, input_size // 4, sigma)
        z = root_relative_depth(torch.from_numpy(arrays["keypoints3d"]).double(), root_joints(meta), depth_scale)
        self.z = z.float()
        self.ramp, self.seen, self.last = ramp, 0, None

    def forward(self, images):
        b = images.shape[0]
        mirrored = self.last is not None and self.last.shape == images.shape and torch.equal(images, self.last.flip(-1))
        if not mirrored:
            self.start, self.seen = self.seen, self.seen + b
        self.last = images
        kp, z = self.kp[self.start:self.start + b].clone(), self.z[self.start:self.start + b].clone()
        if mirrored:
            kp, z = kp[:, self.perm], z[:, self.perm]
            kp[..., 0] = self.size - 1 - kp[..., 0]
        heat = self.codec.gaussians(kp[..., :2])  # every joint its Gaussian (unlabelled ones are not counted)
        hw = heat.shape[-2:]
        depth = z[..., None, None].expand(-1, -1, *hw).clone()
        if self.ramp:  # the map is right only at the joint: ramp units per heatmap pixel away from it in x and y
            hxy = (kp[..., :2] + 0.5) / self.codec.stride - 0.5
            grid = torch.arange(hw[-1], dtype=depth.dtype)
            depth += self.ramp * ((grid[None, None, None, :] - hxy[..., 0, None, None]) +
                                  (grid[None, None, :, None] - hxy[..., 1, None, None]))
        return {"heatmaps": heat, "depth": depth}


@pytest.mark.parametrize("input_size,depth_scale,flip", [(64, 1.0, False), (32, 0.1, False), (64, 1.0, True)])
def test_ground_truth_heatmaps_and_depths_score_zero_through_the_eval_path(tiny_ws, input_size, depth_scale, flip):
    path = tiny_ws / SPLIT
    oracle = Oracle(path, input_size, 1.0, depth_scale)
    pred = predict_split(oracle, path, input_size, 1.0, torch.device("cpu"), batch_size=5, with_depth=True, flip=flip)
    meta = validate_h5(path)["meta"]
    scored = score_split_3d(pred, path, parse_metric3d("mpjpe"), root_joints(meta), depth_scale)
    assert scored["value"] < 1.0 and scored["summary"]["pa-mpjpe"] < 1.0  # mm
    assert scored["summary"]["pck3d@150"] == 1.0


def test_a_wrong_depth_convention_is_caught_by_the_same_path(tiny_ws):
    """The check above has teeth: the oracle's depths with the sign flipped, or not swapped back after the flip
    test, score far from zero."""
    path = tiny_ws / SPLIT
    meta = validate_h5(path)["meta"]
    root = root_joints(meta)
    pred = predict_split(Oracle(path, 64, 1.0, 1.0), path, 64, 1.0, torch.device("cpu"), batch_size=8, with_depth=True)
    pred.extra["depth"] = -pred.extra["depth"]
    assert score_split_3d(pred, path, parse_metric3d("mpjpe"), root, 1.0)["value"] > 50
    pred.extra["depth"] = -pred.extra["depth"][:, meta.flip_permutation()]  # left/right depths exchanged
    assert score_split_3d(pred, path, parse_metric3d("mpjpe"), root, 1.0)["value"] > 20


def test_depth_is_read_under_the_predicted_peak_not_elsewhere(tiny_ws):
    """Depth maps that are right only at each joint (a ramp of 1 m per heatmap pixel through it): a symmetric
    Gaussian window at the predicted peak reads exactly the joint's depth; a window half a pixel off would be
    0.5 m off. Joints within 3σ of the map's edge are left out (the edge cuts their window, which biases a ramp)."""
    path = tiny_ws / SPLIT
    oracle = Oracle(path, 64, 1.0, 1.0, ramp=1.0)
    pred = predict_split(oracle, path, 64, 1.0, torch.device("cpu"), batch_size=8, with_depth=True)
    kp = read_arrays(path, ("keypoints_orig",))["keypoints_orig"]  # crop = original pixels in this split
    hxy = (kp[..., :2] + 0.5) / 4 - 0.5
    inner = (kp[..., 2] >= 1) & (hxy >= 3).all(-1) & (hxy <= 12).all(-1)
    assert inner.sum() > 100
    assert np.abs(pred.extra["depth"] - oracle.z.numpy())[inner].max() < 1e-3


def test_a_flipped_training_view_swaps_left_and_right_depths_with_their_joints(tiny_ws):
    """The training side (``MIMMethod``): a flipped, rotated, scaled view with its targets. Lifting the view's 2D
    targets with their depth targets through the view's own camera (the stored intrinsics composed with the view's
    affine) gives back the 3D joints, slot k being joint perm[k]: left/right depths travel with their joints and
    the 2D warp leaves root-relative depth as it is (the view is an exact image of the same 3D pose)."""
    from posekit.config.schema import AugmentConfig
    from posekit.config.schema_mim import MIMAdaptConfig, ViTConfig
    from posekit.data.dataset import H5KeypointDataset
    from posekit.methods.mim import MIMMethod
    from posekit.models.factory import build_vitpose

    ds = H5KeypointDataset(tiny_ws / "data/synth_src/train.h5", with_3d=True)
    batch = torch.utils.data.default_collate([ds[i] for i in range(8)])
    view = AugmentConfig(rotation=30, scale=(0.8, 1.2), translate=0.05, flip=1.0, colour=0)
    cfg = MIMAdaptConfig(model=ViTConfig(patch_size=8, dim=32, depth=1, heads=2, head_channels=8),
                         data={"input_size": 32}, augment=view, attention={"enabled": False})
    root = root_joints(ds.meta)
    codec = HeatmapCodec(32, 8, 1.0)
    method = MIMMethod(build_vitpose(cfg.model, ds.meta.num_joints), codec, cfg, ds.meta, root, 0)
    seen = {}

    class Record(nn.Module):
        def forward(self, heatmaps, depth_maps, targets, weights, z_rel):
            seen.update(targets=targets, weights=weights, z=z_rel)
            zero = heatmaps.sum() * 0
            return zero, zero, zero

    method.loss_fn = Record()
    method.losses(batch, 1)
    perm = ds.meta.flip_permutation()
    xy, _ = codec.decode(seen["targets"])  # the view's 2D targets, input pixels
    xy, z = xy.double().numpy(), seen["z"].double().numpy()
    joints = batch["keypoints3d"].double().numpy()
    k = read_arrays(ds.path, ("intrinsics",))["intrinsics"][:8].astype(np.float64)
    orig = batch["keypoints"].double().numpy()[..., :2]  # this synthetic split: crop = original pixels
    ok = seen["weights"].numpy() > 0
    for i in range(8):
        # the view's affine (original → input pixels), fitted from the joints it moved (slot k ← joint perm[k])
        src = np.concatenate([orig[i, perm], np.ones((len(perm), 1))], 1)[ok[i]]
        a, *_ = np.linalg.lstsq(src, xy[i][ok[i]], rcond=None)
        assert np.linalg.det(a[:2].T) < 0  # mirrored
        camera = np.vstack([a.T, [0, 0, 1]]) @ k[i]
        rel = joints[i, perm] - joints[i, list(root)].mean(0)
        assert np.abs(z[i] - rel[:, 2]).max() < 1e-6  # depth of slot k = root-relative depth of joint perm[k]
        root_z = joints[i, list(root), 2].mean()
        # the view's camera is rotated (not diagonal), so back-project with its full inverse
        rays = np.concatenate([xy[i], np.ones((len(perm), 1))], 1) @ np.linalg.inv(camera).T
        lifted = rays * (root_z + z[i])[:, None]
        assert np.abs(lifted - joints[i, perm])[ok[i]].max() < 1e-4  # metres
