"""Trivial predictors that set the floor a trained model must beat (benchmarks.md: report sim-to-real next to it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.data.h5format import read_arrays, validate_h5
from posekit.errors import DataError
from posekit.evaluation.evaluate import Predictions


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
