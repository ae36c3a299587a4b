"""PCK in original-image coordinates, per joint and per group.

A joint counts when its ground truth visibility is ≥ ``min_visibility`` (2 = visible only, the default; 1 also
counts labelled-but-occluded joints). It is correct when ``‖pred − gt‖ / norm < thr``. A group's score is the
unweighted mean of its joints' scores; "All" is the mean over ``meta.all_joints`` (the anchors' definition).
"""

from __future__ import annotations

import numpy as np

from posekit.data.meta import KeypointMeta
from posekit.errors import ConfigError

NORMALISATIONS = ("bbox", "image")


def parse_metric(metric: str) -> float:
    """``"pck@0.05"`` → 0.05."""
    name, _, value = metric.partition("@")
    try:
        thr = float(value)
    except ValueError:
        thr = -1.0
    if name.lower() != "pck" or not 0 < thr <= 1:
        raise ConfigError(f"unknown metric {metric!r}", hint="use pck@T with 0 < T ≤ 1, e.g. pck@0.05")
    return thr


def reference_lengths(kind: str, bbox: np.ndarray, orig_size: np.ndarray) -> np.ndarray:
    """Per-sample normaliser ``[N]``: ``bbox`` = longer side of the person box, ``image`` = longer image side."""
    if kind == "bbox":
        return np.maximum(bbox[:, 2] - bbox[:, 0], bbox[:, 3] - bbox[:, 1])
    if kind == "image":
        return orig_size.max(1).astype(np.float64)
    raise ConfigError(f"unknown normalisation {kind!r}", hint=f"use one of {', '.join(NORMALISATIONS)}")


def pck_per_joint(
    pred: np.ndarray, gt: np.ndarray, norm: np.ndarray, thr: float, min_visibility: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` ``[N,K,2]``, ``gt`` ``[N,K,3]``, ``norm`` ``[N]`` → accuracy ``[K]`` (NaN if none) and counts ``[K]``."""
    valid = (gt[..., 2] >= min_visibility) & (norm[:, None] > 0)
    dist = np.linalg.norm(pred - gt[..., :2], axis=-1) / np.maximum(norm[:, None], 1e-9)
    correct = (dist < thr) & valid
    counts = valid.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(counts > 0, correct.sum(0) / np.maximum(counts, 1), np.nan)
    return acc, counts


def summarise(acc: np.ndarray, meta: KeypointMeta) -> dict[str, float]:
    """Group means and "All" from per-joint accuracies (NaN joints are skipped)."""
    out: dict[str, float] = {}
    for group, joints in meta.groups.items():
        vals = acc[list(joints)]
        out[group] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    vals = acc[list(meta.all_joints or range(len(acc)))]
    out["All"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return out
