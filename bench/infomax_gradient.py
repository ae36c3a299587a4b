"""How hard does the pose level (information maximisation) pull on the student, next to the consistency loss?

Usage: python bench/infomax_gradient.py [--workspace WS --run RUN] [--data synth_tgt:train] [--images 32]
                                        [--normalise code|log] [--seed 0]

Both losses read the student's base-frame heatmaps S; this prints the norms of the gradients of 0.3·L_IM and
1·L_cons (the method's weights) with respect to S, and their ratio.
- With ``--run`` (``adapt/latest``, ``adapt/ID`` or a run directory): S is the run's student (``model`` weights) and
  the pseudo-labels come from its teacher, both on the first ``--images`` images of ``--data`` (the plain resized
  crops; train-mode BatchNorm as in the adaptation step); rectified teacher argmax, batch-median mask, as the method.
- Without: synthetic maps shaped like a trained network's, 16 joints on a 64×64 map: a unit-peak Gaussian (σ 2) per
  joint at a random place, the student 2 px off its pseudo-label.
"""

from __future__ import annotations

import argparse

import h5py
import torch

from posekit.data.augment import normalise
from posekit.data.codec import HeatmapCodec, from_heatmap_coords
from posekit.losses.consistency import MaskedConsistency, confidence_mask
from posekit.losses.infomax import InfoMaxLoss


def synthetic_maps(images: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Student and teacher maps ``[N,16,64,64]`` on a 256-px input (stride 4, σ 2)."""
    g = torch.Generator().manual_seed(seed)
    codec = HeatmapCodec(256, 64, 2.0)
    xy = 24 + torch.rand(images, 16, 2, generator=g) * 208
    v = torch.full((images, 16, 1), 2.0)
    teacher = codec.encode(torch.cat([xy, v], -1))[0]
    angle = torch.rand(images, 16, generator=g) * 6.2832
    off = 8.0 * torch.stack([angle.cos(), angle.sin()], -1)  # 2 heatmap px = 8 input px
    return codec.encode(torch.cat([xy + off, v], -1))[0], teacher


def run_maps(ws: str, run: str, data: str, images: int) -> tuple[torch.Tensor, torch.Tensor, HeatmapCodec]:
    from pathlib import Path

    from posekit.inference import load_model
    from posekit.workspace import Workspace

    workspace = Workspace(Path(ws)).require()
    ckpt_path = workspace.resolve_run(run) / "ckpt" / "final.pt"
    student, *_ = load_model(ckpt_path, "student", "cpu")
    teacher, _, ckpt, _ = load_model(ckpt_path, "teacher", "cpu")
    size, sigma = ckpt["config"]["data"]["input_size"], ckpt["config"]["data"]["sigma"]
    with h5py.File(workspace.require_split(data)[2], "r") as f:
        x = torch.from_numpy(f["images"][:images]).permute(0, 3, 1, 2).float().div(255)
    x = normalise(torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False))
    student.train(), teacher.train()
    with torch.no_grad():
        return student(x)["heatmaps"].float(), teacher(x)["heatmaps"].float(), HeatmapCodec(size, size // 4, sigma)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workspace", default="demo-ws")
    ap.add_argument("--run", default=None, help="an adapt run; without it, synthetic maps")
    ap.add_argument("--data", default="synth_tgt:train")
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--normalise", choices=["code", "log"], default="code")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.run:
        s_maps, t_maps, codec = run_maps(args.workspace, args.run, args.data, args.images)
        source = f"{args.run} on {args.data}"
    else:
        s_maps, t_maps = synthetic_maps(args.images, args.seed)
        codec, source = HeatmapCodec(256, 64, 2.0), "synthetic unit-peak Gaussians, student 2 px off"
    w = t_maps.shape[-1]
    peaks, idx = t_maps.flatten(2).max(-1)
    argmax = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], -1).float()
    base_xy = from_heatmap_coords(argmax, codec.stride)
    pseudo = codec.encode(torch.cat([base_xy, torch.full_like(base_xy[..., :1], 2.0)], -1))[0]
    mask = confidence_mask(peaks, "quantile", 0.5, 0.0)
    norms = {}
    for name, weight, loss in (("IM", 0.3, lambda s: InfoMaxLoss(args.normalise)(s)),
                               ("consistency", 1.0, lambda s: MaskedConsistency()(s, pseudo, mask))):
        s = s_maps.clone().requires_grad_()
        (weight * loss(s)).backward()
        norms[name] = s.grad.norm().item()
    print(f"{source}: {len(s_maps)} images, IM normalised '{args.normalise}'")
    print(f"|grad 0.3·L_IM| = {norms['IM']:.3e}   |grad 1·L_cons| = {norms['consistency']:.3e}   "
          f"ratio {norms['IM'] / norms['consistency']:.2e}")


if __name__ == "__main__":
    main()
