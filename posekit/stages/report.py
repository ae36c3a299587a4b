"""``posekit report``: what one training run did, in ``RUN/report/``.

Files: ``curves.png`` (metrics.jsonl), ``overlays_source.png`` / ``overlays_target.png`` (predictions and
ground truth on fixed test images; ``overlays_<dataset>-<split>.png`` for ``--data``), ``report.md`` (links the
PNGs) and ``report.html`` (self-contained: the PNGs embedded as base64). Both documents give the run id, stage,
method, how the final weights were selected (ORACLE first and in bold when target labels chose them), final
metrics, the ``RUN/eval/*.json`` results, the lineage chain and the resolved configuration. Everything is
computed in memory first and every file is written atomically.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from posekit.data.dataset import H5KeypointDataset
from posekit.data.h5format import read_arrays
from posekit.data.meta import KeypointMeta
from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.device import pick_device
from posekit.engine.precision import Precision
from posekit.errors import DataError, MissingArtifactError
from posekit.inference import (
    checkpoint_precision,
    heatmap_settings,
    load_model,
    network_crop,
    predict_crops,
    weights_note,
)
from posekit.stages import builder_for, builder_of
from posekit.viz.curves import render_curves
from posekit.viz.document import to_html, to_markdown
from posekit.viz.grid import image_grid
from posekit.viz.overlay import draw_pose, resize_with_keypoints
from posekit.workspace import Workspace, atomic_write_bytes, atomic_write_text, now_iso

CELL = 192  # longer side, in pixels, of each overlay image in a grid
SELECTION = {
    "last": "the last training step (no labels used for selection)",
    "source_val": "best PCK@0.05 on the labelled source validation split (no target labels used)",
    "oracle": "ORACLE: best score on labelled target data (train.oracle_data); not an unsupervised result",
}


@dataclass
class Weights:
    """A network to draw predictions of: ``weights`` says which (as ``load_model`` does), ``label`` names its row."""

    label: str
    weights: str
    model: torch.nn.Module
    input_size: int
    sigma: float
    precision: Precision


def load_weights(path: Path, device: torch.device) -> tuple[Weights, dict, KeypointMeta]:
    """The network of a checkpoint (its teacher when it has one, as ``eval`` does), the checkpoint and its meta."""
    model, which, ckpt, meta = load_model(path, "auto", device)
    return (Weights(which, weights_note(which), model, *heatmap_settings(ckpt["config"]),
                    checkpoint_precision(ckpt, "auto", device)), ckpt, meta)


def build_report(ws: Workspace, run_ref: str, data: list[str] | None, num: int, log_losses: bool, batch_size: int,
                 device_name: str) -> list[Path]:
    """Write every report file of the run ``run_ref`` and return their paths (documents last)."""
    run_dir = ws.resolve_run(run_ref)
    device = pick_device(device_name)
    final = ws.resolve_checkpoint(str(run_dir), "final")
    if not _draws_keypoints(load_checkpoint(final)):
        return build_mae_report(ws, run_dir, final, data, num, log_losses, device)
    after, ckpt, meta = load_weights(final, device)
    lineage = _read_json(run_dir / "lineage.json") if (run_dir / "lineage.json").exists() else ckpt.get("lineage", {})
    stage = ckpt.get("stage")
    after.label = f"{stage} ({after.label})"
    rows = [after]
    if _has_before(ckpt):
        init_path = Path(lineage.get("init", {}).get("checkpoint") or ckpt["config"].get("init") or "")
        if not init_path.is_file():
            raise MissingArtifactError(f"the init checkpoint {init_path} of {run_dir.name} is missing",
                                       hint="the 'before' overlays need it; restore that pretrain run")
        before = load_weights(init_path, device)[0]
        before.label, after.label = f"before: pretrain ({before.label})", f"after: {after.label}"
        rows = [before, after]

    metrics = _read_metrics(run_dir / "metrics.jsonl")
    pictures = {"curves.png": _png(render_curves(metrics, f"training curves: {stage} run {run_dir.name}", log_losses))}
    panels = [(f"overlays_{d.replace(':', '-')}.png", d) for d in data] if data else default_panels(ws, ckpt["config"])
    for name, spec in panels:
        pictures[name] = _png(overlay_grid(ws, spec, rows, meta, num, batch_size, device))

    blocks = report_blocks(ws, run_dir, ckpt, after.weights, meta, lineage, metrics, panels)
    return write_report(run_dir, pictures, blocks)


def build_mae_report(ws: Workspace, run_dir: Path, final: Path, data: list[str] | None, num: int, log_losses: bool,
                     device: torch.device) -> list[Path]:
    """An MAE run's report: curves and, per split, originals / masked inputs / reconstructions."""
    from posekit.config.schema_mim import MAEPretrainConfig
    from posekit.models.factory import build_mae
    from posekit.viz.reconstruction import reconstruct

    ckpt = load_checkpoint(final)
    cfg = MAEPretrainConfig.model_validate(ckpt["config"])
    mae = build_mae(cfg.model.model_copy(update={"pretrained": "none"}), cfg.mae)  # the run's weights follow
    mae.load_state_dict(ckpt["model"])
    mae.to(device)
    meta = KeypointMeta.from_json(json.dumps(ckpt["keypoints"]))
    lineage = _read_json(run_dir / "lineage.json") if (run_dir / "lineage.json").exists() else {}
    metrics = _read_metrics(run_dir / "metrics.jsonl")
    pictures = {"curves.png": _png(render_curves(metrics, f"training curves: MAE run {run_dir.name}", log_losses))}
    specs = data or [f"{cfg.data.source}:test"] + ([f"{cfg.data.target}:test"] if cfg.data.target else [])
    panels = []
    for spec in specs:
        _, _, path = ws.require_split(spec)
        ds = H5KeypointDataset(path)
        indices = sorted({round(i) for i in np.linspace(0, len(ds) - 1, min(num, len(ds)))})
        triples = reconstruct(mae, np.stack([ds.read_image(i) for i in indices]), cfg.data.input_size,
                              cfg.mae.mask_ratio, cfg.mae.norm_pix)
        big = [[np.asarray(Image.fromarray(t[k]).resize((CELL, CELL), Image.NEAREST)) for t in triples]
               for k in range(3)]
        name = f"reconstructions_{spec.replace(':', '-')}.png"
        pictures[name] = _png(image_grid(big, ["input", "masked", "reconstruction"], [f"#{i}" for i in indices],
                                         f"{spec}: {cfg.mae.mask_ratio:.0%} of the patches masked (fixed seed)"))
        panels.append((name, spec))
    blocks = report_blocks(ws, run_dir, ckpt, "encoder + decoder", meta, lineage, metrics, panels)
    return write_report(run_dir, pictures, blocks)


