"""fp32 against bf16 autocast (and torch.compile) per network on this machine: step time, images/s, peak memory.

Usage: python bench/precision.py [--cases demo,resnet18,resnet50,lite0,adapt,vit_demo,vit_tiny,vit_small,adain_vgg,
                                          adain_lite0] [--modes fp32,bf16] [--compile CASE,...] [--iters 6]
                                 [--warmup 2] [--no-memory | --memory-only]

Cases (each step as posekit trains it: forward under the mode's autocast, backward, Adam; channels-last):
- ``demo``, ``resnet18``, ``resnet50``, ``lite0``: `posekit pretrain`'s supervised step (augmentation, SimpleBaseline,
  heatmap loss) at 128 px, batch 32 — the demo network is resnet18 ×0.5; lite0 = EfficientNet-Lite0 (depthwise);
- ``adapt``: the demo's multi-level adaptation step (adapt_demo: resnet18 ×0.5, batch 16 + 16, discriminator,
  occlusion, the teacher in fp32 as ``teacher.fp32`` asks) — ``adapt_bf16teacher`` the same with the teacher under
  the step's autocast;
- ``vit_demo`` (64 px, patch 8, 128-d × 4, the MIM demo's), ``vit_tiny`` (128 px, patch 16, 192-d × 12),
  ``vit_small`` (128 px, patch 16, 384-d × 12): the 2.5D ViT's supervised step (heatmap + depth MSE), batch 32;
- ``adain_vgg``, ``adain_lite0``: one AdaIN decoder training step (content + 0.1 × style) at 128 px, batch 8.

Every (case, mode) lives in this process and their steps are interleaved after ``--warmup`` untimed steps each, so a
busy machine slows them alike; medians of ``--iters``. ``--compile CASE`` adds ``fp32+compile`` and
``bf16+compile`` rows for that case (inductor; the first step's extra time is reported as the compile time). Peak
memory: a fresh process per (case, mode) reports the growth of ru_maxrss over building the network and three
steps. The CPU (model, torch capability, AMX / AVX512-BF16) and thread count are in the JSON written to
bench/results/precision.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from backbones import make_batch
from common import timed

from posekit.config.schema import AdaptConfig, AugmentConfig, ModelConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import MPII16
from posekit.engine.device import prepare_for_device
from posekit.engine.precision import FP32, Precision, cpu_units
from posekit.methods.adain_decoder import AdaINDecoderMethod
from posekit.methods.multilevel import MultiLevelMethod
from posekit.methods.supervised import SupervisedMethod
from posekit.models.adain import StyleTransfer
from posekit.models.factory import build_pose_net
from posekit.models.vit import ViTEncoder
from posekit.models.vit_pose import ViTPose25D

BF16 = Precision(True, "bench")
MODES = {"fp32": FP32, "bf16": BF16}
SUPERVISED = {"demo": ("resnet18", 0.5, 256), "resnet18": ("resnet18", 1.0, 256), "resnet50": ("resnet50", 1.0, 256),
              "lite0": ("efficientnet_lite0", 1.0, 128)}
VITS = {"vit_demo": (64, 8, 128, 4, 4), "vit_tiny": (128, 16, 192, 12, 3), "vit_small": (128, 16, 384, 12, 6)}
ALL = [*SUPERVISED, "adapt", "adapt_bf16teacher", *VITS, "adain_vgg", "adain_lite0"]


class ViTStep(torch.nn.Module):
    """The 2.5D ViT's supervised step: heatmap and depth MSE against random targets."""

    def __init__(self, size: int, patch: int, dim: int, depth: int, heads: int):
        super().__init__()
        self.net = ViTPose25D(ViTEncoder(patch, dim, depth, heads, 4.0), 64, 16)
        self.size = size

    def forward(self, batch: dict, step: int) -> dict:
        out = self.net(batch["image"].float() / 255.0)
        heat = F.mse_loss(out["heatmaps"].float(), batch["heatmaps"])
        depth = F.mse_loss(out["depth"].float(), batch["depth"])
        return {"loss": heat + depth}

    def after_step(self, step: int) -> None:
        pass


