"""``posekit predict clip.mp4``: keypoints for every frame of video files, from a posekit checkpoint.

Per video ``<stem>`` it writes into the output folder:

- ``<stem>_keypoints.jsonl``: one JSON object per predicted frame (``frame``, ``time``, ``height``, ``width``,
  ``people`` with ``track_id``, ``box``, ``box_score``, ``crop_region``, ``keypoints`` as in ``predictions.json``);
- ``<stem>_overlay.mp4``: the predicted frames with poses, boxes and track ids drawn (H.264, at the video's frame
  rate divided by the stride);
- ``<stem>_video.json``: what was run (checkpoint, options, joints, skeleton, coordinate conventions) and counts
  (frames, tracks, seconds, frames per second), written last.

Each file is written through posekit's writer (a temporary name, renamed when complete) into a staging folder\ninside the output folder, and the three are moved into it together; a failure leaves none of a video's files.
Frames go through :func:`posekit.video_predict.predict_video`, the Python API's own path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from posekit.data.boxes import Detection
from posekit.data.image_files import check_box
from posekit.data.video import VideoWriter, video_info
from posekit.engine.device import pick_device
from posekit.engine.logging import make_progress
from posekit.errors import ConfigError
from posekit.inference import resolve_model_ref
from posekit.predictor import load_predictor
from posekit.version import __version__
from posekit.video_predict import check_options, predict_video
from posekit.viz.overlay import draw_people
from posekit.workspace import Workspace, atomic_output, atomic_write_json, now_iso, staged_files

COORDINATES = "original frame pixels as displayed: x right, y down, pixel centres at integer coordinates"
SCORE = "heatmap peak value of the joint (higher = more confident; not a probability)"


def run_predict_video(ws: Workspace, videos: list[Path], ref: str, weights: str,
                      box: tuple[float, float, float, float] | None, detector, margin: float, out: Path,
                      batch_size: int, device_name: str, flip: bool = False, stride: int = 1, start: int = 0,
                      end: int | None = None, track: str | None = "iou", smooth: bool = False,
                      min_cutoff: float = 1.0, beta: float = 2.0, overlay: bool = True,
                      amp: str = "auto") -> list[dict]:
    """Predict every video; returns each video's ``<stem>_video.json`` content. Every input is checked (readable
    video, the box fits its frames) and the model loaded before anything is written."""
    check_options(stride, start, end, track, min_cutoff, beta)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file", hint="pass a directory")
    stems: dict[str, Path] = {}
    infos = []
    for v in videos:
        if v.stem in stems:
            raise ConfigError(f"{stems[v.stem]} and {v} would both write {v.stem}_keypoints.jsonl",
                              hint="predict them in separate calls with different --out folders")
        stems[v.stem] = v
        info = video_info(v)
        if box is not None:
            check_box(box, info.height, info.width, f"--box {','.join(f'{x:g}' for x in box)}", v.name)
        infos.append(info)
    predictor = load_predictor(resolve_model_ref(ws, ref), weights, pick_device(device_name), amp)
    summaries = []
    for info in infos:
        summaries.append(_one_video(predictor, info, box, detector, margin, out, batch_size, flip, stride, start, end,
                                    track, smooth, min_cutoff, beta, overlay))
    return summaries


def _one_video(predictor, info, box, detector, margin, out, batch_size, flip, stride, start, end, track, smooth,
               min_cutoff, beta, overlay) -> dict:
    stem = info.path.stem
    lines_name, video_name = f"{stem}_keypoints.jsonl", f"{stem}_overlay.mp4"
    last = min(info.frames, end) if info.frames and end is not None else (end or info.frames)
    total = len(range(start, last, stride)) if last else None
    frames = people = 0
    tracks: set[int] = set()
    began = time.perf_counter()
    with staged_files(out) as stage, contextlib.ExitStack() as files:
        # each file streams into a temporary of posekit's writer, renamed when complete (a refused write names
        # its final path); the staging folder moves the three into ``out`` together, the summary last
        lines = files.enter_context(open(files.enter_context(atomic_output(stage / lines_name, out / lines_name)), "w"))
        writer = files.enter_context(_video_writer(stage / video_name, out / video_name, info.fps / stride)) \
            if overlay else None
        progress = files.enter_context(make_progress(transient=True))
        task = progress.add_task(f"predict {info.path.name}", total=total, info="")
        for result in predict_video(predictor, info.path, boxes=None if box is None else [Detection(box)],
                                    detector=detector, stride=stride, start=start, end=end, flip=flip,
                                    margin=margin, batch_size=batch_size, track=track, smooth=smooth,
                                    min_cutoff=min_cutoff, beta=beta, info=info):
            lines.write(_json_line(result.to_dict()))
            if writer is not None:
                writer.write(draw_people(result.image, result.poses.people, predictor.meta))
            frames += 1
            people += len(result.poses.people)
            tracks.update(p.track_id for p in result.poses.people)
            rate = frames / max(time.perf_counter() - began, 1e-9)
            progress.update(task, advance=1, info=f"{rate:.1f} frames/s")
        files.close()  # the keypoints and the video complete, before the summary counts them
        seconds = time.perf_counter() - began
        summary = _summary(predictor, info, box, detector, margin, flip, stride, start, end, track, smooth,
                           min_cutoff, beta, frames, people, tracks, seconds, lines_name,
                           video_name if overlay else None)
        atomic_write_json(stage / f"{stem}_video.json", summary, shown=out / f"{stem}_video.json")
    return summary


@contextlib.contextmanager
def _video_writer(path: Path, shown: Path, fps: float) -> Iterator[VideoWriter]:
    """A :class:`VideoWriter` into a temporary of posekit's writer (:func:`atomic_output`), renamed to ``path``
    when the block ends without error; aborted (its partial file deleted) when it fails."""
    with atomic_output(path, shown) as tmp:
        writer = VideoWriter(tmp, fps)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.close()


def _summary(predictor, info, box, detector, margin, flip, stride, start, end, track, smooth, min_cutoff, beta,
             frames, people, tracks, seconds, lines_name, video_name) -> dict:
    """What ``<stem>_video.json`` records."""
    h = predictor.header
    summary = {
        "posekit_version": __version__, "created": now_iso(), "video": str(info.path.resolve()),
        "width": info.width, "height": info.height, "fps": info.fps, "rotation": info.rotation,
        "checkpoint": str(predictor.checkpoint), "stage": h.get("stage"), "method": h.get("method"),
        "step": h.get("step"), "selected_by": h.get("selected_by"), "weights": predictor.weights,
        "input_size": predictor.input_size, "flip": flip, "precision": predictor.precision.describe(), "margin": margin,
        "box": None if box is None else list(box), "detector": None if detector is None else str(detector),
        "stride": stride, "start": start, "end": end, "track": track,
        "smooth": {"filter": "one-euro", "min_cutoff": min_cutoff, "beta": beta} if smooth else None,
        "frames": frames, "people": people, "tracks": len(tracks), "seconds": round(seconds, 3),
        "frames_per_second": round(frames / max(seconds, 1e-9), 2),
        "keypoints": lines_name, "overlay": video_name,
        "coordinate_space": COORDINATES, "score": SCORE,
        "joints": list(predictor.joint_names), "skeleton": [list(e) for e in predictor.skeleton],
    }
    return summary


def _json_line(record: dict) -> str:
    import json

    return json.dumps(record, separators=(",", ":")) + "\n"
