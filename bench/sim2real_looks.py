"""Choose the synthetic humans' look for sim-to-real on LSPET, on the labelled development split (lspet:val) only.

Usage: python bench/sim2real_looks.py --workspace WS [--looks default joints ...] [--steps 600] [--seed 0]
                                      [--lspet ../shared/data/lspet] [--split val]
For each look (a set of `prepare synthetic` options, LOOKS below): `prepare synthetic --name look_<tag>` with those
options (4,000 training images per domain), `pretrain --config demo --source look_<tag>_tgt` (the randomised
target look of the generator, which transferred best in docs/results.md), then score the last-step weights on
lspet:val at PCK@0.05 and PCK@0.1 (original pixels, person-box normalisation, visible joints, the 12 LSP limb
joints), next to the floor: the mean pose of the same synthetic training set predicted for every image. lspet:test
is never read here. Prints a table and writes bench/results/sim2real_looks.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml
from common import posekit

from posekit.engine.device import pick_device
from posekit.evaluation.baselines import mean_pose_predictions
from posekit.evaluation.evaluate import predict_split, score_split
from posekit.inference import heatmap_settings, load_model

ROOT = Path(__file__).resolve().parents[1]
LOOKS: dict[str, list[str]] = {
    "default": [],
    "joints": ["--framing", "joints"],
    "joints-roll90": ["--framing", "joints", "--roll", "90"],
    "joints-roll180": ["--framing", "joints", "--roll", "180"],
    "joints-spread0.5": ["--framing", "joints", "--pose-spread", "0.5"],
    "joints-spread1": ["--framing", "joints", "--pose-spread", "1"],
    "scene": ["--background", "scene"],
    "joints-scene": ["--framing", "joints", "--background", "scene"],
    "roll90-scene": ["--roll", "90", "--background", "scene"],
    "joints-roll90-scene": ["--framing", "joints", "--roll", "90", "--background", "scene"],
}
THRESHOLDS = (0.05, 0.1)


def finished_run(ws: str, name: str, source: str, steps: int, seed: int) -> Path | None:
    """The newest finished pretrain run ``*-NAME`` of ``ws`` with the configuration this script would give it
    (an earlier invocation's, so that an interrupted selection continues where it stopped)."""
    from posekit.config.load import resolve_config
    from posekit.config.schema import PretrainConfig

    wanted = resolve_config(PretrainConfig, "demo", [f"train.seed={seed}"],
                            {"data.source": source, "train.steps": steps})
    for run in sorted((Path(ws) / "runs" / "pretrain").glob(f"*-{name}"), reverse=True):
        if (run / "ckpt" / "final.pt").exists() and \
                PretrainConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text())) == wanted:
            return run
    return None


def scores(pred, path: Path) -> dict[str, float]:
    return {f"pck@{t}": 100 * score_split(pred, path, t, "bbox", 2)["groups"]["All"] for t in THRESHOLDS}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--looks", nargs="+", default=list(LOOKS), choices=list(LOOKS))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="val", choices=["val"], help="development split only (test is for the report)")
    ap.add_argument("--lspet", default=str(ROOT.parent / "shared" / "data" / "lspet"))
    args = ap.parse_args()
    ws = args.workspace
    posekit(ws, "prepare", "lspet", "--raw", args.lspet, "--size", "128", "--dev-every", "9")
    target = Path(ws) / "data" / "lspet" / f"{args.split}.h5"
    results = {}
    for look in args.looks:
        tag = look.replace("-", "_").replace(".", "p")
        name = f"look_{tag}"
        seconds = {"prepare": posekit(ws, "prepare", "synthetic", "--name", name, "--num-val", "100", "--num-test", "100",
                                      *LOOKS[look])}
        key = (ws, f"look-{tag}", f"{name}_tgt", args.steps, args.seed)
        run = finished_run(*key)
        if run is None:
            seconds["pretrain"] = posekit(ws, "pretrain", "--config", "demo", "--source", f"{name}_tgt", "--steps",
                                          str(args.steps), "--set", f"train.seed={args.seed}", "--name", f"look-{tag}")
            run = finished_run(*key)
        model, _, ckpt, _ = load_model(run / "ckpt" / "final.pt", "auto", pick_device("cpu"))
        size, sigma = heatmap_settings(ckpt["config"])
        floor = scores(mean_pose_predictions(Path(ws) / "data" / f"{name}_tgt" / "train.h5", target), target)
        trained = scores(predict_split(model, target, size, sigma, pick_device("cpu")), target)
        results[look] = {"options": LOOKS[look], "run": run.name, "model": trained, "mean_pose_floor": floor,
                         "seconds": seconds}
        print(f"{look:18s} model " + "  ".join(f"{k} {v:5.1f}" for k, v in trained.items())
              + "   floor " + "  ".join(f"{k} {v:5.1f}" for k, v in floor.items()), flush=True)
    lines = ["| look (`prepare synthetic` options) | PCK@0.05 | PCK@0.1 | mean-pose floor @0.05 / @0.1 |",
             "|---|---|---|---|"]
    for look, r in results.items():
        m, f = r["model"], r["mean_pose_floor"]
        lines.append(f"| {look} (`{' '.join(r['options']) or 'defaults'}`) | {m['pck@0.05']:.1f} | {m['pck@0.1']:.1f} | "
                     f"{f['pck@0.05']:.1f} / {f['pck@0.1']:.1f} |")
    print("\n".join(lines))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "sim2real_looks.json").write_text(json.dumps({"args": vars(args), "split": f"lspet:{args.split}",
                                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
