"""Poses from motion capture: the 15 DeepMimic humanoid clips that ship in pybullet's data package.

``pybullet_data/data/motions/humanoid3d_*.txt`` (pybullet 3.2.7, zlib licence; walk, run, jump, kick, punch,
spinkick, spin, cartwheel, backflip, roll, crawl, dance_a, dance_b, getup_faceup, getup_facedown; 1,620 frames)
are JSON ``{"Loop", "Frames"}`` with 44 numbers a frame: duration, root position (3), root rotation (quaternion),
chest, neck, right hip (quaternions), right knee (angle), right ankle, right shoulder (quaternions), right elbow
(angle), then the left side in the same order. Quaternions are ``(w, x, y, z)``, each a joint's rotation relative to
its parent link; the skeleton (``pybullet_data/humanoid/humanoid.urdf``) stands in its zero pose with every limb
hanging straight down and every joint frame aligned with the world, in a frame with X = forward, Y = up,
Z = the body's right; knees and elbows turn about Z (knees bend negative, elbows positive).

That zero pose is the capsule human's zero pose (bodies.py), so a clip frame becomes the capsule's local angles by
changing frames (``BODY_FROM_CLIP``) and decomposing each rotation as ``Rz(abduction) @ Rx(flexion) @ Ry(twist)``:
chest → spine, neck → upper_neck, and hips, knees, ankles, shoulders, elbows to the nodes of the same name; the
root's rotation, less its heading, becomes the whole-body rotation. The mesh body (mesh/body.py) then poses anny
from these angles like from any other family's. Only the data files are read, never the simulator: ``pybullet``
is the optional extra ``mocap`` (``pip install 'posekit[mocap]'``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np

from posekit.datasets.synthetic.bodies import BODIES, BodyModel, euler_to_matrix, joint_limits
from posekit.errors import ConfigError

INSTALL_HINT = "pip install 'posekit[mocap]'"
CLIPS = ("walk", "run", "jump", "kick", "punch", "spinkick", "spin", "cartwheel", "backflip", "roll", "crawl",
         "dance_a", "dance_b", "getup_faceup", "getup_facedown")
FAMILY_NAMES = ("mocap", *(f"mocap_{c}" for c in CLIPS))  # mocap: every clip alike; mocap_CLIP: that clip only
FRAME_NUMBERS = 44
# the body frame (X = left, Y = up, Z = forward) from the clip's (X = forward, Y = up, Z = right)
BODY_FROM_CLIP = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
# the frame's layout: (capsule node, first index, kind) — "quat" 4 numbers (w, x, y, z), "hinge" 1 angle (radians)
LAYOUT = (("spine", 8, "quat"), ("upper_neck", 12, "quat"),
          ("right_hip", 16, "quat"), ("right_knee", 20, "hinge"), ("right_ankle", 21, "quat"),
          ("right_shoulder", 25, "quat"), ("right_elbow", 29, "hinge"),
          ("left_hip", 30, "quat"), ("left_knee", 34, "hinge"), ("left_ankle", 35, "quat"),
          ("left_shoulder", 39, "quat"), ("left_elbow", 43, "hinge"))
ROOT_QUAT = 4
JITTER_SHARE = 1 / 3  # the jitter's std is this share of --pose-spread (× each joint's range)


def clip_dir() -> Path | None:
    """The folder of the clips in the installed ``pybullet_data`` package (found without importing pybullet), or
    None when it is not installed."""
    spec = importlib.util.find_spec("pybullet_data")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "motions"
    return folder if folder.is_dir() else None


def require_mocap() -> Path:
    """The clips' folder, or a ConfigError saying how to install them."""
    folder = clip_dir()
    if folder is None or not all((folder / f"humanoid3d_{c}.txt").is_file() for c in CLIPS):
        raise ConfigError("the mocap pose families need the motion clips of the optional package `pybullet`, which "
                          "is not installed", hint=INSTALL_HINT)
    return folder


