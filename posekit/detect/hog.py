"""OpenCV's HOG pedestrian detector (Dalal & Triggs, CVPR 2005; the linear SVM trained on INRIA people that ships
inside ``opencv-python-headless``): upright, whole people at least ~100 px tall; the image is enlarged first so
that smaller people fit its 64×128 window. Optional extra ``posekit[detect]``."""

from __future__ import annotations

import numpy as np

from posekit.detect.base import PersonDetector
from posekit.errors import ConfigError

# HOG window (x, y, w, h) → person box (the box around the joints):
# centre shift (fraction of w, h) and side factors fitted on lspet:train by bench/detectors.py --calibrate
WINDOW_TO_PERSON = (0.016, -0.068, 1.532, 0.959)
MIN_SIDE = 400  # the shorter image side is enlarged to at least this before detection


def require_cv2():
    try:
        import cv2
    except ImportError:
        raise ConfigError("--detector hog needs OpenCV, which is not installed",
                          hint="pip install 'posekit[detect]'") from None
    return cv2


class HogDetector(PersonDetector):
    name = "hog"
    default_min_score = 0.3

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.cv2 = require_cv2()
        self.hog = self.cv2.HOGDescriptor()
        self.hog.setSVMDetector(self.cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.factors = WINDOW_TO_PERSON

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cv2 = self.cv2
        h, w = image.shape[:2]
        scale = max(1.0, MIN_SIDE / min(h, w))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if scale > 1:
            grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
        rects, weights = self.hog.detectMultiScale(grey, hitThreshold=0.0, winStride=(8, 8), padding=(16, 16),
                                                   scale=1.05)
        if len(rects) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        rects = np.asarray(rects, np.float64) / scale
        return rect_boxes(rects, self.factors), np.asarray(weights, np.float64).reshape(-1)


def rect_boxes(rects: np.ndarray, factors: tuple[float, float, float, float]) -> np.ndarray:
    """Detector windows ``[N,4]`` (x, y, w, h) → person boxes ``[N,4]`` (x0, y0, x1, y1): the centre moved by
    ``factors[:2]`` × (w, h), the sides scaled by ``factors[2:]``."""
    dx, dy, fw, fh = factors
    cx = rects[:, 0] + rects[:, 2] * (0.5 + dx)
    cy = rects[:, 1] + rects[:, 3] * (0.5 + dy)
    bw, bh = rects[:, 2] * fw, rects[:, 3] * fh
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
