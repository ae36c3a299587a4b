"""The ``eval`` stage: load a checkpoint, predict prepared splits, score them, write JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from posekit import __version__
from posekit.config.schema import ModelConfig
from posekit.data.h5format import validate_h5
from posekit.data.meta import KeypointMeta
from posekit.data.roots import root_joints
from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.device import pick_device
from posekit.engine.logging import console, make_progress
from posekit.engine.logging import results as results_console
from posekit.errors import CheckpointError, ConfigError, DataError, MissingArtifactError
from posekit.evaluation.evaluate import predict_split, score_legacy, score_split
from posekit.evaluation.lift import score_split_3d
from posekit.evaluation.metrics3d import is_metric3d, parse_metric3d
from posekit.evaluation.pck import summarise
from posekit.models.pose_net import PoseNet
from posekit.workspace import Workspace, atomic_write_json, now_iso

CHECKPOINT_NAMES = ("final", "best", "last")


def resolve_checkpoint(ws: Workspace, run: str, checkpoint: str) -> Path:
    """``run`` + ``checkpoint`` (final/best/last or a file path) → checkpoint file."""
    if checkpoint not in CHECKPOINT_NAMES:
        path = Path(checkpoint)
        if not path.is_file():
            raise MissingArtifactError(f"no checkpoint file {path}", hint=f"use one of {', '.join(CHECKPOINT_NAMES)} or a .pt path")
        return path.resolve()
    run_dir = ws.resolve_run(run)
    path = run_dir / "ckpt" / f"{checkpoint}.pt"
    if not path.exists():
        have = sorted(p.stem for p in (run_dir / "ckpt").glob("*.pt"))
        resume = f"`posekit {run_dir.parent.name} --resume {run_dir.parent.name}/{run_dir.name}`"
        hint = (f"this run has {', '.join(have)}.pt only; finish it with {resume}" if have
                else f"the run has no checkpoint yet; continue it with {resume} or re-run the stage")
        raise MissingArtifactError(f"{path} does not exist (run not finished?)", hint=hint)
    return path


def heatmap_settings(cfg: dict) -> tuple[int, float]:
    """(input side, heatmap sigma) of a checkpoint's configuration (2D methods: data.sigma; mim: head.sigma)."""
    sigma = cfg["data"].get("sigma") or cfg.get("head", {}).get("sigma")
    return int(cfg["data"]["input_size"]), float(sigma)


def build_network(ckpt_path: Path, ckpt: dict, num_joints: int):
    """The untrained network a checkpoint's header declares, and a short name of its architecture."""
    method, model_cfg = ckpt.get("method"), ckpt["config"]["model"]
    if method == "mae":
        raise CheckpointError(f"{ckpt_path}: an MAE pre-training run has no keypoint head",
                              hint="fine-tune it first: `posekit adapt --method mim --init <this run>`")
    if method == "mim":
        from posekit.config.schema_mim import ViTConfig
        from posekit.stages.adapt_mim import build_vitpose

        v = ViTConfig.model_validate(model_cfg)
        return build_vitpose(v, num_joints), f"ViT p{v.patch_size} d{v.dim}×{v.depth}"
    cfg = ModelConfig.model_validate(model_cfg)
    return PoseNet(cfg, num_joints), cfg.backbone


def load_model(ckpt_path: Path, weights: str, device):
    """Build the network from a checkpoint, in eval mode and NHWC memory format; returns (model, a label saying which
    weights, checkpoint dict, meta)."""
    ckpt = load_checkpoint(ckpt_path)
    try:
        meta = KeypointMeta.from_json(json.dumps(ckpt["keypoints"]))
        model, arch = build_network(ckpt_path, ckpt, meta.num_joints)
    except (KeyError, ValueError, DataError) as exc:
        raise CheckpointError(f"{ckpt_path}: incomplete checkpoint header ({exc})",
                              hint="use the run's own checkpoint, or re-run the stage that wrote it") from None
    teacher = ckpt.get("teacher")
    if weights == "auto":
        weights = "teacher" if teacher is not None else "student"
    label = weights if teacher is not None else "model (this checkpoint has no teacher)"
    if weights == "teacher" and teacher is None:
        raise ConfigError(f"{ckpt_path} has no teacher (stage {ckpt.get('stage')})", hint="use --weights student")
    state = teacher if weights == "teacher" else ckpt["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise CheckpointError(f"{ckpt_path}: weights do not fit the {arch} architecture it declares",
                              hint="its header and weights disagree (an edited or foreign file); use the run's own "
                                   "ckpt/final.pt or re-run the stage") from None
    # NHWC, as in training (train.channels_last): on a CPU its max-pooling alone is ~10× faster than in NCHW
    return model.to(device, memory_format=torch.channels_last).eval(), label, ckpt, meta


