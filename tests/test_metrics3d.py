import numpy as np
import pytest

from posekit.errors import ConfigError
from posekit.evaluation.metrics3d import (
    Metric3D,
    auc,
    is_metric3d,
    joint_errors,
    mpjpe,
    pa_mpjpe,
    parse_metric3d,
    pck3d,
    procrustes_align,
    root_align,
    score3d,
)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def _similar_copies(rng: np.random.Generator, gt: np.ndarray) -> np.ndarray:
    """Each sample rotated (det +1), scaled and translated differently."""
    out = np.empty_like(gt)
    for i, pose in enumerate(gt):
        rot, scale, shift = _rotation(rng), rng.uniform(0.5, 2.0), rng.normal(0, 500, 3)
        out[i] = scale * pose @ rot.T + shift
    return out


# Two samples, three joints (root 0). Root-relative errors: [0, 5, 2] and [0, 10, 3].
GT = np.array([[[0, 0, 0], [10, 0, 0], [0, 10, 0]], [[100, 0, 0], [100, 20, 0], [90, 0, 30]]], float)
PRED = GT + np.array([[[5, 5, 5]], [[-1, 2, 7]]], float)  # a global offset per sample: removed by root alignment
PRED[0, 1] += [3, 4, 0]
PRED[0, 2] += [0, 0, 2]
PRED[1, 1] += [0, 6, 8]
PRED[1, 2] += [1, 2, 2]


def test_pa_mpjpe_is_zero_for_a_similarity_copy():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 200, size=(6, 17, 3))
    pred = _similar_copies(rng, gt)
    pred[0] = 1.7 * gt[0] @ _rotation(rng).T + [10, -20, 30]
    assert mpjpe(pred, gt) > 10  # the copies really differ from gt
    assert pa_mpjpe(pred, gt) < 1e-6
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-6)


def test_pa_mpjpe_never_uses_a_reflection():
    rng = np.random.default_rng(1)
    gt = rng.normal(0, 200, size=(3, 17, 3))  # non-planar
    mirrored = gt * [1, 1, -1]
    assert pa_mpjpe(mirrored @ _rotation(rng).T, gt) > 20

    # the fitted map is a proper similarity, so the aligned pose keeps the mirrored handedness
    def handedness(x):
        return np.sign(np.linalg.det(x[:, 1:4] - x[:, :1]))

    assert np.all(handedness(procrustes_align(mirrored, gt)) == handedness(mirrored))
    assert np.all(handedness(mirrored) == -handedness(gt))


def test_mpjpe_hand_computed():
    assert mpjpe(PRED, GT) == pytest.approx((0 + 5 + 2 + 0 + 10 + 3) / 6)
    np.testing.assert_allclose(joint_errors(PRED, GT, "root"), [[0, 5, 2], [0, 10, 3]], atol=1e-12)
    res = score3d(PRED, GT, None, parse_metric3d("mpjpe"), root=0)
    assert res["unit"] == "mm"
    assert res["value"] == pytest.approx(20 / 6)
    assert res["per_joint"] == pytest.approx([0, 7.5, 2.5])


def test_root_align_with_a_tuple_uses_the_mean():
    joints = np.array([[[0, 0, 0], [2, 0, 0], [0, 4, 0]]], float)
    np.testing.assert_allclose(root_align(joints, (1, 2)), joints - [1, 2, 0])
    np.testing.assert_allclose(root_align(joints, 1), joints - [2, 0, 0])
    expected = np.linalg.norm(root_align(PRED, (1, 2)) - root_align(GT, (1, 2)), axis=-1).mean()
    assert mpjpe(PRED, GT, root=(1, 2)) == pytest.approx(expected)
    assert mpjpe(PRED, GT, root=(1, 2)) != pytest.approx(mpjpe(PRED, GT, root=1))


def test_invalid_joints_do_not_count():
    valid = np.ones((2, 3), bool)
    valid[1, 1] = False
    other = PRED.copy()
    other[1, 1] = [1e6, -3e5, 42]
    assert mpjpe(PRED, GT, valid=valid) == pytest.approx((0 + 5 + 2 + 0 + 3) / 5)
    assert mpjpe(other, GT, valid=valid) == pytest.approx((0 + 5 + 2 + 0 + 3) / 5)

    rng = np.random.default_rng(2)
    gt = rng.normal(0, 200, size=(4, 17, 3))
    pred = _similar_copies(rng, gt)
    valid = np.ones((4, 17), bool)
    valid[:, 5] = False
    valid[2, 9] = False
    pred[:, 5] = rng.normal(0, 1e4, size=(4, 3))  # garbage where invalid must not disturb the fit
    assert pa_mpjpe(pred, gt, valid=None) > 1
    pred[2, 9] = gt[2, 9] = np.nan  # NaN where invalid must not poison the sample either
    assert pa_mpjpe(pred, gt, valid=valid) < 1e-6
    errors = rng.uniform(0, 100, size=(4, 17))
    changed = errors.copy()
    changed[~valid] = rng.choice([0.0, 1e9], size=(~valid).sum())
    assert pck3d(changed, 50, valid) == pck3d(errors, 50, valid)
    assert auc(changed, 0, 100, valid=valid) == auc(errors, 0, 100, valid=valid)