def write_report(run_dir: Path, pictures: dict[str, bytes], blocks: list[tuple]) -> list[Path]:
    out = run_dir / "report"
    written = []
    for name, png in pictures.items():
        atomic_write_bytes(out / name, png)
        written.append(out / name)
    atomic_write_text(out / "report.md", to_markdown(blocks))
    atomic_write_text(out / "report.html", to_html(blocks, pictures, f"posekit report: {run_dir.name}"))
    return [*written, out / "report.md", out / "report.html"]


# -- data and pictures ----------------------------------------------------------------------------------------
def default_panels(ws: Workspace, cfg: dict) -> list[tuple[str, str]]:
    """``(file name, DATASET:test)`` for the run's source dataset and its target: the adapt run's
    ``data.target``, or for a pretrain run the one dataset prepared together with its source (same converter
    call, same parameter hash), if there is exactly one."""
    source = cfg["data"]["source"]
    target = cfg["data"].get("target") or co_prepared(ws, source)
    panels = [("overlays_source.png", f"{source}:test")]
    return panels + [("overlays_target.png", f"{target}:test")] if target else panels


def co_prepared(ws: Workspace, dataset: str) -> str | None:
    """The other dataset whose manifest has the same converter and parameter SHA-1 as ``dataset``'s, if unique."""
    manifest = ws.data_dir(dataset) / "manifest.json"
    if not manifest.exists():
        return None
    mine = _read_json(manifest)
    others = [p.parent.name for p in sorted((ws.root / "data").glob("*/manifest.json")) if p.parent.name != dataset
              and (m := _read_json(p)).get("params_sha1") == mine.get("params_sha1")
              and m.get("converter") == mine.get("converter")]
    return others[0] if len(others) == 1 else None