def run_eval(ws: Workspace, runs: list[str], data: list[str], thr: float, metric: str, protocol: str,
             normalisation: str, include_occluded: bool, checkpoint: str, weights: str, batch_size: int,
             device_name: str) -> list[dict]:
    """Score every run on every split; one table (a row per run × split), one JSON file per run × split."""
    device = pick_device(device_name)
    results = []
    for run in runs:
        results += _eval_one(ws, run, data, thr, metric, protocol, normalisation, include_occluded, checkpoint,
                             weights, batch_size, device)
    print_table(results)
    return results


def _eval_one(ws, run, data, thr, metric, protocol, normalisation, include_occluded, checkpoint, weights, batch_size,
              device) -> list[dict]:
    ckpt_path = resolve_checkpoint(ws, run, checkpoint)
    model, weights_used, ckpt, meta = load_model(ckpt_path, weights, device)
    metric3d = parse_metric3d(metric) if is_metric3d(metric) else None
    if metric3d is not None and ckpt.get("method") != "mim":
        raise ConfigError(f"{ckpt_path}: {metric} needs a 3D model (adapt --method mim); this is a "
                          f"{ckpt.get('stage')} {ckpt.get('method')!r} run", hint="use --metric pck@0.05 for 2D models")
    if metric3d is not None and protocol != "standard":
        raise ConfigError("--protocol legacy is a 2D protocol", hint="drop --protocol for 3D metrics")
    input_size, sigma = heatmap_settings(ckpt["config"])
    out_dir = ckpt_path.parent.parent / "eval" if ckpt_path.parent.name == "ckpt" else ckpt_path.parent / "eval"
    run_id = ckpt_path.parent.parent.name
    label = f"{ckpt.get('stage')}:{run_id.split('-', 2)[-1]}" if ckpt_path.parent.name == "ckpt" else ckpt_path.name
    selected = ckpt.get("selected_by", "last")
    results = []
    for spec in data:
        dataset, split, path = ws.require_split(spec)
        attrs = validate_h5(path)
        if attrs["meta"].names != meta.names:
            raise DataError(f"{path}: keypoints {attrs['meta'].name} ({attrs['meta'].num_joints}) differ from the "
                            f"checkpoint's {meta.name} ({meta.num_joints})", hint="evaluate on data with the same skeleton")
        with make_progress(transient=True) as progress:
            task = progress.add_task(f"eval {spec}", total=int(attrs["num_samples"]), info="")
            pred = predict_split(model, path, input_size, sigma, device, batch_size, legacy=protocol == "legacy",
                                 on_batch=lambda n, task=task: progress.advance(task, n), with_depth=metric3d is not None)
        record = {
            "metric": metric, "threshold": thr, "protocol": protocol, "data": spec, "num_samples": int(attrs["num_samples"]),
            "run": label, "checkpoint": str(ckpt_path), "stage": ckpt.get("stage"), "weights": weights_used,
            "step": ckpt.get("step"), "selected_by": selected, "config_sha1": ckpt.get("config_sha1"),
            "posekit_version": __version__, "evaluated": now_iso(), "meta": meta.name,
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
        suffix = result_suffix(protocol, metric3d.name if metric3d else None, thr, normalisation, include_occluded)
        atomic_write_json(out_dir / f"{dataset}-{split}{suffix}.json", record)
        record["json"] = str(out_dir / f"{dataset}-{split}{suffix}.json")
        results.append(record)
    return results


def result_suffix(protocol: str, metric3d: str | None, thr: float, normalisation: str, include_occluded: bool) -> str:
    """What follows ``DATASET-SPLIT`` in an eval JSON's name, so that results under other settings sit beside the
    default one (``pck@0.05``, box-normalised, visible joints: no suffix) instead of replacing it."""
    if metric3d is not None:
        return f"-{metric3d}"
    threshold = f"-pck{thr:g}" if thr != 0.05 else ""
    if protocol == "legacy":  # its own normalisation and joint set
        return "-legacy" + threshold
    return threshold + ("-image" if normalisation == "image" else "") + ("-occluded" if include_occluded else "")


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
    groups = list(first["groups"])
    table = Table(title=title, title_justify="left")
    table.add_column("run (weights)")
    table.add_column("data")
    for group in groups:
        table.add_column(group, justify="right")
    table.add_column("N", justify="right")
    for r in results:
        cells = [_cell(r, r["groups"][g]) for g in groups]
        tag = "ORACLE " if r["selected_by"] == "oracle" else ""
        table.add_row(f"{tag}{r['run']} ({r['weights'].split(' ')[0]})", r["data"], *cells, str(r["num_samples"]))
    results_console.print(table)
    for r in {r["checkpoint"]: r for r in results}.values():
        results_console.print(f"{r['run']} = {r['weights']} of {r['checkpoint']} (step {r['step']}, selected by "
                              f"{r['selected_by']})", highlight=False)
    results_console.print(f"JSON: {', '.join(r['json'] for r in results)}", highlight=False)
    if any(r["selected_by"] == "oracle" for r in results):
        console.print("ORACLE: weights marked ORACLE were selected on target test labels", style="bold red")
