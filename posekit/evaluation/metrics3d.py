"""3D pose metrics: MPJPE, PA-MPJPE, 3D PCK and AUC (pure numpy).

Arrays are ``[N,K,3]`` joint positions, ``valid`` is ``[N,K]`` bool (None = all joints). The array functions are
unit-agnostic (errors come out in the input unit); the metric names parsed for the CLI take millimetres. Pooled
metrics average over every valid joint of every sample (not a mean of per-joint means); NaN if nothing is valid.
Root alignment subtracts the root joint(s) whatever their validity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posekit.errors import ConfigError

METRICS3D = ("mpjpe", "pa-mpjpe", "pck3d", "auc")
ALIGNMENTS = ("root", "procrustes", "none")
AUC_RANGE_MM = (0.0, 150.0)
AUC_STEPS = 31
Root = int | tuple[int, ...]  # a joint index, or several whose mean is the root (e.g. both hips)
_FORMS = "mpjpe, pa-mpjpe, pck3d@T (T > 0, mm), auc (0–150 mm) or auc@A:B (0 ≤ A < B, mm)"


@dataclass(frozen=True)
class Metric3D:
    """A parsed 3D metric; ``threshold`` (pck3d) and ``range`` (auc) are in millimetres."""

    name: str
    threshold: float | None = None
    range: tuple[float, float] | None = None
    steps: int = AUC_STEPS


def _valid(valid: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    return np.ones(shape[:2], bool) if valid is None else np.asarray(valid, bool)


def _masked_mean(values: np.ndarray, valid: np.ndarray | None, axis: int | None = None) -> np.ndarray | float:
    """Mean of ``values`` ``[N,K]`` over valid entries (NaN where there are none)."""
    v = _valid(valid, values.shape)
    count = v.sum(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(v, values, 0.0).sum(axis) / np.where(count > 0, count, np.nan)


def root_align(joints: np.ndarray, root: Root) -> np.ndarray:
    """``joints`` ``[N,K,3]`` minus the root ``[N,1,3]``: joint ``root``, or the mean of several (e.g. both hips)."""
    idx = [root] if isinstance(root, (int, np.integer)) else list(root)
    return joints - joints[:, idx].mean(1, keepdims=True)


def procrustes_align(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``pred`` ``[N,K,3]`` mapped by the per-sample similarity ``s R p + t`` closest to ``gt`` ``[N,K,3]``.

    Least squares over valid joints (Umeyama, batched SVD), applied to all joints; det R = +1, so a reflection is never
    used (the last singular vector's sign is flipped instead). A sample with fewer
    than 3 valid joints, or whose valid predicted joints coincide, is only translated by the mean offset gt − pred
    over its valid joints (unchanged if it has none).
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    v = _valid(valid, pred.shape)
    mask, n = v[..., None], np.maximum(v.sum(1), 1)[:, None, None]
    mu_p, mu_g = (np.where(mask, x, 0.0).sum(1, keepdims=True) / n for x in (pred, gt))
    p0, g0 = np.where(mask, pred - mu_p, 0.0), np.where(mask, gt - mu_g, 0.0)
    u, d, vt = np.linalg.svd(np.einsum("nki,nkj->nij", g0, p0))  # Σ g pᵀ = U D Vᵀ
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))  # −1: the best orthogonal map would be a reflection
    u[..., :, -1] *= sign[:, None]
    d[:, -1] *= sign
    var_p = (p0**2).sum((1, 2))
    fit = (v.sum(1) >= 3) & (var_p > 1e-12)
    scale = np.where(fit, d.sum(1) / np.where(fit, var_p, 1.0), 1.0)[:, None, None]
    rot = np.where(fit[:, None, None], u @ vt, np.eye(3))
    return scale * (pred - mu_p) @ rot.transpose(0, 2, 1) + mu_g


def joint_errors(
    pred: np.ndarray, gt: np.ndarray, align: str, root: Root = 0, valid: np.ndarray | None = None
) -> np.ndarray:
    """Euclidean error ``[N,K]`` after ``align``: ``root`` (both root-relative), ``procrustes`` or ``none``."""
    if align == "root":
        pred, gt = root_align(pred, root), root_align(gt, root)
    elif align == "procrustes":
        pred = procrustes_align(pred, gt, valid)
    elif align != "none":
        raise ConfigError(f"unknown alignment {align!r}", hint=f"use one of {', '.join(ALIGNMENTS)}")
    return np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=-1)


def mpjpe(pred: np.ndarray, gt: np.ndarray, root: Root = 0, valid: np.ndarray | None = None) -> float:
    """Mean root-aligned joint error over valid joints of all samples, in the input unit."""
    return float(_masked_mean(joint_errors(pred, gt, "root", root, valid), valid))


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean joint error after per-sample Procrustes alignment, over valid joints of all samples, in the input unit."""
    return float(_masked_mean(joint_errors(pred, gt, "procrustes", valid=valid), valid))


