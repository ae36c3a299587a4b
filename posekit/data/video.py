"""Video files as inputs and outputs of prediction (``posekit predict clip.mp4``), through PyAV (FFmpeg's libraries).

PyAV is the optional extra ``posekit[video]``; without it every function here raises one ConfigError line saying
so. Frames are decoded in stream order as ``[H,W,3]`` uint8 RGB; frame ``i`` is the i-th decoded frame (0-based)
and its ``time`` the presentation time in seconds. A frame whose display matrix says it is turned (phone clips)
is turned upright, as players show it (PyAV's ``frame.rotation``; untested: no test here can write that matrix). Overlay videos are written as H.264 (yuv420p, so an odd width or
height loses its last column or row) to a temporary file that is renamed when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posekit.errors import ConfigError, DataError, MissingArtifactError

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
VIDEO_HINT = "pass a video FFmpeg can decode (e.g. an H.264 .mp4); re-encode it with `ffmpeg -i IN -c:v libx264 OUT.mp4`"


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def require_av():
    """The ``av`` module, or one ConfigError line naming the extra that installs it."""
    try:
        import av
    except ImportError:
        raise ConfigError("reading and writing videos needs PyAV, which is not installed",
                          hint="pip install 'posekit[video]'") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header says: frame size as displayed, frames per second, frame count (0 when the container
    does not say) and rotation in degrees (counter-clockwise, as FFmpeg reports it)."""

    path: Path
    width: int
    height: int
    fps: float
    frames: int
    rotation: int


def _unreadable(path: Path, exc: BaseException) -> DataError:
    first = (str(exc).splitlines() or [exc.__class__.__name__])[0][:120]
    return DataError(f"{path}: not a readable video ({exc.__class__.__name__}: {first})", hint=VIDEO_HINT)


def _open(path: Path):
    av = require_av()
    if not path.is_file():
        raise MissingArtifactError(f"{path}: no such video file", hint="check the path")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    if not container.streams.video:
        container.close()
        raise DataError(f"{path}: the file holds no video stream", hint=VIDEO_HINT)
    return av, container


def _upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """A decoded frame turned as players show it: FFmpeg's rotation is counter-clockwise degrees."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(frame, turns)) if turns else frame


def video_info(path: Path) -> VideoInfo:
    """The header of a video file (nothing decoded but the first frame, which checks that it decodes)."""
    path = Path(path)
    av, container = _open(path)
    with container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frames = int(stream.frames or 0)  # read while open: av ≥ 18.1.1 refuses a closed container's streams
        try:
            first = next(container.decode(stream))
        except StopIteration:
            raise DataError(f"{path}: the video stream has no frames", hint=VIDEO_HINT) from None
        except (av.FFmpegError, ValueError) as exc:
            raise _unreadable(path, exc) from None
        rotation = int(getattr(first, "rotation", 0) or 0)
        w, h = first.width, first.height
    if (rotation // 90) % 2:
        w, h = h, w
    return VideoInfo(path, w, h, float(rate) if rate else 0.0, frames, rotation)


def read_frames(path: Path, stride: int = 1, start: int = 0, end: int | None = None
                ) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(index, time in seconds, [H,W,3] uint8 RGB)`` for frames ``start, start + stride, …`` before ``end``
    (exclusive; None: to the last frame). A stream that breaks off mid-way raises DataError naming the frame."""
    if stride < 1 or start < 0 or (end is not None and end <= start):
        raise ConfigError(f"frames: need stride ≥ 1, start ≥ 0 and end > start (got {stride}, {start}, {end})",
                          hint="e.g. --stride 2 --start 0 --end 300")
    path = Path(path)
    av, container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if end is not None and index >= end:
                    break
                if index < start or (index - start) % stride:
                    continue
                time = float(frame.time) if frame.time is not None else float("nan")
                rotation = int(getattr(frame, "rotation", 0) or 0)
                yield index, time, _upright(frame.to_ndarray(format="rgb24"), rotation)
        except (av.FFmpegError, ValueError) as exc:
            raise DataError(f"{path}: decoding stopped at frame {index + 1} ({exc.__class__.__name__})",
                            hint=VIDEO_HINT) from None


class VideoWriter:
    """An H.264 video written frame by frame to ``<path>.partial`` and renamed to ``path`` by :meth:`close`;
    :meth:`abort` deletes it. Frames are ``[H,W,3]`` uint8 RGB of
    one size; an odd side loses its last row or column (yuv420p needs even sides)."""

    def __init__(self, path: Path, fps: float):
        self.av = require_av()
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.fps = fps if fps > 0 else 25.0
        self.container = self.av.open(str(self.partial), "w", format="mp4")
        self.stream = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        h, w = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
        if self.stream is None:
            from fractions import Fraction

            self.stream = self.container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, "yuv420p"
        image = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="rgb24")
        for packet in self.stream.encode(image):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        try:
            self.container.close()
        finally:
            self.partial.unlink(missing_ok=True)
