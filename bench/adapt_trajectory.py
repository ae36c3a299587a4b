"""How an adaptation run's teacher — the network whose predictions are the pseudo-labels — moves over training, on a
labelled development split: PCK at two thresholds per joint group after each kept snapshot, and whether the
teacher's confidence (the peak the consistency mask ranks joints by) separates its good joints from its bad ones.

Usage: python bench/adapt_trajectory.py --workspace WS --run adapt/RUN [--run adapt/RUN2 ...]
                                        [--data lspet:val] [--thresholds 0.05 0.1] [--out NAME]
Needs runs trained with `--set train.snapshot_every=N` (ckpt/step-NNNNNN.pt); step 0 is the run's init checkpoint
(its lineage). Scored as `posekit eval` scores (original pixels, person-box normalisation, visible joints, no flip,
teacher weights, the network at `--amp auto`). "confident" is the half of a split's joints whose teacher peak is at or
above the median peak over all of them — the consistency mask's default rule (`consistency.quantile` 0.5) applied to
the whole split instead of a batch. Never pass a test split here to choose anything: this is a development tool.
Prints a table per run and writes bench/results/OUT.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from posekit.data.h5format import read_arrays
from posekit.evaluation.pck import reference_lengths, summarise
from posekit.predictor import load_predictor
from posekit.workspace import Workspace


def normalised_errors(pred: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Distances ``[N,K]`` between predicted and labelled joints in person-box lengths, and the visible-joint mask."""
    arrays = read_arrays(path, ("keypoints_orig", "bbox", "orig_size"))
    gt = arrays["keypoints_orig"]
    norm = reference_lengths("bbox", arrays["bbox"], arrays["orig_size"])
    valid = (gt[..., 2] >= 2) & (norm[:, None] > 0)
    return np.linalg.norm(pred - gt[..., :2], axis=-1) / np.maximum(norm[:, None], 1e-9), valid


def pck(errors: np.ndarray, valid: np.ndarray, thr: float, meta) -> dict[str, float]:
    """Group PCK (percent) from errors and a mask."""
    counts = valid.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(counts > 0, ((errors < thr) & valid).sum(0) / np.maximum(counts, 1), np.nan)
    return {k: 100 * v for k, v in summarise(acc, meta).items()}


def score(ckpt: Path, path: Path, thresholds: list[float], device: torch.device) -> dict:
    """One checkpoint's teacher on a split: PCK per group at each threshold, the confident / other halves' PCK, and
    the median error (box lengths) of the labelled joints."""
    predictor = load_predictor(ckpt, "auto", device)
    pred = predictor.predict_split(path, 32)
    errors, valid = normalised_errors(pred.keypoints, path)
    joints = list(pred.meta.all_joints or range(errors.shape[1]))
    cut = np.median(pred.scores[:, joints][valid[:, joints]])
    confident = pred.scores >= cut
    out = {"checkpoint": str(ckpt), "weights": predictor.weights, "median_error": float(np.median(errors[:, joints][valid[:, joints]])),
           "confidence_cut": float(cut)}
    for thr in thresholds:
        out[f"pck@{thr:g}"] = pck(errors, valid, thr, pred.meta)
        out[f"pck@{thr:g} confident"] = pck(errors, valid & confident, thr, pred.meta)["All"]
        out[f"pck@{thr:g} other"] = pck(errors, valid & ~confident, thr, pred.meta)["All"]
    return out


def snapshots(run: Path) -> list[tuple[int, Path]]:
    """``[(step, checkpoint)]``: the init (step 0, from the run's lineage) and every kept snapshot, in order."""
    found = [(int(p.stem.split("-")[1]), p) for p in sorted((run / "ckpt").glob("step-*.pt"))]
    if not found:
        raise SystemExit(f"{run}: no ckpt/step-*.pt — train it with --set train.snapshot_every=N")
    lineage = json.loads((run / "lineage.json").read_text()) if (run / "lineage.json").is_file() else {}
    init = (lineage.get("init") or {}).get("checkpoint")
    return ([(0, Path(init))] if init and Path(init).is_file() else []) + found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--run", action="append", required=True, help="adapt/RUN (repeatable)")
    ap.add_argument("--data", default="lspet:val", help="a labelled development split (default lspet:val)")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.05, 0.1])
    ap.add_argument("--out", default="adapt-trajectory")
    args = ap.parse_args()
    ws = Workspace(Path(args.workspace))
    _, _, path = ws.require_split(args.data)
    device = torch.device("cpu")
    report: dict = {"args": vars(args), "runs": {}}
    lines = [f"# Teacher over training on {args.data} (PCK %, person-box normalisation, visible joints)", ""]
    for ref in args.run:
        run = ws.resolve_run(ref)
        rows = {step: score(ckpt, path, args.thresholds, device) for step, ckpt in snapshots(run)}
        report["runs"][ref] = rows
        groups = list(next(iter(rows.values()))[f"pck@{args.thresholds[0]:g}"])
        head = ["step"] + [f"@{t:g} {g}" for t in args.thresholds for g in ("All", "confident", "other")] + \
               [f"@{args.thresholds[0]:g} {g}" for g in groups if g != "All"] + ["median error"]
        lines += [f"## {ref}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for step, r in rows.items():
            cells = [str(step)]
            for t in args.thresholds:
                cells += [f"{r[f'pck@{t:g}']['All']:.1f}", f"{r[f'pck@{t:g} confident']:.1f}", f"{r[f'pck@{t:g} other']:.1f}"]
            cells += [f"{r[f'pck@{args.thresholds[0]:g}'][g]:.1f}" for g in groups if g != "All"]
            cells.append(f"{r['median_error']:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.out}.json").write_text(json.dumps(report, indent=1))
    (out / f"{args.out}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
