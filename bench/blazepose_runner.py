"""Runs MediaPipe Pose (BlazePose-Full) on image crops, inside the virtual environment that
bench/blazepose_reference.py builds (mediapipe==0.10.21 and its numpy<2 / protobuf<5 pins; posekit is not imported).

Usage: python blazepose_runner.py CROPS_DIR OUT.npy [MIN_DETECTION_CONFIDENCE (default 0.5)]
CROPS_DIR holds crop_00000.png, crop_00001.png, …; OUT.npy gets landmarks [N,33,4] (x, y in crop pixels,
visibility, presence; NaN where MediaPipe found no pose).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from mediapipe.python.solutions import pose as mp_pose
from PIL import Image


def main() -> None:
    crops, out = Path(sys.argv[1]), Path(sys.argv[2])
    confidence = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
    files = sorted(crops.glob("crop_*.png"))
    result = np.full((len(files), 33, 4), np.nan)
    # static_image_mode: detection then landmarks on every image, as for photographs; model_complexity=1: Full
    with mp_pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False,
                      min_detection_confidence=confidence) as pose:
        for i, f in enumerate(files):
            image = np.asarray(Image.open(f).convert("RGB"))
            h, w = image.shape[:2]
            found = pose.process(image).pose_landmarks
            if found is not None:
                result[i] = [[p.x * w - 0.5, p.y * h - 0.5, p.visibility, p.presence] for p in found.landmark]
            if i % 100 == 0:
                print(f"{i}/{len(files)}", flush=True)
    np.save(out, result)


if __name__ == "__main__":
    main()
