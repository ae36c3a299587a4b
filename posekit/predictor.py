"""The Python API: a trained run as a keypoint predictor (docs/api.md).

::

    import posekit

    predictor = posekit.load("posekit-ws/runs/adapt/latest")
    result = predictor.predict("photo.jpg", boxes=[(120, 40, 360, 520)], flip=True)
    result.people[0].keypoints    # [K,2] in the photo's pixels; .scores [K]

``posekit predict`` predicts its images through :meth:`Predictor.predict` and ``posekit eval`` scores prepared
splits through :meth:`Predictor.predict_split`; both load checkpoints with :func:`load_predictor`, so the command
line and the API give the same numbers. Every prediction goes through :func:`posekit.inference.heatmap_forward`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from posekit.data.boxes import Detection
from posekit.data.image_files import check_box, load_image
from posekit.data.images import as_rgb8
from posekit.data.meta import KeypointMeta
from posekit.engine.precision import AMP_SETTINGS, FP32, Precision
from posekit.errors import ConfigError
from posekit.inference import (
    checkpoint_precision,
    crop_region,
    heatmap_settings,
    load_model,
    network_crop,
    predict_crops,
    resolve_model_ref,
    weights_note,
)
from posekit.numbers import MAX_BATCH, check_flag, check_number

WEIGHTS = ("auto", "teacher", "student")
WEIGHT_KEYS = ("model", "teacher", "method_state", "optim", "sched", "rng")  # checkpoint keys that are not header


@dataclass(frozen=True)
class PersonPose:
    """One person's keypoints: ``keypoints`` ``[K,2]`` (x, y in original pixels, pixel centres at integer
    coordinates) and ``scores`` ``[K]`` (heatmap peak values: higher is more confident, not a probability), in the
    order of :attr:`Predictor.joint_names`. ``box`` is the person box the crop was cut around (x0, y0, x1, y1; None:
    the whole image), ``box_score`` the detector's score when the box came with one, ``crop_region`` the square
    (left, top, right, bottom edges) the network saw."""

    keypoints: np.ndarray
    scores: np.ndarray
    box: tuple[float, float, float, float] | None
    crop_region: tuple[float, float, float, float]
    box_score: float | None = None
    track_id: int | None = None

    def to_dict(self) -> dict:
        """The JSON form ``posekit predict`` writes: ``keypoints`` as ``[x, y, score]`` rows (and ``track_id`` for
        the people of a video)."""
        out = {
            "box": None if self.box is None else [float(v) for v in self.box],
            "box_score": self.box_score,
            "crop_region": [round(v, 3) for v in self.crop_region],
            "keypoints": [[round(float(x), 3), round(float(y), 3), round(float(s), 5)]
                          for (x, y), s in zip(self.keypoints, self.scores)],
        }
        return out if self.track_id is None else {"track_id": self.track_id, **out}


@dataclass(frozen=True)
class ImagePoses:
    """The people of one image (one per box; one for the whole image without boxes; none for an empty box list),
    and the image's size as displayed."""

    height: int
    width: int
    people: list[PersonPose]

    def to_dict(self) -> dict:
        return {"height": self.height, "width": self.width, "people": [p.to_dict() for p in self.people]}


ImageLike = str | os.PathLike | Image.Image | np.ndarray
BoxLike = Detection | Sequence[float]


def _is_single(images: Any) -> bool:
    return isinstance(images, (str, os.PathLike, Image.Image)) or (isinstance(images, np.ndarray) and images.ndim == 3)


def as_rgb(image: ImageLike, where: str) -> np.ndarray:
    """An image path, PIL image or ``[H,W,3]`` uint8 array → ``[H,W,3]`` uint8 RGB (files as displayed)."""
    if isinstance(image, (str, os.PathLike)):
        array = load_image(Path(image))
    elif isinstance(image, Image.Image):
        array = np.asarray(as_rgb8(image, where))  # as files are read: 16-bit scaled, alpha dropped
    elif isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        array = image
    else:
        array = None
    if array is not None:
        if array.shape[0] < 1 or array.shape[1] < 1:
            raise ConfigError(f"{where}: the image has no pixels ({array.shape[1]}×{array.shape[0]})",
                              hint="pass an image at least 1 pixel wide and high")
        return array
    found = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
    raise ConfigError(f"{where}: expected an image path, a PIL image or an H×W×3 uint8 array, got {found}",
                      hint="convert float images with (255 * x).round().astype(np.uint8)")


