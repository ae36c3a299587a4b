"""Video in and out: `posekit predict clip.mp4` and `Predictor.predict_video` on clips made here (a bright blob
moving across the frame), read back frame by frame; bad video files give one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.data.meta import MPII16
from posekit.predictor import Predictor
from tests.test_predict_report import BrightnessCentroid, invoke

av = pytest.importorskip("av")


def blob_clip(path: Path, n: int = 30, width: int = 96, height: int = 64, fps: int = 10,
              blobs=lambda i: [(20.0 + 2 * i, 30.0)]) -> list[list[tuple[float, float]]]:
    """An H.264 clip of ``n`` frames with Gaussian blobs at ``blobs(i)`` in frame i; returns the centres."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    ys, xs = np.mgrid[0:height, 0:width]
    centres = []
    for i in range(n):
        image = sum(255 * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * 6.0**2)) for cx, cy in blobs(i))
        frame = av.VideoFrame.from_ndarray(np.repeat(np.clip(image, 0, 255)[..., None], 3, -1).astype(np.uint8),
                                           format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
        centres.append(blobs(i))
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return centres


def blob_predictor() -> Predictor:
    """Every joint at the brightness centroid of the crop: predictions follow the blob."""
    return Predictor(BrightnessCentroid(64).eval(), MPII16, 64, 2.0, Path("blob.pt"), {}, "student",
                     torch.device("cpu"))


def test_predict_video_follows_the_blob_in_every_frame(tmp_path):
    centres = blob_clip(tmp_path / "clip.mp4")
    frames = list(blob_predictor().predict_video(tmp_path / "clip.mp4", batch_size=7))
    assert [f.index for f in frames] == list(range(30))
    assert np.allclose([f.time for f in frames], np.arange(30) / 10)
    for f in frames:
        (person,) = f.poses.people
        assert person.track_id == 0 and f.image.shape == (64, 96, 3)
        assert np.abs(person.keypoints - centres[f.index][0]).max() < 0.5  # whole frame, original pixels
    record = frames[3].to_dict()
    assert record["frame"] == 3 and record["time"] == pytest.approx(0.3) and record["people"][0]["track_id"] == 0


def test_stride_start_end_choose_the_frames(tmp_path):
    blob_clip(tmp_path / "clip.mp4", n=20)
    frames = list(blob_predictor().predict_video(tmp_path / "clip.mp4", stride=3, start=2, end=14))
    assert [f.index for f in frames] == [2, 5, 8, 11]
    assert np.allclose([f.time for f in frames], [0.2, 0.5, 0.8, 1.1])


def test_two_people_keep_their_track_ids_with_a_detector_and_boxes(tmp_path):
    """Two blobs moving apart, listed in a changing order by the 'detector': the ids follow the blobs."""
    blob_clip(tmp_path / "two.mp4", n=12, width=160, blobs=lambda i: [(30.0 + i, 32.0), (120.0 - i, 32.0)])
    from posekit.data.boxes import Detection

    def detector(image):
        i = detector.calls
        detector.calls += 1
        boxes = [Detection((10.0 + i, 12, 50.0 + i, 52), 0.9), Detection((100.0 - i, 12, 140.0 - i, 52), 0.8)]
        return boxes[::-1] if i % 2 else boxes

    detector.calls = 0
    frames = list(blob_predictor().predict_video(tmp_path / "two.mp4", detector=detector, margin=1.0))
    for f in frames:
        ids = {p.track_id: p.keypoints[0, 0] for p in f.poses.people}
        assert set(ids) == {0, 1}
        assert ids[0] < 80 < ids[1]  # track 0 is the left blob in every frame, whichever order it came in
    frames = list(blob_predictor().predict_video(tmp_path / "two.mp4", detector=detector, track=None,
                                                 boxes=[(100, 12, 140, 52)], margin=1.0))
    assert all(len(f.poses.people) == 1 for f in frames)  # given boxes take priority over the detector


def test_smoothing_steadies_a_jittering_blob(tmp_path):
    rng = np.random.default_rng(0)
    jitter = rng.normal(0, 2.0, size=(30, 2))
    blob_clip(tmp_path / "shaky.mp4", blobs=lambda i: [(48.0 + jitter[i, 0], 32.0 + jitter[i, 1])])
    raw = np.array([f.poses.people[0].keypoints[0] for f in blob_predictor().predict_video(tmp_path / "shaky.mp4")])
    smooth = np.array([f.poses.people[0].keypoints[0]
                       for f in blob_predictor().predict_video(tmp_path / "shaky.mp4", smooth=True, min_cutoff=0.5)])
    assert np.allclose(raw[0], smooth[0])  # the first frame passes through
    assert np.std(np.diff(smooth, axis=0)) < 0.5 * np.std(np.diff(raw, axis=0))


def test_cli_video_writes_one_json_line_per_frame_and_a_playable_overlay(trained, tmp_path):
    blob_clip(tmp_path / "clip.mp4", n=30, width=96, height=64)
    out = tmp_path / "out"
    result = invoke(trained, "predict", str(tmp_path / "clip.mp4"), "-c", "adapt/latest", "-o", str(out), "--smooth")
    assert result.exit_code == 0, result.output
    assert "frames/s" in result.output
    lines = (out / "clip_keypoints.jsonl").read_text().splitlines()
    assert len(lines) == 30
    records = [json.loads(line) for line in lines]
    assert [r["frame"] for r in records] == list(range(30))
    assert all(len(r["people"]) == 1 and len(r["people"][0]["keypoints"]) == 16 for r in records)
    summary = json.loads((out / "clip_video.json").read_text())
    assert summary["frames"] == 30 and summary["tracks"] == 1 and summary["smooth"]["filter"] == "one-euro"
    with av.open(str(out / "clip_overlay.mp4")) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == 30 and decoded[0].shape == (64, 96, 3)
    assert sorted(p.name for p in out.iterdir()) == ["clip_keypoints.jsonl", "clip_overlay.mp4", "clip_video.json"]
    strided = invoke(trained, "predict", str(tmp_path / "clip.mp4"), "-c", "adapt/latest", "-o", str(tmp_path / "s"),
                     "--stride", "4", "--start", "1", "--end", "20", "--track", "keypoints")
    assert strided.exit_code == 0, strided.output
    records = [json.loads(line) for line in (tmp_path / "s" / "clip_keypoints.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [1, 5, 9, 13, 17]


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_a_corrupt_video_is_one_line_and_writes_nothing(tmp_path, content):
    (tmp_path / "bad.mp4").write_bytes(content)
    out = tmp_path / "out"
    result = invoke(tmp_path / "ws", "predict", str(tmp_path / "bad.mp4"), "-c", "x.pt", "-o", str(out))
    assert result.exit_code == 4, result.output
    assert "bad.mp4: not a readable video" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 2  # error and hint
    assert not out.exists()


def test_video_options_are_checked(tmp_path):
    blob_clip(tmp_path / "clip.mp4", n=3)
    (tmp_path / "a.png").write_bytes(b"")
    cases = [
        ([str(tmp_path / "clip.mp4"), str(tmp_path / "a.png")], "images and videos in one call"),
        ([str(tmp_path / "a.png"), "--stride", "2"], "apply to videos"),
        ([str(tmp_path / "clip.mp4"), "--end", "0"], "--end must be ≥ 1, got 0"),
        ([str(tmp_path / "clip.mp4"), "--track", "magic"], "unknown tracker"),
        ([str(tmp_path / "clip.mp4"), "--boxes", str(tmp_path / "a.png")], "not per video frame"),
        ([str(tmp_path / "clip.mp4"), "--smooth-beta", "0.5"], "tune the filter of --smooth"),
    ]
    for args, message in cases:
        result = invoke(tmp_path / "ws", "predict", *args, "-c", "x.pt")
        assert result.exit_code == 2 and message in result.output, (args, result.output)


def test_a_missing_video_is_exit_3(tmp_path):
    result = invoke(tmp_path / "ws", "predict", str(tmp_path / "gone.mp4"), "-c", "x.pt")
    assert result.exit_code == 3 and "gone.mp4: no such video file" in result.output
