"""The multi-level alignment ablation (paper Table 6 rows plus baselines), mean ± std over seeds, one script.

Usage: python bench/ablation.py --workspace demo-ws [--seeds 0 1 2] [--steps 300] [--rows all]
Needs a workspace where `prepare synthetic`, `pretrain --config demo` and `stylize` have run (the demo does
this). Each row × seed is one `posekit adapt -c adapt_demo` run with the row's switches and `train.seed`, scored
by `posekit eval` on synth_tgt:test (teacher weights, last step; never selected on target labels).
Prints a table and writes bench/results/ablation.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

OFF = {"style": "style.enabled=false", "cons": "consistency.enabled=false", "occ": "occlusion.enabled=false",
       "adv": "adversarial.enabled=false", "im": "infomax.enabled=false"}
ROWS = {
    "source-only (continued)": ["style", "cons", "occ", "adv", "im"],
    "MT": ["style", "adv", "im"],
    "MT + image": ["adv", "im"],
    "MT + image + feature": ["im"],
    "MT + image + pose": ["adv"],
    "full": [],
}
GROUPS = ["Sld", "Elb", "Wrist", "Hip", "Knee", "Ankle", "All"]


def posekit(ws: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "posekit", "-w", ws, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"posekit {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout + proc.stderr


def evaluate(ws: str, run: str) -> dict:
    posekit(ws, "eval", run, "--data", "synth_tgt:test")
    path = Path(run) / "eval" / "synth_tgt-test.json" if Path(run).is_dir() else None
    if path is None:
        root = Path(ws) / "runs" / run.split("/")[0]
        path = root / (root / "latest").read_text().strip() / "eval" / "synth_tgt-test.json"
    return json.loads(path.read_text())["groups"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default="demo-ws")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rows", nargs="+", default=list(ROWS))
    args = ap.parse_args()
    ws = args.workspace
    results: dict[str, list[dict]] = {"source-only (pretrain)": [evaluate(ws, "pretrain/latest")]}
    for row in args.rows:
        results[row] = []
        for seed in args.seeds:
            sets = [x for key in ROWS[row] for x in ("--set", OFF[key])]
            tag = row.replace(" ", "").replace("+", "_").replace("(", "").replace(")", "")
            posekit(ws, "adapt", "-c", "adapt_demo", "--steps", str(args.steps), "--set", f"train.seed={seed}",
                    *sets, "--name", f"{tag}-s{seed}")
            results[row].append(evaluate(ws, "adapt/latest"))
            print(f"{row:26s} seed {seed}: All {100 * results[row][-1]['All']:.1f}", flush=True)
    lines = ["| row | " + " | ".join(GROUPS) + " | seeds |", "|---|" + "---|" * (len(GROUPS) + 1)]
    for row, runs in results.items():
        cells = []
        for g in GROUPS:
            vals = [100 * r[g] for r in runs]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.1f} ± {sd:.1f}" if len(vals) > 1 else f"{vals[0]:.1f}")
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {len(runs)} |")
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ablation.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    (out / "ablation.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
