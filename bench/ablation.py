"""The multi-level alignment ablation (paper Table 6 rows plus baselines, and tllib's RegDA), mean ± std over seeds,
one script.

Usage: python bench/ablation.py --workspace demo-ws [--seeds 0 1 2] [--steps 300] [--rows all] [--reuse]
                                [--init pretrain/latest] [--set KEY=VALUE ...] [--data synth_tgt:test ...]
                                [--jobs 1] [--amp auto|bf16|off] [--out ablation]
Needs a workspace where `prepare synthetic`, `pretrain --config demo` and `stylize` have run (the demo does
this). Each row × seed is one `posekit adapt -c PRESET --init INIT` run (adapt_demo with the row's switches; the
RegDA row: regda_demo, `adapt --method regda`, whose source and target augmentation and targets are adapt_demo's, so
the rows differ by the method only; where the `--set` options make them differ, the RegDA row is labelled "own
augmentation" in the table) with `train.seed` and the `--set` options common to every row (e.g.
`style.cache=NAME`; a row whose configuration has no such section leaves the option out and says so, so
`--set regda.gradient_max_iters=67` reaches only the RegDA row), scored by `posekit eval` on `--data`
(default synth_tgt:test; several `--data` score every run on each; teacher weights, last step; never selected on
target labels). `--amp` sets train.amp for every row and `eval --amp` for every run. `--jobs N` trains N runs
at a time (a GPU has room for several of these small runs; on a CPU each run then gets cpu_count/N threads).
`--reuse` takes a finished run of the workspace whose resolved configuration (init checkpoint included) equals the
one a row × seed would run, instead of training it again (runs are deterministic per seed on CPU).
regda_demo compresses tllib's iteration-counted schedule for 300 steps (docs/regda.md); with another `--steps N`,
also pass `--set optim.lr_gamma=1.5/N --set regda.gradient_max_iters=N/15` to keep its shape.
Prints a table per `--data` and writes bench/results/OUT.{json,md} (OUT = `--out`, default ablation).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from common import posekit

OFF = {"style": "style.enabled=false", "cons": "consistency.enabled=false", "occ": "occlusion.enabled=false",
       "adv": "adversarial.enabled=false", "im": "infomax.enabled=false"}
ROWS = {  # row → (preset, switched-off levels)
    "source-only (continued)": ("adapt_demo", ["style", "cons", "occ", "adv", "im"]),
    "MT": ("adapt_demo", ["style", "adv", "im"]),
    "MT + image": ("adapt_demo", ["adv", "im"]),
    "MT + image + feature": ("adapt_demo", ["im"]),
    "MT + image + pose": ("adapt_demo", ["adv"]),
    "full": ("adapt_demo", []),
    "RegDA (tllib)": ("regda_demo", []),
}
GROUPS = ["Sld", "Elb", "Wrist", "Hip", "Knee", "Ankle", "All"]


def run_dir(ws: str, run: str) -> Path:
    """``STAGE/latest``, ``STAGE/ID`` or a directory → the run's directory."""
    if Path(run).is_dir():
        return Path(run).resolve()
    stage, _, name = run.partition("/")
    root = Path(ws).resolve() / "runs" / stage
    return root / ((root / "latest").read_text().strip() if name == "latest" else name)


def evaluate(ws: str, run: Path, datas: list[str], amp: str = "auto") -> dict[str, dict]:
    """The run's groups on each DATASET:SPLIT of ``datas`` (network at ``--amp amp``), evaluating (one `posekit
    eval`) where it has none yet."""
    suffix = "" if amp == "auto" else f"-amp-{amp}"
    paths = {data: run / "eval" / f"{data.replace(':', '-')}{suffix}.json" for data in datas}
    missing = [data for data, path in paths.items() if not path.exists()]
    if missing:
        posekit(ws, "eval", str(run), "--amp", amp, *[x for data in missing for x in ("--data", data)])
    return {data: json.loads(path.read_text())["groups"] for data, path in paths.items()}


def config_class(preset: str):
    """The configuration schema of an adapt preset (by its ``method`` key)."""
    from posekit.config.load import read_preset
    from posekit.stages import builder_for

    return builder_for("adapt", read_preset(preset)[0].get("method")).config


def row_sets(preset: str, sets: list[str]) -> list[str]:
    """The common ``--set`` options a row of ``preset`` takes: those whose section its schema has."""
    fields = config_class(preset).model_fields
    kept = [s for s in sets if s.split("=", 1)[0].split(".", 1)[0] in fields]
    for s in sets:
        if s not in kept:
            print(f"{preset}: leaving out --set {s} (its configuration has no such section)", flush=True)
    return kept


def finished_run(ws: str, preset: str, sets: list[str]) -> Path | None:
    """A finished adapt run of ``ws`` whose resolved configuration equals ``-c PRESET`` with ``sets``."""
    from posekit.config.load import resolve_config
    from posekit.stages.adapt_common import resolve_init
    from posekit.workspace import Workspace

    schema = config_class(preset)
    wanted = resolve_init(Workspace(Path(ws)), resolve_config(schema, preset, sets))[0]
    for run in sorted((Path(ws) / "runs" / "adapt").glob("*")):
        if not ((run / "ckpt" / "final.pt").exists() and (run / "config.yaml").exists()):
            continue
        config = yaml.safe_load((run / "config.yaml").read_text())
        if config.get("method", "multilevel") != wanted.method:  # e.g. an MIM fine-tuning run in the workspace
            continue
        if schema.model_validate(config) == wanted:
            return run
    return None


