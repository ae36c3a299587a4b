"""What ``posekit predict`` runs, as two frozen objects the command line builds and the image and video paths read
(:mod:`posekit.stages.predict`, :mod:`posekit.stages.predict_video`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PredictRequest:
    """The model (``checkpoint``: a run or checkpoint reference; ``weights`` auto/teacher/student; ``device``;
    ``amp``), where the people are (one ``box`` x0,y0,x1,y1 for every input, or a ``boxes_file`` filtered by
    ``min_score`` and ``category``, or a ``detector``; none: whole images), the crop ``margin`` around a box, the
    ``flip`` test, the ``batch_size`` and the ``out`` folder."""

    checkpoint: str
    out: Path
    weights: str = "auto"
    box: tuple[float, float, float, float] | None = None
    boxes_file: Path | None = None
    min_score: float = 0.0
    category: int | None = None
    detector: Any = None  # a posekit.detect.PersonDetector
    margin: float = 1.25
    flip: bool = False
    batch_size: int = 16
    device: str = "auto"
    amp: str = "auto"


@dataclass(frozen=True)
class VideoOptions:
    """Which frames (``start`` ≤ frame < ``end``, every ``stride``-th), how people are followed (``track``: iou,
    keypoints or None) and smoothed (``smooth``: a One-Euro filter with ``min_cutoff`` and ``beta``), and whether an
    ``overlay`` video is written."""

    stride: int = 1
    start: int = 0
    end: int | None = None
    track: str | None = "iou"
    smooth: bool = False
    min_cutoff: float = 1.0
    beta: float = 2.0
    overlay: bool = True
