"""The reference row: MediaPipe's BlazePose-Full, trained on real labelled photographs (not a UDA method), scored on
LSPET under posekit's protocol — the ceiling a user compares posekit's numbers with.

Usage: python bench/blazepose_reference.py [--lspet ../shared/data/lspet] [--split test] [--limit N]
                                           [--venv bench/.venv-blazepose] [--python python3.11] [--port]
                                           [--margin 2.0] [--min-detection 0.1] [--fit] [--overlays 8]

1. Builds its own virtual environment (``--python`` -m venv, then pip install mediapipe==0.10.21, whose numpy<2 and
   protobuf<5 pins posekit's environment cannot take) unless ``--venv`` already has mediapipe.
2. Cuts each labelled person of the split about the box around its labelled joints, as posekit's evaluation does
   (``posekit.inference.network_crop``: a square of ``--margin`` × the box's longer side about its centre), here at
   256 × 256 pixels. posekit's networks see 1.25 × the box; BlazePose's detector misses a third of the people in
   so tight a crop, so the default, chosen on lspet:val (docs/results.md), is 2.0 with MediaPipe's detection
   threshold at 0.1 instead of 0.5 (the person is known to be there).
3. Runs MediaPipe Pose on every crop in that environment (bench/blazepose_runner.py: ``static_image_mode``,
   ``model_complexity=1`` = Full, its own detector then the landmark model, default thresholds), maps the 33
   landmarks back to original pixels and onto LSP's 14 joints (posekit.detect.blazepose_landmarks.lsp_joints:
   each limb joint is the landmark of the same name; neck and head top are built from shoulders, ears, eyes and
   mouth, and do not count in "All"). A crop where MediaPipe finds no pose counts every joint wrong.
4. Scores PCK@0.05 and @0.1 as ``posekit eval``: original pixels, visible joints, normalised by the longer side of
   the joints' box, "All" = the 12 limb joints (MPII-16 order). Also prints "All" with left and right swapped (a
   wrong side convention would score higher there).

``--port`` also scores posekit's own LiteRT port (posekit.detect.blazepose: detector → region → landmarks) on the
same crops, a check that the port matches MediaPipe. ``--fit`` fits the neck and head-top factors by least squares
on the first 600 lspet:train images and prints them. ``--overlays N`` writes bench/results/blazepose_overlays.png
(the first N images: LSP joints from BlazePose as discs, labels as squares). Writes bench/results/blazepose_reference.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from detectors import lspet_split  # bench/detectors.py: the split rule and the labelled people
from PIL import Image, ImageDraw

from posekit.data.box_ops import joints_box
from posekit.data.crop import apply_affine
from posekit.data.image_files import load_image
from posekit.data.meta import LSP_TO_MPII16, MPII16
from posekit.detect import blazepose_landmarks as bl
from posekit.evaluation.pck import pck_per_joint, summarise
from posekit.inference import network_crop
from posekit.workspace import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
WHEEL = "mediapipe==0.10.21"
SIZE = 256
LSP_SWAP = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13]


def ensure_venv(venv: Path, python: str) -> Path:
    exe = venv / "bin" / "python"
    if exe.exists() and subprocess.run([exe, "-c", "import mediapipe"], capture_output=True, check=False).returncode == 0:
        return exe
    print(f"building {venv} with {python} and {WHEEL} …", flush=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run([exe, "-m", "pip", "install", "--quiet", WHEEL], check=True)
    return exe


def run_mediapipe(exe: Path, crops: list[np.ndarray], confidence: float) -> tuple[np.ndarray, float]:
    """Landmarks ``[N,33,4]`` in crop pixels (NaN: no pose) and the seconds MediaPipe took."""
    with tempfile.TemporaryDirectory(prefix="blazepose-crops-") as tmp:
        for i, crop in enumerate(crops):
            Image.fromarray(crop).save(Path(tmp) / f"crop_{i:05d}.png")
        start = time.perf_counter()
        subprocess.run([exe, str(Path(__file__).with_name("blazepose_runner.py")), tmp, f"{tmp}/out.npy",
                        str(confidence)], check=True,
                       env={**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"})
        return np.load(f"{tmp}/out.npy"), time.perf_counter() - start


def run_port(crops: list[np.ndarray]) -> np.ndarray:
    """posekit's LiteRT port on the same crops: its detector's best region, then the landmark model once."""
    from posekit.detect import load_detector

    det = load_detector("blazepose")
    out = np.full((len(crops), 35, 4), np.nan)
    for i, crop in enumerate(crops):
        scores, regions = det.regions(crop)
        if len(scores):
            cx, cy, side, ux, uy = regions[0]
            landmarks, presence = det.landmarks(crop, cx, cy, side, np.array([ux, uy]))
            if presence >= 0.5:
                out[i] = landmarks
    return out


def to_original(landmarks: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Crop-pixel landmarks ``[N,P,≥2]`` → original pixels with each crop's crop→original matrix."""
    out = landmarks.copy()
    for i, a in enumerate(affines):
        out[i, :, :2] = apply_affine(a, landmarks[i, :, :2])
    return out


