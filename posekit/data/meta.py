"""Keypoint metadata: joint names, flip pairs, evaluation groups and skeletons.

Canonical orders follow the anchors: the 16-joint MPII order used in SURREAL→LSP work,
TigDog's 18 animal keypoints and AnimalPose's 14 evaluated keypoints.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from posekit.errors import DataError


@dataclass(frozen=True)
class KeypointMeta:
    """Everything needed to flip, group and draw one skeleton.

    ``groups`` maps a group name to joint indices; ``all_joints`` are the joints the "All" column averages.
    """

    name: str
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)
    skeleton: tuple[tuple[int, int], ...] = ()
    all_joints: tuple[int, ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def flip_permutation(self) -> list[int]:
        """Index permutation that swaps left and right joints: ``kp_flipped = kp[perm]``."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> KeypointMeta:
        try:
            d = json.loads(text)
            return cls(
                name=d["name"],
                names=tuple(d["names"]),
                flip_pairs=tuple(tuple(p) for p in d["flip_pairs"]),
                groups={k: tuple(v) for k, v in d["groups"].items()},
                skeleton=tuple(tuple(e) for e in d["skeleton"]),
                all_joints=tuple(d["all_joints"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"invalid keypoint metadata: {exc}") from exc


MPII16 = KeypointMeta(
    name="human16",
    names=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "pelvis", "thorax", "upper_neck", "head_top",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    groups={
        "Sld": (12, 13), "Elb": (11, 14), "Wrist": (10, 15),
        "Hip": (2, 3), "Knee": (1, 4), "Ankle": (0, 5),
    },
    skeleton=(
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
        (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
    ),
    all_joints=(12, 13, 11, 14, 10, 15, 2, 3, 1, 4, 0, 5),
)

# LSP's 14 joints: r-ankle, r-knee, r-hip, l-hip, l-knee, l-ankle, r-wrist, r-elbow, r-shoulder, l-shoulder,
# l-elbow, l-wrist, neck, head top. MPII slot i takes LSP joint LSP_TO_MPII16[i]; pelvis and thorax (6, 7) have
# no LSP counterpart and are marked unlabelled (the anchors' mapping).
LSP_TO_MPII16 = (0, 1, 2, 3, 4, 5, 13, 13, 12, 13, 6, 7, 8, 9, 10, 11)
LSP_UNMAPPED_MPII16 = (6, 7)

TIGDOG18 = KeypointMeta(
    name="tigdog18",
    names=(
        "left_eye", "right_eye", "chin",
        "left_front_hoof", "right_front_hoof", "left_back_hoof", "right_back_hoof",
        "hip",
        "left_front_knee", "right_front_knee", "left_back_knee", "right_back_knee",
        "left_shoulder", "right_shoulder",
        "left_front_elbow", "right_front_elbow", "left_back_elbow", "right_back_elbow",
    ),
    flip_pairs=((0, 1), (3, 4), (5, 6), (8, 9), (10, 11), (12, 13), (14, 15), (16, 17)),
    groups={
        "Eye": (0, 1), "Chin": (2,), "Sld": (12, 13), "Hip": (7,),
        "Elb": (14, 15, 16, 17), "Knee": (8, 9, 10, 11), "Hoof": (3, 4, 5, 6),
    },
    skeleton=(
        (0, 2), (1, 2), (2, 12), (2, 13), (12, 14), (14, 8), (8, 3), (13, 15), (15, 9), (9, 4),
        (12, 7), (13, 7), (7, 16), (16, 10), (10, 5), (7, 17), (17, 11), (11, 6),
    ),
    all_joints=tuple(range(18)),
)

ANIMALPOSE14 = KeypointMeta(
    name="animalpose14",
    names=(
        "left_eye", "right_eye",
        "left_front_paw", "right_front_paw", "left_back_paw", "right_back_paw",
        "left_front_knee", "right_front_knee", "left_back_knee", "right_back_knee",
        "left_front_elbow", "right_front_elbow", "left_back_elbow", "right_back_elbow",
    ),
    flip_pairs=((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13)),
    groups={"Eye": (0, 1), "Hoof": (2, 3, 4, 5), "Knee": (6, 7, 8, 9), "Elb": (10, 11, 12, 13)},
    skeleton=((10, 6), (6, 2), (11, 7), (7, 3), (12, 8), (8, 4), (13, 9), (9, 5)),
    all_joints=tuple(range(14)),
)

SKELETONS: dict[str, KeypointMeta] = {m.name: m for m in (MPII16, TIGDOG18, ANIMALPOSE14)}

# 21 hand joints in the common base-to-tip order (FreiHAND, Panoptic, COCO-WholeBody hands, MMPose's hand
# datasets): wrist, then per finger (thumb, forefinger, middle, ring, pinky) joint 1 (thumb CMC / finger MCP) … 4
# (tip). Names match MMPose's, so `coco --canonical hand21` maps those files by name. RHD stores each finger tip
# first; `prepare rhd` reorders it. Groups are joint levels; a single hand has no left/right joint pairs.
_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
HAND21 = KeypointMeta(
    name="hand21",
    names=("wrist", *(f"{finger}{j}" for finger in _FINGERS for j in range(1, 5))),
    flip_pairs=(),
    groups={"Wrist": (0,), "MCP": (1, 5, 9, 13, 17), "PIP": (2, 6, 10, 14, 18), "DIP": (3, 7, 11, 15, 19),
            "Tip": (4, 8, 12, 16, 20)},
    skeleton=tuple(edge for f in range(5) for edge in ((0, 4 * f + 1), (4 * f + 1, 4 * f + 2), (4 * f + 2, 4 * f + 3),
                                                       (4 * f + 3, 4 * f + 4))),
    all_joints=tuple(range(21)),
)

# Human3.6M's 17 joints (its 32-joint indices 0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27; the order
# of MMPose's Body3DH36MDataset and VideoPose3D). Index 1 is the *right* hip (checked on the data: MMPose's
# configs/_base_/datasets/h36m.py and h36m_coco.json call it left_hip). H36M's "foot" is the ankle, "neck_base"
# (Neck/Nose) the top of the neck and "head" the head top: they take MPII-16's names, so 16 of the 17 joints share
# a name with `human16` (all but spine).
H36M17 = KeypointMeta(
    name="h36m17",
    names=(
        "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "spine", "thorax", "upper_neck", "head_top",
        "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
    ),
    flip_pairs=((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)),
    groups={
        "Sld": (11, 14), "Elb": (12, 15), "Wrist": (13, 16),
        "Hip": (1, 4), "Knee": (2, 5), "Ankle": (3, 6),
    },
    skeleton=(
        (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
        (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
    ),
    all_joints=tuple(range(17)),
)

SKELETONS.update({m.name: m for m in (HAND21, H36M17)})

# Root joint(s) per meta name for 3D root alignment: one joint, or several whose mean is the root.
ROOT_JOINTS: dict[str, tuple[int, ...]] = {
    MPII16.name: (2, 3),  # right and left hip
    HAND21.name: (0,),  # wrist
    H36M17.name: (0,),  # pelvis
}
