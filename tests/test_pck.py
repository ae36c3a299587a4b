import math

import numpy as np
import pytest

from posekit.data.meta import MPII16
from posekit.errors import ConfigError
from posekit.evaluation.pck import parse_metric, pck_per_joint, reference_lengths, summarise


def test_threshold_edge_and_visibility():
    gt = np.zeros((3, 2, 3))
    gt[..., 2] = 2
    gt[2, 1, 2] = 1  # occluded: not counted by default
    pred = np.zeros((3, 2, 2))
    pred[0, 0] = [4.99, 0]  # 4.99 / 100 < 0.05 → correct
    pred[1, 0] = [5.0, 0]  # exactly at the threshold → wrong (strict <)
    pred[2, 0] = [3, 4]  # distance 5 → wrong
    pred[:, 1] = [1, 1]
    norm = np.full(3, 100.0)
    acc, counts = pck_per_joint(pred, gt, norm, 0.05)
    assert counts.tolist() == [3, 2]
    assert acc[0] == pytest.approx(1 / 3) and acc[1] == 1.0
    _acc_occ, counts_occ = pck_per_joint(pred, gt, norm, 0.05, min_visibility=1)
    assert counts_occ.tolist() == [3, 3]


def test_joint_without_valid_instances_is_nan_and_skipped_in_groups():
    gt = np.zeros((2, 16, 3))
    gt[..., 2] = 2
    gt[:, 12, 2] = 0  # right shoulder never visible
    pred = gt[..., :2].copy()
    acc, _ = pck_per_joint(pred, gt, np.full(2, 50.0), 0.05)
    assert math.isnan(acc[12])
    groups = summarise(acc, MPII16)
    assert groups["Sld"] == 1.0  # only the left shoulder counts
    assert groups["All"] == 1.0


def test_groups_average_joints_and_all_uses_listed_joints():
    acc = np.full(16, np.nan)
    acc[[12, 13]] = [1.0, 0.0]
    acc[[11, 14, 10, 15, 2, 3, 1, 4, 0, 5]] = 0.5
    acc[9] = 0.0  # head top is not part of All
    groups = summarise(acc, MPII16)
    assert groups["Sld"] == 0.5
    assert groups["All"] == pytest.approx((1 + 0 + 0.5 * 10) / 12)


def test_reference_lengths():
    bbox = np.array([[10, 20, 50, 120.0]])
    assert reference_lengths("bbox", bbox, np.array([[300, 400]]))[0] == 100
    assert reference_lengths("image", bbox, np.array([[300, 400]]))[0] == 400
    with pytest.raises(ConfigError):
        reference_lengths("torso", bbox, np.array([[300, 400]]))


def test_parse_metric():
    assert parse_metric("pck@0.05") == 0.05
    assert parse_metric("PCK@0.1") == 0.1
    for bad in ("pck", "pck@x", "mpjpe@1", "pck@0"):
        with pytest.raises(ConfigError):
            parse_metric(bad)