def augmentation(preset: str, sets: list[str]) -> tuple:
    """What a row's views are made with: its resolved source and target augmentation and its targets."""
    from posekit.config.load import resolve_config

    cfg = resolve_config(config_class(preset), preset, sets)
    return cfg.augment, cfg.target_augment, getattr(cfg, "weak_augment", cfg.target_augment), cfg.data.targets


def row_labels(rows: list[str], common: dict[str, list[str]]) -> dict[str, str]:
    """Table labels: a row whose preset's augmentation differs from adapt_demo's (under the common ``--set``
    options) says so, so that a RegDA row never silently sits in the table with other views."""
    labels = {row: row for row in rows}
    presets = {ROWS[row][0] for row in rows}
    if "adapt_demo" not in presets:
        return labels
    reference = augmentation("adapt_demo", common["adapt_demo"])
    for row in rows:
        preset = ROWS[row][0]
        if preset != "adapt_demo" and augmentation(preset, common[preset]) != reference:
            labels[row] = f"{row} [own augmentation]"
            print(f"{row}: {preset}'s augmentation differs from adapt_demo's; labelled in the table", flush=True)
    return labels


def table(results: dict[str, list[dict]]) -> str:
    """Markdown: one line per row, mean ± sample std over its seeds of each joint group (percent)."""
    lines = ["| row | " + " | ".join(GROUPS) + " | seeds |", "|---|" + "---|" * (len(GROUPS) + 1)]
    for row, runs in results.items():
        cells = []
        for g in GROUPS:
            vals = [100 * r[g] for r in runs]
            cells.append(f"{statistics.mean(vals):.1f} ± {statistics.stdev(vals):.1f}" if len(vals) > 1 else f"{vals[0]:.1f}")
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {len(runs)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default="demo-ws")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rows", nargs="+", default=["all"], help=f"rows to run, or all: {list(ROWS)}")
    ap.add_argument("--reuse", action="store_true", help="take identical finished runs instead of training again")
    ap.add_argument("--init", default="pretrain/latest", help="the pretrain run every row starts from")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting of every row (repeatable), e.g. style.cache=fda05")
    ap.add_argument("--data", dest="datas", action="append", default=None, metavar="DATASET:SPLIT",
                    help="what the rows are scored on (repeatable; default synth_tgt:test)")
    ap.add_argument("--jobs", type=int, default=1, help="adaptation runs trained at a time")
    ap.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"],
                    help="train.amp of every row, and eval --amp of every run (the init's included)")
    ap.add_argument("--out", default="ablation", help="name of the result files under bench/results/")
    args = ap.parse_args()
    ws, datas = args.workspace, args.datas or ["synth_tgt:test"]
    if args.rows == ["all"]:
        args.rows = list(ROWS)
    unknown = [row for row in args.rows if row not in ROWS]
    if unknown:
        ap.error(f"unknown row(s) {unknown}; rows are {list(ROWS)}")
    init = run_dir(ws, args.init)
    base = evaluate(ws, init, datas, args.amp)
    results = {data: {"source-only (pretrain)": [base[data]]} for data in datas}
    todo = []  # (row, seed, preset, sets, name, reused run or None)
    common = {preset: row_sets(preset, args.sets) for preset in dict.fromkeys(ROWS[row][0] for row in args.rows)}
    labels = row_labels(args.rows, common)
    for seed in args.seeds:  # seed-major: an interrupted run still has every row for its first seeds
        for row in args.rows:
            preset, off = ROWS[row]
            sets = [f"init={init}", *common[preset], *(OFF[key] for key in off), f"train.seed={seed}",
                    f"train.steps={args.steps}", f"train.amp={args.amp}"]
            tag = row.replace(" ", "").replace("+", "_").replace("(", "").replace(")", "")
            name = f"{args.out}-{tag}-s{seed}"
            todo.append((row, seed, preset, sets, name, finished_run(ws, preset, sets) if args.reuse else None))
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if args.jobs > 1 else None

    def train_and_score(item) -> tuple[Path, dict[str, dict]]:
        row, seed, preset, sets, name, reused = item
        run, seconds = reused, 0.0
        if run is None:
            seconds = posekit(ws, "adapt", "-c", preset, *[x for s in sets for x in ("--set", s)], "--name", name,
                              env=env)
            run = max((Path(ws) / "runs" / "adapt").glob(f"*-{name}"))
        scores = evaluate(ws, run, datas, args.amp)
        print(f"{row:26s} seed {seed}: " + "  ".join(f"{data} All {100 * scores[data]['All']:.1f}" for data in datas)
              + (f"  (reused {reused.name})" if reused else f"  (adapt {seconds:.0f} s)"), flush=True)
        return run, scores

    with ThreadPoolExecutor(args.jobs) as pool:
        done = list(pool.map(train_and_score, todo))
    runs: dict[str, list[str]] = {}
    for (row, *_), (run, scores) in zip(todo, done, strict=True):
        runs.setdefault(labels[row], []).append(run.name)
        for data in datas:
            results[data].setdefault(labels[row], []).append(scores[data])
    tables = {data: table(results[data]) for data in datas}
    for data, text in tables.items():
        print(f"\n{data}\n{text}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.out}.json").write_text(json.dumps({"args": vars(args), "results": results, "runs": runs}, indent=2))
    (out / f"{args.out}.md").write_text("\n\n".join(f"{data}\n\n{text}" for data, text in tables.items()) + "\n")


if __name__ == "__main__":
    main()
