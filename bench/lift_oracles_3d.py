"""Where a 2.5D model's MPJPE comes from: its 2D joints and its root-relative depth, each swapped for the ground truth
(or for zero / the source's mean depth), lifted and scored exactly as `posekit eval --metric mpjpe` does
(posekit.evaluation.lift; ground-truth root depth, root = the skeleton's). Also the mm one original-image pixel is
worth at the root's median depth. Issue 30 item 3 (docs/mim.md, "Convolutional 2.5D baseline").

Usage: python bench/lift_oracles_3d.py --workspace WS --checkpoint RUN/ckpt/final.pt
                                       [--source s3d_src:train] [--data s3d_src:test s3d_tgt:test] [--out FILE.json]
Rows: gt2d+gt_depth (0 mm: the lifting itself), gt2d+zero_depth, gt2d+mean_depth (source mean per joint),
gt2d+model_depth, model2d+gt_depth, model2d+model_depth (= eval's MPJPE, flip test off).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from posekit.data.h5format import read_arrays
from posekit.data.roots import root_joints
from posekit.evaluation.lift import lift_to_camera, score_camera_3d, split_3d_arrays
from posekit.evaluation.metrics3d import parse_metric3d
from posekit.predictor import load_predictor
from posekit.workspace import Workspace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--source", default="s3d_src:train")
    ap.add_argument("--data", nargs="+", default=["s3d_src:test", "s3d_tgt:test"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    ws = Workspace(Path(args.workspace))
    predictor = load_predictor(Path(args.checkpoint), "auto", torch.device("cpu"))
    root = tuple(predictor.header.get("root_joints") or root_joints(predictor.meta))
    scale = predictor.header["config"]["head"]["depth_scale"]
    mpjpe = parse_metric3d("mpjpe")
    src = read_arrays(ws.require_split(args.source)[2], ("keypoints3d",))["keypoints3d"].astype(np.float64)
    mean_dz = np.nanmean(src[..., 2] - src[:, list(root), 2].mean(1, keepdims=True), 0)
    rows = {}
    for spec in args.data:
        path = ws.require_split(spec)[2]
        a = split_3d_arrays(path)
        gt = a["keypoints3d"].astype(np.float64)
        root_z = gt[:, list(root), 2].mean(1)
        gt_dz, gt_xy = gt[..., 2] - root_z[:, None], a["keypoints_orig"][..., :2].astype(np.float64)
        cams = a["intrinsics"].astype(np.float64)
        pred = predictor.predict_split(path, 64, with_depth=True)
        model_xy, model_dz = pred.keypoints.astype(np.float64), pred.extra["depth"] * scale
        cases = {"gt2d+gt_depth": (gt_xy, gt_dz), "gt2d+zero_depth": (gt_xy, 0 * gt_dz),
                 "gt2d+mean_depth": (gt_xy, np.broadcast_to(mean_dz, gt_dz.shape)),
                 "gt2d+model_depth": (gt_xy, model_dz), "model2d+gt_depth": (model_xy, gt_dz),
                 "model2d+model_depth": (model_xy, model_dz)}
        vis = (a["keypoints_orig"][..., 2] >= 1) & np.isfinite(gt).all(-1)
        px = np.linalg.norm(model_xy - gt_xy, axis=-1)[vis]
        rows[spec] = {
            "mpjpe_mm": {k: round(score_camera_3d(1000 * lift_to_camera(xy, dz, cams, root_z), a, mpjpe,
                                                  root)["value"], 1) for k, (xy, dz) in cases.items()},
            "model_2d_error_px": {"median": round(float(np.median(px)), 2), "mean": round(float(px.mean()), 2)},
            "depth_mae_m": {"model": round(float(np.abs(model_dz - gt_dz)[vis].mean()), 4),
                            "zero": round(float(np.abs(gt_dz)[vis].mean()), 4)},
            "mm_per_pixel_at_root": round(float(1000 * np.median(root_z / cams[:, 0, 0])), 1),
        }
        print(spec, json.dumps(rows[spec]))
    if args.out:
        Path(args.out).write_text(json.dumps({"checkpoint": args.checkpoint, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