def parse_clip(path: Path) -> np.ndarray:
    """A clip file's frames ``[F, 44]`` (float64); ValueError naming the file when it is not a DeepMimic clip."""
    try:
        data = json.loads(Path(path).read_text())
        frames = np.asarray(data["Frames"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a DeepMimic motion clip ({e})") from None
    if frames.ndim != 2 or frames.shape[1] != FRAME_NUMBERS or len(frames) == 0 or not np.isfinite(frames).all():
        raise ValueError(f"{path}: expected frames of {FRAME_NUMBERS} finite numbers, got shape {frames.shape}")
    return frames


@functools.lru_cache(maxsize=1)
def load_clips() -> dict[str, np.ndarray]:
    """Every clip's frames ``[F, 44]``, by name (CLIPS order)."""
    folder = require_mocap()
    return {c: parse_clip(folder / f"humanoid3d_{c}.txt") for c in CLIPS}


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """``[..., 4]`` quaternions ``(w, x, y, z)`` (normalised here) → rotations ``[..., 3, 3]``."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                     2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                     2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1).reshape(*q.shape[:-1], 3, 3)


def _wrap(deg: np.ndarray) -> np.ndarray:
    return (deg + 180.0) % 360.0 - 180.0


def matrix_to_angles(r: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(flexion, twist, abduction) in degrees with ``euler_to_matrix(angles) == r``: of the two solutions, the one
    farthest inside the limits ``lo``, ``hi`` ``[3]`` (the sum of the excesses past them, then the nearest to 0)."""
    flex = np.arcsin(np.clip(r[2, 1], -1.0, 1.0))
    if np.cos(flex) > 1e-6:
        twist, abd = np.arctan2(-r[2, 0], r[2, 2]), np.arctan2(-r[0, 1], r[1, 1])
    else:  # gimbal lock: only twist + abduction (or their difference) is defined; all of it goes to abduction
        twist, abd = 0.0, np.arctan2(r[1, 0], r[0, 0])
    first = np.degrees([flex, twist, abd])
    candidates = [first, _wrap(np.array([180.0 - first[0], first[1] + 180.0, first[2] + 180.0]))]

    def cost(a):
        return (float(np.maximum(lo - a, 0).sum() + np.maximum(a - hi, 0).sum()), float(np.abs(a).sum()))
    return min(candidates, key=cost)


def frame_angles(body: BodyModel, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The capsule human's local angles ``[num_nodes, 3]`` (degrees; unlisted nodes neutral) and the whole-body
    rotation ``[3, 3]`` (body frame, heading removed: the body faces +Z seen from above) of a clip frame ``[44]``."""
    idx = body.index()
    lo, hi = joint_limits(body)
    angles = np.array([n.neutral for n in body.nodes], dtype=np.float64)
    for node, start, kind in LAYOUT:
        i = idx[node]
        if kind == "hinge":  # about the clip's Z = the body's −X: flexion = −angle
            angles[i] = (-np.degrees(frame[start]), 0.0, 0.0)
        else:
            r = BODY_FROM_CLIP @ quat_to_matrix(frame[start:start + 4]) @ BODY_FROM_CLIP.T
            angles[i] = matrix_to_angles(r, lo[i], hi[i])
    root = BODY_FROM_CLIP @ quat_to_matrix(frame[ROOT_QUAT:ROOT_QUAT + 4]) @ BODY_FROM_CLIP.T
    forward = root[:, 2]
    heading = np.degrees(np.arctan2(forward[0], forward[2]))
    return angles, euler_to_matrix(np.array([0.0, -heading, 0.0])) @ root


@functools.lru_cache(maxsize=1)
def clip_poses() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every clip's frames as capsule angles ``[F, num_nodes, 3]`` and whole-body rotations ``[F, 3, 3]``."""
    body = BODIES["human"]
    out = {}
    for name, frames in load_clips().items():
        pairs = [frame_angles(body, f) for f in frames]
        out[name] = (np.stack([a for a, _ in pairs]), np.stack([r for _, r in pairs]))
    return out


def clips_of(family: str) -> tuple[str, ...]:
    """The clips a mocap family draws from: all for ``mocap``, one for ``mocap_CLIP``."""
    return CLIPS if family == "mocap" else (family.removeprefix("mocap_"),)


def mirror_root(root: np.ndarray) -> np.ndarray:
    """The left/right mirror image of a whole-body rotation (reflected through the body's sagittal plane)."""
    flip = np.diag([-1.0, 1.0, 1.0])
    return flip @ root @ flip


def jitter(body: BodyModel, rng: np.random.Generator, spread: float, centre: np.ndarray) -> np.ndarray:
    """``centre`` plus a normal jitter of std ``JITTER_SHARE × spread`` × each joint's range, clipped to the joint's
    limits, widened to the recorded angle where the clip goes past them (a recorded pose is kept, not clipped)."""
    lo, hi = joint_limits(body)
    noise = rng.standard_normal(lo.shape) * JITTER_SHARE * spread * (hi - lo)
    return np.clip(centre + noise, np.minimum(lo, centre), np.maximum(hi, centre))
