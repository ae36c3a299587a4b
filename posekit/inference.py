"""Inference with a trained posekit network: load a checkpoint, run the network on crops at its input size, decode
keypoints and map them back to original pixels. ``posekit eval``, ``predict`` and ``report``, the Python API
(:mod:`posekit.predictor`) and the training loop's validation all go through :func:`heatmap_forward`, which is
also the one place of the flip test.

Crops reach the network in one of two ways, both with the converters' crop convention (:mod:`posekit.data.crop`:
pixel centres at integer coordinates): stored crops of a prepared split are resized to the input size on the
device (:func:`posekit.evaluation.evaluate.predict_split`); image files are cut with :func:`network_crop` (one
affine warp, box-filtered first when it shrinks by 2 or more, as the converters cut their crops).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from posekit.data.augment import normalise
from posekit.data.codec import HeatmapCodec
from posekit.data.crop import apply_affine, box_square, crop_affine, image_square, warp_crop
from posekit.data.meta import KeypointMeta
from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.precision import FP32, Precision, resolve_amp
from posekit.errors import CheckpointError, ConfigError, DataError, MissingArtifactError
from posekit.models.factory import ARCHITECTURES, LEGACY_ARCHITECTURE, describe, network_family
from posekit.workspace import Workspace


def heatmap_settings(cfg: dict) -> tuple[int, float]:
    """(input side, heatmap sigma) of a checkpoint's configuration (2D methods: data.sigma; mim: head.sigma)."""
    sigma = cfg["data"].get("sigma") or cfg.get("head", {}).get("sigma")
    return int(cfg["data"]["input_size"]), float(sigma)


def checkpoint_precision(ckpt: dict, amp: str, device: torch.device) -> Precision:
    """bf16 autocast or not for predicting with a checkpoint's network on ``device`` (``amp``: auto, bf16, off;
    :func:`posekit.engine.precision.resolve_amp` for the network's family)."""
    return resolve_amp(amp, device, network_family(ckpt["config"]["model"]))


def build_network(ckpt_path: Path, ckpt: dict, num_joints: int) -> tuple[nn.Module, str]:
    """The untrained keypoint network a checkpoint's header declares, and a short name of its architecture."""
    arch = ckpt.get("architecture") or LEGACY_ARCHITECTURE.get(ckpt.get("method") or "supervised")
    if arch is None:
        raise CheckpointError(f"{ckpt_path}: a {ckpt.get('method')!r} run has no keypoint head",
                              hint="fine-tune it first, e.g. `posekit adapt --method mim --init <this run>`")
    model_cfg = ckpt["config"]["model"]
    return ARCHITECTURES[arch](model_cfg, num_joints, load_pretrained=False), describe(arch, model_cfg)


def resolve_model_ref(ws: Workspace, ref: str | Path) -> Path:
    """A ``.pt`` file, a run directory, a workspace's ``runs/STAGE/latest`` file, or (inside ``ws``) ``STAGE/RUN_ID``,
    ``STAGE/NAME``, ``STAGE/latest`` or ``latest`` → the checkpoint file (a run's ``ckpt/final.pt``)."""
    path = Path(ref)
    if path.is_file() and path.name == "latest" and path.parent.parent.name == "runs":
        path = path.parent / path.read_text().strip()  # the marker names the newest finished run
        if not path.is_dir():
            raise MissingArtifactError(f"{ref} names run {path.name}, which does not exist",
                                       hint="pass a run directory or a .pt file")
    if path.is_file():
        return path.resolve()
    if path.suffix == ".pt":
        raise MissingArtifactError(f"no checkpoint file {path}", hint="pass a .pt file, a run directory, STAGE/RUN_ID or STAGE/NAME")
    return (ws if path.is_dir() else ws.require()).resolve_checkpoint(str(path), "final")


