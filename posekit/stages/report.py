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
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from posekit.data.dataset import H5KeypointDataset
from posekit.data.h5format import read_arrays
from posekit.data.meta import KeypointMeta
from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.device import pick_device
from posekit.errors import DataError, MissingArtifactError
from posekit.inference import weights_note
from posekit.predictor import Predictor, load_predictor
from posekit.stages import builder_for, builder_of
from posekit.viz.curves import render_curves
from posekit.viz.document import to_html, to_markdown
from posekit.viz.grid import image_grid
from posekit.viz.overlay import draw_pose, resize_with_keypoints
from posekit.viz.report_content import read_json, read_metrics, report_blocks
from posekit.workspace import Workspace, atomic_write_bytes, atomic_write_text

CELL = 192  # longer side, in pixels, of each overlay image in a grid


def build_report(ws: Workspace, run_ref: str, data: list[str] | None, num: int, log_losses: bool, batch_size: int,
                 device_name: str) -> list[Path]:
    """Write every report file of the run ``run_ref`` and return their paths (documents last)."""
    run_dir = ws.resolve_run(run_ref)
    device = pick_device(device_name)
    final = ws.resolve_checkpoint(str(run_dir), "final")
    ckpt = load_checkpoint(final)  # read once: the header decides the report, the weights draw it
    if not _draws_keypoints(ckpt):
        return build_mae_report(ws, run_dir, ckpt, data, num, log_losses, device)
    after = load_predictor(final, "auto", device, ckpt=ckpt)
    lineage = read_json(run_dir / "lineage.json") if (run_dir / "lineage.json").exists() else ckpt.get("lineage", {})
    stage = ckpt.get("stage")
    rows = [(f"{stage} ({after.weights})", after)]
    before = _has_before(ckpt)
    if before:
        init_path = Path(lineage.get("init", {}).get("checkpoint") or ckpt["config"].get("init") or "")
        if not init_path.is_file():
            raise MissingArtifactError(f"the init checkpoint {init_path} of {run_dir.name} is missing",
                                       hint="the 'before' overlays need it; restore that pretrain run")
        init = load_predictor(init_path, "auto", device)
        rows = [(f"before: pretrain ({init.weights})", init), (f"after: {stage} ({after.weights})", after)]

    metrics = read_metrics(run_dir / "metrics.jsonl")
    pictures = {"curves.png": _png(render_curves(metrics, f"training curves: {stage} run {run_dir.name}", log_losses))}
    panels = [(f"overlays_{d.replace(':', '-')}.png", d) for d in data] if data else default_panels(ws, ckpt["config"])
    for name, spec in panels:
        pictures[name] = _png(overlay_grid(ws, spec, rows, num, batch_size))

    blocks = report_blocks(ws, run_dir, ckpt, weights_note(after.weights), after.meta, lineage, metrics, panels,
                           keypoints=True, before=before)
    return write_report(run_dir, pictures, blocks)


def build_mae_report(ws: Workspace, run_dir: Path, ckpt: dict, data: list[str] | None, num: int, log_losses: bool,
                     device: torch.device) -> list[Path]:
    """An MAE run's report from its final checkpoint ``ckpt``: curves and, per split, originals / masked inputs /
    reconstructions."""
    from posekit.config.schema_mim import MAEPretrainConfig
    from posekit.models.factory import build_mae
    from posekit.viz.reconstruction import reconstruct

    cfg = MAEPretrainConfig.model_validate(ckpt["config"])
    mae = build_mae(cfg.model.model_copy(update={"pretrained": "none"}), cfg.mae)  # the run's weights follow
    mae.load_state_dict(ckpt["model"])
    mae.to(device)
    meta = KeypointMeta.from_json(json.dumps(ckpt["keypoints"]))
    lineage = read_json(run_dir / "lineage.json") if (run_dir / "lineage.json").exists() else {}
    metrics = read_metrics(run_dir / "metrics.jsonl")
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
    blocks = report_blocks(ws, run_dir, ckpt, "encoder + decoder", meta, lineage, metrics, panels, keypoints=False)
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
    mine = read_json(manifest)
    others = [p.parent.name for p in sorted((ws.root / "data").glob("*/manifest.json")) if p.parent.name != dataset
              and (m := read_json(p)).get("params_sha1") == mine.get("params_sha1")
              and m.get("converter") == mine.get("converter")]
    return others[0] if len(others) == 1 else None


def overlay_grid(ws: Workspace, spec: str, rows: list[tuple[str, Predictor]], num: int,
                 batch_size: int) -> Image.Image:
    """``num`` evenly spaced images of the split ``spec``, one grid row per ``(label, predictor)`` of ``rows``: its
    predictions (discs) over the ground truth (crosses), both in stored-crop pixels, each image enlarged to ``CELL``
    pixels. Each stored crop goes through :meth:`Predictor.predict` as a whole image, as ``posekit predict`` takes
    one."""
    _, _, path = ws.require_split(spec)
    ds = H5KeypointDataset(path)
    meta = rows[0][1].meta
    if ds.meta.names != meta.names:
        raise DataError(f"{path}: keypoints {ds.meta.name} differ from the checkpoint's {meta.name}",
                        hint="pass --data with a split of the same skeleton")
    indices = sorted({round(i) for i in np.linspace(0, len(ds) - 1, min(num, len(ds)))})
    crops = [ds.read_image(i) for i in indices]
    gt = read_arrays(path, ("keypoints",))["keypoints"][indices]
    cells = []
    for _, predictor in rows:
        poses = predictor.predict(crops, batch_size=batch_size)
        row = []
        for crop, pose, g in zip(crops, poses, gt):
            big, (kp_big, g_big) = resize_with_keypoints(crop, CELL, pose.people[0].keypoints, g)
            row.append(draw_pose(big, kp_big, meta, gt=g_big))
        cells.append(row)
    return image_grid(cells, [label for label, _ in rows], [f"#{i}" for i in indices],
                      f"{spec}: prediction (discs) over ground truth (crosses); blue left, red right, green centre")


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _draws_keypoints(header: dict) -> bool:
    """Whether the run's method predicts keypoints (else the report shows reconstructions)."""
    builder = builder_of(header)
    return builder is None or builder.keypoint_head


def _has_before(header: dict) -> bool:
    """Whether the run continues a run that predicts keypoints, whose weights the overlays show as "before" (an MAE
    encoder has no keypoint head)."""
    builder = builder_of(header)
    return bool(builder and builder.starts_from and builder_for(*builder.starts_from).keypoint_head)
