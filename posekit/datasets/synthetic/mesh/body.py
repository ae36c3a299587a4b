"""The anny body model posed by posekit's joint-angle prior.

Frames: posekit's body frame (bodies.py: X = the body's left, Y = up, Z = forward) and anny's world frame (X = the
body's left, Z = up, −Y = forward), metres. anny's rig has 104 bones; with its default ``local-ref`` pose
parameterisation a bone's 4×4 delta is a rotation about the bone's head in world-aligned axes, composed with its
parents', so a bone's posed world rotation (relative to its rest pose) is ``G_bone = G_parent @ D_bone``.

Posing: the capsule human's angles (bodies.py, the same prior and limits) give each capsule node a world rotation;
every anny bone takes the rotation of the capsule node that drives it, conjugated into anny's frame, after a fixed
*rest correction* that turns anny's rest pose (an A-pose: arms 50° from the sides, elbows bent) into the capsule's
zero pose (limbs hanging straight down). The spine's rotation is spread over anny's five spine bones and the
neck's over the three neck bones and the head; the clavicles rise with the arm (a third of the arm's elevation
beyond 30°, up to 35°), as the shoulder girdle does. Fingers and toes follow the hand and the foot.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from posekit.datasets.synthetic.bodies import BODIES, BodyModel, euler_to_matrix, kinematic_chain
from posekit.datasets.synthetic.mesh import require_anny

BODY_TO_ANNY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # anny = BODY_TO_ANNY @ body
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
# uniform ranges of the sliders for adults (age: 2/3 is a young adult, 1 old; gender: 0 male, 1 female)
ADULT_RANGES = {"age": (0.6, 1.0), "muscle": (0.1, 0.9), "weight": (0.1, 0.85), "height": (0.1, 0.9),
                "proportions": (0.0, 0.7)}
CLAVICLE_SHARE, CLAVICLE_START, CLAVICLE_MAX = 1 / 3, 30.0, 35.0  # degrees


@dataclass
class PosedBody:
    """One posed body in posekit's body frame (metres): ``vertices`` ``[V, 3]``, ``bone_heads`` ``[104, 3]``."""

    vertices: np.ndarray
    bone_heads: np.ndarray


def _side(label: str) -> str:
    return "left" if label.endswith(".L") else "right"


def _driver(label: str) -> tuple[str, float, str | None]:
    """The capsule node whose rotation an anny bone takes, the fraction of that node's local rotation it takes
    (spine and neck chains), and its rest correction (a limb segment, or None)."""
    base = label.split(".")[0]
    if base.startswith("spine"):  # spine05 (lowest) … spine01 (highest)
        return "spine", (6 - int(base[-1])) / 5, None
    if base in ("neck01", "neck02", "neck03", "head"):
        return "upper_neck", {"neck01": 0.25, "neck02": 0.5, "neck03": 0.75, "head": 1.0}[base], None
    if base == "eye":
        return "upper_neck", 1.0, None
    if base in ("clavicle", "shoulder01"):
        return f"{_side(label)}_clavicle", 1.0, None
    limb = {"upperarm": ("shoulder", "upperarm"), "lowerarm": ("elbow", "forearm"), "wrist": ("wrist", "forearm"),
            "finger": ("wrist", "forearm"), "metacarpal": ("wrist", "forearm"), "upperleg": ("hip", "thigh"),
            "lowerleg": ("knee", "shin"), "foot": ("ankle", "shin"), "toe": ("ankle", "shin")}
    for prefix, (node, fix) in limb.items():
        if base.startswith(prefix):
            return f"{_side(label)}_{node}", 1.0, f"{_side(label)}_{fix}"
    return "pelvis", 1.0, None  # root, pelvis.L/R


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation ``[3, 3]`` taking direction ``a`` to direction ``b``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return np.eye(3)
    return _rotation(axis / s, float(np.arctan2(s, a @ b)))


