"""People followed across video frames: each frame's people are matched to the tracks of the frames before, one to
one (Hungarian assignment on a similarity, pairs below ``threshold`` left unmatched), and keep the track's id.

- ``iou``: similarity = intersection over union of the person boxes;
- ``keypoints``: similarity = mean over joints of ``exp(−d² / (2 (0.1 · s)²))``, ``d`` the distance between a
  joint now and in the track's last frame, ``s`` the longer side of the track's last box (an OKS-like score).

An unmatched person starts a new track (ids 0, 1, 2, … in order of appearance); a track not matched for more than
``max_age`` frames ends, and its id is never reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from posekit.data.box_ops import box_iou

TRACKERS = ("iou", "keypoints")
KEYPOINT_SIGMA = 0.1  # fraction of the box's longer side: the spread of a joint between frames


def keypoint_similarity(a: np.ndarray, b: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Keypoints ``a`` ``[N,K,2]`` (the tracks'), ``b`` ``[M,K,2]`` (this frame's), track sizes ``[N]`` → ``[N,M]``
    in [0, 1]; joints that are not finite in either are left out of the mean."""
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)  # [N,M,K]
    s2 = (KEYPOINT_SIGMA * np.maximum(sizes, 1e-6))[:, None, None] ** 2
    sim = np.exp(-d2 / (2 * s2))
    ok = np.isfinite(sim)
    return np.where(ok, sim, 0).sum(-1) / np.maximum(ok.sum(-1), 1)


@dataclass
class Track:
    id: int
    box: np.ndarray
    keypoints: np.ndarray
    last_frame: int
    state: dict = field(default_factory=dict)  # what a caller keeps per track (the smoothing filter)


class Tracker:
    """Assigns track ids, frame by frame, with :meth:`update`."""

    def __init__(self, method: str = "iou", threshold: float = 0.3, max_age: int = 10):
        if method not in TRACKERS:
            raise ValueError(f"unknown tracker {method!r}; use {', '.join(TRACKERS)}")
        self.method, self.threshold, self.max_age = method, threshold, max_age
        self.tracks: list[Track] = []
        self.next_id = 0

    def similarity(self, boxes: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """``[T,N]`` similarity of the live tracks to this frame's people."""
        if not self.tracks or not len(boxes):
            return np.zeros((len(self.tracks), len(boxes)))
        if self.method == "iou":
            return box_iou(np.stack([t.box for t in self.tracks]), boxes)
        sizes = np.array([np.max(t.box[2:] - t.box[:2]) for t in self.tracks])
        return keypoint_similarity(np.stack([t.keypoints for t in self.tracks]), keypoints, sizes)

    def update(self, frame: int, boxes: np.ndarray, keypoints: np.ndarray) -> list[Track]:
        """This frame's people — boxes ``[N,4]`` and keypoints ``[N,K,2]`` — → their tracks, in the same order."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.tracks = [t for t in self.tracks if frame - t.last_frame <= self.max_age]
        sim = self.similarity(boxes, keypoints)
        assigned: dict[int, Track] = {}
        if sim.size:
            rows, cols = linear_sum_assignment(-sim)
            for r, c in zip(rows, cols):
                if sim[r, c] >= self.threshold:
                    assigned[c] = self.tracks[r]
        out = []
        for i in range(len(boxes)):
            track = assigned.get(i)
            if track is None:
                track = Track(self.next_id, boxes[i], keypoints[i], frame)
                self.next_id += 1
                self.tracks.append(track)
            track.box, track.keypoints, track.last_frame = boxes[i], keypoints[i], frame
            out.append(track)
        return out
