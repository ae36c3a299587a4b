"""MediaPipe's BlazePose person detector (Bazarevsky et al., 2020: ``pose_detection.tflite`` of MediaPipe Pose,
Apache-2.0), run with the LiteRT interpreter (``ai-edge-litert``). Optional extra ``posekit[detect-blazepose]``.

The model file ships inside the ``mediapipe`` wheel on PyPI, whose pins (numpy<2, protobuf<5) posekit's own
environment cannot take; posekit reads the one file out of the wheel (a zip) instead of installing it:
``posekit fetch-model blazepose`` downloads the wheel with pip and extracts it to ``~/.cache/posekit/``
(``$POSEKIT_CACHE``; :mod:`posekit.detect.fetch`), or ``$POSEKIT_BLAZEPOSE_DETECTOR`` names the file.

MediaPipe Pose's two stages, as its graph runs them: the detector sees the image letterboxed to 224×224 in
[−1, 1] and gives, for each of 2,254 SSD anchors, a score and a face box with four keypoints, of which the first
two are the hip centre and a point on the circle around the whole body (radius ``r``). Detections scored at least
``min_score`` (default 0.1; MediaPipe's own is 0.5) are thinned by NMS on their face boxes (IoU 0.3). Each survivor
defines a region: a square of side 2.5·r about the hip centre, turned so that the body points up;
BlazePose-Full's landmark model (:mod:`posekit.detect.blazepose_landmarks`) finds the person's 33 landmarks there,
a second time in the region its own auxiliary hip and circle points give (as MediaPipe tracks a person from frame
to frame), and the person box is the box around the 14 LSP joints built from them (the box ``prepare`` crops
training images on). The box's score is the detector's. Besides NMS at IoU ``nms_iou``, a box lying more than
70 % inside a better-scored one is dropped: a limb or torso found again as a person of its own.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from posekit.data.box_ops import nms
from posekit.detect.base import PersonDetector
from posekit.detect.blazepose_landmarks import MODEL_FILE as LANDMARK_FILE
from posekit.detect.blazepose_landmarks import BlazePoseLandmarks, lsp_joints
from posekit.detect.fetch import WHEEL, cache_dir
from posekit.errors import ConfigError, MissingArtifactError

INPUT = 224
MODEL_FILE = "pose_detection.tflite"
DETECTION_NMS = 0.3  # IoU of face boxes, MediaPipe's pose detection graph
REGION_SCALE = 1.25  # landmark region side = REGION_SCALE × 2r


def model_path(name: str = MODEL_FILE, env: str = "POSEKIT_BLAZEPOSE_DETECTOR") -> Path:
    """The model file: ``$env`` when set, else the cache's copy; a MissingArtifactError saying how to get it."""
    given = os.environ.get(env)
    path = Path(given) if given else cache_dir() / name
    if not path.is_file():
        raise MissingArtifactError(f"no BlazePose model file {path}",
                                   hint="run `posekit fetch-model blazepose` once (it reads the file out of the "
                                        f"{WHEEL} wheel on PyPI), or set {env} to the file")
    return path


def require_litert():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ConfigError("--detector blazepose needs the LiteRT interpreter, which is not installed",
                          hint="pip install 'posekit[detect-blazepose]'") from None
    return Interpreter


@lru_cache(maxsize=1)
def anchors() -> np.ndarray:
    """The 2,254 SSD anchor centres ``[A,2]`` (x, y in [0, 1]) of MediaPipe's pose detection graph: five layers of
    strides 8, 16, 32, 32, 32 (those of one stride merged), two anchors per cell and layer, fixed size 1."""
    strides = (8, 16, 32, 32, 32)
    out = []
    layer = 0
    while layer < len(strides):
        same = 0
        while layer + same < len(strides) and strides[layer + same] == strides[layer]:
            same += 1
        side = math.ceil(INPUT / strides[layer])
        ys, xs = np.mgrid[0:side, 0:side]
        centres = np.stack([(xs + 0.5) / side, (ys + 0.5) / side], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, 2 * same, axis=1).reshape(-1, 2))
        layer += same
    return np.concatenate(out)