def _axis_angle(r: np.ndarray) -> tuple[np.ndarray, float]:
    """Unit axis ``[3]`` and angle (radians, in [0, π]) of rotation ``r`` ``[3, 3]``."""
    angle = float(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0)))
    if angle < 1e-9:
        return np.array([1.0, 0.0, 0.0]), 0.0
    if angle > np.pi - 1e-4:  # sin ≈ 0: the axis is the column of (r + I) / 2 = a aᵀ with the largest norm
        m = (r + np.eye(3)) / 2
        col = m[:, int(np.argmax(np.diag(m)))]
        return col / np.linalg.norm(col), angle
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return axis / np.linalg.norm(axis), angle


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation ``[3, 3]`` by ``angle`` radians about the unit ``axis``."""
    kx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


class MeshBody:
    """An anny model with what posing and labelling it need. Build it once per process with ``load_mesh_body``.

    ``faces`` ``[F, 3]`` (outward normals), ``bone_labels`` (104), ``bone_parents``, ``skin_weights`` and
    ``skin_bones`` ``[V, 9]`` the skinning weights and their bones, ``vertex_bone`` ``[V]`` each vertex's main bone, ``canonical`` the average body in the capsule's zero pose (limbs hanging), in posekit's
    body frame.
    """

    def __init__(self):
        import torch

        anny = require_anny()
        self.torch = torch
        self.model = anny.Anny(skinning_method="lbs").to(torch.float32)  # dense skinning: no warp kernels
        self.capsule: BodyModel = BODIES["human"]
        m = self.model
        self.faces = m.get_triangular_faces().numpy().astype(np.int64)
        self.bone_labels: list[str] = list(m.bone_labels)
        self.bone_parents = np.asarray(m.bone_parents, dtype=np.int64)
        self.skin_weights = m.vertex_bone_weights.double().numpy()  # [V, 9]: skinning weights of …
        self.skin_bones = m.vertex_bone_indices.numpy().astype(np.int64)  # … these bones
        self.vertex_bone = self.skin_bones[np.arange(len(self.skin_bones)), self.skin_weights.argmax(1)]
        coco = anny.KeypointsRegressor.coco(m)
        self.coco_labels: list[str] = list(coco.labels)
        self.coco_weights = coco.regression_weights.double().numpy()  # [23, V]
        with torch.no_grad():
            rest = m()
        self.rest_heads = rest["bone_poses"][0, :, :3, 3].double().numpy() @ BODY_TO_ANNY  # identity deltas
        self.drivers = [_driver(label) for label in self.bone_labels]
        self.fixes = self._rest_corrections()
        # the average body standing upright in the capsule's zero pose: where clothing and textures are laid out
        self.canonical = self.pose(np.zeros((len(self.capsule.nodes), 3)), dict.fromkeys(PHENOTYPES, 0.5))

    def bone(self, label: str) -> int:
        return self.bone_labels.index(label)

    def _rest_corrections(self) -> dict[str, np.ndarray]:
        """Body-frame rotations ``[3, 3]`` that turn each limb segment from anny's rest pose into the capsule's
        zero pose: upper arms and thighs straight down, then forearms and shins straight down about the elbow and
        knee (the feet and hands keep their rest angle to the forearm and shin)."""
        h = {label: self.rest_heads[self.bone(label)] for label in self.bone_labels}
        down = np.array([0.0, -1.0, 0.0])
        fixes: dict[str, np.ndarray] = {}
        for s, side in (("L", "left"), ("R", "right")):
            for upper, lower, (a, b, c) in (("upperarm", "forearm", ("upperarm01", "lowerarm01", "wrist")),
                                            ("thigh", "shin", ("upperleg01", "lowerleg01", "foot"))):
                pa, pb, pc = h[f"{a}.{s}"], h[f"{b}.{s}"], h[f"{c}.{s}"]
                first = _rotation_between(pb - pa, down)
                fixes[f"{side}_{upper}"] = first
                fixes[f"{side}_{lower}"] = _rotation_between(first @ (pc - pb), down) @ first
        return fixes

    def sample_phenotype(self, rng: np.random.Generator, full_range: bool = False) -> dict[str, float]:
        """Slider values in [0, 1]: adults by default (male or female with equal chance, ADULT_RANGES), or every
        slider uniform over [0, 1] (children and in-between genders included) with ``full_range``."""
        if full_range:
            return {k: float(rng.random()) for k in PHENOTYPES}
        female = rng.random() < 0.5
        out = {"gender": float(rng.uniform(0.75, 1.0) if female else rng.uniform(0.0, 0.25))}
        out.update({k: float(rng.uniform(*ADULT_RANGES[k])) for k in PHENOTYPES[1:]})
        return out

    def world_rotations(self, angles: np.ndarray) -> np.ndarray:
        """Posed world rotations ``[104, 3, 3]`` of anny's bones (body frame, relative to the rest pose) for the
        capsule human's local angles ``angles`` ``[25, 3]`` (degrees)."""
        caps = self.capsule
        idx = caps.index()
        local = euler_to_matrix(angles)
        _, rot = kinematic_chain(caps, angles, np.ones(len(caps.nodes)))
        clavicle = {}
        for side, sign in (("left", 1.0), ("right", -1.0)):
            arm = rot[idx[f"{side}_shoulder"]] @ np.array([0.0, -1.0, 0.0])
            elevation = np.degrees(np.arccos(np.clip(-arm[1], -1.0, 1.0)))
            lift = min(max(elevation - CLAVICLE_START, 0.0) * CLAVICLE_SHARE, CLAVICLE_MAX)
            clavicle[f"{side}_clavicle"] = rot[idx["thorax"]] @ euler_to_matrix(np.array([0.0, 0.0, sign * lift]))
        axis_angle = {node: _axis_angle(local[idx[node]]) for node in ("spine", "upper_neck")}
        out = np.empty((len(self.bone_labels), 3, 3))
        for b, (node, fraction, fix) in enumerate(self.drivers):
            if node in clavicle:
                g = clavicle[node]
            elif fraction == 1.0:
                g = rot[idx[node]]
            else:  # a share of the node's local rotation: the same axis, that share of the angle
                axis, angle = axis_angle[node]
                g = rot[idx[caps.nodes[idx[node]].parent]] @ _rotation(axis, fraction * angle)
            out[b] = g @ self.fixes[fix] if fix else g
        return out

    def pose(self, angles: np.ndarray, phenotype: dict[str, float]) -> PosedBody:
        """The body with ``phenotype`` in the pose of the capsule angles ``angles`` ``[25, 3]``, pelvis at the
        origin, in posekit's body frame."""
        torch = self.torch
        g = self.world_rotations(angles)
        g_anny = BODY_TO_ANNY @ g @ BODY_TO_ANNY.T
        parents = np.maximum(self.bone_parents, 0)
        delta = np.transpose(g_anny[parents], (0, 2, 1)) @ g_anny
        delta[0] = g_anny[0]
        pose = np.zeros((1, len(self.bone_labels), 4, 4), dtype=np.float32)
        pose[0, :, :3, :3] = delta
        pose[0, :, 3, 3] = 1.0
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same arithmetic in every process, so samples do not depend on --workers
        try:
            with torch.no_grad():
                out = self.model(pose_parameters=torch.from_numpy(pose), phenotype_kwargs={
                    k: torch.tensor([v], dtype=torch.float32) for k, v in phenotype.items()})
            vertices = out["vertices"][0].numpy().astype(np.float64)
            heads = out["bone_poses"][0, :, :3, 3].numpy().astype(np.float64)
        finally:
            torch.set_num_threads(threads)
        return PosedBody(vertices @ BODY_TO_ANNY, heads @ BODY_TO_ANNY)


@functools.lru_cache(maxsize=1)
def load_mesh_body() -> MeshBody:
    """The process's MeshBody (built on first use: about 1–2 s once anny's cache exists, ~2 min the first time)."""
    return MeshBody()
