"""Time of one adaptation step divided by one supervised step, same batch and model, measured side by side.

Usage: python bench/adapt_step_ratio.py [--backbone resnet18] [--width 0.5] [--size 128] [--batch 16] [--iters 10]
                                        [--warmup 2] [--no-disc] [--device auto|cpu|cuda] [--no-amp]
                                        [--channels-last on|off] [--compile off|default|...] [--project]
Both steps include augmentation, forward, backward and the Adam update; the adaptation step also runs the
teacher, the view warps, occlusion, the discriminator and the EMA update. Steps are interleaved (A, B, A, B…)
after ``--warmup`` untimed steps of each, and the medians are compared (on CUDA each step is timed between two
``torch.cuda.synchronize()``). The FLOP ratio of the two steps (torch's FLOP counter) is printed as the floor
for this configuration. The steps run as `posekit pretrain`/`adapt` run them: channels-last (``--channels-last
off`` for NCHW), optionally torch.compile, and on CUDA bf16 autocast. ``--project`` adds the wall time of the
paper's schedule at these step times: 20,000 supervised steps then 15,000 adaptation steps (DAML's 40 + 30 epochs of 500 iterations), e.g.
``--backbone resnet101 --width 1 --size 256 --batch 32 --device cuda --project``. Writes
bench/results/adapt_step_ratio.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from common import step, timed
from torch.utils.flop_counter import FlopCounterMode

from posekit.config.schema import AdaptConfig, AugmentConfig, ModelConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import MPII16
from posekit.engine.device import pick_device, prepare_for_device
from posekit.methods.multilevel import MultiLevelMethod
from posekit.methods.supervised import SupervisedMethod
from posekit.models.factory import build_pose_net

PAPER_SCHEDULE = {"supervised": 20_000, "adapt": 15_000}  # DAML: 40 + 30 epochs × 500 iterations


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps of each kind first (compilation, allocator)")
    ap.add_argument("--no-disc", action="store_true", help="switch the discriminator off (floor ≈ 2.33)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    ap.add_argument("--channels-last", default="on", choices=["on", "off"])
    ap.add_argument("--compile", default="off", choices=["off", "default", "reduce-overhead", "max-autotune"])
    ap.add_argument("--project", action="store_true", help="print the paper schedule's wall time at these step times")
    args = ap.parse_args()
    device = pick_device(args.device)
    amp = device.type == "cuda" and not args.no_amp
    nhwc = args.channels_last == "on"
    torch.manual_seed(0)
    model_cfg = ModelConfig(backbone=args.backbone, width=args.width)
    codec = HeatmapCodec(args.size, args.size // 4, 2.0)
    cfg = AdaptConfig.model_validate({"style": {"enabled": False}, "adversarial": {"enabled": not args.no_disc},
                                      "occlusion": {"size": max(2, args.size // 25)}})
    sup_net = build_pose_net(model_cfg, 16).to(device)
    sup = SupervisedMethod(sup_net, codec, AugmentConfig(), MPII16, 0)
    ada_net = build_pose_net(model_cfg, 16).to(device)
    ada = MultiLevelMethod(ada_net, codec, cfg, MPII16, 0).to(device)
    layout = prepare_for_device(sup, nhwc, args.compile, "inductor", device)
    prepare_for_device(ada, nhwc, args.compile, "inductor", device)
    student, disc = ada.param_groups()
    opt_sup = torch.optim.Adam(sup_net.parameters(), 1e-4)
    opt_ada = torch.optim.Adam([{"params": student}] + ([{"params": disc}] if disc else []), 1e-4)
    g = torch.Generator().manual_seed(1)
    b, s = args.batch, args.size
    batch = {"image": torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, generator=g),
             "keypoints": torch.cat([torch.rand(b, 16, 2, generator=g) * s, torch.full((b, 16, 1), 2.0)], -1),
             "target_image": torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, generator=g)}
    batch = {k: v.to(device) for k, v in batch.items()}
    sup.train(), ada.train()
    with FlopCounterMode(display=False) as fc:
        step(sup, opt_sup, batch, device, amp)
    flops_sup = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        step(ada, opt_ada, batch, device, amp)
    flops_ada = fc.get_total_flops()
    runs = (("supervised", sup, opt_sup), ("adapt", ada, opt_ada))
    for _ in range(args.warmup):
        for _, method, opt in runs:
            step(method, opt, batch, device, amp)
    times = {"supervised": [], "adapt": []}
    for _ in range(args.iters):
        for name, method, opt in runs:
            times[name].append(timed(lambda method=method, opt=opt: step(method, opt, batch, device, amp), device))
    med = {k: statistics.median(v) for k, v in times.items()}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    result = {"device": name, "amp": amp, "layout": layout, **vars(args),
              "supervised_s": med["supervised"], "adapt_s": med["adapt"], "time_ratio": med["adapt"] / med["supervised"],
              "flop_ratio": flops_ada / flops_sup,
              "images_per_s": {"supervised": b / med["supervised"], "adapt": 2 * b / med["adapt"]}}
    print(f"{args.backbone} ×{args.width} @ {args.size}px, batch {b}+{b}, disc {'off' if args.no_disc else 'on'}, "
          f"{name}, amp {'bf16' if amp else 'off'}, {layout}")
    print(f"supervised step {med['supervised'] * 1000:.0f} ms, adaptation step {med['adapt'] * 1000:.0f} ms "
          f"(medians of {args.iters}); {b / med['supervised']:.0f} and {2 * b / med['adapt']:.0f} images/s")
    print(f"time ratio {result['time_ratio']:.2f}   FLOP ratio (floor for this configuration) {result['flop_ratio']:.2f}")
    if args.project:
        hours = sum(PAPER_SCHEDULE[k] * med[k] for k in PAPER_SCHEDULE) / 3600
        result["paper_schedule_hours"] = hours
        print(f"paper schedule ({PAPER_SCHEDULE['supervised']:,} supervised + {PAPER_SCHEDULE['adapt']:,} adaptation "
              f"steps) at these step times: {hours:.2f} h (steps only: no data loading, evaluation or checkpoints)")
    out = Path(__file__).parent / "results" / "adapt_step_ratio.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
