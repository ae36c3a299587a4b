"""People followed across frames (posekit/temporal/tracker.py), the One-Euro filter (posekit/temporal/one_euro.py)
and the box arithmetic under both (posekit/data/box_ops.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.data.box_ops import box_inside, box_iou, clip_boxes, joints_box, nms
from posekit.temporal.one_euro import OneEuroFilter, alpha
from posekit.temporal.tracker import Tracker, keypoint_similarity


def test_box_iou_nms_clip_and_joint_box():
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    iou = box_iou(a, a)
    assert iou[0, 1] == pytest.approx(50 / 150) and iou[0, 2] == 0 and np.allclose(np.diag(iou), 1)
    assert nms(a, np.array([0.5, 0.9, 0.1]), 0.4).tolist() == [1, 0, 2]  # best first; an IoU of 1/3 ≤ 0.4 stays
    assert nms(a, np.array([0.5, 0.9, 0.1]), 0.3).tolist() == [1, 2]  # 1/3 > 0.3: box 0 goes, box 1 scored higher
    assert clip_boxes(np.array([[-5, -5, 50, 8]]), 10, 20).tolist() == [[-0.5, -0.5, 19.5, 8]]
    big, part = np.array([[0, 0, 100, 100]], float), np.array([[10, 10, 30, 90]], float)  # IoU 0.16, all inside
    assert box_inside(part, big)[0, 0] == 1 and box_inside(big, part)[0, 0] == pytest.approx(0.16)
    both = np.concatenate([big, part])
    assert nms(both, np.array([0.9, 0.8]), 0.45).tolist() == [0, 1]
    assert nms(both, np.array([0.9, 0.8]), 0.45, inside=0.7).tolist() == [0]
    assert nms(both, np.array([0.7, 0.8]), 0.45, inside=0.7).tolist() == [1, 0]  # only a worse box goes
    kp = np.array([[3, 4, 2], [10, 1, 1], [99, 99, 0]], float)
    assert joints_box(kp).tolist() == [3, 1, 10, 4]
    assert np.isnan(joints_box(kp[2:])).all()


def people(boxes, k: int = 4):
    boxes = np.array(boxes, float).reshape(-1, 4)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return boxes, np.repeat(centres[:, None], k, axis=1)


@pytest.mark.parametrize("method", ["iou", "keypoints"])
def test_two_people_keep_their_ids_whatever_order_they_come_in(method):
    tracker = Tracker(method, threshold=0.3)
    ids = []
    for t in range(6):
        boxes = [[10 + 2 * t, 10, 50 + 2 * t, 90], [100 - 2 * t, 10, 140 - 2 * t, 90]]
        if t % 2:
            boxes = boxes[::-1]
        tracks = tracker.update(t, *people(boxes))
        ids.append([tr.id for tr in tracks][:: -1 if t % 2 else 1])
    assert ids == [[0, 1]] * 6


def test_a_newcomer_gets_a_new_id_and_a_lost_track_ends_after_max_age():
    tracker = Tracker("iou", max_age=2)
    assert [t.id for t in tracker.update(0, *people([[0, 0, 10, 10]]))] == [0]
    assert [t.id for t in tracker.update(1, *people([[0, 0, 10, 10], [50, 50, 60, 60]]))] == [0, 1]
    assert [t.id for t in tracker.update(2, *people([[50, 50, 60, 60]]))] == [1]
    assert [t.id for t in tracker.update(3, *people([[0, 0, 10, 10]]))] == [0]  # unseen for 2 frames: still there
    tracker.update(4, *people([]))
    # person 1, unseen for 3 > 2 frames, starts a new track (ids are not reused); person 0 (2 frames) is still 0
    assert [t.id for t in tracker.update(5, *people([[50, 50, 60, 60], [0, 0, 10, 10]]))] == [2, 0]


def test_keypoint_similarity_is_one_when_equal_and_falls_with_distance_relative_to_size():
    a = np.zeros((1, 3, 2))
    sim = keypoint_similarity(a, np.stack([a[0], a[0] + 10]), np.array([100.0]))
    assert sim[0, 0] == pytest.approx(1) and sim[0, 1] == pytest.approx(math.exp(-200 / (2 * 10.0**2)))
    assert keypoint_similarity(a, a + 10, np.array([1000.0]))[0, 0] > 0.99  # 10 px is nothing on a big person


def test_one_euro_alpha_and_first_sample():
    assert alpha(1 / 30, 1.0) == pytest.approx(1 / (1 + 30 / (2 * math.pi)))
    f = OneEuroFilter(1.0, 0.0)
    assert f(np.array([3.0, 4.0]), 0.0).tolist() == [3.0, 4.0]
    # with beta = 0 it is a plain low-pass at min_cutoff: x̂ = a·x + (1 − a)·x̂
    out = f(np.array([13.0, 4.0]), 0.1)
    a = alpha(0.1, 1.0)
    assert out.tolist() == pytest.approx([a * 13 + (1 - a) * 3, 4.0])


def test_one_euro_steadies_a_still_point_and_follows_a_fast_one():
    rng = np.random.default_rng(0)
    times = np.arange(60) / 30
    noisy = 100 + rng.normal(0, 2, size=(60, 1))
    f = OneEuroFilter(min_cutoff=1.0, beta=2.0)
    still = np.array([f(x, t, scale=100) for x, t in zip(noisy, times)])
    assert still[20:].std() < 0.5 * noisy[20:].std()
    ramp = 100 + 300 * times[:, None]  # 3 person sizes per second
    slow = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    fast = OneEuroFilter(min_cutoff=1.0, beta=2.0)
    lag_slow = ramp[-1] - [slow(x, t, 100) for x, t in zip(ramp, times)][-1]
    lag_fast = ramp[-1] - [fast(x, t, 100) for x, t in zip(ramp, times)][-1]
    assert lag_fast < 0.3 * lag_slow  # the speed term opens the filter


def test_one_euro_passes_non_finite_joints_and_starts_late_ones_fresh():
    f = OneEuroFilter(1.0, 0.0)
    f(np.array([0.0, np.nan]), 0.0)
    out = f(np.array([10.0, 5.0]), 0.1)
    assert out[1] == 5.0 and 0 < out[0] < 10
    assert np.isnan(f(np.array([np.nan, 6.0]), 0.2)[0])