def build(case: str, compiled: bool) -> tuple[torch.nn.Module, torch.optim.Optimizer, dict, int]:
    """(method, optimiser, batch, images per step) of ``case``."""
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    if case in SUPERVISED:
        backbone, width, deconv = SUPERVISED[case]
        net = build_pose_net(ModelConfig(backbone=backbone, width=width, deconv_channels=deconv), 16)
        method = SupervisedMethod(net, HeatmapCodec(128, 32, 2.0), AugmentConfig(), MPII16, 0)
        params, batch, images = net.parameters(), make_batch(128, 32), 32
    elif case.startswith("adapt"):
        net = build_pose_net(ModelConfig(backbone="resnet18", width=0.5), 16)
        cfg = AdaptConfig.model_validate({"style": {"enabled": False}, "occlusion": {"size": 5, "geometry": "code"},
                                          "teacher": {"fp32": case == "adapt", "ema": 0.99}})
        method = MultiLevelMethod(net, HeatmapCodec(128, 32, 1.5), cfg, MPII16, 0)
        student, disc = method.param_groups()
        params = [{"params": student}, {"params": disc}]
        batch = make_batch(128, 16)
        batch["target_image"] = make_batch(128, 16)["image"].flip(0)
        images = 32
    elif case in VITS:
        size, patch, dim, depth, heads = VITS[case]
        method = ViTStep(size, patch, dim, depth, heads)
        g = torch.Generator().manual_seed(1)
        batch = {"image": torch.randint(0, 256, (32, 3, size, size), dtype=torch.uint8, generator=g),
                 "heatmaps": torch.rand(32, 16, size // 4, size // 4, generator=g),
                 "depth": torch.rand(32, 16, size // 4, size // 4, generator=g)}
        params, images = method.parameters(), 32
    else:
        net = StyleTransfer("vgg_normalised" if case == "adain_vgg" else "efficientnet_lite0")
        method = AdaINDecoderMethod(net, 0.1, 0)
        batch = make_batch(128, 8)
        batch["target_image"] = batch["image"].flip(0)
        params, images = net.decoder.parameters(), 8
    if case in VITS:
        method = method.to(memory_format=torch.channels_last)
        if compiled:
            method.net.compile()
    else:
        prepare_for_device(method, True, "default" if compiled else "off", "inductor", cpu)
    method.train()
    return method, torch.optim.Adam(params, 1e-4), batch, images


def step(method, optimizer, batch: dict, precision: Precision) -> None:
    with precision.autocast("cpu"):
        losses = method.losses(batch, 0)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    optimizer.step()
    method.after_step(0)


def child(case: str, mode: str) -> None:
    """Print ``{"peak_rss_delta_mib": …}`` for one (case, mode), run in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    method, optimizer, batch, _ = build(case, False)
    for _ in range(3):
        step(method, optimizer, batch, MODES[mode])
    print(json.dumps({"peak_rss_delta_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))


def peak_memory(case: str, mode: str) -> float:
    proc = subprocess.run([sys.executable, __file__, "--child", f"{case}:{mode}"], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        sys.exit(f"{case} {mode}: the memory child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_delta_mib"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=",".join(ALL))
    ap.add_argument("--modes", default="fp32,bf16")
    ap.add_argument("--compile", default="", help="cases that also get fp32+compile and bf16+compile rows")
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--memory-only", action="store_true", help="only the peak-memory children")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "precision.json"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child.split(":"))
    cases, modes = args.cases.split(","), args.modes.split(",")
    compiled = [c for c in args.compile.split(",") if c]
    variants = [(c, m, False) for c in cases for m in modes] + [(c, m, True) for c in compiled for m in modes]
    # first, while this process is small: Linux keeps ru_maxrss across fork + exec, so a child started from a large
    # parent would report the parent's peak
    memory = {(c, m): None if args.no_memory else peak_memory(c, m) for c in cases for m in modes}
    if args.memory_only:
        for (c, m), mib in memory.items():
            print(f"{c:<19}{m:<6}{mib:>8.0f} MiB")
        Path(args.out).write_text(json.dumps({"cpu": cpu_units().to_json(), "memory_mib": {
            f"{c}:{m}": mib for (c, m), mib in memory.items()}}, indent=2))
        return
    runs, compile_s = {}, {}
    for v in variants:
        runs[v] = build(v[0], v[2])
        method, optimizer, batch, _ = runs[v]
        first = time.perf_counter()
        step(method, optimizer, batch, MODES[v[1]])  # the first step of a compiled network compiles it
        compile_s[v] = time.perf_counter() - first
    for _ in range(args.warmup):
        for v, (method, optimizer, batch, _) in runs.items():
            step(method, optimizer, batch, MODES[v[1]])
    times = {v: [] for v in variants}
    for _ in range(args.iters):
        for v, (method, optimizer, batch, _) in runs.items():
            times[v].append(timed(lambda m=method, o=optimizer, b=batch, p=MODES[v[1]]: step(m, o, b, p),
                                  torch.device("cpu")))
    rows = []
    for v in variants:
        case, mode, comp = v
        med = statistics.median(times[v])
        base = statistics.median(times[(case, modes[0], False)])
        rows.append({"case": case, "mode": mode + ("+compile" if comp else ""), "step_s": med,
                     "images_per_s": runs[v][3] / med, "speedup_vs_" + modes[0]: base / med,
                     "compile_s": compile_s[v] - med if comp else None,
                     "peak_rss_delta_mib": None if comp else memory[(case, mode)]})
    units = cpu_units()
    result = {"cpu": units.to_json(), "threads": torch.get_num_threads(), "torch": torch.__version__,
              "iters": args.iters, "warmup": args.warmup, "rows": rows}
    print(f"CPU {units.model} ({units.capability}, {units.units()}), {torch.get_num_threads()} thread(s); medians of "
          f"{args.iters} interleaved steps")
    print(f"{'case':<19}{'mode':<14}{'step':>8}{'img/s':>8}{'speed-up':>10}{'compile':>9}{'peak RSS Δ':>12}")
    for r in rows:
        comp = f"{r['compile_s']:.0f} s" if r["compile_s"] is not None else "—"
        mem = f"{r['peak_rss_delta_mib']:.0f} MiB" if r["peak_rss_delta_mib"] is not None else "—"
        print(f"{r['case']:<19}{r['mode']:<14}{r['step_s']:>7.3f}s{r['images_per_s']:>8.1f}"
              f"{r['speedup_vs_' + modes[0]]:>9.2f}×{comp:>9}{mem:>12}")
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
