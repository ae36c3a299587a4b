"""Frames per second of `posekit predict clip.mp4` on this machine, whole frames and with a person detector.

Usage: python bench/video_throughput.py --run RUN_OR_PT [--image ../shared/data/lspet/images/im00002.jpg]
                                        [--frames 60] [--size 640x480] [--detectors blazepose] [--out DIR]

Makes a clip of --frames frames (H.264, 30 frames/s) in which one photograph slides across a grey frame, then runs
`posekit predict CLIP -c RUN` once per setting (whole frames; each --detectors name; whole frames with --smooth)
as its own process and reads frames/s from <stem>_video.json (decoding, detection, the network, tracking, drawing
and encoding the overlay; model loading excluded). Prints a table and writes bench/results/video_throughput.json;
the clips and outputs stay in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import av
import numpy as np
from common import posekit
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def panning_clip(image: Path, path: Path, frames: int, width: int, height: int) -> None:
    """A clip of the photograph, scaled to 80 % of the frame height, sliding across a grey frame."""
    photo = Image.open(image).convert("RGB")
    scale = 0.8 * height / photo.height
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.BICUBIC)
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    for i in range(frames):
        frame = Image.new("RGB", (width, height), (128, 128, 128))
        x = round((width - photo.width) * (0.1 + 0.8 * i / max(frames - 1, 1)))
        frame.paste(photo, (max(x, 0), (height - photo.height) // 2))
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--image", type=Path, default=ROOT.parent / "shared" / "data" / "lspet" / "images" / "im00002.jpg")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--detectors", default="blazepose")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "video")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    clip = args.out / "pan.mp4"
    panning_clip(args.image, clip, args.frames, width, height)
    settings = [("whole frame", []), *[(f"--detector {d}", ["--detector", d]) for d in args.detectors.split(",") if d],
                ("whole frame, --smooth", ["--smooth"])]
    rows = []
    for label, extra in settings:
        out = args.out / label.replace(" ", "_").replace(",", "").replace("-", "")
        posekit(str(args.out / "ws"), "predict", str(clip), "-c", args.run, "-o", str(out), "--device", "cpu", *extra)
        summary = json.loads((out / "pan_video.json").read_text())
        rows.append({"setting": label, "frames": summary["frames"], "people": summary["people"],
                     "tracks": summary["tracks"], "seconds": summary["seconds"],
                     "frames_per_second": summary["frames_per_second"]})
        print(f"{label:<24} {summary['frames']:>4} frames  {summary['people']:>4} people  {summary['tracks']:>2} "
              f"tracks  {summary['frames_per_second']:>6.1f} frames/s", flush=True)
    result = {"date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "clip": f"{args.frames} frames "
              f"{width}×{height}", "threads": os.environ.get("OMP_NUM_THREADS"), "cpus": os.cpu_count(), "rows": rows}
    path = ROOT / "bench" / "results" / "video_throughput.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
