"""Articulated 3D bodies: kinematic trees, joint limits, shapes, and batched forward kinematics.

Body frame: X = the body's left, Y = up, Z = forward (right-handed), metres. A node's local rotation
``R = Rz(abduction) @ Rx(flexion) @ Ry(twist)`` turns the bones of its children.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.data.meta import MPII16, TIGDOG18, KeypointMeta


@dataclass(frozen=True)
class Node:
    name: str
    parent: str | None
    offset: tuple[float, float, float]
    limits: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] = ((0, 0), (0, 0), (0, 0))
    neutral: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Limb:
    a: str
    b: str
    radius: float
    part: str  # appearance slot: skin, top, bottom, shoes, fur, dark


@dataclass(frozen=True)
class BodyModel:
    nodes: tuple[Node, ...]
    limbs: tuple[Limb, ...]
    keypoints: tuple[str, ...]  # node name of each keypoint, in ``meta`` order
    meta: KeypointMeta
    parts: tuple[str, ...]

    def index(self) -> dict[str, int]:
        return {n.name: i for i, n in enumerate(self.nodes)}


def _mirror(nodes: list[Node]) -> list[Node]:
    """Right-side copies of left-side nodes: x offsets and abduction/twist limits are mirrored."""
    out = []
    for n in nodes:
        (xl, xh), (yl, yh), (zl, zh) = n.limits
        out.append(
            Node(
                n.name.replace("left", "right"),
                n.parent.replace("left", "right") if n.parent else None,
                (-n.offset[0], n.offset[1], n.offset[2]),
                ((xl, xh), (-yh, -yl), (-zh, -zl)),
                (n.neutral[0], -n.neutral[1], -n.neutral[2]),
            )
        )
    return out


def _human() -> BodyModel:
    left_arm = [
        Node("left_shoulder", "thorax", (0.19, -0.04, 0.0), ((-175, 50), (-70, 70), (-10, 165)), (-5, 0, 12)),
        Node("left_elbow", "left_shoulder", (0.0, -0.29, 0.0), ((-145, 0), (0, 0), (0, 0)), (-25, 0, 0)),
        Node("left_wrist", "left_elbow", (0.0, -0.26, 0.0), ((-40, 40), (0, 0), (-20, 20)), (0, 0, 0)),
        Node("left_hand", "left_wrist", (0.0, -0.08, 0.0)),
    ]
    left_leg = [
        Node("left_hip", "pelvis", (0.10, -0.05, 0.0), ((-115, 30), (-40, 40), (-8, 50)), (-10, 0, 4)),
        Node("left_knee", "left_hip", (0.0, -0.44, 0.0), ((0, 145), (0, 0), (0, 0)), (15, 0, 0)),
        Node("left_ankle", "left_knee", (0.0, -0.42, 0.0), ((-30, 35), (0, 0), (0, 0)), (0, 0, 0)),
        Node("left_toe", "left_ankle", (0.0, -0.05, 0.15)),
    ]
    nodes = [
        Node("pelvis", None, (0.0, 0.0, 0.0)),
        Node("spine", "pelvis", (0.0, 0.0, 0.0), ((-25, 70), (-40, 40), (-25, 25)), (8, 0, 0)),
        Node("thorax", "spine", (0.0, 0.50, 0.0)),
        Node("upper_neck", "thorax", (0.0, 0.13, 0.0), ((-35, 45), (-60, 60), (-30, 30)), (0, 0, 0)),
        Node("head_top", "upper_neck", (0.0, 0.21, 0.02)),
        *left_arm, *_mirror(left_arm), *left_leg, *_mirror(left_leg),
    ]
    limbs = [
        Limb("pelvis", "thorax", 0.13, "top"),
        Limb("left_shoulder", "right_shoulder", 0.07, "top"),
        Limb("left_hip", "right_hip", 0.10, "bottom"),
        Limb("thorax", "upper_neck", 0.05, "skin"),
        Limb("upper_neck", "head_top", 0.095, "skin"),
    ]
    for side in ("left", "right"):
        limbs += [
            Limb(f"{side}_shoulder", f"{side}_elbow", 0.055, "top"),
            Limb(f"{side}_elbow", f"{side}_wrist", 0.042, "skin"),
            Limb(f"{side}_wrist", f"{side}_hand", 0.035, "skin"),
            Limb(f"{side}_hip", f"{side}_knee", 0.078, "bottom"),
            Limb(f"{side}_knee", f"{side}_ankle", 0.056, "bottom"),
            Limb(f"{side}_ankle", f"{side}_toe", 0.042, "shoes"),
        ]
    return BodyModel(tuple(nodes), tuple(limbs), MPII16.names, MPII16, ("skin", "top", "bottom", "shoes"))


def _quadruped() -> BodyModel:
    front = [
        Node("left_shoulder", "withers", (0.13, -0.10, 0.0), ((-45, 40), (0, 0), (-5, 15)), (0, 0, 3)),
        Node("left_front_elbow", "left_shoulder", (0.0, -0.28, 0.03), ((-20, 70), (0, 0), (0, 0)), (5, 0, 0)),
        Node("left_front_knee", "left_front_elbow", (0.0, -0.26, 0.0), ((-100, 5), (0, 0), (0, 0)), (-10, 0, 0)),
        Node("left_front_hoof", "left_front_knee", (0.0, -0.25, 0.02)),
    ]
    back = [
        Node("left_rear", "croup", (0.12, -0.08, 0.0), ((-50, 40), (0, 0), (-5, 15)), (0, 0, 3)),
        Node("left_back_elbow", "left_rear", (0.0, -0.30, 0.08), ((-30, 60), (0, 0), (0, 0)), (10, 0, 0)),
        Node("left_back_knee", "left_back_elbow", (0.0, -0.28, -0.10), ((-20, 80), (0, 0), (0, 0)), (10, 0, 0)),
        Node("left_back_hoof", "left_back_knee", (0.0, -0.24, 0.03)),
    ]
    head = [
        Node("neck_base", "withers", (0.0, 0.05, 0.08), ((-60, 30), (-45, 45), (-20, 20)), (-20, 0, 0)),
        Node("head", "neck_base", (0.0, 0.38, 0.12), ((-40, 60), (-40, 40), (-20, 20)), (30, 0, 0)),
        Node("muzzle", "head", (0.0, -0.10, 0.28)),
        Node("chin", "head", (0.0, -0.15, 0.16)),
        Node("left_eye", "head", (0.075, 0.03, 0.10)),
        Node("right_eye", "head", (-0.075, 0.03, 0.10)),
    ]
    nodes = [
        Node("body", None, (0.0, 0.0, 0.0), ((-12, 12), (-15, 15), (-8, 8))),
        Node("withers", "body", (0.0, 0.05, 0.45)),
        Node("croup", "body", (0.0, 0.05, -0.45)),
        Node("hip", "croup", (0.0, 0.02, -0.08), ((-60, 40), (-30, 30), (0, 0)), (20, 0, 0)),
        Node("tail_tip", "hip", (0.0, -0.35, -0.1)),
        *front, *_mirror(front), *back, *_mirror(back), *head,
    ]
    limbs = [
        Limb("withers", "croup", 0.21, "fur"),
        Limb("neck_base", "head", 0.10, "fur"),
        Limb("head", "muzzle", 0.085, "fur"),
        Limb("hip", "tail_tip", 0.03, "dark"),
        Limb("left_eye", "left_eye", 0.02, "dark"),
        Limb("right_eye", "right_eye", 0.02, "dark"),
    ]
    for side in ("left", "right"):
        limbs += [
            Limb(f"{side}_shoulder", f"{side}_front_elbow", 0.075, "fur"),
            Limb(f"{side}_front_elbow", f"{side}_front_knee", 0.05, "fur"),
            Limb(f"{side}_front_knee", f"{side}_front_hoof", 0.04, "fur"),
            Limb(f"{side}_rear", f"{side}_back_elbow", 0.09, "fur"),
            Limb(f"{side}_back_elbow", f"{side}_back_knee", 0.055, "fur"),
            Limb(f"{side}_back_knee", f"{side}_back_hoof", 0.04, "fur"),
        ]
    return BodyModel(tuple(nodes), tuple(limbs), TIGDOG18.names, TIGDOG18, ("fur", "dark"))


BODIES: dict[str, BodyModel] = {"human": _human(), "quadruped": _quadruped()}


def euler_to_matrix(angles_deg: np.ndarray) -> np.ndarray:
    """``[..., 3]`` (flexion about X, twist about Y, abduction about Z) in degrees → ``[..., 3, 3]``.

    The matrix is ``Rz @ Rx @ Ry``.
    """
    x, y, z = np.deg2rad(angles_deg[..., 0]), np.deg2rad(angles_deg[..., 1]), np.deg2rad(angles_deg[..., 2])
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    one, zero = np.ones_like(x), np.zeros_like(x)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(*x.shape, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*x.shape, 3, 3)
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(*x.shape, 3, 3)
    return rz @ rx @ ry


def joint_limits(body: BodyModel) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest local angle of every node, each ``[num_nodes, 3]`` degrees."""
    lim = np.array([n.limits for n in body.nodes], dtype=np.float64)  # [J,3,2]
    return lim[..., 0], lim[..., 1]