def score(lsp: np.ndarray, gt_lsp: np.ndarray, norm: np.ndarray) -> dict:
    """PCK of LSP-order predictions ``[N,14,2]`` (NaN: missed) against ``[N,14,3]`` labels, in MPII-16 order."""
    pred = np.nan_to_num(lsp[:, list(LSP_TO_MPII16)], nan=1e9)
    gt = gt_lsp[:, list(LSP_TO_MPII16)].copy()
    gt[:, [6, 7], 2] = 0  # pelvis and thorax have no LSP counterpart
    row = {}
    for thr in (0.05, 0.1):
        acc, _ = pck_per_joint(pred, gt, norm, thr)
        groups = summarise(acc, MPII16)
        row[f"pck@{thr}"] = {k: round(100 * v, 1) for k, v in groups.items()}
    return row


def fit_factors(landmarks: np.ndarray, gt: np.ndarray) -> dict:
    """Least-squares neck and head-top factors (blazepose_landmarks.NECK, HEAD_FACE, HEAD_NECK)."""
    p = landmarks[..., :2]
    ok = np.isfinite(p).all((1, 2))
    p, gt = p[ok], gt[ok]
    shoulders = (p[:, bl.L_SHOULDER] + p[:, bl.R_SHOULDER]) / 2
    ears = (p[:, bl.L_EAR] + p[:, bl.R_EAR]) / 2
    face = (p[:, bl.L_EYE] + p[:, bl.R_EYE]) / 2 - (p[:, bl.MOUTH_L] + p[:, bl.MOUTH_R]) / 2
    up = ears - shoulders
    neck_ok, head_ok = gt[:, 12, 2] > 0, gt[:, 13, 2] > 0
    neck = float(np.sum((gt[neck_ok, 12, :2] - shoulders[neck_ok]) * up[neck_ok]) / np.sum(up[neck_ok] ** 2))
    a = np.stack([face[head_ok], up[head_ok]], -1).reshape(-1, 2)  # x and y rows stacked
    b = (gt[head_ok, 13, :2] - ears[head_ok]).reshape(-1)
    head_face, head_neck = np.linalg.lstsq(a, b, rcond=None)[0]
    return {"NECK": round(neck, 3), "HEAD_FACE": round(float(head_face), 3), "HEAD_NECK": round(float(head_neck), 3),
            "people": int(ok.sum())}


