"""Stage costs: stylisation cached against on the fly, evaluation throughput, and peak memory of every stage.

Usage: python bench/stages.py [--size 128] [--batch 32] [--batches 6] [--repeats 3]

1. Stylisation, per source batch at SIZE px: reading the k = 2 cached variants from a style cache
   (`posekit stylize` output, what `adapt` does) against computing them on the fly as the anchors do (AdaIN
   with the VGG-19 encoder up to relu4_1 and its decoder; random weights cost the same as the published ones),
   and the training-free `colour` and `fda` on the fly for reference. Images per second, medians over repeats.
2. Evaluation: images per second of `posekit eval`'s prediction (resize, forward, sub-pixel decode, back to
   original pixels) for the demo's slim ResNet-18 at SIZE px.
3. Peak memory: the maximum resident set size of one `posekit` process per stage (prepare, pretrain, stylize,
   adapt, eval; demo presets, 20 steps of batch 16) on a small synthetic workspace at 128 px, from the operating
   system's accounting of that process (``wait4``'s ru_maxrss).
Prints the figures and writes bench/results/stages.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from posekit.config.schema import ModelConfig
from posekit.evaluation.evaluate import predict_split
from posekit.models.adain import StyleTransfer
from posekit.models.factory import build_pose_net
from posekit.stylize.cache import StyledSourceDataset
from posekit.stylize.transfer import colour_match, fda

SMALL = ["--size", "128", "--num-train", "256", "--num-val", "64", "--num-test", "128", "--workers", "1"]
TRAIN = ["--set", "train.steps=20", "--set", "train.batch_size=16", "--set", "data.num_workers=0"]


def posekit(ws: Path, *args: str) -> float:
    """Run one stage in a child process; returns that process's peak resident memory in MiB (``wait4``)."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "posekit", "-w", str(ws), *args], stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            sys.exit(f"posekit {' '.join(args)} failed:\n{log.read().decode()[-3000:]}")
    return usage.ru_maxrss / 1024  # Linux reports KiB


def rate(fn, images: int, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return images / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    results: dict = {"args": vars(args), "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        memory = {}
        memory["prepare"] = posekit(ws, "prepare", "synthetic", *SMALL)
        memory["stylize (colour)"] = posekit(ws, "stylize", "--method", "colour")
        memory["pretrain"] = posekit(ws, "pretrain", "-c", "demo", *TRAIN)
        memory["eval"] = posekit(ws, "eval", "pretrain/latest", "--data", "synth_tgt:test")
        memory["adapt"] = posekit(ws, "adapt", "-c", "adapt_demo", *TRAIN)
        results["peak_rss_mib"] = memory

        src = ws / "data/synth_src/train.h5"
        cached = StyledSourceDataset(src, ws / "styles/synth_src__synth_tgt/cache.h5")
        n = args.batch * args.batches
        order = np.random.default_rng(0).permutation(len(cached))[:n]

        def read_cache():
            for i in order:
                cached[int(i)]["styled"]

        torch.manual_seed(0)
        net = StyleTransfer("vgg_normalised").eval()
        content = torch.rand(args.batch, 3, args.size, args.size)
        style = torch.rand(args.batch, 3, args.size, args.size)
        alpha = torch.rand(args.batch)

        def on_the_fly(fn):
            def run():
                with torch.no_grad():
                    for _ in range(args.batches):
                        for _variant in range(2):
                            fn()
            return run

        results["stylize_img_per_s"] = {
            "cached (2 variants read)": rate(read_cache, n, args.repeats),
            "adain on the fly (2 variants)": rate(on_the_fly(lambda: net(content, style, alpha)), n, args.repeats),
            "colour on the fly (2 variants)": rate(on_the_fly(lambda: colour_match(content, style, alpha)), n,
                                                   args.repeats),
            "fda on the fly (2 variants)": rate(on_the_fly(lambda: fda(content, style, alpha, 0.01)), n, args.repeats),
        }
        model = build_pose_net(ModelConfig(backbone="resnet18", width=0.5), 16).eval()
        test = ws / "data/synth_tgt/test.h5"
        results["eval_img_per_s"] = rate(lambda: predict_split(model, test, args.size, 1.5, torch.device("cpu"),
                                                               batch_size=args.batch), 128, args.repeats)
    print("peak resident memory per stage (MiB): " + ", ".join(
        f"{k} {v:.0f}" for k, v in results["peak_rss_mib"].items()))
    print("stylisation, images/s: " + ", ".join(f"{k} {v:.0f}" for k, v in results["stylize_img_per_s"].items()))
    print(f"evaluation, images/s: {results['eval_img_per_s']:.0f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "stages.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
