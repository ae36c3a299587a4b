"""Keypoints for every frame of a video (``posekit predict clip.mp4``, ``Predictor.predict_video``).

Frames are read with :func:`posekit.data.video.read_frames` (``stride``, ``start``, ``end``), batched, and predicted
through :meth:`posekit.predictor.Predictor.predict` with the frame's boxes: the same ``boxes`` for every frame, else
a ``detector``'s boxes per frame, else the whole frame. People are then followed from frame to frame
(:mod:`posekit.temporal.tracker`: ``track="iou"`` or ``"keypoints"``; ``None`` numbers them per frame; a person's
box is the one it was cut around, the square the network saw for a whole frame) and, with
``smooth=True``, each track's joints pass through a One-Euro filter (:mod:`posekit.temporal.one_euro`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.video import VideoInfo, read_frames, video_info
from posekit.detect.base import as_detector
from posekit.errors import ConfigError
from posekit.temporal.one_euro import OneEuroFilter
from posekit.temporal.tracker import TRACKERS, Tracker


@dataclass(frozen=True)
class FramePoses:
    """One frame: its ``index`` in the video (0-based, decoding order), ``time`` (seconds), ``poses`` (people with
    ``track_id``\\ s) and the decoded ``image`` ``[H,W,3]`` uint8 RGB (for overlays; not in :meth:`to_dict`)."""

    index: int
    time: float
    poses: Any  # posekit.predictor.ImagePoses
    image: np.ndarray

    def to_dict(self) -> dict:
        """One JSON Lines record of ``posekit predict clip.mp4``."""
        return {"frame": self.index, "time": round(self.time, 6), **self.poses.to_dict()}


def check_options(stride: int, start: int, end: int | None, track: str | None, min_cutoff: float,
                  beta: float) -> None:
    if stride < 1 or start < 0 or (end is not None and end <= start):
        raise ConfigError(f"frames: need --stride ≥ 1, --start ≥ 0 and --end > --start (got {stride}, {start}, {end})",
                          hint="e.g. --stride 2 --start 0 --end 300 (frame numbers, end excluded)")
    if track is not None and track not in TRACKERS:
        raise ConfigError(f"unknown tracker {track!r}", hint=f"use --track {' or --track '.join(TRACKERS)}, or none")
    if not (min_cutoff > 0 and beta >= 0 and math.isfinite(min_cutoff) and math.isfinite(beta)):
        raise ConfigError(f"smoothing needs --smooth-cutoff > 0 and --smooth-beta ≥ 0 (got {min_cutoff}, {beta})")


def predict_video(predictor: Any, path: Path, boxes: Any = None, detector: Any = None, stride: int = 1,
                  start: int = 0, end: int | None = None, flip: bool = False, margin: float = 1.25,
                  batch_size: int = 16, track: str | None = "iou", smooth: bool = False, min_cutoff: float = 1.0,
                  beta: float = 2.0, info: VideoInfo | None = None) -> Iterator[FramePoses]:
    """:class:`FramePoses` for frames ``start, start + stride, …`` before ``end`` of the video at ``path``.

    ``boxes``: person boxes used in every frame (as :meth:`Predictor.predict` takes them for one image);
    ``detector``: a detector name or callable run on each frame when ``boxes`` is None; neither: the whole frame.
    ``track``: ``iou``, ``keypoints`` or None. ``smooth``: One-Euro filter per track with ``min_cutoff`` (Hz) and
    ``beta`` (per person size per second). Frame times come from the stream (index / fps where it has none).
    """
    check_options(stride, start, end, track, min_cutoff, beta)
    info = info or video_info(path)
    detect = as_detector(detector) if detector is not None and boxes is None else None
    tracker = Tracker(track) if track else None
    buffer: list[tuple[int, float, np.ndarray]] = []
    for item in read_frames(path, stride, start, end):
        buffer.append(item)
        if len(buffer) == batch_size:
            yield from _follow(predictor, buffer, boxes, detect, flip, margin, batch_size, info, tracker, smooth,
                               min_cutoff, beta)
            buffer = []
    if buffer:
        yield from _follow(predictor, buffer, boxes, detect, flip, margin, batch_size, info, tracker, smooth,
                           min_cutoff, beta)


def _follow(predictor, frames, boxes, detect, flip, margin, batch_size, info, tracker, smooth, min_cutoff,
            beta) -> Iterator[FramePoses]:
    images = [f[2] for f in frames]
    per_frame = [boxes if boxes is not None else detect(image) if detect is not None else None for image in images]
    poses = predictor.predict(images, per_frame, flip=flip, margin=margin, batch_size=batch_size)
    for (index, time, image), result in zip(frames, poses):
        if not math.isfinite(time):
            time = index / info.fps if info.fps > 0 else float(index)
        yield FramePoses(index, time, _tracked(result, index, time, tracker, smooth, min_cutoff, beta), image)


def _tracked(result: Any, index: int, time: float, tracker: Tracker | None, smooth: bool, min_cutoff: float,
             beta: float) -> Any:
    """The frame's people with track ids (and smoothed keypoints)."""
    people = result.people
    if tracker is None:
        return dataclasses.replace(result, people=[dataclasses.replace(p, track_id=i) for i, p in enumerate(people)])
    boxes = np.array([p.box if p.box is not None else p.crop_region for p in people]).reshape(-1, 4)
    keypoints = np.array([p.keypoints for p in people]) if people else np.zeros((0, 0, 2))
    out = []
    for person, trk in zip(people, tracker.update(index, boxes, keypoints)):
        kp = person.keypoints
        if smooth:
            filt = trk.state.setdefault("filter", OneEuroFilter(min_cutoff, beta))
            kp = filt(kp, time, scale=person.crop_region[2] - person.crop_region[0])
        out.append(dataclasses.replace(person, keypoints=kp, track_id=trk.id))
    return dataclasses.replace(result, people=out)
