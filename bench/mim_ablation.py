"""The MIM method (second paper) on the built-in 3D benchmark: scratch, MAE + fine-tuning, the full method and its
three ablations, mean ± std over seeds, one script.

Usage: python bench/mim_ablation.py --workspace WS [--seeds 0 1 2] [--mae-steps 800] [--ft-steps 800] [--reuse]
Needs a workspace where `posekit prepare synthetic --name s3d --size 64` has run (3D labels and masks in both
domains). Every row × seed is `posekit pretrain --method mae -c mae_demo` (where the row needs one) followed by
`posekit adapt --method mim -c mim_demo`, with the row's switches and `train.seed`; the last-step weights are scored
by `posekit eval --metric mpjpe` on the target test split (never selected on target labels).
`--reuse` takes the newest finished run with the same name (row, seed and steps are in the name) instead of training
again. Prints a table and writes bench/results/mim_ablation.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import posekit

MAE_VARIANTS = {  # the stage-1 runs the rows need
    "wmae-bgswap": [],
    "mae-bgswap": ["mae.bg_weight=1.0"],
    "wmae-noaug": ["segaug.mode=none"],
    "mae-noaug": ["mae.bg_weight=1.0", "segaug.mode=none"],
}
ROWS = {  # row → (stage-1 variant or None for random initialisation, attention regularisation on?)
    "scratch (source only)": (None, False),
    "MAE + fine-tuning": ("mae-noaug", False),
    "full": ("wmae-bgswap", True),
    "full − weighting (plain MAE)": ("mae-bgswap", True),
    "full − segmentation-guided aug.": ("wmae-noaug", True),
    "full − attention regularisation": ("wmae-bgswap", False),
}
METRICS = ("mpjpe", "pa-mpjpe", "pck3d@150", "auc")


def finished(ws: str, stage: str, name: str) -> Path | None:
    runs = sorted(p for p in (Path(ws) / "runs" / stage).glob(f"*-{name}") if (p / "ckpt" / "final.pt").exists())
    return runs[-1] if runs else None


def train(ws: str, stage: str, name: str, args: list[str], reuse: bool) -> Path:
    run = finished(ws, stage, name) if reuse else None
    if run is None:
        posekit(ws, *args, "--name", name)
        run = finished(ws, stage, name)
    return run


def evaluate(ws: str, run: Path, data: str) -> dict:
    path = run / "eval" / f"{data.replace(':', '-')}-mpjpe.json"
    if not path.exists():
        posekit(ws, "eval", str(run), "--data", data, "--metric", "mpjpe")
    return json.loads(path.read_text())["summary"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--source", default="s3d_src")
    ap.add_argument("--target", default="s3d_tgt")
    ap.add_argument("--data", default=None, help="DATASET:SPLIT to score (default: TARGET:test)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--mae-steps", type=int, default=800)
    ap.add_argument("--ft-steps", type=int, default=800)
    ap.add_argument("--rows", nargs="+", default=list(ROWS))
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args()
    ws, data = args.workspace, args.data or f"{args.target}:test"
    common = ["--set", f"data.source={args.source}", "--set", f"data.target={args.target}"]
    results: dict[str, list[dict]] = {}
    runs: dict[str, list[str]] = {}
    stage1: dict[str, Path] = {}  # rows sharing a stage-1 variant and seed share its run
    for row in args.rows:
        variant, attention = ROWS[row]
        results[row], runs[row] = [], []
        for seed in args.seeds:
            seed_set = ["--set", f"train.seed={seed}"]
            if variant is None:
                init = "scratch"
            else:
                sets = [x for s in MAE_VARIANTS[variant] for x in ("--set", s)]
                name = f"{variant}-s{seed}-{args.mae_steps}"
                if name not in stage1:
                    stage1[name] = train(ws, "pretrain", name, ["pretrain", "--method", "mae", "-c", "mae_demo",
                                                                *common, *sets, *seed_set, "--steps",
                                                                str(args.mae_steps)], args.reuse)
                init = str(stage1[name])
            tag = f"{variant or 'scratch'}-{'attn' if attention else 'noattn'}-s{seed}-{args.mae_steps}-{args.ft_steps}"
            run = train(ws, "adapt", tag, ["adapt", "--method", "mim", "-c", "mim_demo", *common, "--init", init,
                                           "--set", f"attention.enabled={str(attention).lower()}", *seed_set,
                                           "--steps", str(args.ft_steps)], args.reuse)
            results[row].append(evaluate(ws, run, data))
            runs[row].append(run.name)
            print(f"{row:34s} seed {seed}: MPJPE {results[row][-1]['mpjpe']:.1f} mm  ({run.name})", flush=True)
    head = "| row | MPJPE (mm) | PA-MPJPE (mm) | 3D PCK@150 mm (%) | AUC 0–150 mm (%) | seeds |"
    lines = [head, "|---|---|---|---|---|---|"]
    for row, rs in results.items():
        cells = []
        for m in METRICS:
            scale = 1 if m in ("mpjpe", "pa-mpjpe") else 100
            vals = [scale * r[m] for r in rs]
            sd = f" ± {statistics.stdev(vals):.1f}" if len(vals) > 1 else ""
            cells.append(f"{statistics.mean(vals):.1f}{sd}")
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {len(rs)} |")
    table = "\n".join(lines)
    print(f"\n{data}, last-step weights\n{table}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "mim_ablation.json").write_text(json.dumps({"args": vars(args), "data": data, "results": results,
                                                       "runs": runs}, indent=2))
    (out / "mim_ablation.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
