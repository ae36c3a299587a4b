"""Sim-to-real on real images: built-in synthetic humans (source) → LSPET (target), PCK@0.05 per group.

Usage: python bench/sim2real_lspet.py --workspace demo-ws [--lspet ../shared/data/lspet] [--pretrain pretrain/latest]
                                     [--source synth_src] [--steps 300] [--seed 0] [--regda]
Needs a workspace where the demo's `prepare synthetic` and a `pretrain` run exist. Then, timing each:
  1. `prepare lspet --raw LSPET --size 128 --dev-every 9` (test = every 10th image, val = every 9th of the others,
     for development only, train = the rest; docs/datasets.md);
  2. `eval PRETRAIN --data lspet:test` (source-only);
  3. `stylize --target lspet --method colour --force` (target styles from lspet:train, labels unused; rebuilt so
     that it matches the lspet splits of step 1);
  4. `adapt -c adapt_demo --init PRETRAIN --target lspet` (target images of lspet:train only, no labels; last step);
  5. `eval` of the adapted teacher on lspet:test;
  6. with `--regda`, also `adapt -c regda_demo` (tllib's RegDA, same init, target and steps) and its `eval`.
LSPET's 14 joints are scored in the MPII-16 order (pelvis and thorax unlabelled); "All" averages the 12 limb joints.
Every row is scored at PCK@0.05 (per group) and PCK@0.1 (All), next to the floor of a trivial predictor: the mean
pose of the synthetic training set, placed in every LSPET crop (docs/results.md; ../shared/docs/benchmarks.md).
Prints a table and writes bench/results/sim2real_lspet.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import posekit

from posekit.evaluation.baselines import mean_pose_predictions
from posekit.evaluation.evaluate import score_split

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ["Sld", "Elb", "Wrist", "Hip", "Knee", "Ankle", "All"]


def latest(ws: str, stage: str) -> Path:
    root = Path(ws) / "runs" / stage
    return root / (root / "latest").read_text().strip()


def adapt_and_score(ws: str, preset: str, args: argparse.Namespace, name: str) -> tuple[Path, dict, dict, float]:
    """One adaptation run to lspet from the pretrain run, scored on lspet:test: (run, groups @0.05, @0.1, seconds)."""
    seconds = posekit(ws, "adapt", "-c", preset, "--init", args.pretrain, "--source", args.source, "--target", "lspet",
                      "--steps", str(args.steps), "--set", f"train.seed={args.seed}", "--name", name)
    run = max((Path(ws) / "runs" / "adapt").glob(f"*-{name}"))
    posekit(ws, "eval", str(run), "--data", "lspet:test")
    posekit(ws, "eval", str(run), "--data", "lspet:test", "--metric", "pck@0.1")
    return (run, json.loads((run / "eval" / "lspet-test.json").read_text()),
            json.loads((run / "eval" / "lspet-test-pck0.1.json").read_text()), seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default="demo-ws")
    ap.add_argument("--lspet", default=str(ROOT.parent / "shared" / "data" / "lspet"))
    ap.add_argument("--pretrain", default="pretrain/latest", help="the source-only run (also the adaptation's init)")
    ap.add_argument("--source", default="synth_src", help="the synthetic dataset the pretrain run was trained on")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--regda", action="store_true", help="also adapt with tllib's RegDA (regda_demo) and score it")
    args = ap.parse_args()
    ws = args.workspace
    times = {"prepare": posekit(ws, "prepare", "lspet", "--raw", args.lspet, "--size", "128", "--dev-every", "9")}
    times["eval source-only"] = posekit(ws, "eval", args.pretrain, "--data", "lspet:test")
    posekit(ws, "eval", args.pretrain, "--data", "lspet:test", "--metric", "pck@0.1")
    pretrain_dir = Path(args.pretrain) if Path(args.pretrain).is_dir() else (
        latest(ws, "pretrain") if args.pretrain == "pretrain/latest" else Path(ws) / "runs" / args.pretrain)
    source_only = json.loads((pretrain_dir / "eval" / "lspet-test.json").read_text())
    source_only_01 = json.loads((pretrain_dir / "eval" / "lspet-test-pck0.1.json").read_text())
    test = Path(ws) / "data" / "lspet" / "test.h5"
    floor = mean_pose_predictions(Path(ws) / "data" / args.source / "train.h5", test)
    times["stylize"] = posekit(ws, "stylize", "--source", args.source, "--target", "lspet", "--method", "colour",
                               "--force")
    adapt_run, adapted, adapted_01, times["adapt"] = adapt_and_score(ws, "adapt_demo", args, f"lspet-s{args.seed}")
    rows = {f"mean pose of {args.source}:train (floor)": score_split(floor, test, 0.05, "bbox", 2)["groups"],
            "source-only (pretrain)": source_only["groups"], "full multi-level (teacher, last step)": adapted["groups"]}
    at_01 = {name: g for name, g in zip(rows, (score_split(floor, test, 0.1, "bbox", 2)["groups"],
                                                 source_only_01["groups"], adapted_01["groups"]))}
    runs = {"adapt_run": adapt_run.name}
    if args.regda:
        regda_run, regda, regda_01, times["adapt regda"] = adapt_and_score(ws, "regda_demo", args,
                                                                          f"lspet-regda-s{args.seed}")
        rows["RegDA (tllib; last step)"], at_01["RegDA (tllib; last step)"] = regda["groups"], regda_01["groups"]
        runs["regda_run"] = regda_run.name
    lines = ["| model | " + " | ".join(GROUPS) + " | All @0.1 |", "|---|" + "---|" * (len(GROUPS) + 1)]
    lines += [f"| {name} | " + " | ".join(f"{100 * g[k]:.1f}" for k in GROUPS) + f" | {100 * at_01[name]['All']:.1f} |"
              for name, g in rows.items()]
    print("\n".join(lines))
    print("wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "sim2real_lspet.json").write_text(json.dumps(
        {"args": vars(args), "groups": rows, "groups_pck@0.1": at_01, "seconds": times, "pretrain_run": pretrain_dir.name,
         **runs,
         "protocol": {k: source_only.get(k) for k in ("metric", "protocol", "normalisation", "coordinate_space", "counted_joints")}},
        indent=2))


if __name__ == "__main__":
    main()
