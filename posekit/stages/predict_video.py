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
from posekit.stages.predict_common import PredictRequest, VideoOptions
from posekit.version import __version__
from posekit.video_predict import check_options, predict_video
from posekit.viz.overlay import draw_people
from posekit.workspace import Workspace, atomic_output, atomic_write_json, now_iso, staged_files

COORDINATES = "original frame pixels as displayed: x right, y down, pixel centres at integer coordinates"
SCORE = "heatmap peak value of the joint (higher = more confident; not a probability)"


def run_predict_video(ws: Workspace, videos: list[Path], request: PredictRequest,
                      video: VideoOptions | None = None) -> list[dict]:
    """Predict every video; returns each video's ``<stem>_video.json`` content. Every input is checked (readable
    video, the box fits its frames) and the model loaded before anything is written."""
    r, o = request, video or VideoOptions()
    check_options(o.stride, o.start, o.end, o.track, o.min_cutoff, o.beta)
    if r.out.exists() and not r.out.is_dir():
        raise ConfigError(f"--out {r.out} is a file", hint="pass a directory")
    stems: dict[str, Path] = {}
    infos = []
    for v in videos:
        if v.stem in stems:
            raise ConfigError(f"{stems[v.stem]} and {v} would both write {v.stem}_keypoints.jsonl",
                              hint="predict them in separate calls with different --out folders")
        stems[v.stem] = v
        info = video_info(v)
        if r.box is not None:
            check_box(r.box, info.height, info.width, f"--box {','.join(f'{x:g}' for x in r.box)}", v.name)
        infos.append(info)
    predictor = load_predictor(resolve_model_ref(ws, r.checkpoint), r.weights, pick_device(r.device), r.amp)
    return [_one_video(predictor, info, r, o) for info in infos]


def _one_video(predictor, info, r: PredictRequest, o: VideoOptions) -> dict:
    out = r.out
    stem = info.path.stem
    lines_name, video_name = f"{stem}_keypoints.jsonl", f"{stem}_overlay.mp4"
    last = min(info.frames, o.end) if info.frames and o.end is not None else (o.end or info.frames)
    total = len(range(o.start, last, o.stride)) if last else None
    frames = people = 0
    tracks: set[int] = set()
    began = time.perf_counter()
    with staged_files(out) as stage, contextlib.ExitStack() as files:
        # each file streams into a temporary of posekit's writer, renamed when complete (a refused write names
        # its final path); the staging folder moves the three into ``out`` together, the summary last
        lines = files.enter_context(open(files.enter_context(atomic_output(stage / lines_name, out / lines_name)), "w"))
        writer = files.enter_context(_video_writer(stage / video_name, out / video_name, info.fps / o.stride)) \
            if o.overlay else None
        progress = files.enter_context(make_progress(transient=True))
        task = progress.add_task(f"predict {info.path.name}", total=total, info="")
        for result in predict_video(predictor, info.path, boxes=None if r.box is None else [Detection(r.box)],
                                    detector=r.detector, stride=o.stride, start=o.start, end=o.end, flip=r.flip,
                                    margin=r.margin, batch_size=r.batch_size, track=o.track, smooth=o.smooth,
                                    min_cutoff=o.min_cutoff, beta=o.beta, info=info):
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
        counts = {"frames": frames, "people": people, "tracks": len(tracks), "seconds": round(seconds, 3),
                  "frames_per_second": round(frames / max(seconds, 1e-9), 2),
                  "keypoints": lines_name, "overlay": video_name if o.overlay else None}
        summary = _summary(predictor, info, r, o, counts)
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


def _summary(predictor, info, r: PredictRequest, o: VideoOptions, counts: dict) -> dict:
    """What ``<stem>_video.json`` records: the video, the model, the options, then ``counts``."""
    h = predictor.header
    return {
        "posekit_version": __version__, "created": now_iso(), "video": str(info.path.resolve()),
        "width": info.width, "height": info.height, "fps": info.fps, "rotation": info.rotation,
        "checkpoint": str(predictor.checkpoint), "stage": h.get("stage"), "method": h.get("method"),
        "step": h.get("step"), "selected_by": h.get("selected_by"), "weights": predictor.weights,
        "input_size": predictor.input_size, "flip": r.flip, "precision": predictor.precision.describe(),
        "margin": r.margin, "box": None if r.box is None else list(r.box),
        "detector": None if r.detector is None else str(r.detector),
        "stride": o.stride, "start": o.start, "end": o.end, "track": o.track,
        "smooth": {"filter": "one-euro", "min_cutoff": o.min_cutoff, "beta": o.beta} if o.smooth else None,
        **{k: counts[k] for k in ("frames", "people", "tracks", "seconds", "frames_per_second")},
        "keypoints": counts["keypoints"], "overlay": counts["overlay"],
        "coordinate_space": COORDINATES, "score": SCORE,
        "joints": list(predictor.joint_names), "skeleton": [list(e) for e in predictor.skeleton],
    }


def _json_line(record: dict) -> str:
    import json

    return json.dumps(record, separators=(",", ":")) + "\n"
