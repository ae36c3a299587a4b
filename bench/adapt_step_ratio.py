"""Time of one adaptation step divided by one supervised step, same batch and model, measured side by side.

Usage: python bench/adapt_step_ratio.py [--backbone resnet18] [--width 0.5] [--size 128] [--batch 16] [--iters 10]
Both steps include augmentation, forward, backward and the Adam update; the adaptation step also runs the
teacher, the view warps, occlusion, the discriminator and the EMA update. Steps are interleaved (A, B, A, B…)
and the medians are compared. The FLOP ratio of the two steps (torch's FLOP counter) is printed as the floor
for this configuration. Writes bench/results/adapt_step_ratio.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from posekit.config.schema import AdaptConfig, AugmentConfig, ModelConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import MPII16
from posekit.methods.multilevel import MultiLevelMethod
from posekit.methods.supervised import SupervisedMethod
from posekit.models.pose_net import PoseNet


def step(method, optimizer, batch) -> None:
    losses = method(batch, 0)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    optimizer.step()
    method.after_step(0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--no-disc", action="store_true", help="switch the discriminator off (floor ≈ 2.33)")
    args = ap.parse_args()
    torch.manual_seed(0)
    model_cfg = ModelConfig(backbone=args.backbone, width=args.width)
    codec = HeatmapCodec(args.size, args.size // 4, 2.0)
    cfg = AdaptConfig.model_validate({"style": {"enabled": False}, "adversarial": {"enabled": not args.no_disc},
                                      "occlusion": {"size": max(2, args.size // 25)}})
    sup_net = PoseNet(model_cfg, 16)
    sup = SupervisedMethod(sup_net, codec, AugmentConfig(), MPII16, 0)
    ada_net = PoseNet(model_cfg, 16)
    ada = MultiLevelMethod(ada_net, codec, cfg, MPII16, 0)
    student, disc = ada.param_groups()
    opt_sup = torch.optim.Adam(sup_net.parameters(), 1e-4)
    opt_ada = torch.optim.Adam([{"params": student}] + ([{"params": disc}] if disc else []), 1e-4)
    g = torch.Generator().manual_seed(1)
    b, s = args.batch, args.size
    batch = {"image": torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, generator=g),
             "keypoints": torch.cat([torch.rand(b, 16, 2, generator=g) * s, torch.full((b, 16, 1), 2.0)], -1),
             "target_image": torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, generator=g)}
    sup.train(), ada.train()
    with FlopCounterMode(display=False) as fc:
        step(sup, opt_sup, batch)
    flops_sup = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        step(ada, opt_ada, batch)
    flops_ada = fc.get_total_flops()
    times = {"supervised": [], "adapt": []}
    for _ in range(args.iters):
        for name, method, opt in (("supervised", sup, opt_sup), ("adapt", ada, opt_ada)):
            t = time.perf_counter()
            step(method, opt, batch)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"device": "cpu", "threads": torch.get_num_threads(), **vars(args),
              "supervised_s": med["supervised"], "adapt_s": med["adapt"], "time_ratio": med["adapt"] / med["supervised"],
              "flop_ratio": flops_ada / flops_sup}
    print(f"{args.backbone} ×{args.width} @ {args.size}px, batch {b}+{b}, disc {'off' if args.no_disc else 'on'}, "
          f"cpu {torch.get_num_threads()} threads")
    print(f"supervised step {med['supervised'] * 1000:.0f} ms, adaptation step {med['adapt'] * 1000:.0f} ms "
          f"(medians of {args.iters})")
    print(f"time ratio {result['time_ratio']:.2f}   FLOP ratio (floor for this configuration) {result['flop_ratio']:.2f}")
    out = Path(__file__).parent / "results" / "adapt_step_ratio.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
