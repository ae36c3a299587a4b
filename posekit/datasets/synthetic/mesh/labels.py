"""MPII-16 joints of a posed anny body, and their visibility in a rendered image.

Where each joint comes from (the same rule for every sample):

==============================  =============================================================================
MPII joint                      source
==============================  =============================================================================
ankles, knees, hips,            anny's COCO keypoint regressor (``KeypointsRegressor.coco``): fixed linear
shoulders, elbows, wrists       blends of mesh vertices, fitted to where COCO's annotators put these joints
pelvis                          the rig's ``root`` bone head (the centre of the pelvis, above the hip line)
thorax                          the midpoint of the rig's two ``clavicle`` bone heads (the sternoclavicular
                                joints: the top of the sternum, the base of the neck)
upper_neck                      the rig's ``head`` bone head (the joint of the skull on the neck)
head_top                        the crown: the highest head vertex of the average body standing upright
==============================  =============================================================================

``bench/mesh_joint_offsets.py`` measures how far the COCO joints lie from the rig's bone heads for the same joint
(docs/synthetic-benchmark.md lists the figures).

Visibility: 0 outside the image, 1 hidden, 2 visible. A joint sits inside the body, so some surface always lies in
front of it; it is hidden when the nearest surface at its pixel (the z-buffer) lies more than ``VISIBLE_SLACK`` ×
its depth under the skin (its distance to the nearest vertex) + ``VISIBLE_MARGIN`` in front of it *and* belongs to
another body part than the joint's own (OWN_BONES: the rig bones around the joint, on its side), e.g. the torso or
the other arm in front of a shoulder.
"""

from __future__ import annotations

import numpy as np

from posekit.data.meta import MPII16
from posekit.datasets.synthetic.mesh.body import MeshBody, PosedBody

COCO_JOINTS = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
               "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist")
RIG_JOINTS = {"pelvis": ("root",), "thorax": ("clavicle.L", "clavicle.R"), "upper_neck": ("head",)}  # mean of heads
# the rig's bone head at the same place as a COCO joint (for the offsets in the docs)
RIG_TWIN = {"ankle": "foot", "knee": "lowerleg01", "hip": "upperleg01", "wrist": "wrist", "elbow": "lowerarm01",
            "shoulder": "upperarm01"}
VISIBLE_SLACK, VISIBLE_MARGIN = 1.5, 0.02  # -, metres
# the rig bones (label prefixes; "S" = the joint's side) whose surface belongs to each joint
OWN_BONES = {
    "ankle": ("lowerleg02.S", "foot.S", "toe"), "knee": ("upperleg02.S", "lowerleg01.S", "lowerleg02.S"),
    "hip": ("pelvis.S", "upperleg01.S", "upperleg02.S"), "wrist": ("lowerarm02.S", "wrist.S", "finger", "metacarpal"),
    "elbow": ("upperarm02.S", "lowerarm01.S", "lowerarm02.S"), "shoulder": ("clavicle.S", "shoulder01.S", "upperarm01.S"),
    "pelvis": ("root", "pelvis", "spine05", "spine04", "upperleg01"), "thorax": ("spine01", "spine02", "neck01", "clavicle"),
    "upper_neck": ("neck", "head"), "head_top": ("head", "eye"),
}


class JointRegressor:
    """MPII-16 joints ``[16, 3]`` of a posed body, in the frame of its vertices."""

    def __init__(self, body: MeshBody, canonical: np.ndarray):
        """``canonical``: ``[V, 3]`` the average body standing upright (zero pose), to find the crown vertex."""
        coco = [body.coco_labels.index(name) for name in COCO_JOINTS]
        self.weights = body.coco_weights[coco]  # [12, V]
        self.coco_slots = [MPII16.names.index(name) for name in COCO_JOINTS]
        self.rig = {MPII16.names.index(j): [body.bone(b) for b in bones] for j, bones in RIG_JOINTS.items()}
        head = np.nonzero(np.isin(body.vertex_bone, [body.bone("head")]))[0]
        self.crown = int(head[np.argmax(canonical[head, 1])])
        self.crown_slot = MPII16.names.index("head_top")
        self.own = own_bones(body.bone_labels)

    def __call__(self, posed: PosedBody) -> np.ndarray:
        out = np.empty((MPII16.num_joints, 3))
        out[self.coco_slots] = self.weights @ posed.vertices
        for slot, bones in self.rig.items():
            out[slot] = posed.bone_heads[bones].mean(0)
        out[self.crown_slot] = posed.vertices[self.crown]
        return out


def _owned(prefix: str, label: str, side: str) -> bool:
    """Whether bone ``label`` matches an OWN_BONES ``prefix`` for a joint on ``side`` ("L", "R" or "")."""
    base, _, bone_side = label.partition(".")
    if prefix.endswith(".S"):
        return label == f"{prefix[:-2]}.{side}"
    return base.startswith(prefix) and (not side or bone_side in ("", side))


def own_bones(bone_labels: list[str]) -> np.ndarray:
    """``[16, B]`` bool: whether bone b's surface belongs to MPII joint j (OWN_BONES)."""
    own = np.zeros((MPII16.num_joints, len(bone_labels)), dtype=bool)
    for j, name in enumerate(MPII16.names):
        side = {"left": "L", "right": "R"}.get(name.split("_")[0], "")
        part = name.split("_", 1)[1] if side else name
        own[j] = [any(_owned(p, label, side) for p in OWN_BONES[part]) for label in bone_labels]
    return own


def skin_depth(vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Distance ``[K]`` from each joint ``[K, 3]`` to the nearest of ``vertices`` ``[V, 3]``."""
    d2 = sum((axis[None, :] - joints[:, c, None]) ** 2 for c, axis in enumerate(vertices.T))  # [K, V]
    return np.sqrt(d2.min(1))


def visibility(kp2d: np.ndarray, joints_cam: np.ndarray, depth: np.ndarray, bone: np.ndarray, own: np.ndarray,
               under_skin: np.ndarray) -> np.ndarray:
    """``v`` ``[K]`` int (0 outside, 1 hidden, 2 visible) of joints at pixels ``kp2d`` ``[K, 2]`` with camera
    coordinates ``joints_cam`` ``[K, 3]``, given the rendered depth ``[H, W]`` (``inf`` where empty), the rig bone
    of the surface at each pixel ``bone`` ``[H, W]`` (any value where empty), ``own`` ``[K, B]`` (own_bones) and
    each joint's depth under the skin ``under_skin`` ``[K]`` (skin_depth)."""
    h, w = depth.shape
    inside = (kp2d[:, 0] >= 0) & (kp2d[:, 0] <= w - 1) & (kp2d[:, 1] >= 0) & (kp2d[:, 1] <= h - 1)
    px = np.clip(np.rint(kp2d).astype(np.int64), 0, [w - 1, h - 1])
    surface = depth[px[:, 1], px[:, 0]]
    in_front = surface < joints_cam[:, 2] - (VISIBLE_SLACK * under_skin + VISIBLE_MARGIN)
    other_part = ~own[np.arange(len(own)), bone[px[:, 1], px[:, 0]]]
    return np.where(inside, np.where(in_front & other_part, 1, 2), 0)