def sample_angles(body: BodyModel, rng: np.random.Generator, spread: float, centre: np.ndarray | None = None) -> np.ndarray:
    """Local joint angles ``[num_nodes, 3]`` in degrees.

    ``spread`` < 1 draws a truncated normal around each joint's neutral angle (or around ``centre`` ``[num_nodes,
    3]``, a pose family's) with std ``spread`` × range; ``spread`` ≥ 1 draws uniformly over the whole anatomical
    range (athletic poses).
    """
    lo, hi = joint_limits(body)
    if spread >= 1.0:
        return lo + rng.random(lo.shape) * (hi - lo)
    if centre is None:
        centre = np.array([n.neutral for n in body.nodes], dtype=np.float64)
    centre = np.clip(centre, lo, hi)
    return np.clip(centre + rng.standard_normal(lo.shape) * spread * (hi - lo), lo, hi)


def kinematic_chain(body: BodyModel, angles: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node positions ``[num_nodes, 3]`` and world rotations ``[num_nodes, 3, 3]`` in the body frame from local
    angles and per-node bone scales. A node's world rotation turns the bones of its children."""
    idx = body.index()
    local = euler_to_matrix(angles)
    rot = np.zeros_like(local)
    pos = np.zeros((len(body.nodes), 3))
    for i, node in enumerate(body.nodes):
        if node.parent is None:
            rot[i] = local[i]
            continue
        p = idx[node.parent]
        pos[i] = pos[p] + rot[p] @ (np.asarray(node.offset) * scales[i])
        rot[i] = rot[p] @ local[i]
    return pos, rot


def forward_kinematics(body: BodyModel, angles: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Node positions ``[num_nodes, 3]`` in the body frame from local angles and per-node bone scales."""
    return kinematic_chain(body, angles, scales)[0]