def test_pck3d_exact_fraction():
    errors = np.array([[10.0, 20.0, 30.0, 40.0], [50.0, 60.0, 70.0, 80.0]])
    assert pck3d(errors, 45) == pytest.approx(4 / 8)
    assert pck3d(errors, 30) == pytest.approx(3 / 8)  # inclusive
    valid = np.array([[True, False, True, True], [True, True, False, False]])
    assert pck3d(errors, 45, valid) == pytest.approx(3 / 5)


def test_auc_bounds_and_hand_value():
    assert auc(np.full((2, 5), 10.0), 20, 150) == 1.0
    assert auc(np.zeros((2, 5)), 0, 150) == 1.0
    assert auc(np.full((2, 5), 151.0), 0, 150) == 0.0
    # thresholds 0, 5, …, 150; an error of 5j is ≤ 31 − j of them: 31 + 21 + 11 + 1 = 64 out of 4 × 31
    errors = np.array([[0.0, 50.0, 100.0, 150.0]])
    assert auc(errors, 0, 150) == pytest.approx(64 / 124)
    assert auc(errors, 0, 150, steps=4) == pytest.approx((4 + 3 + 2 + 1) / 16)
    res = score3d(GT, GT + [0, 0, 0], None, "auc@20:50", root=0)
    assert res == {"value": 1.0, "per_joint": [1.0, 1.0, 1.0], "unit": "fraction"}


def test_parse_metric3d_forms():
    assert parse_metric3d("mpjpe") == Metric3D("mpjpe")
    assert parse_metric3d(" PA-MPJPE ") == Metric3D("pa-mpjpe")
    assert parse_metric3d("pck3d@150") == Metric3D("pck3d", threshold=150.0)
    m = parse_metric3d("auc")
    assert (m.name, m.threshold, m.range, m.steps) == ("auc", None, (0.0, 150.0), 31)
    assert parse_metric3d("auc@20:50").range == (20.0, 50.0)
    for name in ("mpjpe", "pa-mpjpe", "pck3d@150", "auc", "auc@20:50", "PCK3D@100"):
        assert is_metric3d(name)
    assert not is_metric3d("pck@0.05")
    with pytest.raises(ConfigError):
        parse_metric3d("pck@0.05")  # the 2D metric
    assert not is_metric3d("pck")


@pytest.mark.parametrize(
    "text",
    [
        "pck3d@",
        "pck3d@-1",
        "pck3d@0",
        "pck3d",
        "pck3d@inf",
        "pck3d@nan",
        "auc@50:20",
        "auc@20",
        "auc@1:2:3",
        "mpjp",
        "mpjpe@5",
        "",
    ],
)
def test_parse_metric3d_rejects(text):
    with pytest.raises(ConfigError) as info:
        parse_metric3d(text)
    assert repr(text) in info.value.message
    assert "pck3d@" in info.value.hint and "auc@" in info.value.hint


def test_procrustes_with_too_few_valid_joints_translates_only():
    rng = np.random.default_rng(3)
    gt = rng.normal(0, 100, size=(3, 5, 3))
    pred = rng.normal(0, 100, size=(3, 5, 3))
    valid = np.zeros((3, 5), bool)
    valid[0, :2] = True  # two valid joints
    valid[1, :] = True  # a normal sample alongside
    # sample 2: nothing valid
    out = procrustes_align(pred, gt, valid)
    assert np.isfinite(out).all()
    offset = (gt[0, :2] - pred[0, :2]).mean(0)
    np.testing.assert_allclose(out[0], pred[0] + offset)
    np.testing.assert_allclose(out[2], pred[2])
    assert np.isfinite(pa_mpjpe(pred, gt, valid))
    res = score3d(pred, gt, valid, "pa-mpjpe", root=0)
    assert res["per_joint"][2] is not None and np.isfinite(res["value"])
    valid[:, 4] = False
    assert score3d(pred, gt, valid, "pck3d@100", root=0)["per_joint"][4] is None


def test_unknown_alignment_is_a_config_error():
    with pytest.raises(ConfigError):
        joint_errors(PRED, GT, "umeyama")
