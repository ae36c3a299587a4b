"""MediaPipe's BlazePose-Full landmark model (``pose_landmark_full.tflite``, Apache-2.0; Bazarevsky et al., 2020):
33 body landmarks of one person in a square region of the image, run with the LiteRT interpreter.

A region is ``(cx, cy, side, up)``: a square of ``side`` pixels about ``(cx, cy)`` whose upward direction is the unit
vector ``up`` (image coordinates, y down; ``(0, −1)`` for an upright crop). It is warped to the 256×256 input in
[0, 1]; the network gives 39 points (33 landmarks + 6 auxiliary) × (x, y, z, visibility, presence) in input pixels,
a presence flag, and 64×64 heatmaps with which MediaPipe refines each landmark (a 7×7 window's centroid when its
peak confidence is ≥ 0.5, as ``RefineLandmarksFromHeatmapCalculator`` does).

:func:`lsp_joints` maps the 33 landmarks onto LSP's 14 joints (docs/results.md says how the three fitted
factors were found).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from posekit.data.crop import warp_crop

LANDMARK_INPUT = 256
MODEL_FILE = "pose_landmark_full.tflite"

# BlazePose landmark indices (the person's own left and right, as LSP's)
NOSE, L_EYE, R_EYE, L_EAR, R_EAR, MOUTH_L, MOUTH_R = 0, 2, 5, 7, 8, 9, 10
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28
# LSP joint order: r-ankle, r-knee, r-hip, l-hip, l-knee, l-ankle, r-wrist, r-elbow, r-shoulder, l-shoulder,
# l-elbow, l-wrist (then neck and head top, built below)
LSP_FROM_BLAZEPOSE = (R_ANKLE, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANKLE, R_WRIST, R_ELBOW, R_SHOULDER, L_SHOULDER,
                      L_ELBOW, L_WRIST)
# neck = shoulders' midpoint + NECK × (ears' midpoint − shoulders' midpoint); head top = ears' midpoint
# + HEAD_FACE × (eyes' midpoint − mouth's midpoint) + HEAD_NECK × (ears' midpoint − shoulders' midpoint);
# least squares on lspet:train (bench/blazepose_reference.py --fit)
NECK, HEAD_FACE, HEAD_NECK = 0.401, 1.124, 0.082


def region_affine(cx: float, cy: float, side: float, up: np.ndarray, size: int = LANDMARK_INPUT) -> np.ndarray:
    """The ``[2,3]`` matrix from input pixels (pixel centres at integers) to image pixels of a region."""
    up = np.asarray(up, np.float64) / max(np.linalg.norm(up), 1e-12)
    down = -up
    right = np.array([down[1], -down[0]])  # a rotation of the axes, never a mirror
    step = side / size
    m = np.stack([right * step, down * step], 1)  # columns: image displacement per input pixel along x and y
    origin = np.array([cx, cy]) - m @ np.array([(size - 1) / 2, (size - 1) / 2])
    return np.concatenate([m, origin[:, None]], 1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


class BlazePoseLandmarks:
    """``model``: the ``.tflite`` file. :meth:`__call__` gives landmarks ``[35,4]`` (x, y in image pixels, visibility,
    presence; 0–32 the body's, 33 and 34 the auxiliary hip centre and body-circle point, from which MediaPipe
    derives the next frame's region) and the pose presence score of one region."""

    def __init__(self, model: Path, interpreter_class):
        self.interpreter = interpreter_class(model_path=str(model), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        by_size = {int(np.prod(d["shape"])): d["index"] for d in self.interpreter.get_output_details()}
        self.landmarks_out, self.flag_out = by_size[195], by_size[1]
        self.heatmap_out = by_size.get(64 * 64 * 39)

    def __call__(self, image: np.ndarray, cx: float, cy: float, side: float,
                 up: np.ndarray = (0.0, -1.0)) -> tuple[np.ndarray, float]:
        affine = region_affine(cx, cy, side, np.asarray(up, np.float64))
        crop = warp_crop(Image.fromarray(image), affine, LANDMARK_INPUT).astype(np.float32) / 255.0
        self.interpreter.set_tensor(self.input, crop[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.landmarks_out)[0].reshape(39, 5)[:35].astype(np.float64)
        flag = float(self.interpreter.get_tensor(self.flag_out).reshape(-1)[0])  # a probability already
        xy = raw[:, :2]
        if self.heatmap_out is not None:
            xy = np.concatenate([refine(xy[:33], self.interpreter.get_tensor(self.heatmap_out)[0]), xy[33:]])
        xy_image = xy @ affine[:, :2].T + affine[:, 2]
        return np.concatenate([xy_image, sigmoid(raw[:, 3:5])], 1), flag


def refine(xy: np.ndarray, heatmaps: np.ndarray, kernel: int = 7, min_confidence: float = 0.5) -> np.ndarray:
    """Landmarks ``[K,2]`` in input pixels refined on the ``[64,64,39]`` heatmaps: the confidence-weighted centroid
    of a ``kernel``-wide window about each landmark's heatmap cell, where the window's peak confidence (sigmoid) is
    ≥ ``min_confidence``."""
    h, w = heatmaps.shape[:2]
    stride = LANDMARK_INPUT / w
    out = xy.copy()
    half = kernel // 2
    for k in range(len(xy)):
        col, row = int(xy[k, 0] / stride), int(xy[k, 1] / stride)
        r0, r1, c0, c1 = max(0, row - half), min(h, row + half + 1), max(0, col - half), min(w, col + half + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        conf = sigmoid(heatmaps[r0:r1, c0:c1, k].astype(np.float64))
        if conf.max() < min_confidence or conf.sum() <= 0:
            continue
        rows, cols = np.mgrid[r0:r1, c0:c1]
        out[k] = [(conf * cols).sum() / conf.sum() * stride, (conf * rows).sum() / conf.sum() * stride]
    return out


def lsp_joints(landmarks: np.ndarray, neck: float = NECK, head_face: float = HEAD_FACE,
               head_neck: float = HEAD_NECK) -> np.ndarray:
    """BlazePose landmarks ``[...,33,≥2]`` → LSP's 14 joints ``[...,14,2]`` (x, y)."""
    p = landmarks[..., :2]
    shoulders = (p[..., L_SHOULDER, :] + p[..., R_SHOULDER, :]) / 2
    ears = (p[..., L_EAR, :] + p[..., R_EAR, :]) / 2
    eyes = (p[..., L_EYE, :] + p[..., R_EYE, :]) / 2
    mouth = (p[..., MOUTH_L, :] + p[..., MOUTH_R, :]) / 2
    neck_xy = shoulders + neck * (ears - shoulders)
    head = ears + head_face * (eyes - mouth) + head_neck * (ears - shoulders)
    return np.concatenate([p[..., list(LSP_FROM_BLAZEPOSE), :], neck_xy[..., None, :], head[..., None, :]], -2)