def as_detections(boxes: Any, where: str) -> list[Detection] | None:
    """None (the whole image), one box, or a list of boxes (each ``x0, y0, x1, y1`` or a :class:`Detection`)."""
    if boxes is None:
        return None
    if isinstance(boxes, Detection):
        return [boxes]
    items = list(boxes)
    if len(items) == 4 and all(isinstance(v, (int, float, np.number)) for v in items):
        items = [items]  # a single box
    out = []
    for j, box in enumerate(items):
        if isinstance(box, Detection):
            out.append(box)
            continue
        try:
            x0, y0, x1, y1 = (float(v) for v in box)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}[{j}] is not four numbers x0, y0, x1, y1 (got {box!r})",
                              hint="pass a box as (x0, y0, x1, y1), or a list of such boxes") from None
        out.append(Detection((x0, y0, x1, y1)))
    return out


class Predictor:
    """A loaded network with what predicting needs: :attr:`meta` (joint names, flip pairs, skeleton),
    :attr:`input_size`, the heatmap :attr:`sigma`, the :attr:`device`, which :attr:`weights` were loaded and the
    checkpoint's :attr:`header` (stage, method, step, config, ...; no weights)."""

    def __init__(self, model: torch.nn.Module, meta: KeypointMeta, input_size: int, sigma: float,
                 checkpoint: Path, header: dict, weights: str, device: torch.device, precision: Precision = FP32):
        self.model, self.meta, self.input_size, self.sigma = model, meta, input_size, sigma
        self.checkpoint, self.header, self.weights, self.device = checkpoint, header, weights, device
        self.precision = precision

    @property
    def weights_note(self) -> str:
        """:attr:`weights` (``teacher``, ``student`` or ``model``: a checkpoint without a teacher) for people."""
        return weights_note(self.weights)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.meta.names

    @property
    def skeleton(self) -> tuple[tuple[int, int], ...]:
        return self.meta.skeleton

    def __repr__(self) -> str:
        return (f"Predictor({self.checkpoint}, {self.header.get('stage')} {self.header.get('method')} step "
                f"{self.header.get('step')}, weights {self.weights}, {len(self.joint_names)} joints, "
                f"input {self.input_size}px, {self.device}, {self.precision.label})")

    def predict(self, images: ImageLike | Sequence[ImageLike], boxes: Any = None, flip: bool = False,
                margin: float = 1.25, batch_size: int = 16, detector: Any = None) -> ImagePoses | list[ImagePoses]:
        """Keypoints in original pixels for one image (→ one :class:`ImagePoses`) or a list of them (→ a list).

        ``images``: paths, PIL images or ``[H,W,3]`` uint8 RGB arrays (an ``[N,H,W,3]`` array is N images).
        ``boxes``: None (each whole image, padded to a square), or for one image its boxes (``x0, y0, x1, y1`` or
        :class:`~posekit.data.boxes.Detection`), for a list of images one such list (or None) per image; each box
        gives one person, cut as a square of ``margin`` × its longer side about its centre. ``flip``: average the
        heatmaps with those of the mirrored crop (docs/metrics.md). ``batch_size``: crops per forward pass.
        ``detector``: a detector name (``posekit.detect.DETECTORS``) or a callable image → Detections, run on each
        image that has no boxes given (boxes given keep priority).
        """
        margin = check_number(margin, "margin", lo=0, hi=100, lo_open=True)
        batch_size = check_number(batch_size, "batch_size", lo=1, hi=MAX_BATCH, integer=True)
        flip = check_flag(flip, "flip")
        single = _is_single(images)
        if not single and not isinstance(images, (list, tuple, np.ndarray)):
            raise ConfigError(f"images: expected an image path, a PIL image, an H×W×3 uint8 array or a list of them, "
                              f"got {type(images).__name__}", hint="e.g. predictor.predict('photo.jpg')")
        items = [images] if single else list(images)
        if boxes is None:
            per_image = [None] * len(items)
        elif single:
            per_image = [boxes]
        else:
            per_image = list(boxes)
            if len(per_image) != len(items):
                raise ConfigError(f"boxes: {len(per_image)} entries for {len(items)} images",
                                  hint="give one list of boxes (or None) per image")
        arrays = [as_rgb(image, f"image {i}") for i, image in enumerate(items)]
        if detector is not None:
            from posekit.detect.base import as_detector

            detect = as_detector(detector)
            per_image = [detect(a) if b is None else b for a, b in zip(arrays, per_image)]
        jobs: list[tuple[int, Detection | None]] = []
        for i, (array, b) in enumerate(zip(arrays, per_image)):
            detections = as_detections(b, f"boxes of image {i}")
            for j, det in enumerate(detections if detections is not None else [None]):
                if det is not None:
                    check_box(det.box, *array.shape[:2], f"box {j} ({', '.join(f'{v:g}' for v in det.box)})",
                              f"image {i}")
                jobs.append((i, det))
        people: list[list[PersonPose]] = [[] for _ in arrays]
        flip_perm = self.meta.flip_permutation() if flip else None
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            crops, affines = zip(*(network_crop(arrays[i], None if d is None else d.box, margin, self.input_size)
                                   for i, d in chunk))
            xy, scores = predict_crops(self.model, np.stack(crops), np.stack(affines), self.sigma, self.device,
                                       flip_perm, self.precision)
            for (i, det), affine, kp, sc in zip(chunk, affines, xy, scores):
                people[i].append(PersonPose(kp, sc, None if det is None else det.box,
                                            tuple(crop_region(affine, self.input_size)),
                                            None if det is None else det.score))
        results = [ImagePoses(a.shape[0], a.shape[1], p) for a, p in zip(arrays, people)]
        return results[0] if single else results

    def predict_video(self, path: str | os.PathLike, **options: Any):
        """Keypoints per frame of a video file: an iterator of :class:`posekit.video_predict.FramePoses`, with
        people tracked and optionally smoothed (:func:`posekit.video_predict.predict_video` lists the options)."""
        from posekit.video_predict import predict_video

        return predict_video(self, Path(path), **options)

    def predict_split(self, path: Path, batch_size: int = 32, legacy: bool = False, with_depth: bool = False,
                      flip: bool = False, on_batch: Callable[[int], None] | None = None):
        """Predictions for every stored crop of a prepared split (:func:`posekit.evaluation.evaluate.predict_split`),
        mapped to original pixels."""
        from posekit.evaluation.evaluate import predict_split

        return predict_split(self.model, path, self.input_size, self.sigma, self.device, batch_size, legacy=legacy,
                             on_batch=on_batch, with_depth=with_depth, flip=flip, precision=self.precision)