def letterbox(image: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """``[H,W,3]`` uint8 → the ``[1,224,224,3]`` float32 input in [−1, 1] (aspect kept, zero-padded about the centre),
    the scale (input pixels per image pixel) and the padding offset ``[2]`` (input pixels)."""
    h, w = image.shape[:2]
    scale = INPUT / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BILINEAR), np.float32)
    canvas = np.full((INPUT, INPUT, 3), -1.0, np.float32)  # black after the [−1, 1] mapping
    ox, oy = (INPUT - nw) // 2, (INPUT - nh) // 2
    canvas[oy:oy + nh, ox:ox + nw] = resized / 127.5 - 1.0
    return canvas[None], scale, np.array([ox, oy], np.float64)


class BlazePoseDetector(PersonDetector):
    name = "blazepose"
    default_min_score = 0.1  # finds 90.3 % of lspet:val people, 0.2 finds 88.2 % (docs/results.md)
    passes = 2  # landmark passes per person: the second on the region the first one's landmarks give
    inside = 0.7  # a box 70 % inside a better one is a part of that person found again (chosen on lspet:val)

    def __init__(self, model: Path | None = None, landmarks: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        interpreter = require_litert()
        self.interpreter = interpreter(model_path=str(model or model_path()), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        self.regressors, self.classificators = outputs[0]["index"], outputs[1]["index"]
        self.landmarks = BlazePoseLandmarks(
            landmarks or model_path(LANDMARK_FILE, "POSEKIT_BLAZEPOSE_LANDMARKS"), interpreter)

    def regress(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every anchor's score ``[A]``, face box ``[A,4]`` (x0, y0, x1, y1) and hip centre and body-circle point
        ``[A,2,2]``, in image pixels."""
        x, scale, offset = letterbox(image)
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.regressors)[0].astype(np.float64)  # [A,12]
        logits = self.interpreter.get_tensor(self.classificators)[0, :, 0].astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100, 100)))
        centre = anchors() * INPUT
        face = np.concatenate([raw[:, :2] + centre - raw[:, 2:4] / 2, raw[:, :2] + centre + raw[:, 2:4] / 2], 1)
        points = raw[:, 4:8].reshape(-1, 2, 2) + centre[:, None]  # input pixels
        return scores, (face - np.tile(offset, 2)) / scale, (points - offset) / scale

    def regions(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The detections kept (score ≥ ``min_score``, face-box NMS, at most ``max_people``): scores
        ``[N]`` and regions ``[N,5]`` (cx, cy, side, up_x, up_y) for the landmark model."""
        scores, faces, points = self.regress(image)
        keep = np.flatnonzero(scores >= self.min_score)
        keep = keep[nms(faces[keep], scores[keep], DETECTION_NMS)][: self.max_people]
        hip, top = points[keep, 0], points[keep, 1]
        r = np.linalg.norm(top - hip, axis=1)
        return scores[keep], np.concatenate([hip, 2 * REGION_SCALE * r[:, None], top - hip], 1)

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = [], []
        for score, (cx, cy, side, ux, uy) in zip(*self.regions(image)):
            landmarks, _ = self.landmarks(image, cx, cy, side, np.array([ux, uy]))
            for _ in range(self.passes - 1):  # the region again, from the landmarks' own hip centre and circle
                hip, top = landmarks[33, :2], landmarks[34, :2]
                landmarks, _ = self.landmarks(image, *hip, 2 * REGION_SCALE * np.linalg.norm(top - hip), top - hip)
            joints = lsp_joints(landmarks)
            boxes.append(np.concatenate([joints.min(0), joints.max(0)]))
            scores.append(score)
        return np.array(boxes).reshape(-1, 4), np.array(scores)
