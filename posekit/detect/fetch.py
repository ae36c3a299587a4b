"""The model files of MediaPipe Pose, read out of the ``mediapipe`` wheel on PyPI without installing it
(``posekit fetch-model blazepose``).

The wheel pins numpy<2 and protobuf<5, which posekit's environment cannot take, but a wheel is a zip: pip
downloads it (``pip download --no-deps``, the registry posekit's dependencies come from), the named files are
extracted, checked against their SHA-256 and written into the cache (``$POSEKIT_CACHE``, default
``~/.cache/posekit``) through posekit's writer (a temporary name, renamed when complete). The files are Apache-2.0, as MediaPipe.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from posekit.errors import DataError, PosekitError
from posekit.workspace import atomic_write_bytes

WHEEL = "mediapipe==0.10.21"
# the cp311 manylinux wheel: the model files are the same in every platform's wheel; naming one lets pip fetch it
# whatever Python runs posekit
PIP_TARGET = ["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--only-binary=:all:"]
FILES = {  # file name → (path inside the wheel, SHA-256)
    "pose_detection.tflite": ("mediapipe/modules/pose_detection/pose_detection.tflite",
                              "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"),
    "pose_landmark_full.tflite": ("mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                                  "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("POSEKIT_CACHE", Path.home() / ".cache" / "posekit"))


def extract(wheel: Path, folder: Path) -> list[Path]:
    """Every file of :data:`FILES` out of ``wheel`` into ``folder``, checked; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{wheel}: not a readable wheel ({exc.__class__.__name__})",
                        hint=f"download it again: pip download --no-deps {WHEEL}") from None
    with archive:
        for name, (inner, digest) in FILES.items():
            try:
                data = archive.read(inner)
            except KeyError:
                raise DataError(f"{wheel}: holds no {inner}", hint=f"use the {WHEEL} wheel") from None
            if hashlib.sha256(data).hexdigest() != digest:
                raise DataError(f"{wheel}: {inner} is not the file posekit was measured with (SHA-256 differs)",
                                hint=f"use the {WHEEL} wheel")
            atomic_write_bytes(folder / name, data)
            written.append(folder / name)
    return written


def fetch(folder: Path | None = None, wheel: Path | None = None) -> list[Path]:
    """Download the wheel with pip (unless ``wheel`` is given) and extract the model files into ``folder``."""
    folder = folder or cache_dir()
    if wheel is not None:
        return extract(wheel, folder)
    with tempfile.TemporaryDirectory(prefix="posekit-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, *PIP_TARGET, WHEEL]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("mediapipe-*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1][:160]
            raise PosekitError(f"pip could not download {WHEEL} ({last})",
                               hint=f"download it where PyPI is reachable (pip download --no-deps {WHEEL}) and "
                                    "pass it with --wheel FILE")
        return extract(wheels[0], folder)
