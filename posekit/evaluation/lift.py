"""2.5D → 3D: back-project predicted 2D joints with their predicted root-relative depth (docs/mim.md, protocol)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.data.h5format import read_arrays, validate_h5
from posekit.errors import DataError
from posekit.evaluation.evaluate import Predictions
from posekit.evaluation.metrics3d import Metric3D, parse_metric3d, score3d

SUMMARY_METRICS = ("mpjpe", "pa-mpjpe", "pck3d@150", "auc")


def lift_to_camera(xy: np.ndarray, depth_rel: np.ndarray, intrinsics: np.ndarray, root_depth: np.ndarray) -> np.ndarray:
    """Camera-frame joints ``[N,K,3]`` (metres) from original-image pixels ``xy`` ``[N,K,2]``, root-relative depth
    ``[N,K]`` (metres), intrinsics ``[N,3,3]`` and the root's depth ``[N]``: ``z = z_root + Δz``,
    ``X = (u − c_x)·z/f_x``, ``Y = (v − c_y)·z/f_y``."""
    z = root_depth[:, None] + depth_rel
    fx, fy = intrinsics[:, 0, 0][:, None], intrinsics[:, 1, 1][:, None]
    cx, cy = intrinsics[:, 0, 2][:, None], intrinsics[:, 1, 2][:, None]
    return np.stack([(xy[..., 0] - cx) * z / fx, (xy[..., 1] - cy) * z / fy, z], -1)


def split_3d_arrays(path: Path) -> dict[str, np.ndarray]:
    """The 3D labels of a split, or a DataError naming what is missing."""
    missing = [k for k in ("keypoints3d", "intrinsics") if k not in validate_h5(path)["datasets"]]
    if missing:
        raise DataError(f"{path}: no {' or '.join(missing)}; 3D metrics need 3D labels and the camera",
                        hint="evaluate on a 3D dataset (synthetic, rhd, h36m, mpi_inf_3dhp) or use --metric pck@0.05")
    return read_arrays(path, ("keypoints3d", "intrinsics", "keypoints_orig"))


def score_split_3d(pred: Predictions, path: Path, metric: Metric3D, root: tuple[int, ...], depth_scale: float) -> dict:
    """Lift ``pred`` (with ``extra["depth"]``) to 3D with the ground-truth root depth and score it in millimetres.

    Counted joints: labelled ones (v ≥ 1) with finite 3D labels. Also returns the four summary metrics.
    """
    arrays = split_3d_arrays(path)
    gt = arrays["keypoints3d"].astype(np.float64)
    root_depth = gt[:, list(root), 2].mean(1)
    pred3d = lift_to_camera(pred.keypoints.astype(np.float64), pred.extra["depth"] * depth_scale,
                            arrays["intrinsics"].astype(np.float64), root_depth)
    return score_camera_3d(1000 * pred3d, arrays, metric, root)


def score_camera_3d(pred_mm: np.ndarray, arrays: dict[str, np.ndarray], metric: Metric3D,
                    root: tuple[int, ...]) -> dict:
    """Score camera-frame joints ``pred_mm`` ``[N,K,3]`` (mm) against a split's labels (:func:`split_3d_arrays`):
    the requested metric (value, per joint) and the four summary metrics, over labelled joints (v ≥ 1) with finite
    3D labels. What :func:`score_split_3d` and the mean-pose floor (:mod:`posekit.evaluation.baselines`) share."""
    gt = arrays["keypoints3d"].astype(np.float64)
    valid = (arrays["keypoints_orig"][..., 2] >= 1) & np.isfinite(gt).all(-1)
    gt_mm = 1000 * np.nan_to_num(gt)
    result = score3d(pred_mm, gt_mm, valid, metric, root)
    result["summary"] = {name: score3d(pred_mm, gt_mm, valid, parse_metric3d(name), root)["value"]
                         for name in SUMMARY_METRICS}
    return result
