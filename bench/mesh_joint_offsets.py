"""Mesh bodies: how far apart two definitions of the same joint lie (the label choices of mesh/labels.py).

Usage: python bench/mesh_joint_offsets.py [--n 200] [--seed 0]

For N random adult bodies in poses of the default mesh pose mix: the distance between anny's COCO keypoint (what
posekit labels) and the rig's bone head at the same joint, per joint type (left and right pooled); and, for the
joints posekit takes from the rig, the distance to the nearest COCO-derived stand-in. Prints a Markdown table
(centimetres, mean ± sd and 95th percentile) and writes bench/results/mesh_joint_offsets.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from posekit.data.meta import MPII16
from posekit.datasets.synthetic.mesh.labels import RIG_TWIN
from posekit.datasets.synthetic.mesh.sample import load_mesh_kit
from posekit.datasets.synthetic.poses import MESH_DEFAULT_FAMILIES, sample_pose

STAND_INS = {  # rig-sourced MPII joint → (COCO keypoints whose mean stands in for it, what that is)
    "pelvis": (("left_hip", "right_hip"), "midpoint of the COCO hips"),
    "thorax": (("left_shoulder", "right_shoulder"), "midpoint of the COCO shoulders"),
    "upper_neck": (("left_ear", "right_ear"), "midpoint of the COCO ears"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    kit = load_mesh_kit()
    body = kit.body
    names = list(MPII16.names)
    offsets: dict[str, list[float]] = {}
    for i in range(args.n):
        rng = np.random.default_rng([args.seed, i])
        angles, _, _ = sample_pose(body.capsule, rng, 0.18, MESH_DEFAULT_FAMILIES)
        posed = body.pose(angles, body.sample_phenotype(rng))
        joints = kit.joints(posed)
        coco = body.coco_weights @ posed.vertices
        for part, bone in RIG_TWIN.items():
            for side, s in (("left", "L"), ("right", "R")):
                d = np.linalg.norm(joints[names.index(f"{side}_{part}")] - posed.bone_heads[body.bone(f"{bone}.{s}")])
                offsets.setdefault(f"{part}: COCO vs rig `{bone}` head", []).append(100 * d)
        for joint, (keys, what) in STAND_INS.items():
            stand_in = coco[[body.coco_labels.index(k) for k in keys]].mean(0)
            offsets.setdefault(f"{joint}: rig vs {what}", []).append(100 * np.linalg.norm(joints[names.index(joint)] - stand_in))
    rows = {k: {"mean_cm": round(float(np.mean(v)), 1), "sd_cm": round(float(np.std(v)), 1),
                "p95_cm": round(float(np.percentile(v, 95)), 1)} for k, v in offsets.items()}
    print(f"| joint | mean ± sd (cm) | 95th pct (cm) |   ({args.n} bodies)\n|---|---|---|")
    for key, r in rows.items():
        print(f"| {key} | {r['mean_cm']} ± {r['sd_cm']} | {r['p95_cm']} |")
    out = Path(__file__).parent / "results" / "mesh_joint_offsets.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "offsets": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
