"""How well can a fresh domain discriminator tell source from target by a model's deconv features?

Usage: python bench/feature_separability.py --workspace demo-ws RUN [RUN ...]
           [--source synth_src:val] [--target synth_tgt:val] [--mode eval|train] [--weights auto|student|teacher]
           [--images 384] [--steps 150] [--probes 2] [--out NAME]

A diagnostic for the feature level of multi-level alignment: did adversarial training make the features of the two
domains harder to tell apart? For each RUN (``STAGE/RUN_ID``, ``STAGE/latest`` or a run directory; its
``ckpt/final.pt``), the features ``[N,D,h,w]`` of the first ``--images`` images of each split are computed once with
frozen weights; a fresh ``PatchDiscriminator`` (the one the method trains, Adam 1e-4, batches of 16 + 16) is trained
on the first two thirds of each and scored on the rest. Only images are read, never labels.
- ``--mode eval``: the network as it is evaluated (BN running statistics), batches of 64;
- ``--mode train``: BN with batch statistics, each domain in its own batches of 16, as the adaptation step sees them.
Held-out accuracy: ``image`` (mean logit of the image on the right side of 0) and ``patch`` (per logit), averaged
over ``--probes`` discriminators with different seeds; 0.5 = indistinguishable. Prints a table and writes
bench/results/OUT.json when ``--out`` is given. CPU or GPU (``cuda`` when available).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import h5py
import torch
import torch.nn.functional as F

from posekit.data.augment import normalise
from posekit.inference import load_model
from posekit.models.discriminator import PatchDiscriminator
from posekit.workspace import Workspace


def features(model: torch.nn.Module, path: Path, count: int, mode: str, device: torch.device) -> torch.Tensor:
    """Deconv features ``[N,D,h,w]`` (float32, on ``device``) of the first ``count`` images of an HDF5 split."""
    with h5py.File(path, "r") as f:
        images = torch.from_numpy(f["images"][:count]).permute(0, 3, 1, 2)
    chunk = 16 if mode == "train" else 64
    model.train(mode == "train")  # train: batch statistics; the running ones are never saved
    out = []
    with torch.no_grad():
        for i in range(0, len(images), chunk):
            x = images[i:i + chunk].to(device).float().div(255)
            out.append(model(normalise(x))["features"].float().contiguous())
    return torch.cat(out)


def probe(source: torch.Tensor, target: torch.Tensor, steps: int, seed: int) -> tuple[float, float]:
    """Train a patch discriminator on 2/3 of each domain's features, return held-out (image, patch) accuracy."""
    torch.manual_seed(seed)
    n_s, n_t = 2 * len(source) // 3, 2 * len(target) // 3
    disc = PatchDiscriminator(source.shape[1]).to(source.device)
    opt = torch.optim.Adam(disc.parameters(), 1e-4)
    for _ in range(steps):
        i, j = torch.randint(0, n_s, (16,)), torch.randint(0, n_t, (16,))
        logits = disc(torch.cat([source[i], target[j]]))
        labels = torch.cat([torch.zeros(16), torch.ones(16)]).to(logits)[:, None, None, None].expand_as(logits)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        ls, lt = disc(source[n_s:]), disc(target[n_t:])
    image = ((ls.mean((1, 2, 3)) < 0).float().mean() + (lt.mean((1, 2, 3)) > 0).float().mean()) / 2
    patch = ((ls < 0).float().mean() + (lt > 0).float().mean()) / 2
    return float(image), float(patch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("runs", nargs="+", help="STAGE/RUN_ID, STAGE/latest or a run directory")
    ap.add_argument("--workspace", default="demo-ws")
    ap.add_argument("--source", default="synth_src:val")
    ap.add_argument("--target", default="synth_tgt:val")
    ap.add_argument("--mode", choices=["eval", "train"], default="eval")
    ap.add_argument("--weights", choices=["auto", "student", "teacher"], default="auto",
                    help="auto: the teacher where the checkpoint has one (as evaluated)")
    ap.add_argument("--images", type=int, default=384, help="images per domain (2/3 to train the probe, 1/3 held out)")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--probes", type=int, default=2, help="discriminators (seeds) averaged per run")
    ap.add_argument("--out", default=None, help="write bench/results/OUT.json")
    args = ap.parse_args()
    ws = Workspace(Path(args.workspace)).require()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    paths = {side: ws.require_split(spec)[2] for side, spec in (("source", args.source), ("target", args.target))}
    rows = []
    print(f"{args.source} vs {args.target}, {args.mode}-mode features, weights {args.weights}; held-out accuracy "
          "of a fresh patch discriminator (0.5 = indistinguishable)")
    for ref in args.runs:
        run = ws.resolve_run(ref)
        model, label, *_ = load_model(run / "ckpt" / "final.pt", args.weights, device)
        src = features(model, paths["source"], args.images, args.mode, device)
        tgt = features(model, paths["target"], args.images, args.mode, device)
        scores = [probe(src, tgt, args.steps, seed) for seed in range(args.probes)]
        image, patch = statistics.mean(s[0] for s in scores), statistics.mean(s[1] for s in scores)
        rows.append({"run": run.name, "weights": label, "image_accuracy": image, "patch_accuracy": patch,
                     "per_probe": scores})
        print(f"{run.parent.name}/{run.name:55s} {label:8s} image {image:.3f}  patch {patch:.3f}", flush=True)
    if args.out:
        out = Path(__file__).parent / "results" / f"{args.out}.json"
        out.parent.mkdir(exist_ok=True)
        settings = {k: v for k, v in vars(args).items() if k != "runs"}
        out.write_text(json.dumps({"settings": settings, "device": str(device), "rows": rows}, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
