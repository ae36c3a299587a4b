"""Pose on whole photographs, no person box given: the third protocol of the sim-to-real tables.

Each image of a prepared real split (e.g. lspet:test) is read from the raw folder it was converted from (its
``source_id``), padded to a square as a whole and given to the network as one crop (``Predictor.predict`` without
boxes, as ``posekit predict photos/`` without a detector); the error of each labelled visible joint is divided by the
image's longer side — the LSP convention for full images — and PCK is reported at several thresholds per joint group.
A model that needs the person's box to find the person scores low here; the same labels and joints as ``posekit
eval`` otherwise.

Usage: python bench/whole_photos.py --workspace WS --raw RAW_FOLDER --model adapt/RUN [--model pretrain/RUN ...]
                                    [--data lspet:test] [--thresholds 0.05 0.1 0.2] [--flip] [--out NAME]
Prints a table and writes bench/results/OUT.{json,md}. Never pass a test split to choose anything.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from posekit.data.h5format import read_arrays
from posekit.evaluation.evaluate import Predictions, score_split
from posekit.predictor import load
from posekit.workspace import Workspace


def source_names(path: Path) -> list[str]:
    """The split's raw file names (paths under the raw folder), in sample order."""
    return [s.decode() if isinstance(s, bytes) else str(s) for s in read_arrays(path, ("source_id",))["source_id"]]


def predict_whole(predictor, raw: Path, names: list[str], flip: bool, batch: int = 16) -> Predictions:
    """Keypoints ``[N,K,2]`` in original pixels and their scores, one whole-image crop per photograph."""
    people = []
    for start in range(0, len(names), batch):
        results = predictor.predict([str(raw / n) for n in names[start:start + batch]], flip=flip)
        people.extend(r.people[0] for r in results)
    return Predictions(np.stack([p.keypoints for p in people]).astype(np.float64),
                       np.stack([p.scores for p in people]), meta=predictor.meta)


def score(pred: Predictions, path: Path, thresholds: list[float]) -> dict:
    """Group PCK (percent) per threshold, errors normalised by the image's longer side, visible joints."""
    return {f"{thr:g}": {k: round(100 * v, 2) for k, v in score_split(pred, path, thr, "image", 2)["groups"].items()}
            for thr in thresholds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--raw", required=True, help="the raw folder the split was prepared from")
    parser.add_argument("--model", action="append", required=True, help="STAGE/RUN (repeatable)")
    parser.add_argument("--data", default="lspet:test")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--flip", action="store_true")
    parser.add_argument("--out", default="whole-photos")
    args = parser.parse_args()
    ws = Workspace(Path(args.workspace))
    dataset, split = args.data.split(":")
    path = ws.split_path(dataset, split)
    names = source_names(path)
    rows = []
    for ref in args.model:
        predictor = load(ref, workspace=args.workspace)
        start = time.perf_counter()
        pred = predict_whole(predictor, Path(args.raw), names, args.flip)
        rows.append({"model": ref, "weights": predictor.weights_note, "precision": predictor.precision.describe(),
                     "seconds": round(time.perf_counter() - start, 1),
                     "pck": score(pred, path, args.thresholds)})
    report = {"data": args.data, "images": len(names), "flip": args.flip, "protocol":
              "whole image padded to a square, no box; error / the image's longer side; visible joints",
              "cpu": platform.processor() or platform.machine(), "rows": rows}
    lines = [f"whole photographs of {args.data} ({len(names)} images, flip {args.flip}); PCK All per threshold",
             "", "| model | " + " | ".join(f"@{t:g}" for t in args.thresholds) + " |",
             "|---|" + "---|" * len(args.thresholds)]
    for row in rows:
        lines.append(f"| {row['model']} | " + " | ".join(f"{row['pck'][f'{t:g}']['All']:.1f}"
                                                       for t in args.thresholds) + " |")
    print("\n".join(lines))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.out}.json").write_text(json.dumps(report, indent=2))
    (out / f"{args.out}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