def overlay_grid(ws: Workspace, spec: str, rows: list[Weights], meta: KeypointMeta, num: int, batch_size: int,
                 device: torch.device) -> Image.Image:
    """``num`` evenly spaced images of the split ``spec``, one grid row per entry of ``rows``: its predictions
    (discs) over the ground truth (crosses), both in stored-crop pixels, each image enlarged to ``CELL`` pixels.
    Each stored crop is warped to the network input as ``posekit predict`` warps a whole image."""
    _, _, path = ws.require_split(spec)
    ds = H5KeypointDataset(path)
    if ds.meta.names != meta.names:
        raise DataError(f"{path}: keypoints {ds.meta.name} differ from the checkpoint's {meta.name}",
                        hint="pass --data with a split of the same skeleton")
    indices = sorted({round(i) for i in np.linspace(0, len(ds) - 1, min(num, len(ds)))})
    crops = [ds.read_image(i) for i in indices]
    gt = read_arrays(path, ("keypoints",))["keypoints"][indices]
    cells = []
    for w in rows:
        pairs = [network_crop(c, None, 1.0, w.input_size) for c in crops]
        inputs, affines = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        xy = np.concatenate([predict_crops(w.model, inputs[i:i + batch_size], affines[i:i + batch_size], w.sigma,
                                           device, None, w.precision)[0] for i in range(0, len(crops), batch_size)])
        row = []
        for crop, kp, g in zip(crops, xy, gt):
            big, (kp_big, g_big) = resize_with_keypoints(crop, CELL, kp, g)
            row.append(draw_pose(big, kp_big, meta, gt=g_big))
        cells.append(row)
    return image_grid(cells, [w.label for w in rows], [f"#{i}" for i in indices],
                      f"{spec}: prediction (discs) over ground truth (crosses); blue left, red right, green centre")


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def _read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise DataError(f"{path}:{lineno}: not a JSON line", hint="remove or repair that line") from None
    return rows


# -- content --------------------------------------------------------------------------------------------------
def report_blocks(ws: Workspace, run_dir: Path, ckpt: dict, weights_used: str, meta: KeypointMeta, lineage: dict,
                  metrics: list[dict], panels: list[tuple[str, str]]) -> list[tuple]:
    """The report as a list of blocks, rendered by :func:`to_markdown` and :func:`to_html`: ``("h1"|"h2"|"p"|
    "alert", text)``, ``("table", header, rows)``, ``("image", file name, caption)``, ``("tree", [(depth, text)])``,
    ``("code", text)``."""
    stage, selected = ckpt.get("stage"), ckpt.get("selected_by", "last")
    blocks: list[tuple] = [("h1", f"{stage} run {run_dir.name}")]
    if selected == "oracle":
        blocks.append(("alert", ("ORACLE: the final weights were selected on labelled target data; their target "
                                 "scores are not unsupervised domain-adaptation results.")))
    facts = [("run", str(run_dir)), ("stage", str(stage)), ("method", str(ckpt.get("method"))),
             ("final weights", f"ckpt/final.pt, step {ckpt.get('step')}, {weights_used}"),
             ("selected by", SELECTION.get(selected, selected)),
             ("target labels used for selection", "YES (ORACLE)" if selected == "oracle" else "no")]
    if ckpt.get("transductive"):
        facts.append(("transductive", "yes: adapted on an evaluation split of the target"))
    facts += [("config SHA-1", str(ckpt.get("config_sha1"))), ("report written", now_iso())]
    blocks.append(("table", ["field", "value"], facts))

    blocks += [("h2", "Training curves"), ("image", "curves.png", "Training curves from metrics.jsonl")]
    if not _draws_keypoints(ckpt):
        blocks += [("h2", "Reconstructions"), ("p", ("Fixed, evenly spaced images of each split: the network input, "
                    "the visible patches (masked ones grey: the mean colour), and the reconstruction with the visible patches pasted "
                    "back. Reconstructions from norm_pix models are shown with each true patch's mean and std."))]
    else:
        blocks.append(("h2", "Predictions"))
        before = _has_before(ckpt)
        blocks.append(("p", "Fixed, evenly spaced images of each split, enlarged; predictions are discs, ground "
                            "truth crosses, in crop pixels. Colours: blue left, red right, green centre joints."
                       + (" Rows: before = the init pretrain weights, after = this run's weights." if before else "")))
    for name, spec in panels:
        blocks.append(("image", name, f"{spec}"))

    blocks.append(("h2", "Final metrics"))
    blocks.append(("table", ["where", "values"], final_metrics(ckpt, metrics)))
    blocks.append(("h2", "Evaluation results"))
    blocks += eval_blocks(run_dir / "eval", meta)
    blocks += [("h2", "Lineage"), ("tree", [(0, f"{stage} run {run_dir.name}")] + lineage_tree(ws, lineage, 1))]
    config = run_dir / "config.yaml"
    blocks += [("h2", "Configuration"),
               ("code", config.read_text() if config.exists() else yaml.safe_dump(ckpt["config"], sort_keys=False))]
    return blocks


