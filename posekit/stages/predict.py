"""``posekit predict``: keypoints for arbitrary image files, in their original pixels, from a posekit checkpoint.

Each image is cut to a square crop of the network input size with the converters' crop convention
(:mod:`posekit.data.crop`: pixel centres at integer coordinates, one affine warp, box-filtered first when it
shrinks by 2 or more):

- without a box the crop is the whole image padded with black to a square about its centre; for a square
  image this is what ``posekit eval`` feeds the network for a stored crop of the input size;
- with a person box ``x0,y0,x1,y1`` (clipped to the image) the crop is a square centred on the box, ``margin``
  times its longer side (the CLI's default 1.25 is the real-data converters' margin).

Heatmap peaks are decoded with the sub-pixel refinement of :class:`~posekit.data.codec.HeatmapCodec` into
crop pixels and mapped to original pixels through the crop→original affine.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from posekit import __version__
from posekit.data.augment import normalise
from posekit.data.codec import HeatmapCodec
from posekit.data.crop import apply_affine, box_square, crop_affine, image_square, warp_crop
from posekit.data.images import UNREADABLE, as_rgb8, displayed_size
from posekit.engine.device import pick_device
from posekit.engine.logging import make_progress
from posekit.errors import ConfigError, DataError, MissingArtifactError
from posekit.stages.evaluate import heatmap_settings, load_model, resolve_checkpoint
from posekit.viz.overlay import draw_box, draw_pose
from posekit.workspace import Workspace, atomic_write_json, now_iso

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
COORDINATES = "original image pixels: x right, y down, pixel centres at integer coordinates (EXIF orientation applied)"
CROP = ("crop_region: the square (left, top, right, bottom edges, original pixels) warped to the network input: "
        "the whole image padded to a square when box is null, else margin x the longer side of the box (clipped to "
        "the image) about its centre")
SCORE = "heatmap peak value of the joint (higher = more confident; not a probability)"


# -- inputs ---------------------------------------------------------------------------------------------------
def collect_images(items: list[str]) -> list[Path]:
    """Files as given, directories as the image files directly inside them (by suffix, sorted), and glob
    patterns as their sorted matches; duplicates dropped, order kept."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise MissingArtifactError(f"{path}: no image files inside", hint=f"images end in {', '.join(IMAGE_SUFFIXES)}")
            found += inside
        elif path.exists():
            found.append(path)
        elif any(c in item for c in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise MissingArtifactError(f"no file matches {item!r}", hint="check the pattern (quote it to let posekit expand it)")
            found += matches
        else:
            raise MissingArtifactError(f"{path}: no such file or directory", hint="pass image files, directories or glob patterns")
    return list(dict.fromkeys(p.resolve() for p in found))


def image_size(path: Path) -> tuple[int, int]:
    """Height and width of an image file as displayed (EXIF rotation applied), from its header only."""
    try:
        w, h = displayed_size(str(path))
    except UNREADABLE as exc:
        raise DataError(f"{path}: not a readable image ({exc.__class__.__name__})",
                        hint=f"pass image files ({', '.join(IMAGE_SUFFIXES)})") from None
    return h, w


def load_image(path: Path) -> np.ndarray:
    """The decoded image as displayed: ``[H,W,3]`` uint8 RGB (``posekit.data.images.as_rgb8``: EXIF rotation applied,
    16-bit scaled to 8, alpha dropped)."""
    try:
        with Image.open(path) as im:
            return np.asarray(as_rgb8(im, str(path)))
    except (OSError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot decode the image ({str(exc).splitlines()[0][:120]})",
                        hint="the file may be truncated or corrupt") from None


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x0,y0,x1,y1"`` → four floats with x0 < x1 and y0 < y1."""
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--box {text!r} is not four numbers x0,y0,x1,y1", hint="e.g. --box 120,40,360,520") from None
    if not (x0 < x1 and y0 < y1):
        raise ConfigError(f"--box {text!r} is empty (need x0 < x1 and y0 < y1)", hint="corners are top-left, bottom-right")
    return x0, y0, x1, y1


def check_box(box: tuple[float, float, float, float], height: int, width: int, path: Path) -> None:
    """The box must overlap the image's extent ``[-0.5, W-0.5] × [-0.5, H-0.5]``; a box that partly leaves the
    image is clipped to it by ``network_crop``, as the converters clip theirs."""
    x0, y0, x1, y1 = box
    if x1 <= -0.5 or y1 <= -0.5 or x0 >= width - 0.5 or y0 >= height - 0.5:
        raise ConfigError(f"--box {','.join(f'{v:g}' for v in box)} lies outside {path.name} ({width}×{height})",
                          hint=f"give a box within 0,0,{width},{height}, or leave out --box to use the whole image")


# -- geometry and inference ---------------------------------------------------------------------------------
def network_crop(image: np.ndarray, box: tuple[float, float, float, float] | None, margin: float,
                 size: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` ``[H,W,3]`` uint8 → the ``[S,S,3]`` uint8 crop the network sees (S = ``size``) and its
    crop→original matrix ``[2,3]``: the whole image padded to a square (``box`` None; ``margin`` unused), or
    ``margin`` × the longer side of ``box`` (clipped to the image extent ``[-0.5, W-0.5]``) about its centre."""
    h, w = image.shape[:2]
    if box is None:
        square = image_square(w, h)
    else:
        lo, hi = np.array([-0.5, -0.5]), np.array([w - 0.5, h - 0.5])
        square = box_square(np.concatenate([np.maximum(box[:2], lo), np.minimum(box[2:], hi)]), margin)
    affine = crop_affine(*square, size)
    return warp_crop(Image.fromarray(image), affine, size), affine


def crop_region(affine: np.ndarray, size: int) -> list[float]:
    """The square an ``S``-pixel crop covers, as edges ``[left, top, right, bottom]`` in original pixels."""
    (left, top), (right, bottom) = apply_affine(affine, np.array([[-0.5, -0.5], [size - 0.5, size - 0.5]]))
    return [float(left), float(top), float(right), float(bottom)]


@torch.no_grad()
def predict_crops(model: nn.Module, crops: np.ndarray, affines: np.ndarray, sigma: float,
                  device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """One forward pass over ``crops`` ``[N,S,S,3]`` uint8 at the network's input size S, with crop→original
    matrices ``affines`` ``[N,2,3]``. Returns keypoints ``[N,K,2]`` in original pixels and scores ``[N,K]``
    (heatmap peak values)."""
    size = crops.shape[1]
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float() / 255.0
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        maps = model(normalise(x))["heatmaps"].float()
    xy, scores = HeatmapCodec(size, size // 4, sigma).decode(maps)
    xy = xy.cpu().numpy().astype(np.float64)
    orig = np.einsum("nij,nkj->nki", affines[:, :, :2], xy) + affines[:, None, :, 2]
    return orig, scores.cpu().numpy()


# -- the command ----------------------------------------------------------------------------------------------
def resolve_model_ref(ws: Workspace, ref: str) -> Path:
    """A ``.pt`` file, or a run (directory, ``STAGE/RUN_ID``, ``STAGE/latest``, ``latest``) → its ``ckpt/final.pt``."""
    path = Path(ref)
    if path.is_file():
        return path.resolve()
    if path.suffix == ".pt":
        raise MissingArtifactError(f"no checkpoint file {path}", hint="pass a .pt file, a run directory, or STAGE/RUN_ID")
    return resolve_checkpoint(ws if path.is_dir() else ws.require(), ref, "final")


@contextlib.contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """A temporary folder inside ``out`` whose files are moved into ``out`` (``predictions.json`` last) when the
    block succeeds; on any error it disappears, and so does ``out`` if this call created it."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file", hint="pass a directory")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".posekit-predict-", dir=out))
    try:
        yield stage
        for f in sorted(stage.iterdir(), key=lambda p: p.name == "predictions.json"):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()


def run_predict(ws: Workspace, inputs: list[str], ref: str, weights: str, box: tuple[float, float, float, float] | None,
                margin: float, out: Path, batch_size: int, device_name: str) -> dict:
    """Predict every image, write ``<stem>_overlay.png`` per image and ``predictions.json`` into ``out``.

    Every input is checked (exists, is an image, the box fits) and the model is loaded before anything is
    written. Returns the ``predictions.json`` content.
    """
    paths = collect_images(inputs)
    target = out.resolve()
    inside = next((p for p in paths if target in p.parents), None)
    if inside is not None:
        raise ConfigError(f"--out {out} holds the input {inside}: the overlays written there would be read as "
                          "inputs by the next run", hint="write to a folder that holds no input, e.g. a new one")
    sizes = [image_size(p) for p in paths]
    if box is not None:
        for p, (h, w) in zip(paths, sizes):
            check_box(box, h, w, p)
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise ConfigError(f"{stems[p.stem]} and {p} would both write {p.stem}_overlay.png",
                              hint="predict them in separate calls with different --out folders")
        stems[p.stem] = p
    device = pick_device(device_name)
    ckpt_path = resolve_model_ref(ws, ref)
    model, weights_used, ckpt, meta = load_model(ckpt_path, weights, device)
    input_size, sigma = heatmap_settings(ckpt["config"])
    records = []
    with staged_output(out) as stage, make_progress(transient=True) as progress:
        task = progress.add_task("predict", total=len(paths), info="")
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            images = [load_image(p) for p in chunk]
            crops, affines = zip(*(network_crop(img, box, margin, input_size) for img in images))
            xy, scores = predict_crops(model, np.stack(crops), np.stack(affines), sigma, device)
            for p, img, affine, kp, sc in zip(chunk, images, affines, xy, scores):
                overlay = draw_pose(img, kp, meta)
                if box is not None:
                    overlay = draw_box(overlay, box)
                Image.fromarray(overlay).save(stage / f"{p.stem}_overlay.png")
                records.append({
                    "file": str(p), "height": img.shape[0], "width": img.shape[1],
                    "box": list(box) if box is not None else None,
                    "crop_region": [round(v, 3) for v in crop_region(affine, input_size)],
                    "keypoints": [[round(float(x), 3), round(float(y), 3), round(float(s), 5)] for (x, y), s in zip(kp, sc)],
                    "overlay": f"{p.stem}_overlay.png",
                })
            progress.advance(task, len(chunk))
        result = {
            "posekit_version": __version__, "created": now_iso(),
            "checkpoint": str(ckpt_path), "stage": ckpt.get("stage"), "method": ckpt.get("method"),
            "step": ckpt.get("step"), "selected_by": ckpt.get("selected_by"), "weights": weights_used,
            "input_size": input_size, "margin": margin if box is not None else None,
            "coordinate_space": COORDINATES, "crop": CROP, "score": SCORE,
            "joints": list(meta.names), "skeleton": [list(e) for e in meta.skeleton],
            "images": records,
        }
        atomic_write_json(stage / "predictions.json", result)
    return result
