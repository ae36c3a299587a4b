"""Trivial predictors that set the floor a trained model must beat (benchmarks.md: report sim-to-real next to it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.data.h5format import read_arrays, validate_h5
from posekit.errors import DataError
from posekit.evaluation.evaluate import Predictions
from posekit.evaluation.lift import score_camera_3d, split_3d_arrays
from posekit.evaluation.metrics3d import Metric3D


def mean_pose(source: Path) -> np.ndarray:
    """The mean labelled pose of a prepared split, in crop coordinates divided by the crop size: ``[K,2]``
    (NaN for a joint never labelled there). Only the source split's labels are read."""
    attrs = validate_h5(source)
    h, w = (int(v) for v in attrs["image_size"])
    kp = read_arrays(source, ("keypoints",))["keypoints"].astype(np.float64)  # [N,K,3] crop pixels
    labelled = kp[..., 2] >= 1
    xy = kp[..., :2] / np.array([w, h], dtype=np.float64)
    count = labelled.sum(0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (xy * labelled[..., None]).sum(0) / count, np.nan)


def mean_pose_predictions(source: Path, target: Path) -> Predictions:
    """Predict ``source``'s mean pose (``mean_pose``) for every crop of ``target``, mapped to original pixels.

    The two splits must share a keypoint order. Scores are all 1; no image is looked at.
    """
    src, tgt = validate_h5(source), validate_h5(target)
    if src["meta"].names != tgt["meta"].names:
        raise DataError(f"{source} and {target} have different keypoint orders",
                        hint="the mean-pose floor needs a source with the target's skeleton")
    h, w = (int(v) for v in tgt["image_size"])
    pose = mean_pose(source) * np.array([w, h], dtype=np.float64)  # [K,2] target crop pixels
    affine = read_arrays(target, ("affine",))["affine"]  # [N,2,3] crop → original
    orig = np.einsum("nij,kj->nki", affine[:, :, :2], pose) + affine[:, None, :, 2]
    n, k = orig.shape[:2]
    return Predictions(orig, np.ones((n, k)), None, tgt["meta"])


def mean_pose_3d(source: Path, root: tuple[int, ...]) -> np.ndarray:
    """The mean root-relative 3D pose of a prepared split, camera frame, metres: ``[K,3]``.

    Each sample's joints minus its root (the mean of the ``root`` joints, as the 3D metrics and the depth targets
    take it); joint k averaged over the samples where it is labelled (v ≥ 1) with a finite 3D label and a finite
    root; NaN for a joint never labelled there. Only the split's labels are read."""
    arrays = split_3d_arrays(source)
    kp3d = arrays["keypoints3d"].astype(np.float64)  # [N,K,3]
    rel = kp3d - kp3d[:, list(root)].mean(1, keepdims=True)
    labelled = (arrays["keypoints_orig"][..., 2] >= 1) & np.isfinite(rel).all(-1)
    count = labelled.sum(0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(labelled[..., None], rel, 0.0).sum(0) / count, np.nan)


def mean_pose_floor_3d(source: Path, target: Path, metric: Metric3D, root: tuple[int, ...]) -> dict:
    """Score the constant predictor "``source``'s mean root-relative pose (:func:`mean_pose_3d`), placed at each
    sample's ground-truth root" on ``target`` exactly as a 3D model is scored (:func:`lift.score_camera_3d`: same
    root, counted joints and alignment): ``{"value", "per_joint", "unit", "summary"}``.

    A joint the source never labels is answered at the root. The two splits must share a keypoint order.
    """
    src, tgt = validate_h5(source), validate_h5(target)
    if src["meta"].names != tgt["meta"].names:
        raise DataError(f"{source} and {target} have different keypoint orders",
                        hint="the mean-pose floor needs a source with the target's skeleton")
    pose = np.nan_to_num(mean_pose_3d(source, root))  # [K,3] metres, root-relative
    arrays = split_3d_arrays(target)
    gt = arrays["keypoints3d"].astype(np.float64)
    gt_root = np.nan_to_num(gt[:, list(root)].mean(1, keepdims=True))  # [N,1,3]; alignment removes it anyway
    return score_camera_3d(1000 * (gt_root + pose[None]), arrays, metric, root)
