"""The 3D mean-pose floor: the source training split's mean root-relative pose, scored like a 3D model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.data.h5format import H5Writer
from posekit.data.meta import MPII16
from posekit.evaluation.metrics3d import parse_metric3d

HIPS = (2, 3)  # MPII16's root: the hips' midpoint
HEAD_TOP = 9


def split_3d(path, joints, visibility):
    """A 3D split of ``joints`` ``[N,16,3]`` (camera metres) with per-joint visibility ``[N,16]``; the 2D labels
    are their projection with a fixed camera (not used by the floor)."""
    n = len(joints)
    k = np.array([[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]])
    uv = joints @ k.T
    kp = np.concatenate([uv[..., :2] / uv[..., 2:], visibility[..., None]], -1).astype(np.float32)
    with H5Writer(path, MPII16, (64, 64), with_3d=True) as w:
        w.append({"images": np.zeros((n, 64, 64, 3), np.uint8), "keypoints": kp, "keypoints_orig": kp,
                  "affine": np.tile(np.eye(3)[:2], (n, 1, 1)).astype(np.float32),
                  "bbox": np.tile([0, 0, 63, 63], (n, 1)).astype(np.float32),
                  "orig_size": np.tile([64, 64], (n, 1)), "source_id": np.array([str(i) for i in range(n)], object),
                  "keypoints3d": joints.astype(np.float32), "intrinsics": np.tile(k, (n, 1, 1)).astype(np.float32)})
    return path


def pose(root, rel_others, head_top=None):
    """Hips at ±0.1 m in x about ``root``; every other joint at ``root + rel_others`` (head top: ``head_top``)."""
    p = np.tile(np.asarray(root, float) + rel_others, (16, 1))
    p[2], p[3] = np.add(root, [-0.1, 0, 0]), np.add(root, [0.1, 0, 0])
    if head_top is not None:
        p[HEAD_TOP] = np.add(root, head_top)
    return p


@pytest.fixture
def source(tmp_path):
    """Two source samples at different places; the head top is unlabelled (and wild) in the second one, so the
    mean pose is hips ±0.1 m, others 0.4 m above the root, head top 0.5 m above it."""
    a = pose([0, 0, 5], [0, -0.5, 0])
    b = pose([1, 1, 7], [0, -0.3, 0], head_top=[50, 50, 50])
    vis = np.full((2, 16), 2.0)
    vis[1, HEAD_TOP] = 0
    return split_3d(tmp_path / "src.h5", np.stack([a, b]), vis)


def test_mean_root_relative_pose_averages_labelled_joints_only(source):
    from posekit.evaluation.baselines import mean_pose_3d

    expected = pose([0, 0, 0], [0, -0.4, 0], head_top=[0, -0.5, 0])
    np.testing.assert_allclose(mean_pose_3d(source, HIPS), expected, atol=1e-6)


def test_floor_equals_the_hand_computation(source, tmp_path):
    from posekit.evaluation.baselines import mean_pose_floor_3d

    # target: others 0.4 m up and 0.3 m behind the root; joint 0 unlabelled (not counted)
    vis = np.full((1, 16), 2.0)
    vis[0, 0] = 0
    target = split_3d(tmp_path / "tgt.h5", pose([0.5, 0, 4], [0, -0.4, 0.3])[None], vis)
    # counted: 2 hips (error 0), head top (|(0, -0.1, 0.3)| m), 12 others (0.3 m): 15 joints
    hand = (2 * 0 + 1000 * math.hypot(0.1, 0.3) + 12 * 300) / 15
    floor = mean_pose_floor_3d(source, target, parse_metric3d("mpjpe"), HIPS)
    assert floor["value"] == pytest.approx(hand, abs=1e-3) and floor["unit"] == "mm"
    assert floor["summary"]["mpjpe"] == pytest.approx(hand, abs=1e-3)
    assert floor["summary"]["pck3d@150"] == pytest.approx(2 / 15)  # only the hips within 150 mm
    assert floor["per_joint"][0] is None and floor["per_joint"][2] == pytest.approx(0, abs=1e-3)
    pck = mean_pose_floor_3d(source, target, parse_metric3d("pck3d@150"), HIPS)
    assert pck["value"] == pytest.approx(2 / 15) and pck["unit"] == "fraction"


def test_floor_under_procrustes_is_zero_for_a_similar_pose_and_root_alignment_is_not(source, tmp_path):
    from posekit.evaluation.baselines import mean_pose_floor_3d

    mean = pose([0, 0, 0], [0, -0.4, 0], head_top=[0, -0.5, 0])
    rot = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # 90° about the camera's y axis
    target = split_3d(tmp_path / "tgt.h5", (1.2 * mean @ rot.T + [0.3, 0.2, 4])[None], np.full((1, 16), 2.0))
    assert mean_pose_floor_3d(source, target, parse_metric3d("pa-mpjpe"), HIPS)["value"] == pytest.approx(0, abs=1e-3)
    # root-aligned: hips |1.2 R h − h| = |(∓0.1, 0, ∓0.12)| ... each 0.1562 m; others 0.08 m; head top 0.1 m
    hand = (2 * 1000 * math.hypot(0.1, 0.12) + 13 * 80 + 100) / 16
    assert mean_pose_floor_3d(source, target, parse_metric3d("mpjpe"), HIPS)["value"] == pytest.approx(hand, abs=1e-3)


def test_eval_names_the_floor_source_from_the_checkpoint_and_says_why_when_it_is_missing(tiny_ws):
    from posekit.evaluation.baselines import mean_pose_floor_3d
    from posekit.stages.evaluate import mean_pose_floor_record
    from posekit.workspace import Workspace

    ws, metric = Workspace(tiny_ws), parse_metric3d("mpjpe")
    target = tiny_ws / "data/synth_tgt/test.h5"
    ckpt = {"config": {"data": {"source": "synth_tgt", "train_split": "train"}},
            "lineage": {"source": {"dataset": "synth_src", "params_sha1": ws.dataset_lineage("synth_src")["params_sha1"]}}}
    record = mean_pose_floor_record(ws, ckpt, target, metric, HIPS)  # the lineage's dataset wins over the config
    assert record["source"] == "synth_src:train" and "note" not in record
    assert record["value"] == mean_pose_floor_3d(tiny_ws / "data/synth_src/train.h5", target, metric, HIPS)["value"]
    assert set(record["summary"]) == {"mpjpe", "pa-mpjpe", "pck3d@150", "auc"}

    ckpt["lineage"]["source"]["params_sha1"] = "0" * 40
    assert "prepared again" in mean_pose_floor_record(ws, ckpt, target, metric, HIPS)["note"]
    missing = mean_pose_floor_record(ws, {"config": {"data": {"source": "gone", "train_split": "train"}}}, target,
                                     metric, HIPS)
    assert missing["value"] is None and "no prepared dataset 'gone'" in missing["note"]
