"""What a run's report says, as document blocks (:mod:`posekit.viz.document` renders them): the run's facts and how
its final weights were selected, its final metrics, its ``eval/*.json`` results, its lineage chain and its
configuration. ``posekit report`` (:mod:`posekit.stages.report`) adds the pictures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from posekit.data.meta import KeypointMeta
from posekit.errors import DataError
from posekit.workspace import Workspace, now_iso

SELECTION = {
    "last": "the last training step (no labels used for selection)",
    "source_val": "best PCK@0.05 on the labelled source validation split (no target labels used)",
    "oracle": "ORACLE: best score on labelled target data (train.oracle_data); not an unsupervised result",
}


def read_json(path: Path) -> dict:
    """A JSON file of the workspace (a manifest, lineage or eval record); invalid JSON is a DataError naming it."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def read_metrics(path: Path) -> list[dict]:
    """The records of a run's ``metrics.jsonl`` (none when it is missing); a broken line is a DataError naming it."""
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


def report_blocks(ws: Workspace, run_dir: Path, ckpt: dict, weights_used: str, meta: KeypointMeta, lineage: dict,
                  metrics: list[dict], panels: list[tuple[str, str]], keypoints: bool = True,
                  before: bool = False) -> list[tuple]:
    """The report as a list of blocks, rendered by :func:`posekit.viz.document.to_markdown` and ``to_html``:
    ``("h1"|"h2"|"p"|"alert", text)``, ``("table", header, rows)``, ``("image", file name, caption)``, ``("tree",
    [(depth, text)])``, ``("code", text)``. ``keypoints``: the run's method predicts keypoints (else its panels are
    reconstructions); ``before``: the overlays have a row of the init run's weights."""
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
    if not keypoints:
        blocks += [("h2", "Reconstructions"), ("p", ("Fixed, evenly spaced images of each split: the network input, "
                    "the visible patches (masked ones grey: the mean colour), and the reconstruction with the visible patches pasted "
                    "back. Reconstructions from norm_pix models are shown with each true patch's mean and std."))]
    else:
        blocks.append(("h2", "Predictions"))
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
    records = [(p, read_json(p)) for p in sorted(eval_dir.glob("*.json"))]
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
            lines += lineage_tree(ws, read_json(sub), depth + 1) if sub.exists() else [(depth + 1, "its lineage.json is missing")]
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
        current = read_json(manifest).get("params_sha1")
        now = ("this workspace's copy has the same parameters" if current == sha
               else f"this workspace's copy was prepared with other parameters since (SHA-1 {str(current)[:12]})")
    return f"{role} dataset {name} (converter {entry.get('converter')}, parameters SHA-1 {sha[:12]}): {now}"
