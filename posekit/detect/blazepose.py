"""MediaPipe's BlazePose person detector (Bazarevsky et al., 2020: ``pose_detection.tflite`` of MediaPipe Pose,
Apache-2.0), run with the LiteRT interpreter (``ai-edge-litert``). Optional extra ``posekit[detect-blazepose]``.

The model file ships inside the ``mediapipe`` wheel on PyPI, whose pins (numpy<2, protobuf<5) posekit's own
environment cannot take; posekit reads the one file out of the wheel (a zip) instead of installing it:
``posekit fetch-model blazepose`` downloads the wheel with pip and extracts it to ``~/.cache/posekit/``
(``$POSEKIT_CACHE``; :mod:`posekit.detect.fetch`), or ``$POSEKIT_BLAZEPOSE_DETECTOR`` names the file.

The network sees the image letterboxed to 224×224 in [−1, 1]; for each of 2,254 SSD anchors it gives a score and
a face box with four keypoints, of which the first two are the hip centre and a point on the circle around the
whole body. posekit turns each into a person box: along the body axis (hip centre → that point, length ``r``)
from ``−TAIL·r`` to ``+HEAD·r``, across it ``±HALF_WIDTH·r``, axis-aligned; the three factors were fitted on
lspet:train (bench/detectors.py --calibrate) so that the box is the one around the person's joints.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from posekit.detect.base import PersonDetector
from posekit.detect.fetch import WHEEL, cache_dir
from posekit.errors import ConfigError, MissingArtifactError

INPUT = 224
MODEL_FILE = "pose_detection.tflite"
# person box from (hip centre, body-circle radius r) in the body's frame; fitted on lspet:train (docs/results.md)
TAIL, HEAD, HALF_WIDTH = 0.474, 0.877, 0.586


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
    default_min_score = 0.5

    def __init__(self, model: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        interpreter = require_litert()
        self.interpreter = interpreter(model_path=str(model or model_path()), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        self.regressors, self.classificators = outputs[0]["index"], outputs[1]["index"]

    def regress(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every anchor's score ``[A]`` and its hip centre and body-circle point ``[A,2,2]`` in image pixels."""
        x, scale, offset = letterbox(image)
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.regressors)[0].astype(np.float64)  # [A,12]
        logits = self.interpreter.get_tensor(self.classificators)[0, :, 0].astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100, 100)))
        points = raw[:, 4:8].reshape(-1, 2, 2) + anchors()[:, None] * INPUT  # input pixels
        return scores, (points - offset) / scale

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, points = self.regress(image)
        keep = scores >= min(self.min_score, 0.5)
        return body_boxes(points[keep]), scores[keep]


def body_boxes(points: np.ndarray) -> np.ndarray:
    """Hip centres and body-circle points ``[N,2,2]`` → person boxes ``[N,4]`` (see the module docstring)."""
    hip, top = points[:, 0], points[:, 1]
    axis = top - hip
    r = np.linalg.norm(axis, axis=1, keepdims=True)
    u = axis / np.maximum(r, 1e-9)
    v = np.stack([-u[:, 1], u[:, 0]], 1)
    corners = np.stack([hip + r * (a * u + b * v) for a in (-TAIL, HEAD) for b in (-HALF_WIDTH, HALF_WIDTH)], 1)
    return np.concatenate([corners.min(1), corners.max(1)], 1)
