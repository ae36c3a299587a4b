"""The multi-level alignment ablation (paper Table 6 rows plus baselines), mean ± std over seeds, one script.

Usage: python bench/ablation.py --workspace demo-ws [--seeds 0 1 2] [--steps 300] [--rows all] [--reuse]
                                [--init pretrain/latest] [--set KEY=VALUE ...] [--data synth_tgt:test]
Needs a workspace where `prepare synthetic`, `pretrain --config demo` and `stylize` have run (the demo does
this). Each row × seed is one `posekit adapt -c adapt_demo --init INIT` run with the row's switches, `train.seed`
and the `--set` options common to every row (e.g. `style.cache=NAME`), scored by `posekit eval` on `--data`
(default synth_tgt:test; teacher weights, last step; never selected on target labels).
`--reuse` takes a finished run of the workspace whose resolved configuration (init checkpoint included) equals the
one a row × seed would run, instead of training it again (runs are deterministic per seed on CPU).
Prints a table and writes bench/results/ablation.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import yaml
from common import posekit

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


def run_dir(ws: str, run: str) -> Path:
    """``STAGE/latest``, ``STAGE/ID`` or a directory → the run's directory."""
    if Path(run).is_dir():
        return Path(run).resolve()
    stage, _, name = run.partition("/")
    root = Path(ws).resolve() / "runs" / stage
    return root / ((root / "latest").read_text().strip() if name == "latest" else name)


def evaluate(ws: str, run: Path, data: str) -> dict:
    """The run's groups on ``data`` (DATASET:SPLIT), evaluating it first when it has no result there yet."""
    path = run / "eval" / f"{data.replace(':', '-')}.json"
    if not path.exists():
        posekit(ws, "eval", str(run), "--data", data)
    return json.loads(path.read_text())["groups"]


def finished_run(ws: str, sets: list[str]) -> Path | None:
    """A finished adapt run of ``ws`` whose resolved configuration equals ``-c adapt_demo`` with ``sets``."""
    from posekit.config.load import resolve_config
    from posekit.config.schema import AdaptConfig
    from posekit.stages.adapt import resolve_init
    from posekit.workspace import Workspace

    wanted = resolve_init(Workspace(Path(ws)), resolve_config(AdaptConfig, "adapt_demo", sets))[0]
    for run in sorted((Path(ws) / "runs" / "adapt").glob("*")):
        done = (run / "ckpt" / "final.pt").exists() and (run / "config.yaml").exists()
        if done and AdaptConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text())) == wanted:
            return run
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default="demo-ws")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rows", nargs="+", default=list(ROWS))
    ap.add_argument("--reuse", action="store_true", help="take identical finished runs instead of training again")
    ap.add_argument("--init", default="pretrain/latest", help="the pretrain run every row starts from")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting of every row (repeatable), e.g. style.cache=fda05")
    ap.add_argument("--data", default="synth_tgt:test", help="DATASET:SPLIT the rows are scored on")
    args = ap.parse_args()
    ws = args.workspace
    init = run_dir(ws, args.init)
    results: dict[str, list[dict]] = {"source-only (pretrain)": [evaluate(ws, init, args.data)]}
    runs: dict[str, list[str]] = {}
    for row in args.rows:
        results[row], runs[row] = [], []
        for seed in args.seeds:
            sets = [f"init={init}", *args.sets, *(OFF[key] for key in ROWS[row]), f"train.seed={seed}",
                    f"train.steps={args.steps}"]
            tag = row.replace(" ", "").replace("+", "_").replace("(", "").replace(")", "")
            reused = finished_run(ws, sets) if args.reuse else None
            if reused is None:
                posekit(ws, "adapt", "-c", "adapt_demo", *[x for s in sets for x in ("--set", s)], "--name", f"{tag}-s{seed}")
            results[row].append(evaluate(ws, reused or run_dir(ws, "adapt/latest"), args.data))
            runs[row].append(str(reused.name) if reused else "new")
            print(f"{row:26s} seed {seed}: All {100 * results[row][-1]['All']:.1f}"
                  f"{f'  (reused {reused.name})' if reused else ''}", flush=True)
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
    (out / "ablation.json").write_text(json.dumps({"args": vars(args), "results": results, "runs": runs}, indent=2))
    (out / "ablation.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
