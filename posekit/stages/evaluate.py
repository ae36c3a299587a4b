"""The ``eval`` stage: load a checkpoint, predict prepared splits, score them, write JSON."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from posekit.data.h5format import validate_h5
from posekit.data.roots import root_joints
from posekit.engine.device import pick_device
from posekit.engine.logging import console, labelled, make_progress
from posekit.engine.logging import results as results_console
from posekit.errors import ConfigError, DataError, PosekitError
from posekit.evaluation.baselines import mean_pose_floor_3d
from posekit.evaluation.evaluate import score_legacy, score_split
from posekit.evaluation.lift import score_split_3d
from posekit.evaluation.metrics3d import Metric3D, is_metric3d, parse_metric3d
from posekit.evaluation.pck import summarise
from posekit.inference import weights_note
from posekit.predictor import load_predictor
from posekit.stages import builder_of
from posekit.stages.template import METHODS
from posekit.version import __version__
from posekit.workspace import STAGES, Workspace, atomic_write_json, now_iso


@dataclass(frozen=True)
class EvalRequest:
    """What ``posekit eval`` scores and how: the same for every run and split of one call."""

    data: tuple[str, ...]  # DATASET:SPLIT specs
    metric: str  # pck@T, or a 3D metric (mpjpe, pa-mpjpe, pck3d@T, auc...)
    threshold: float | None  # T of pck@T (None for 3D metrics)
    protocol: str = "standard"  # standard (original pixels) or legacy (heatmap space)
    normalisation: str = "bbox"  # bbox or image
    include_occluded: bool = False
    checkpoint: str = "final"  # final, best, last, or a file
    weights: str = "auto"  # auto, teacher or student
    batch_size: int = 32
    flip: bool = False  # flip test: heatmaps averaged with the mirrored crop's
    amp: str = "auto"  # auto, bf16 or off: the network's forward passes under bf16 autocast (posekit.engine.precision)


def run_eval(ws: Workspace, runs: list[str], request: EvalRequest, device_name: str) -> list[dict]:
    """Score every run on every split; one table (a row per run × split), one JSON file per run × split."""
    device = pick_device(device_name)
    results = []
    for run in runs:
        results += _eval_one(ws, run, request, device)
    print_table(results)
    return results


def _eval_one(ws: Workspace, run: str, request: EvalRequest, device: torch.device) -> list[dict]:
    """Score one run on every split of ``request``; writes ``RUN/eval/DATASET-SPLIT[-CKPT][suffix].json`` each
    (:func:`results_place`: another checkpoint file's go to ``<ws>/eval/external/``)."""
    r = request
    thr, metric, protocol, normalisation, include_occluded = (r.threshold, r.metric, r.protocol, r.normalisation,
                                                              r.include_occluded)
    ckpt_path = ws.resolve_checkpoint(run, r.checkpoint)
    predictor = load_predictor(ckpt_path, r.weights, device, r.amp)
    ckpt, meta, weights_used, input_size = predictor.header, predictor.meta, predictor.weights, predictor.input_size
    metric3d = parse_metric3d(metric) if is_metric3d(metric) else None
    builder = builder_of(ckpt)
    if metric3d is not None and not (builder is not None and builder.depth):
        depth_methods = [f"{stage} --method {m}" for stage, reg in METHODS.items() for m in reg.names()
                         if reg.get(m).depth]
        raise ConfigError(f"{ckpt_path}: {metric} needs a 3D model ({', '.join(depth_methods)}); this is a "
                          f"{ckpt.get('stage')} {ckpt.get('method')!r} run", hint="use --metric pck@0.05 for 2D models")
    if metric3d is not None and protocol != "standard":
        raise ConfigError("--protocol legacy is a 2D protocol", hint="drop --protocol for 3D metrics")
    out_dir, tag = results_place(ws, ckpt_path)
    if out_dir.parent == ws.root / "eval" / "external":
        console.print(labelled("note:", "yellow", f"{ckpt_path} is not in a run of this workspace: its results go to "
                                                  f"{out_dir}"), highlight=False, soft_wrap=True)
    run_id = ckpt_path.parent.parent.name
    label = f"{ckpt.get('stage')}:{run_id.split('-', 2)[-1]}" if ckpt_path.parent.name == "ckpt" else ckpt_path.name
    selected = ckpt.get("selected_by", "last")
    results = []
    for spec in r.data:
        dataset, split, path = ws.require_split(spec)
        attrs = validate_h5(path)
        if attrs["meta"].names != meta.names:
            raise DataError(f"{path}: keypoints {attrs['meta'].name} ({attrs['meta'].num_joints}) differ from the "
                            f"checkpoint's {meta.name} ({meta.num_joints})", hint="evaluate on data with the same skeleton")
        with make_progress(transient=True) as progress:
            task = progress.add_task(f"eval {spec}", total=int(attrs["num_samples"]), info="")
            pred = predictor.predict_split(path, r.batch_size, legacy=protocol == "legacy", flip=r.flip,
                                           with_depth=metric3d is not None,
                                           on_batch=lambda n, task=task: progress.advance(task, n))
        record = {
            "metric": metric, "threshold": thr, "protocol": protocol, "data": spec, "num_samples": int(attrs["num_samples"]),
            "run": label, "checkpoint": str(ckpt_path), "stage": ckpt.get("stage"), "weights": weights_used,
            "step": ckpt.get("step"), "selected_by": selected, "config_sha1": ckpt.get("config_sha1"),
            "posekit_version": __version__, "evaluated": now_iso(), "meta": meta.name, "flip": r.flip,
            "precision": predictor.precision.describe(),
        }
        if metric3d is not None:
            root = tuple(ckpt.get("root_joints") or root_joints(meta))
            scored = score_split_3d(pred, path, metric3d, root, ckpt["config"]["head"]["depth_scale"])
            record.update({
                "coordinate_space": "camera frame, millimetres; 2D predictions lifted with the predicted root-relative "
                                    "depth and the ground-truth root depth",
                "normalisation": {"pa-mpjpe": "similarity Procrustes alignment"}.get(
                    metric3d.name, f"root-aligned (root: {'+'.join(meta.names[i] for i in root)})"),
                "counted_joints": "labelled (visible or occluded)", "unit": scored["unit"], "value": scored["value"],
                "per_joint": dict(zip(meta.names, scored["per_joint"])), "summary": scored["summary"],
                "groups": summarise(np.array([np.nan if v is None else v for v in scored["per_joint"]]), meta),
            })
            record["groups"]["All"] = scored["value"]
            record["mean_pose_floor"] = mean_pose_floor_record(ws, ckpt, path, metric3d, root)

        elif protocol == "standard":
            record.update({
                "coordinate_space": "original image pixels",
                "normalisation": {"bbox": "longer side of the ground-truth person box",
                                  "image": "longer side of the original image"}[normalisation],
                "counted_joints": "labelled (visible or occluded)" if include_occluded else "visible",
                **score_split(pred, path, thr, normalisation, 1 if include_occluded else 2),
            })
        else:
            record.update({
                "coordinate_space": f"heatmap ({input_size // 4}×{input_size // 4}) integer argmax, as tllib/UDAPE/DAML",
                "normalisation": "heatmap side / 10, threshold 0.5 (= 5% of the input side); threshold option ignored",
                "counted_joints": "visible, ground-truth argmax x>1 and y>1",
                **score_legacy(pred),
            })
        if selected == "oracle":
            record["warning"] = "ORACLE: model selected on target test labels"
        if ckpt.get("transductive"):
            record["transductive"] = True
        suffix = result_suffix(protocol, metric3d.name if metric3d else None, thr, normalisation, include_occluded,
                               r.flip, r.amp)
        atomic_write_json(out_dir / f"{dataset}-{split}{tag}{suffix}.json", record)
        record["json"] = str(out_dir / f"{dataset}-{split}{tag}{suffix}.json")
        results.append(record)
    return results


FLOOR_WHAT = ("the source training split's mean root-relative pose (labelled joints), answered for every sample and "
              "scored like the model (same root, joints and alignment)")


def mean_pose_floor_record(ws: Workspace, ckpt: dict, path: Path, metric: Metric3D, root: tuple[int, ...]) -> dict:
    """The mean-pose floor of split ``path`` for a 3D checkpoint (:func:`posekit.evaluation.baselines.
    mean_pose_floor_3d`): the mean root-relative pose of the split the checkpoint was trained on (its lineage's
    source dataset, its config's ``data.train_split``), scored with ``metric`` and ``root``. Where that split cannot
    be read in this workspace, or differs from the one trained on, ``value`` is None or a ``note`` says so."""
    data = (ckpt.get("config") or {}).get("data") or {}
    lineage = (ckpt.get("lineage") or {}).get("source") or {}
    dataset, split = lineage.get("dataset") or data.get("source"), data.get("train_split", "train")
    record: dict = {"what": FLOOR_WHAT, "source": f"{dataset}:{split}", "value": None}
    if not dataset:
        return {**record, "source": None, "note": "the checkpoint names no source dataset"}
    try:
        _, _, source = ws.require_split(f"{dataset}:{split}")
        floor = mean_pose_floor_3d(source, path, metric, root)
    except PosekitError as e:
        return {**record, "note": f"not computed: {e.message}"}
    meta = validate_h5(path)["meta"]
    per_joint = np.array([np.nan if v is None else v for v in floor["per_joint"]])
    record.update(value=floor["value"], summary=floor["summary"], per_joint=dict(zip(meta.names, floor["per_joint"])),
                  groups={**summarise(per_joint, meta), "All": floor["value"]})
    trained_on = lineage.get("params_sha1")
    if trained_on and ws.dataset_lineage(dataset).get("params_sha1") != trained_on:
        record["note"] = f"{dataset} was prepared again with other parameters since the checkpoint was trained"
    return record


def results_place(ws: Workspace, ckpt_path: Path) -> tuple[Path, str]:
    """Where the eval JSONs of a checkpoint go, and what follows ``DATASET-SPLIT`` in their names before the settings'
    suffix: a run of this workspace writes into its ``eval/`` (``final.pt`` with no tag, ``-best``/``-last`` for the
    others); any other checkpoint file into ``<ws>/eval/external/<stem>-<digest>/``, named by a digest of its path,
    so two files never replace each other's results and nothing is written outside the workspace."""
    path = ckpt_path.resolve()
    run = path.parent.parent
    if path.parent.name == "ckpt" and run.parent.name in STAGES and run.parent.parent == ws.root / "runs":
        return run / "eval", "" if path.name == "final.pt" else f"-{_file_name(path.stem)}"
    stem = _file_name(f"{run.name}-{path.stem}" if path.parent.name == "ckpt" else path.stem)
    return ws.root / "eval" / "external" / f"{stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}", ""


def _file_name(text: str) -> str:
    """``text`` as part of a file name: runs of other characters than letters, digits, '.', '_', '-' become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip("._-")[:60] or "checkpoint"


def result_suffix(protocol: str, metric3d: str | None, thr: float, normalisation: str, include_occluded: bool,
                  flip: bool = False, amp: str = "auto") -> str:
    """What follows ``DATASET-SPLIT`` in an eval JSON's name, so that results under other settings sit beside the
    default one (``pck@0.05``, box-normalised, visible joints, no flip test, ``--amp auto``: no suffix) instead of
    replacing it."""
    flipped = ("-flip" if flip else "") + ("" if amp == "auto" else f"-amp-{amp}")
    if metric3d is not None:
        return f"-{metric3d}" + flipped
    threshold = f"-pck{thr:g}" if thr != 0.05 else ""
    if protocol == "legacy":  # its own normalisation and joint set
        return "-legacy" + threshold + flipped
    return threshold + ("-image" if normalisation == "image" else "") + ("-occluded" if include_occluded else "") + flipped


def _cell(r: dict, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.1f}" if r.get("unit") == "mm" else f"{100 * value:.1f}"


def print_table(results: list[dict]) -> None:
    first = results[0]
    if "unit" in first:
        title = (f"{first['metric'].upper()} ({'mm' if first['unit'] == 'mm' else '%'}) — {first['coordinate_space']}"
                 f"; {first['normalisation']}; {first['counted_joints']} joints")
    elif first["protocol"] == "standard":
        title = (f"{first['metric'].upper()} — {first['coordinate_space']}, normalised by {first['normalisation']}, "
                 f"{first['counted_joints']} joints")
    else:
        title = "PCK@0.05 (LEGACY heatmap-space protocol of tllib/UDAPE/DAML)"
    title += "; flip test " + ("on (heatmaps averaged with the mirrored crop's)" if first.get("flip") else "off")
    precisions = sorted({r["precision"] for r in results if "precision" in r})
    title += "; network " + " / ".join(precisions) if precisions else ""
    groups = list(first["groups"])
    table = Table(title=title, title_justify="left")
    table.add_column("run (weights)")
    table.add_column("data")
    for group in groups:
        table.add_column(group, justify="right")
    floors = any("mean_pose_floor" in r for r in results)
    if floors:
        table.add_column("mean-pose floor", justify="right")
    table.add_column("N", justify="right")
    for r in results:
        cells = [_cell(r, r["groups"][g]) for g in groups]
        if floors:
            cells.append(_cell(r, (r.get("mean_pose_floor") or {}).get("value")))
        tag = "ORACLE " if r["selected_by"] == "oracle" else ""
        table.add_row(f"{tag}{r['run']} ({r['weights']})", r["data"], *cells, str(r["num_samples"]))
    results_console.print(table)
    if floors:
        sources = sorted({str(r["mean_pose_floor"]["source"]) for r in results if "mean_pose_floor" in r})
        results_console.print(f"mean-pose floor: {FLOOR_WHAT}; source {', '.join(sources)}", highlight=False)
        for r in results:
            note = (r.get("mean_pose_floor") or {}).get("note")
            if note:
                console.print(labelled("note:", "yellow", f"mean-pose floor of {r['data']}: {note}"),
                              highlight=False, soft_wrap=True)
    for r in {r["checkpoint"]: r for r in results}.values():
        results_console.print(f"{r['run']} = {weights_note(r['weights'])} of {r['checkpoint']} (step {r['step']}, selected by "
                              f"{r['selected_by']})", highlight=False)
    results_console.print(f"JSON: {', '.join(r['json'] for r in results)}", highlight=False)
    if any(r["selected_by"] == "oracle" for r in results):
        console.print("ORACLE: weights marked ORACLE were selected on target test labels", style="bold red")