def load_predictor(ckpt_path: Path, weights: str, device: torch.device, amp: str = "auto",
                   ckpt: dict | None = None) -> Predictor:
    """The predictor of a checkpoint file (``weights``: auto = the teacher when there is one, teacher, student;
    ``amp``: auto, bf16 or off, :mod:`posekit.engine.precision`); ``ckpt``: the file's content when the caller has
    read it already."""
    if weights not in WEIGHTS:
        raise ConfigError(f"unknown weights {weights!r}", hint=f"use {', '.join(WEIGHTS)}")
    if amp not in AMP_SETTINGS:
        raise ConfigError(f"unknown amp {amp!r}", hint=f"use {', '.join(AMP_SETTINGS)}")
    model, label, ckpt, meta = load_model(ckpt_path, weights, device, ckpt)
    input_size, sigma = heatmap_settings(ckpt["config"])
    header = {k: v for k, v in ckpt.items() if k not in WEIGHT_KEYS}
    return Predictor(model, meta, input_size, sigma, ckpt_path, header, label, device,
                     checkpoint_precision(ckpt, amp, device))


def load(ref: str | os.PathLike, weights: str = "auto", device: str | torch.device = "auto",
         workspace: str | os.PathLike | None = None, amp: str = "auto") -> Predictor:
    """Load a trained network for prediction.

    ``ref``: a checkpoint file (``.pt``), a run directory (its ``ckpt/final.pt``), a workspace's
    ``runs/STAGE/latest`` file, or ``STAGE/RUN_ID``, ``STAGE/NAME``, ``STAGE/latest`` or ``latest`` inside ``workspace``
    (default: ``$POSEKIT_WORKSPACE``, else ``posekit-ws``, as the command line). ``weights``: auto (the mean
    teacher when the run has one, as ``posekit eval`` scores), teacher or student. ``device``: auto, cpu, cuda,
    cuda:N or a ``torch.device``. ``amp``: auto (bf16 autocast on CUDA, and on CPUs with bf16 units for the networks
    where it pays), bf16 or off (float32); :attr:`Predictor.precision` says what was chosen.
    """
    from posekit.engine.device import pick_device
    from posekit.workspace import Workspace

    if not isinstance(ref, (str, os.PathLike)) or not str(ref).strip():
        raise ConfigError(f"load: expected a checkpoint file, a run directory or STAGE/RUN_ID, got {ref!r}"[:160],
                          hint="e.g. posekit.load('posekit-ws/runs/adapt/latest')")
    ws = Workspace(Path(workspace or os.environ.get("POSEKIT_WORKSPACE", "posekit-ws")))
    dev = device if isinstance(device, torch.device) else pick_device(device)
    return load_predictor(resolve_model_ref(ws, ref), weights, dev, amp)
