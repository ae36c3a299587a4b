"""Pose families that sports photographs show, on the human body's joint-angle prior.

A family moves the centre of the prior (bodies.sample_angles) from the neutral stance to a characteristic pose
(running, jumping, kicking, throwing, splits, handstand) and may tilt the whole body; ``--pose-spread`` keeps its
meaning, the std of each angle as a fraction of the joint's range, now around the family's centre. Families are
written for the left side leading and mirrored half of the time. Angles are (flexion, twist, abduction) in
degrees in the convention of bodies.py (for the left limbs: negative shoulder/hip flexion raises the limb forward,
positive abduction raises it sideways, knees bend positive and elbows negative); unlisted joints keep their
neutral angle. Every angle is clipped to the joint's anatomical limits.

Besides these, ``mocap`` draws a frame of a motion-capture clip (mocap.py: a random clip, then a random frame) and
``mocap_CLIP`` a frame of that clip; the frame's angles are the centre, jittered by a third of ``--pose-spread``
(mocap.jitter), with a random heading and a random mirror.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.datasets.synthetic import mocap
from posekit.datasets.synthetic.bodies import BodyModel, euler_to_matrix, sample_angles
from posekit.errors import ConfigError
from posekit.numbers import parse_number

Angles = dict[str, tuple[float, float, float]]


@dataclass(frozen=True)
class PoseFamily:
    name: str
    variants: tuple[Angles, ...]  # one is drawn uniformly; () = the neutral stance
    root: tuple[float, float, float] = (0.0, 0.0, 0.0)  # whole-body rotation, same convention (flexion = lean forward)


_ARMS_SIDEWAYS: Angles = {"left_shoulder": (0, 0, 80), "right_shoulder": (0, 0, -80),
                          "left_elbow": (-20, 0, 0), "right_elbow": (-20, 0, 0)}

FAMILIES: dict[str, PoseFamily] = {f.name: f for f in (
    PoseFamily("prior", ()),
    PoseFamily("running", ({
        "spine": (12, 0, 0), "upper_neck": (-12, 0, 0),
        "left_hip": (-60, 0, 4), "left_knee": (55, 0, 0), "left_ankle": (5, 0, 0),
        "right_hip": (20, 0, -4), "right_knee": (95, 0, 0), "right_ankle": (25, 0, 0),
        "left_shoulder": (40, 0, 10), "left_elbow": (-95, 0, 0),
        "right_shoulder": (-55, 0, -10), "right_elbow": (-85, 0, 0),
    },), root=(8, 0, 0)),
    PoseFamily("jumping", ({  # arms up, knees tucked
        "spine": (10, 0, 0), "left_shoulder": (-150, 0, 25), "right_shoulder": (-150, 0, -25),
        "left_elbow": (-15, 0, 0), "right_elbow": (-15, 0, 0),
        "left_hip": (-75, 0, 10), "right_hip": (-65, 0, -10), "left_knee": (95, 0, 0), "right_knee": (85, 0, 0),
        "left_ankle": (25, 0, 0), "right_ankle": (25, 0, 0),
    }, {  # star jump
        "left_shoulder": (-20, 0, 140), "right_shoulder": (-20, 0, -140),
        "left_hip": (-10, 0, 40), "right_hip": (-10, 0, -40), "left_knee": (10, 0, 0), "right_knee": (10, 0, 0),
        "left_ankle": (25, 0, 0), "right_ankle": (25, 0, 0),
    })),
    PoseFamily("kicking", ({
        "spine": (-12, 0, 0), "left_hip": (-95, 0, 5), "left_knee": (20, 0, 0), "left_ankle": (25, 0, 0),
        "right_hip": (5, 0, -5), "right_knee": (12, 0, 0),
        "left_shoulder": (25, 0, 55), "right_shoulder": (-30, 0, -70), "left_elbow": (-30, 0, 0),
        "right_elbow": (-30, 0, 0),
    },)),
    PoseFamily("throwing", ({  # the right arm cocked behind the head, the left pointing forward, a stride
        "spine": (-8, 35, 0), "upper_neck": (0, -25, 0),
        "right_shoulder": (10, 60, -95), "right_elbow": (-100, 0, 0),
        "left_shoulder": (-85, 0, 15), "left_elbow": (-25, 0, 0),
        "left_hip": (-35, 0, 8), "left_knee": (25, 0, 0), "right_hip": (15, 0, -8), "right_knee": (25, 0, 0),
    },)),
    PoseFamily("splits", (  # front and side splits, as far as the hips' limits allow
        {"left_hip": (-112, 0, 0), "right_hip": (28, 0, 0), "left_knee": (0, 0, 0), "right_knee": (0, 0, 0),
         "left_ankle": (30, 0, 0), "right_ankle": (30, 0, 0), **_ARMS_SIDEWAYS},
        {"left_hip": (-20, 0, 48), "right_hip": (-20, 0, -48), "left_knee": (0, 0, 0), "right_knee": (0, 0, 0),
         "left_ankle": (30, 0, 0), "right_ankle": (30, 0, 0), **_ARMS_SIDEWAYS},
    )),
    PoseFamily("handstand", ({
        "spine": (-15, 0, 0), "upper_neck": (-25, 0, 0),
        "left_shoulder": (-170, 0, 8), "right_shoulder": (-170, 0, -8), "left_elbow": (0, 0, 0),
        "right_elbow": (0, 0, 0), "left_hip": (0, 0, 8), "right_hip": (0, 0, -8), "left_knee": (10, 0, 0),
        "right_knee": (10, 0, 0), "left_ankle": (30, 0, 0), "right_ankle": (30, 0, 0),
    },), root=(180, 0, 0)),
)}

MESH_DEFAULT_FAMILIES = {"prior": 4.0, "running": 2.0, "jumping": 1.0, "kicking": 1.0, "throwing": 1.0,
                         "splits": 0.5, "handstand": 0.5}


def parse_families(text: str) -> dict[str, float]:
    """``"prior=4,running=2"`` → ``{"prior": 4.0, "running": 2.0}``; raises ValueError naming what is wrong."""
    out: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        name = name.strip()
        if name not in FAMILIES and name not in mocap.FAMILY_NAMES:
            raise ValueError(f"unknown pose family {name!r} (known: {', '.join(FAMILIES)}, mocap, "
                             f"mocap_CLIP with CLIP one of {', '.join(mocap.CLIPS)})")
        try:  # finite and at most 1e6: a weight of inf or 1e308 would make the weights' sum infinite
            weight = parse_number(value, f"pose family {name!r}: weight", lo=0, hi=1e6) if sep else 1.0
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        if name in out:
            raise ValueError(f"pose family {name!r}: give each family once, with a weight ≥ 0")
        out[name] = weight
    if sum(out.values()) <= 0:
        raise ValueError("the pose family weights sum to 0")
    return out


def _mirror(body: BodyModel, angles: np.ndarray) -> np.ndarray:
    """The left/right mirror image of local angles ``[num_nodes, 3]``: sides swapped, twist and abduction negated."""
    idx = body.index()
    out = angles.copy()
    for i, node in enumerate(body.nodes):
        other = node.name.replace("left", "@").replace("right", "left").replace("@", "right")
        out[i] = angles[idx.get(other, i)] * np.array([1.0, -1.0, -1.0])
    return out


def family_centre(body: BodyModel, family: PoseFamily, variant: int) -> np.ndarray:
    """The family's centre angles ``[num_nodes, 3]``: its listed joints, the neutral angle elsewhere."""
    centre = np.array([n.neutral for n in body.nodes], dtype=np.float64)
    idx = body.index()
    for name, angles in (family.variants[variant] if family.variants else {}).items():
        centre[idx[name]] = angles
    return centre