def overlays(items, lsp: np.ndarray, path: Path, n: int) -> None:
    tiles = []
    for (p, kp), joints in list(zip(items, lsp))[:n]:
        image = Image.fromarray(load_image(p)).resize((256, 256 * 1))
        sx, sy = 256 / load_image(p).shape[1], 256 / load_image(p).shape[0]
        draw = ImageDraw.Draw(image)
        for k, (x, y, v) in enumerate(kp[0]):
            if v > 0:
                draw.rectangle([x * sx - 3, y * sy - 3, x * sx + 3, y * sy + 3], outline=(255, 255, 255))
        for k, (x, y) in enumerate(joints):
            if np.isfinite([x, y]).all():
                colour = (255, 60, 30) if k in (0, 1, 2, 6, 7, 8) else (30, 120, 255) if k < 12 else (40, 200, 70)
                draw.ellipse([x * sx - 3, y * sy - 3, x * sx + 3, y * sy + 3], fill=colour)
        tiles.append(np.asarray(image))
    rows = [np.concatenate(tiles[i:i + 4], 1) for i in range(0, len(tiles) - len(tiles) % 4, 4)]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lspet", type=Path, default=ROOT.parent / "shared" / "data" / "lspet")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--venv", type=Path, default=ROOT / "bench" / ".venv-blazepose")
    ap.add_argument("--python", default="python3.11")
    ap.add_argument("--port", action="store_true", help="also score posekit's LiteRT port on the same crops")
    ap.add_argument("--fit", action="store_true", help="fit the neck and head-top factors on lspet:train")
    ap.add_argument("--overlays", type=int, default=8)
    ap.add_argument("--margin", type=float, default=2.0, help="crop side = margin × the joints' box's longer side")
    ap.add_argument("--min-detection", type=float, default=0.1, help="MediaPipe's min_detection_confidence")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "blazepose_reference.json")
    args = ap.parse_args()
    exe = ensure_venv(args.venv, args.python)
    result: dict = {"date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "model": f"{WHEEL} Pose, "
                    f"model_complexity=1 (BlazePose-Full), static_image_mode, min_detection_confidence {args.min_detection}",
                    "crop": f"{args.margin} × the labelled joints' box, {SIZE} px"}
    if args.fit:
        train = lspet_split(args.lspet, "train", 600)
        pairs = [network_crop(load_image(p), tuple(joints_box(kp[0])), args.margin, SIZE) for p, kp in train]
        found, _ = run_mediapipe(exe, [c for c, _ in pairs], args.min_detection)
        landmarks = to_original(found, np.stack([a for _, a in pairs]))
        result["fit"] = fit_factors(landmarks, np.concatenate([kp for _, kp in train]))
        print("fitted on lspet:train:", result["fit"], flush=True)
    items = lspet_split(args.lspet, args.split, args.limit)
    pairs = [network_crop(load_image(p), tuple(joints_box(kp[0])), args.margin, SIZE) for p, kp in items]
    crops, affines = [c for c, _ in pairs], np.stack([a for _, a in pairs])
    gt = np.concatenate([kp for _, kp in items])
    boxes = np.stack([joints_box(kp) for kp in gt])
    norm = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    found, seconds = run_mediapipe(exe, crops, args.min_detection)
    lsp = bl.lsp_joints(to_original(found, affines))
    row = score(lsp, gt, norm)
    row["swapped_all"] = {t: score(lsp[:, LSP_SWAP], gt, norm)[t]["All"] for t in ("pck@0.05", "pck@0.1")}
    row["missed"] = int(np.isnan(found[:, 0, 0]).sum())
    row["ms_per_crop"] = round(1000 * seconds / len(items), 1)
    result[f"mediapipe lspet:{args.split}"] = row
    print(f"MediaPipe BlazePose-Full on lspet:{args.split} ({len(items)} people, {row['missed']} without a pose): "
          f"PCK@0.05 {row['pck@0.05']['All']}  PCK@0.1 {row['pck@0.1']['All']}  (left/right swapped: "
          f"{row['swapped_all']['pck@0.05']} / {row['swapped_all']['pck@0.1']})", flush=True)
    if args.port:
        port = bl.lsp_joints(to_original(run_port(crops), affines))
        prow = score(port, gt, norm)
        result[f"posekit port lspet:{args.split}"] = prow
        print(f"posekit's LiteRT port, same crops: PCK@0.05 {prow['pck@0.05']['All']}  PCK@0.1 {prow['pck@0.1']['All']}")
    if args.overlays:
        overlays(items, lsp, args.out.with_name("blazepose_overlays.png"), args.overlays)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
