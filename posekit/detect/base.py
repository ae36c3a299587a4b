"""What every person detector shares: the name registry, the score threshold, non-maximum suppression and the
conversion of its raw boxes to :class:`~posekit.data.boxes.Detection`\\ s."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from posekit.data.box_ops import clip_boxes, nms
from posekit.data.boxes import Detection
from posekit.errors import ConfigError

# name → (module, class, what it is); the modules import their optional packages only when a detector is built
DETECTORS: dict[str, tuple[str, str, str]] = {
    "blazepose": ("posekit.detect.blazepose", "BlazePoseDetector",
                  "MediaPipe BlazePose person detector (TFLite; posekit[detect-blazepose])"),
    "hog": ("posekit.detect.hog", "HogDetector", "OpenCV HOG + linear SVM pedestrian detector (posekit[detect])"),
}


class PersonDetector:
    """Subclasses implement :meth:`raw`; calling the detector applies ``min_score``, NMS at ``nms_iou`` and
    ``max_people`` and returns Detections (box x0, y0, x1, y1 clipped to the image, the detector's score,
    ``category_id`` 1 as COCO's person), best first."""

    name = "?"
    default_min_score = 0.5
    inside = 1.0  # also drop a box lying more than this fraction inside a better one (1.0: IoU alone)

    def __init__(self, min_score: float | None = None, nms_iou: float = 0.45, max_people: int = 20):
        self.min_score = self.default_min_score if min_score is None else float(min_score)
        if not 0 <= nms_iou <= 1 or max_people < 1:
            raise ConfigError(f"detector: nms_iou must lie in [0, 1] and max_people be ≥ 1 (got {nms_iou}, {max_people})")
        self.nms_iou, self.max_people = nms_iou, max_people

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[H,W,3]`` uint8 RGB → person boxes ``[N,4]`` (x0, y0, x1, y1, original pixels) and scores ``[N]``,
        before threshold and NMS."""
        raise NotImplementedError

    def __call__(self, image: np.ndarray) -> list[Detection]:
        boxes, scores = self.raw(image)
        boxes, scores = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64).reshape(-1)
        ok = (scores >= self.min_score) & np.isfinite(boxes).all(1)
        boxes, scores = clip_boxes(boxes[ok], *image.shape[:2]), scores[ok]
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[ok], scores[ok]
        keep = nms(boxes, scores, self.nms_iou, self.inside)[: self.max_people]
        return [Detection(tuple(float(v) for v in boxes[i]), float(scores[i]), 1) for i in keep]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min_score={self.min_score}, nms_iou={self.nms_iou}, max_people={self.max_people})"


def load_detector(name: str, min_score: float | None = None, nms_iou: float = 0.45,
                  max_people: int = 20) -> PersonDetector:
    """The detector registered as ``name`` (:data:`DETECTORS`); a ConfigError line for an unknown name or a missing
    optional package."""
    if name not in DETECTORS:
        raise ConfigError(f"unknown detector {name!r}", hint=f"use one of {', '.join(DETECTORS)} (--detector NAME)")
    module, cls, _ = DETECTORS[name]
    return getattr(importlib.import_module(module), cls)(min_score=min_score, nms_iou=nms_iou, max_people=max_people)


def as_detector(detector: Any) -> Callable[[np.ndarray], list[Detection]]:
    """A detector name (built with its defaults) or a callable image ``[H,W,3]`` → Detections, as it is."""
    if isinstance(detector, str):
        return load_detector(detector)
    if not callable(detector):
        raise ConfigError(f"detector: expected a name or a callable, got {type(detector).__name__}",
                          hint="pass e.g. detector='blazepose' or posekit.detect.load_detector('blazepose', min_score=0.6)")
    return detector