def load_model(ckpt_path: Path, weights: str, device: torch.device,
               ckpt: dict | None = None) -> tuple[nn.Module, str, dict, KeypointMeta]:
    """Build the network from a checkpoint, in eval mode and NHWC memory format; returns (model, which weights were
    loaded: ``teacher``, ``student`` or ``model`` for a checkpoint without a teacher (:func:`weights_note` explains
    each), checkpoint dict, meta). ``weights``: auto (the teacher when there is one), teacher or student; ``ckpt``:
    the file's content when the caller has read it already."""
    ckpt = load_checkpoint(ckpt_path) if ckpt is None else ckpt
    try:
        meta = KeypointMeta.from_json(json.dumps(ckpt["keypoints"]))
        model, arch = build_network(ckpt_path, ckpt, meta.num_joints)
    except (KeyError, ValueError, TypeError, DataError) as exc:
        raise CheckpointError(f"{ckpt_path}: incomplete checkpoint header ({exc})",
                              hint="use the run's own checkpoint, or re-run the stage that wrote it") from None
    teacher = ckpt.get("teacher")
    if weights == "auto":
        weights = "teacher" if teacher is not None else "student"
    label = weights if teacher is not None else "model"
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


def weights_note(weights: str) -> str:
    """:func:`load_model`'s ``teacher`` / ``student`` / ``model`` for people: ``model`` says why there is no choice."""
    return "model (this checkpoint has no teacher)" if weights == "model" else weights


def mirror_maps(maps: torch.Tensor, flip_perm: list[int]) -> torch.Tensor:
    """Per-joint maps ``[B,K,h,w]`` of mirrored images → the maps of the images themselves: mirrored back along x,
    with left and right joint channels swapped (``flip_perm``, :meth:`KeypointMeta.flip_permutation`).

    No one-pixel shift: with pixel centres at integer coordinates in every space (:mod:`posekit.data.codec`),
    mirroring an input of width S (x → S−1−x) mirrors its heatmap exactly (x_h → w−1−x_h). The shift MMPose
    applies (``shift_heatmap``) corrects the codec convention x_h = x / stride, under which the two differ by
    1 − 1/stride heatmap pixels.
    """
    return maps.flip(-1)[:, flip_perm]


FLIPPED_OUTPUTS = ("heatmaps", "depth")  # per-joint maps averaged over the image and its mirror


@torch.no_grad()
def heatmap_forward(model: nn.Module, images: torch.Tensor, sigma: float, flip_perm: list[int] | None = None,
                    precision: Precision = FP32) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Images ``[B,3,S,S]`` in [0, 1] at the network's input size S → keypoints ``[B,K,2]`` in input pixels (peak
    with sub-pixel refinement), peak values ``[B,K]``, and the network's outputs (``heatmaps`` as float32).

    ``flip_perm`` given (the flip test): the network also sees the mirrored images, and each per-joint output
    (``heatmaps``, and ``depth`` of 2.5D networks) is the mean of the two, the mirrored one brought back by
    :func:`mirror_maps`; other outputs (features) are the unmirrored pass's. ``precision``: the network's forward
    passes under bf16 autocast or not (:func:`posekit.engine.precision.resolve_amp`); decoding is float32.
    """
    device = images.device
    size = images.shape[-1]
    with precision.autocast(device.type):
        out = model(normalise(images))
        mirrored = model(normalise(images.flip(-1))) if flip_perm is not None else None
    out = {**out, "heatmaps": out["heatmaps"].float()}
    if mirrored is not None:
        for key in FLIPPED_OUTPUTS:
            if key in out:
                out[key] = 0.5 * (out[key].float() + mirror_maps(mirrored[key].float(), flip_perm))
    xy, scores = HeatmapCodec(size, size // 4, sigma).decode(out["heatmaps"])
    return xy, scores, out


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


def predict_crops(model: nn.Module, crops: np.ndarray, affines: np.ndarray, sigma: float, device: torch.device,
                  flip_perm: list[int] | None = None, precision: Precision = FP32) -> tuple[np.ndarray, np.ndarray]:
    """One forward pass over ``crops`` ``[N,S,S,3]`` uint8 at the network's input size S, with crop→original
    matrices ``affines`` ``[N,2,3]`` (``flip_perm``: the flip test, see :func:`heatmap_forward`). Returns keypoints
    ``[N,K,2]`` in original pixels and scores ``[N,K]`` (heatmap peak values)."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float() / 255.0
    xy, scores, _ = heatmap_forward(model, x, sigma, flip_perm, precision)
    xy = xy.cpu().numpy().astype(np.float64)
    orig = np.einsum("nij,nkj->nki", affines[:, :, :2], xy) + affines[:, None, :, 2]
    return orig, scores.cpu().numpy()
