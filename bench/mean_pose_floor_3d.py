"""The 3D mean-pose floor of prepared splits: the source training split's mean root-relative pose, answered for
every sample and scored like a 3D model (posekit.evaluation.baselines.mean_pose_floor_3d; what `posekit eval
--metric mpjpe|pa-mpjpe|pck3d@T|auc` prints beside each 3D result, issue 30).

Usage: python bench/mean_pose_floor_3d.py --workspace WS [--source s3d_src:train]
                                          [--data s3d_src:test s3d_tgt:val s3d_tgt:test] [--root-joint pelvis]
                                          [--out docs/results/FILE.json]
The root is the skeleton's (posekit.data.roots: the hips' midpoint for human16, as the models are scored), or the
named joint with --root-joint. No network and no image is read.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from posekit.data.h5format import validate_h5
from posekit.data.roots import root_joints
from posekit.evaluation.baselines import mean_pose_floor_3d
from posekit.evaluation.metrics3d import parse_metric3d
from posekit.version import __version__
from posekit.workspace import Workspace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--source", default="s3d_src:train")
    ap.add_argument("--data", nargs="+", default=["s3d_src:test", "s3d_tgt:val", "s3d_tgt:test"])
    ap.add_argument("--root-joint", default=None, help="score with this joint as the root instead of the skeleton's")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    ws = Workspace(Path(args.workspace))
    source = ws.require_split(args.source)[2]
    meta = validate_h5(source)["meta"]
    root = (meta.names.index(args.root_joint),) if args.root_joint else root_joints(meta)
    rows = {}
    start = time.perf_counter()
    for spec in args.data:
        target = ws.require_split(spec)[2]
        floor = mean_pose_floor_3d(source, target, parse_metric3d("mpjpe"), root)
        rows[spec] = {"num_samples": int(validate_h5(target)["num_samples"]), **floor["summary"]}
    seconds = time.perf_counter() - start
    print(f"mean-pose floor of {args.source} (root {'+'.join(meta.names[i] for i in root)}), {seconds:.1f} s")
    print(f"{'data':<16}{'N':>6}{'MPJPE mm':>10}{'PA-MPJPE mm':>13}{'PCK3D@150 %':>13}{'AUC %':>8}")
    for spec, r in rows.items():
        print(f"{spec:<16}{r['num_samples']:>6}{r['mpjpe']:>10.1f}{r['pa-mpjpe']:>13.1f}{100 * r['pck3d@150']:>13.1f}"
              f"{100 * r['auc']:>8.1f}")
    if args.out:
        record = {"what": "mean-pose floor (posekit.evaluation.baselines.mean_pose_floor_3d)", "source": args.source,
                  "root": [meta.names[i] for i in root], "workspace": str(ws.root),
                  "dataset_params_sha1": ws.dataset_lineage(args.source.split(":")[0])["params_sha1"],
                  "posekit_version": __version__, "seconds": seconds, "results": rows}
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
