"""Step time and peak memory of the supervised training step per backbone, same batch and input size, side by side.

Usage: python bench/backbones.py [--backbones resnet18@0.5,resnet18,resnet50,efficientnet_lite0,...] [--size 128]
                                 [--batch 32] [--deconv 256] [--iters 10] [--warmup 2] [--memory-steps 3]

A backbone is a `model.backbone` name, optionally ``@WIDTH`` (ResNets only; the deconv head scales with it as in
`posekit pretrain`). Each step is what `posekit pretrain` runs: augmentation of a uint8 batch, forward, heatmap loss,
backward and the Adam update, channels-last as on the CPU by default, random initialisation (ImageNet weights cost
the same).

- Step time: all networks live in this process and their steps are interleaved (A, B, C, A, B, C …) after
  ``--warmup`` untimed steps of each, so that a busy machine slows them alike; the median of ``--iters`` steps.
- Peak memory: one child process per backbone builds the batch, notes its peak resident set size
  (``resource.getrusage`` ru_maxrss), builds the network and the optimiser, runs ``--memory-steps`` steps, and
  reports the growth of ru_maxrss: the network, its gradients, Adam's state and the step's activations, without
  the interpreter, torch and the batch.
Prints a table and the JSON it writes to bench/results/backbones.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from common import step, timed

from posekit.config.schema import AugmentConfig, ModelConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import MPII16
from posekit.engine.device import prepare_for_device
from posekit.methods.supervised import SupervisedMethod
from posekit.models.factory import build_pose_net

DEFAULT = "resnet18@0.5,resnet18,resnet50,efficientnet_lite0,efficientnet_lite1,efficientnet_lite2"


def parse_spec(spec: str) -> ModelConfig:
    name, _, width = spec.partition("@")
    return ModelConfig(backbone=name, width=float(width or 1.0))


def make_batch(size: int, batch: int) -> dict:
    g = torch.Generator().manual_seed(1)
    return {"image": torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g),
            "keypoints": torch.cat([torch.rand(batch, 16, 2, generator=g) * size, torch.full((batch, 16, 1), 2.0)], -1)}


def make_step(spec: str, args) -> tuple[SupervisedMethod, torch.optim.Optimizer, int]:
    cfg = parse_spec(spec).model_copy(update={"deconv_channels": args.deconv})
    net = build_pose_net(cfg, 16)
    method = SupervisedMethod(net, HeatmapCodec(args.size, args.size // 4, 2.0), AugmentConfig(), MPII16, 0)
    prepare_for_device(method, True, "off", "inductor", torch.device("cpu"))
    method.train()
    return method, torch.optim.Adam(net.parameters(), 1e-3), sum(p.numel() for p in net.parameters())


def child(spec: str, args) -> None:
    """Print ``{"peak_rss_delta_mib": …}`` for ``spec`` (run in a fresh process)."""
    batch = make_batch(args.size, args.batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    method, optimizer, _ = make_step(spec, args)
    for _ in range(args.memory_steps):
        step(method, optimizer, batch, torch.device("cpu"), False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_delta_mib": (after - before) / 1024}))  # Linux reports KiB


def peak_memory(spec: str, argv: list[str]) -> float:
    proc = subprocess.run([sys.executable, __file__, *argv, "--child", spec], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        sys.exit(f"{spec}: the memory child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_delta_mib"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbones", default=DEFAULT, help="comma-separated NAME[@WIDTH]")
    ap.add_argument("--size", type=int, default=128, help="input side in pixels (the demo's)")
    ap.add_argument("--batch", type=int, default=32, help="batch size (the demo's)")
    ap.add_argument("--deconv", type=int, default=256, help="model.deconv_channels (scaled by the width)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--memory-steps", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args)
    specs = args.backbones.split(",")
    shared = ["--size", str(args.size), "--batch", str(args.batch), "--deconv", str(args.deconv),
              "--memory-steps", str(args.memory_steps)]
    memory = {spec: peak_memory(spec, shared) for spec in specs}
    cpu = torch.device("cpu")
    batch = make_batch(args.size, args.batch)
    runs = {spec: make_step(spec, args) for spec in specs}
    for _ in range(args.warmup):
        for method, optimizer, _ in runs.values():
            step(method, optimizer, batch, cpu, False)
    times: dict[str, list[float]] = {spec: [] for spec in specs}
    for _ in range(args.iters):
        for spec, (method, optimizer, _) in runs.items():
            times[spec].append(timed(lambda m=method, o=optimizer: step(m, o, batch, cpu, False), cpu))
    rows = [{"backbone": spec, "params_m": runs[spec][2] / 1e6, "step_s": statistics.median(times[spec]),
             "images_per_s": args.batch / statistics.median(times[spec]), "peak_rss_delta_mib": memory[spec]}
            for spec in specs]
    result = {"device": f"cpu, {torch.get_num_threads()} threads", **{k: v for k, v in vars(args).items() if k != "child"},
              "memory": "growth of ru_maxrss in a fresh process per backbone over building it and "
                        f"{args.memory_steps} steps", "rows": rows}
    print(f"supervised step, {args.size} px, batch {args.batch}, deconv {args.deconv}, {result['device']}, "
          f"medians of {args.iters} interleaved steps")
    print(f"{'backbone':<22}{'params':>9}{'step':>9}{'img/s':>8}{'peak RSS Δ':>12}")
    for r in rows:
        print(f"{r['backbone']:<22}{r['params_m']:>7.2f} M{r['step_s']:>8.2f}s{r['images_per_s']:>8.1f}"
              f"{r['peak_rss_delta_mib']:>8.0f} MiB")
    out = Path(__file__).parent / "results" / "backbones.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
