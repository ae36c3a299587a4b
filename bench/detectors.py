"""Person detectors on photographs: recall and precision on lspet:val and the COCO fixtures, and what a posekit
model loses with detected boxes instead of the boxes around the labelled joints.

Usage: python bench/detectors.py [--lspet ../shared/data/lspet] [--coco ../shared/data/fixtures/mmpose/coco]
                                 [--detectors blazepose,hog,haar] [--min-score S] [--limit N] [--calibrate]
                                 [--run RUN_DIR_OR_PT] [--out bench/results/detectors.json]

Ground truth: the box around each person's labelled joints (v > 0 and inside the image), as `prepare lspet` crops;
LSPET labels one person per image (other people in the photograph are unlabelled, so precision there is a lower
bound), the COCO fixtures every person with at least two labelled keypoints (a detection overlapping, IoU ≥ 0.5,
the annotated box of a person without keypoints counts neither way). A labelled person is found when a detection
overlaps it with IoU ≥ 0.5, each detection matched once, best score first. Splits: `prepare lspet --dev-every 9`'s
rule (test = every 10th image number, val = every 9th of the rest); val is for choosing, test is left untouched.

`--calibrate` fits the window → person-box factors of hog and haar on the first 300 lspet:train images and prints them
(they are constants in posekit/detect/*.py). `--run` scores a posekit checkpoint on lspet:val at PCK@0.05 and @0.1
(12 limb joints, visible joints, normalised by the longer side of the joints' box, as `posekit eval`) twice: with
the ground-truth boxes and with each detector's boxes (the detection overlapping the labelled person most; none:
all its joints count as wrong). Prints tables and writes --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from posekit.data.box_ops import box_iou, joints_box
from posekit.data.boxes import Detection
from posekit.data.image_files import load_image
from posekit.data.meta import MPII16
from posekit.datasets.converters.lsp import LspetConverter, load_lsp_joints, lsp_to_mpii16
from posekit.datasets.converters.records import in_image
from posekit.detect import PersonDetector, load_detector
from posekit.detect.hog import rect_boxes
from posekit.evaluation.pck import pck_per_joint, summarise
from posekit.workspace import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


HAAR_TO_PERSON = (0.078, -0.162, 1.558, 0.991)  # window → person box (centre shift, side factors): --calibrate


class HaarDetector(PersonDetector):
    """OpenCV's Haar full-body cascade (Kruppa et al. 2003; in opencv-python-headless): a candidate of this bench
    only. Its score is the number of neighbouring windows that agreed."""

    name = "haar"
    default_min_score = 3
    factors = HAAR_TO_PERSON

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        import cv2

        self.cv2 = cv2
        self.cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_fullbody.xml"))

    def raw(self, image):
        cv2 = self.cv2
        h, w = image.shape[:2]
        scale = max(1.0, 400 / min(h, w))
        grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (round(w * scale), round(h * scale)))
        rects, _, weights = self.cascade.detectMultiScale3(grey, scaleFactor=1.05, minNeighbors=1,
                                                           outputRejectLevels=True)
        if len(rects) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        return rect_boxes(np.asarray(rects, np.float64) / scale, self.factors), np.asarray(weights).reshape(-1)


def make_detector(name: str, min_score: float | None = None) -> PersonDetector:
    return HaarDetector(min_score=min_score) if name == "haar" else load_detector(name, min_score=min_score)


# -- data ----------------------------------------------------------------------------------------------------------
def lspet_split(lspet: Path, split: str, limit: int | None) -> list[tuple[Path, np.ndarray]]:
    """(image file, joints ``[1,14,3]`` with v = 0 outside the image) of an lspet split; people with fewer than two
    labelled joints are left out, as `prepare` leaves them out."""
    joints = load_lsp_joints(lspet / "joints.mat")
    n = min(len(joints), len(list((lspet / "images").glob("im*.jpg"))))
    numbers = LspetConverter.split(None, list(range(1, n + 1)), {"test_every": 10, "dev_every": 9})[split]
    out = []
    for i in numbers:
        path = lspet / "images" / f"im{i:05d}.jpg"
        image = load_image(path)
        kp = in_image(np.nan_to_num(joints[i - 1]), image.shape[1], image.shape[0])
        if (kp[:, 2] > 0).sum() >= 2:
            out.append((path, kp[None]))
        if limit and len(out) >= limit:
            break
    return out


def coco_people(coco: Path) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    """(image file, joint boxes ``[P,4]`` of people with ≥ 2 labelled keypoints, annotated boxes ``[Q,4]`` of the
    others) of the COCO fixtures."""
    data = json.loads((coco / "test_coco.json").read_text())
    out = []
    for image in data["images"]:
        labelled, other = [], []
        for a in data["annotations"]:
            if a["image_id"] != image["id"] or a.get("iscrowd"):
                continue
            kp = np.array(a["keypoints"], np.float64).reshape(-1, 3)
            x, y, w, h = a["bbox"]
            (labelled if (kp[:, 2] > 0).sum() >= 2 else other).append(
                joints_box(kp) if (kp[:, 2] > 0).sum() >= 2 else [x, y, x + w, y + h])
        out.append((coco / image["file_name"], np.array(labelled).reshape(-1, 4), np.array(other).reshape(-1, 4)))
    return out


# -- matching ------------------------------------------------------------------------------------------------------
def match(dets: list[Detection], gt: np.ndarray, ignore: np.ndarray) -> tuple[int, int, int]:
    """(people found, detections matched, detections counted) for one image: greedy by score at IoU ≥ 0.5."""
    boxes = np.array([d.box for d in dets]).reshape(-1, 4)
    iou = box_iou(boxes, gt)
    taken = np.zeros(len(gt), bool)
    tp = counted = 0
    for i in range(len(boxes)):
        j = int(np.argmax(np.where(taken, -1, iou[i]))) if len(gt) else -1
        if j >= 0 and not taken[j] and iou[i, j] >= 0.5:
            taken[j] = True
            tp += 1
            counted += 1
        elif not (len(ignore) and box_iou(boxes[i:i + 1], ignore).max() >= 0.5):
            counted += 1
    return int(taken.sum()), tp, counted


def detection_row(detector: PersonDetector, images: list[tuple[Path, np.ndarray, np.ndarray]]) -> dict:
    found = people = tp = counted = 0
    seconds = 0.0
    for path, gt, ignore in images:
        image = load_image(path)
        t = time.perf_counter()
        dets = detector(image)
        seconds += time.perf_counter() - t
        f, m, c = match(dets, gt, ignore)
        found, people, tp, counted = found + f, people + len(gt), tp + m, counted + c
    return {"images": len(images), "people": people, "found": found, "detections": counted,
            "recall": found / max(people, 1), "precision": tp / max(counted, 1),
            "ms_per_image": 1000 * seconds / max(len(images), 1)}


# -- calibration ---------------------------------------------------------------------------------------------------
def calibrate(names: list[str], items: list[tuple[Path, np.ndarray]]) -> dict:
    """Median raw-box → person-box factors per detector over the detections that best overlap each labelled
    person (IoU > 0.1)."""
    fitted = {}
    for name in names:
        if name == "blazepose":  # its boxes come from its landmarks: nothing to fit
            continue
        det = make_detector(name)
        rows = []
        for path, kp in items:
            image = load_image(path)
            gt = joints_box(kp[0])
            det.factors = (0.0, 0.0, 1.0, 1.0)  # the raw windows
            boxes, _ = det.raw(image)
            if not len(boxes):
                continue
            b = boxes[int(np.argmax(box_iou(boxes, gt[None])[:, 0]))]
            if box_iou(b[None], gt[None])[0, 0] < 0.1:
                continue
            w, h = b[2:] - b[:2]
            rows.append([((gt[0] + gt[2]) - (b[0] + b[2])) / 2 / w, ((gt[1] + gt[3]) - (b[1] + b[3])) / 2 / h,
                         (gt[2] - gt[0]) / w, (gt[3] - gt[1]) / h])
        rows = np.array(rows)
        fitted[name] = {"n": len(rows), "median": np.median(rows, 0).round(3).tolist() if len(rows) else None}
        print(f"{name}: {fitted[name]}", flush=True)
    return fitted


# -- PCK with detected boxes -------------------------------------------------------------------------------------
def pck_with_boxes(run: str, items: list[tuple[Path, np.ndarray]], detectors: dict[str, PersonDetector]) -> dict:
    import posekit

    predictor = posekit.load(run, device="cpu")
    gt = lsp_to_mpii16(np.concatenate([kp for _, kp in items]))
    gt_boxes = np.stack([joints_box(kp[0]) for _, kp in items])
    norm = np.maximum(gt_boxes[:, 2] - gt_boxes[:, 0], gt_boxes[:, 3] - gt_boxes[:, 1])
    sources = {"ground truth": None, **detectors}
    out = {"checkpoint": str(predictor.checkpoint), "images": len(items)}
    for label, det in sources.items():
        preds, missed, seconds = [], 0, 0.0
        for (path, _), box in zip(items, gt_boxes):
            image = load_image(path)
            t = time.perf_counter()
            if det is None:
                chosen = Detection(tuple(box))
            else:
                dets = det(image)
                iou = box_iou(np.array([d.box for d in dets]).reshape(-1, 4), box[None])[:, 0]
                chosen = dets[int(np.argmax(iou))] if len(dets) and iou.max() > 0 else None
            if chosen is None:
                missed += 1
                preds.append(np.full((16, 2), 1e9))
            else:
                preds.append(predictor.predict(image, boxes=[chosen]).people[0].keypoints)
            seconds += time.perf_counter() - t
        row = {"missed": missed, "ms_per_image": 1000 * seconds / len(items)}
        for thr in (0.05, 0.1):
            acc, _ = pck_per_joint(np.stack(preds), gt, norm, thr)
            row[f"pck@{thr}"] = 100 * summarise(acc, MPII16)["All"]
        out[label] = row
        print(f"{label:>14}: PCK@0.05 {row['pck@0.05']:.1f}  PCK@0.1 {row['pck@0.1']:.1f}  missed {missed}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lspet", type=Path, default=SHARED / "lspet")
    ap.add_argument("--coco", type=Path, default=SHARED / "fixtures" / "mmpose" / "coco")
    ap.add_argument("--detectors", default="blazepose,hog,haar")
    ap.add_argument("--limit", type=int, default=None, help="at most this many lspet:val images")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--run", default=None, help="a posekit run or .pt: PCK with ground-truth and detected boxes")
    ap.add_argument("--pck-detectors", default="blazepose")
    ap.add_argument("--min-score", type=float, default=None, help="every detector's threshold (default: its own)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "detectors.json")
    args = ap.parse_args()
    if not args.lspet.is_dir():
        sys.exit(f"no LSPET at {args.lspet} (pass --lspet)")
    names = args.detectors.split(",")
    result: dict = {"date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "threads": os.environ.get(
        "OMP_NUM_THREADS")}
    if args.calibrate:
        result["calibration"] = calibrate(names, lspet_split(args.lspet, "train", 300))
    val = lspet_split(args.lspet, "val", args.limit)
    result["lspet:val"] = {}
    result["coco fixtures"] = {}
    for name in names:
        det = make_detector(name, args.min_score)
        result["lspet:val"][name] = detection_row(det, [(p, joints_box(kp[0])[None], np.zeros((0, 4))) for p, kp in val])
        if args.coco.is_dir():
            result["coco fixtures"][name] = detection_row(det, coco_people(args.coco))
    print(f"{'detector':<10} {'lspet:val recall':>17} {'precision':>10} {'ms/img':>7}   {'COCO recall':>11} "
          f"{'precision':>10}")
    for name in names:
        a, c = result["lspet:val"][name], result["coco fixtures"].get(name, {})
        print(f"{name:<10} {100 * a['recall']:>10.1f} ({a['found']}/{a['people']}) {100 * a['precision']:>10.1f} "
              f"{a['ms_per_image']:>7.1f}   " + (f"{100 * c['recall']:>6.1f} ({c['found']}/{c['people']}) "
                                                f"{100 * c['precision']:>10.1f}" if c else ""))
    if args.run:
        result["pck"] = pck_with_boxes(args.run, val, {n: make_detector(n, args.min_score) for n in args.pck_detectors.split(",")})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