def pck3d(errors: np.ndarray, threshold: float, valid: np.ndarray | None = None) -> float:
    """Fraction of valid joints of ``errors`` ``[N,K]`` with error ≤ ``threshold`` (inclusive, same unit)."""
    return float(_masked_mean((errors <= threshold).astype(np.float64), valid))


def _auc_scores(errors: np.ndarray, t0: float, t1: float, steps: int) -> np.ndarray:
    """Per joint instance ``[N,K]``: the fraction of thresholds ``linspace(t0, t1, steps)`` its error is ≤ to."""
    thresholds = np.linspace(t0, t1, steps)
    return (errors[None] <= thresholds[:, None, None]).mean(0)


def auc(errors: np.ndarray, t0: float, t1: float, steps: int = AUC_STEPS, valid: np.ndarray | None = None) -> float:
    """Area under PCK(t), normalised to [0, 1] as the mean of ``pck3d`` over ``t`` in ``linspace(t0, t1, steps)``.

    With errors in mm, ``auc(e, 0, 150)`` is the MPI-INF-3DHP convention (thresholds 0, 5, …, 150: 31 points).
    """
    return float(_masked_mean(_auc_scores(errors, t0, t1, steps), valid))


def is_metric3d(text: str) -> bool:
    """True if ``text`` names a 3D metric (so the CLI routes it here); ``pck@0.05`` is the 2D metric."""
    return text.strip().lower().startswith(METRICS3D)


def parse_metric3d(text: str) -> Metric3D:
    """``mpjpe`` | ``pa-mpjpe`` | ``pck3d@150`` | ``auc`` | ``auc@20:50`` → :class:`Metric3D` (millimetres)."""
    name, at, arg = text.strip().lower().partition("@")
    try:
        if name in ("mpjpe", "pa-mpjpe") and not at:
            return Metric3D(name)
        if name == "pck3d" and at and 0 < float(arg) < math.inf:  # NaN fails every comparison
            return Metric3D(name, threshold=float(arg))
        if name == "auc" and not at:
            return Metric3D(name, range=AUC_RANGE_MM)
        if name == "auc" and at:
            lo, hi = map(float, arg.split(":"))
            if 0 <= lo < hi < math.inf:
                return Metric3D(name, range=(lo, hi))
    except ValueError:  # not a number, or not exactly two of them
        pass
    raise ConfigError(f"unknown 3D metric {text!r}", hint=f"use {_FORMS}")


def score3d(
    pred_mm: np.ndarray, gt_mm: np.ndarray, valid: np.ndarray | None, metric: Metric3D | str, root: Root = 0
) -> dict:
    """Score ``pred_mm`` against ``gt_mm`` (``[N,K,3]``, mm) with a parsed metric.

    Returns ``{"value": float, "per_joint": [K floats, None where a joint is never valid], "unit": "mm" | "fraction"}``;
    mpjpe, pck3d and auc use root-aligned errors, pa-mpjpe Procrustes-aligned ones. ``value`` pools all valid joints
    (it is not the mean of ``per_joint``).
    """
    m = parse_metric3d(metric) if isinstance(metric, str) else metric
    v = _valid(valid, np.shape(pred_mm))
    errors = joint_errors(pred_mm, gt_mm, "procrustes" if m.name == "pa-mpjpe" else "root", root, v)
    if m.name == "pck3d":
        errors = (errors <= m.threshold).astype(np.float64)
    elif m.name == "auc":
        errors = _auc_scores(errors, *(m.range or AUC_RANGE_MM), m.steps)
    per_joint = [float(x) if np.isfinite(x) else None for x in _masked_mean(errors, v, axis=0)]
    unit = "mm" if m.name in ("mpjpe", "pa-mpjpe") else "fraction"
    return {"value": float(_masked_mean(errors, v)), "per_joint": per_joint, "unit": unit}