def final_metrics(ckpt: dict, metrics: list[dict]) -> list[tuple[str, str]]:
    """Rows: the validation values stored with the selected weights, the last training and validation logs."""
    def fmt(row: dict) -> str:
        return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(row.items())
                         if k not in ("step", "split") and not k.startswith("time/")) or "none"

    rows = [(f"checkpoint (step {ckpt.get('step')})", fmt(ckpt.get("metrics") or {}))]
    train = [r for r in metrics if "split" not in r]
    if train:
        rows.append((f"last training log (step {train[-1].get('step')})", fmt(train[-1])))
    for split in dict.fromkeys(r["split"] for r in metrics if "split" in r):
        last = [r for r in metrics if r.get("split") == split][-1]
        rows.append((f"last {split} (step {last.get('step')})", fmt(last)))
    return rows


def eval_blocks(eval_dir: Path, meta: KeypointMeta) -> list[tuple]:
    """One table of every ``eval/*.json`` (scores in %, groups in the skeleton's order), or a line saying how to
    make some."""
    records = [(p, _read_json(p)) for p in sorted(eval_dir.glob("*.json"))]
    if not records:
        run = eval_dir.parent
        return [("p", f"No results in {eval_dir} yet: run `posekit eval {run.parent.name}/{run.name} --data DATASET:SPLIT`.")]
    groups = list(dict.fromkeys([*meta.groups, "All", *(g for _, r in records for g in r.get("groups", {}))]))
    rows = []
    for path, r in records:
        scores = [r.get("groups", {}).get(g) for g in groups]
        scale = 1 if r.get("unit") == "mm" else 100
        cells = ["-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{scale * v:.1f}" for v in scores]
        tag = "ORACLE " if r.get("selected_by") == "oracle" else ""
        rows.append([f"{tag}{r.get('data')}", r.get("protocol", "?") + (" + flip" if r.get("flip") else ""),
                     r.get("metric", "?"),
                     f"{Path(r.get('checkpoint', '?')).name} step {r.get('step')} ({str(r.get('weights', '?')).split(' ')[0]})",
                     *cells, str(r.get("num_samples")), path.name])
    return [("table", ["data", "protocol", "metric", "weights", *groups, "N", "file"], rows),
            ("p", "Scores in % (3D errors in mm): " + "; ".join(dict.fromkeys(
                f"{r.get('protocol')}: {r.get('coordinate_space')}, normalised by {r.get('normalisation')}" for _, r in records)))]


def lineage_tree(ws: Workspace, lineage: dict, depth: int) -> list[tuple[int, str]]:
    """``(depth, text)`` lines for the datasets, style cache and init run of one ``lineage.json``, following the
    init run's own lineage one level deeper."""
    lines: list[tuple[int, str]] = []
    order = ("inputs", "source", "target", "style_cache", "init")
    for key, value in sorted(lineage.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        if key == "stage":
            continue
        if key == "inputs":
            lines += [(depth, dataset_line(ws, "input", d)) for d in value]
        elif key == "init":
            path = Path(value.get("checkpoint", ""))
            run = path.parent.parent
            lines.append((depth, f"init: {run.parent.name} run {run.name} ({path}, config SHA-1 {value.get('config_sha1')})"))
            sub = run / "lineage.json"
            lines += lineage_tree(ws, _read_json(sub), depth + 1) if sub.exists() else [(depth + 1, "its lineage.json is missing")]
        elif key == "style_cache":
            lines.append((depth, f"style cache: {value or 'none'}"))
        elif isinstance(value, dict) and "dataset" in value:
            lines.append((depth, dataset_line(ws, key, value)))
        else:
            lines.append((depth, f"{key}: {value}"))
    return lines


def dataset_line(ws: Workspace, role: str, entry: dict) -> str:
    """One dataset of a lineage, and whether the workspace still holds it prepared with the same parameters."""
    name, sha = entry.get("dataset"), entry.get("params_sha1") or "?"
    manifest = ws.data_dir(str(name)) / "manifest.json"
    if not manifest.exists():
        now = "no longer in this workspace"
    else:
        current = _read_json(manifest).get("params_sha1")
        now = ("this workspace's copy has the same parameters" if current == sha
               else f"this workspace's copy was prepared with other parameters since (SHA-1 {str(current)[:12]})")
    return f"{role} dataset {name} (converter {entry.get('converter')}, parameters SHA-1 {sha[:12]}): {now}"


def _draws_keypoints(header: dict) -> bool:
    """Whether the run's method predicts keypoints (else the report shows reconstructions)."""
    builder = builder_of(header)
    return builder is None or builder.keypoint_head


def _has_before(header: dict) -> bool:
    """Whether the run continues a run that predicts keypoints, whose weights the overlays show as "before" (an MAE
    encoder has no keypoint head)."""
    builder = builder_of(header)
    return bool(builder and builder.starts_from and builder_for(*builder.starts_from).keypoint_head)
