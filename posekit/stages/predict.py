"""``posekit predict``: keypoints for arbitrary image files, in their original pixels, from a posekit checkpoint.

Each person is cut to a square crop of the network input size by :func:`posekit.inference.network_crop`, with
the converters' crop convention (:mod:`posekit.data.crop`: pixel centres at integer coordinates, one affine warp,
box-filtered first when it shrinks by 2 or more):

- without a box the crop is the whole image padded with black to a square about its centre; for a square
  image this is what ``posekit eval`` feeds the network for a stored crop of the input size;
- with a person box ``x0,y0,x1,y1`` (``--box`` for every image, or ``--boxes FILE`` with any number per image,
  :mod:`posekit.data.boxes`) the crop is a square centred on the box, ``margin`` times its longer side (the CLI's
  default 1.25 is the real-data converters' margin).

The images are predicted through :meth:`posekit.predictor.Predictor.predict`, the Python API's own path: heatmap
peaks decoded with sub-pixel refinement into crop pixels and mapped to original pixels through the crop→original
affine (``--flip``: heatmaps averaged with the mirrored crop's).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from posekit.data.boxes import Detection, read_boxes
from posekit.data.image_files import check_box, collect_images, image_size, load_image
from posekit.engine.device import pick_device
from posekit.engine.logging import console, make_progress
from posekit.errors import ConfigError
from posekit.inference import resolve_model_ref
from posekit.predictor import load_predictor
from posekit.stages.predict_common import PredictRequest
from posekit.version import __version__
from posekit.viz.overlay import draw_people
from posekit.workspace import Workspace, atomic_write_image, atomic_write_json, now_iso, staged_files

COORDINATES = "original image pixels: x right, y down, pixel centres at integer coordinates (EXIF orientation applied)"
CROP = ("people: one per box (one with box null for the whole image); crop_region: the square (left, top, right, "
        "bottom edges, original pixels) warped to the network input: the whole image padded to a square when box is "
        "null, else margin x the longer side of the box (clipped to the image) about its centre; box_score: the "
        "detector's score (--boxes or --detector)")
SCORE = "heatmap peak value of the joint (higher = more confident; not a probability)"


# -- inputs ---------------------------------------------------------------------------------------------------
def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x0,y0,x1,y1"`` → four floats with x0 < x1 and y0 < y1."""
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--box {text!r} is not four numbers x0,y0,x1,y1", hint="e.g. --box 120,40,360,520") from None
    if not (x0 < x1 and y0 < y1):
        raise ConfigError(f"--box {text!r} is empty (need x0 < x1 and y0 < y1)", hint="corners are top-left, bottom-right")
    return x0, y0, x1, y1


# -- the command ----------------------------------------------------------------------------------------------
def image_boxes(paths: list[Path], sizes: list[tuple[int, int]], box: tuple[float, float, float, float] | None,
                boxes_file: Path | None, min_score: float, category: int | None) -> tuple[list | None, str | None]:
    """The boxes of each image (None: whole images) from ``--box`` or ``--boxes``, each checked against its image,
    and a line saying what the boxes file held beyond them (None without one)."""
    if boxes_file is not None:
        found = read_boxes(boxes_file, paths, min_score, category)
        for p, (h, w) in zip(paths, sizes):
            for det in found.boxes[p]:
                check_box(det.box, h, w, f"{boxes_file}: entry {det.index} (box {', '.join(f'{v:g}' for v in det.box)})",
                          p.name)
        n = sum(len(v) for v in found.boxes.values())
        note = (f"{boxes_file.name}: {n} box(es) for {sum(bool(v) for v in found.boxes.values())} of {len(paths)} "
                f"image(s); left out: {found.filtered} below --min-score, of another --category or crowd, "
                f"{found.unmatched} for images not given")
        return [found.boxes[p] for p in paths], note
    if box is not None:
        for p, (h, w) in zip(paths, sizes):
            check_box(box, h, w, f"--box {','.join(f'{v:g}' for v in box)}", p.name)
        return [[Detection(box)] for _ in paths], None
    return None, None


def run_predict(ws: Workspace, inputs: list[str], request: PredictRequest) -> dict:
    """Predict every image, write ``<stem>_overlay.png`` per image and ``predictions.json`` into ``request.out``.

    Every input is checked (exists, is an image, every box fits its image) and the model is loaded before
    anything is written. ``request.detector`` (a :class:`posekit.detect.PersonDetector`) finds the people of each
    image when neither ``box`` nor ``boxes_file`` gives boxes. Returns the ``predictions.json`` content.
    """
    r = request
    out, batch_size, flip, margin, detector, boxes_file = r.out, r.batch_size, r.flip, r.margin, r.detector, r.boxes_file
    paths = collect_images(inputs)
    target = out.resolve()
    inside = next((p for p in paths if target in p.parents), None)
    if inside is not None:
        raise ConfigError(f"--out {out} holds the input {inside}: the overlays written there would be read as "
                          "inputs by the next run", hint="write to a folder that holds no input, e.g. a new one")
    sizes = [image_size(p) for p in paths]
    boxes, note = image_boxes(paths, sizes, r.box, boxes_file, r.min_score, r.category)
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise ConfigError(f"{stems[p.stem]} and {p} would both write {p.stem}_overlay.png",
                              hint="predict them in separate calls with different --out folders")
        stems[p.stem] = p
    predictor = load_predictor(resolve_model_ref(ws, r.checkpoint), r.weights, pick_device(r.device), r.amp)
    if note:
        console.print(note, highlight=False, soft_wrap=True)
    records = []
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file", hint="pass a directory")
    with staged_files(out) as stage, make_progress(transient=True) as progress:
        task = progress.add_task("predict", total=len(paths), info="")
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            images = [load_image(p) for p in chunk]
            poses = predictor.predict(images, None if boxes is None else boxes[start:start + batch_size], flip=flip,
                                      margin=margin, batch_size=batch_size,
                                      detector=detector if boxes is None else None)
            for p, img, result in zip(chunk, images, poses):
                name = f"{p.stem}_overlay.png"
                atomic_write_image(stage / name, Image.fromarray(draw_people(img, result.people, predictor.meta)),
                                   shown=out / name)
                records.append({"file": str(p), **result.to_dict(), "overlay": f"{p.stem}_overlay.png"})
            progress.advance(task, len(chunk))
        h = predictor.header
        result = {
            "posekit_version": __version__, "created": now_iso(),
            "checkpoint": str(predictor.checkpoint), "stage": h.get("stage"), "method": h.get("method"),
            "step": h.get("step"), "selected_by": h.get("selected_by"), "weights": predictor.weights,
            "input_size": predictor.input_size, "flip": flip, "precision": predictor.precision.describe(),
            "margin": margin if boxes is not None or detector is not None else None,
            "boxes": None if boxes_file is None else str(Path(boxes_file).resolve()),
            "detector": None if detector is None or boxes is not None else repr(detector),
            "coordinate_space": COORDINATES, "crop": CROP, "score": SCORE,
            "joints": list(predictor.joint_names), "skeleton": [list(e) for e in predictor.skeleton],
            "images": records,
        }
        atomic_write_json(stage / "predictions.json", result, shown=out / "predictions.json")
    return result
