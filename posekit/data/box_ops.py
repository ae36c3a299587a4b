"""Arithmetic on person boxes ``[N,4]`` (x0, y0, x1, y1, original pixels) shared by the detectors, the tracker
and the benchmarks: overlap, non-maximum suppression, clipping, the box around labelled joints."""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boxes ``a`` ``[N,4]`` and ``b`` ``[M,4]`` → intersection over union ``[N,M]`` (0 for empty boxes)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), -1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), -1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), -1)
    union = area_a[:, None] + area_b[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boxes ``a`` ``[N,4]`` and ``b`` ``[M,4]`` → the fraction of each box of ``a`` that lies inside each of ``b``
    ``[N,M]`` (0 for empty boxes)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), -1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), -1)
    return np.where(area_a[:, None] > 0, inter / np.maximum(area_a[:, None], 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, inside: float = 1.0) -> np.ndarray:
    """Indices ``[M]`` of the boxes ``[N,4]`` kept by greedy non-maximum suppression, best score first: a box is
    dropped when its IoU with a kept, better-scored box exceeds ``iou``, or when more than ``inside`` of it lies
    within such a box (1.0: never)."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    overlaps, within = box_iou(boxes, boxes), box_inside(boxes, boxes)
    keep: list[int] = []
    for i in order:
        if all(overlaps[i, j] <= iou and within[i, j] <= inside for j in keep):
            keep.append(int(i))
    return np.array(keep, dtype=np.int64)


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boxes ``[N,4]`` clipped to the image extent ``[-0.5, W-0.5] × [-0.5, H-0.5]`` (pixel centres at integers)."""
    out = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    out[:, [0, 2]] = out[:, [0, 2]].clip(-0.5, width - 0.5)
    out[:, [1, 3]] = out[:, [1, 3]].clip(-0.5, height - 0.5)
    return out


def joints_box(keypoints: np.ndarray) -> np.ndarray:
    """Labelled joints ``[K,3]`` (x, y, v) → the box ``[4]`` around those with v > 0 (NaN when there are none):
    the person box of ``prepare``'s box-rule crops, and the ground truth of the detector benchmark."""
    xy = keypoints[keypoints[:, 2] > 0, :2]
    return np.concatenate([xy.min(0), xy.max(0)]) if len(xy) else np.full(4, np.nan)