def sample_pose(body: BodyModel, rng: np.random.Generator, spread: float,
                families: dict[str, float] | None) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Local angles ``[num_nodes, 3]``, the whole-body rotation ``[3, 3]`` (None = upright) and the family drawn.

    ``families=None`` is the plain prior (bodies.sample_angles, the capsule source's default; it draws exactly what
    it always drew). Otherwise a family is drawn by weight, then its variant and side, then the angles around its
    centre; ``spread`` ≥ 1 still draws every angle uniformly over its range, whatever the family (but mocap ones:
    their jitter is a third of ``spread`` × the range, see mocap.jitter).
    """
    if families is None:
        return sample_angles(body, rng, spread), None, "prior"
    names = sorted(families)
    weights = np.array([families[n] for n in names], dtype=np.float64)
    name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    if name in mocap.FAMILY_NAMES:
        return (*sample_mocap(body, rng, spread, name), name)
    family = FAMILIES[name]
    variant = int(rng.integers(max(len(family.variants), 1)))
    centre = family_centre(body, family, variant)
    if rng.random() < 0.5:
        centre = _mirror(body, centre)
    angles = sample_angles(body, rng, spread, centre)
    root = euler_to_matrix(np.asarray(family.root, dtype=np.float64)) if any(family.root) else None
    return angles, root, family.name


def sample_mocap(body: BodyModel, rng: np.random.Generator, spread: float, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Local angles ``[num_nodes, 3]`` and whole-body rotation ``[3, 3]`` from a motion-capture frame: a clip of
    ``family`` (mocap.clips_of) drawn uniformly, then a frame, a mirror (half of the time), the jitter and a heading
    uniform over 360°."""
    clips = mocap.clips_of(family)
    angles, roots = mocap.clip_poses()[clips[int(rng.integers(len(clips)))]]
    frame = int(rng.integers(len(angles)))
    centre, root = angles[frame], roots[frame]
    if rng.random() < 0.5:
        centre, root = _mirror(body, centre), mocap.mirror_root(root)
    out = mocap.jitter(body, rng, spread, centre)
    heading = euler_to_matrix(np.array([0.0, rng.uniform(0.0, 360.0), 0.0]))
    return out, heading @ root
