"""Render one sample of the built-in benchmark: pose → camera → z-buffered image, labels and mask."""

from __future__ import annotations

import numpy as np

from posekit.datasets.synthetic.bodies import BodyModel, euler_to_matrix, forward_kinematics
from posekit.datasets.synthetic.domains import (
    SKIN_TONES,
    DomainStyle,
    apply_effects,
    camera_distance,
    draw_background,
    draw_occluders,
    random_colour,
)
from posekit.datasets.synthetic.poses import sample_pose
from posekit.datasets.synthetic.render import Capsule, project, render_capsules

JOINT_CROP_MARGIN = 1.25  # the crop rule of posekit's LSPET converter (CropRule("box", margin=1.25))
FLIP_YZ = np.diag([1.0, -1.0, -1.0])  # body (X left, Y up, Z forward) → camera (X right, Y down, Z ahead)


def idx_keypoints(body: BodyModel) -> list[int]:
    """Node index of each keypoint, in keypoint order."""
    idx = body.index()
    return [idx[name] for name in body.keypoints]


def camera_rotation(rng: np.random.Generator, style: DomainStyle) -> np.ndarray:
    """Body frame → camera frame ``[3, 3]``: a random yaw (all views), the look's elevation and in-plane roll."""
    yaw = rng.uniform(0, 360)
    elev = rng.uniform(*style.elevation)
    roll = rng.uniform(*style.roll)
    r_yaw = euler_to_matrix(np.array([0.0, yaw, 0.0]))
    r_elev = euler_to_matrix(np.array([elev, 0.0, 0.0]))
    r_roll = euler_to_matrix(np.array([0.0, 0.0, roll]))
    return r_roll @ r_elev @ FLIP_YZ @ r_yaw


def frame_intrinsics(rng: np.random.Generator, style: DomainStyle, size: int, extent: np.ndarray,
                     joints: np.ndarray, pad: float = 0.0) -> np.ndarray:
    """Intrinsics ``[3, 3]`` framing a body as the look asks: ``extent`` ``[N, 2]`` and ``joints`` ``[K, 2]`` are
    normalised image coordinates (x/z, y/z) of the body's outline points and of its keypoints; ``pad`` widens the
    outline. ``framing="body"``: the outline fills a sampled fraction of the side, off-centre by the look's
    jitter; ``"joints"``: a centred square of JOINT_CROP_MARGIN × the joints' extent."""
    lo, hi = extent.min(0) - pad, extent.max(0) + pad
    side = float((hi - lo).max())
    f = rng.uniform(*style.fill) * size / side
    centre = size / 2 - 0.5 + rng.uniform(-style.jitter, style.jitter, 2) * size
    if style.framing == "joints":  # real datasets' crop: a square of 1.25 × the joints' extent, centred on them
        lo, hi = joints.min(0), joints.max(0)
        f = size / (JOINT_CROP_MARGIN * max(float((hi - lo).max()), 1e-6))
        centre = np.full(2, size / 2 - 0.5)
    c = centre - f * (lo + hi) / 2
    return np.array([[f, 0, c[0]], [0, f, c[1]], [0, 0, 1.0]])


def draw_distractors(rng: np.random.Generator, image: np.ndarray, style: DomainStyle, K: np.ndarray,
                     depth: float) -> None:
    """Up to the look's number of limb-like capsules behind a body at ``depth``, drawn into ``image`` in place."""
    n_distract = int(rng.integers(0, style.distractors + 1))
    if n_distract:
        far = []
        for _ in range(n_distract):
            a = np.array([*rng.uniform(-1.5, 1.5, 2), depth + rng.uniform(1.0, 3.0)])
            b = a + rng.normal(0, 0.35, 3)
            b[2] = max(b[2], depth + 0.5)
            far.append(Capsule(a, b, rng.uniform(0.04, 0.12), random_colour(rng, style)))
        render_capsules(image, far, K, np.array([0.2, -0.6, -0.77]), 0.5, 0.5, np.ones(3))


def sample_light(rng: np.random.Generator, style: DomainStyle) -> tuple[np.ndarray, float, float, np.ndarray]:
    """``(direction [3] unit, from the surface towards the light, camera frame; ambient; diffuse; colour [3])``:
    the fixed studio light, moved towards a random one by the look's ``light``."""
    light, ambient, diffuse, light_colour = np.array([0.25, -0.55, -0.8]), 0.45, 0.6, np.ones(3)
    if style.light > 0:  # move from the fixed studio light towards a random one
        random_dir = rng.normal(0, 1, 3)
        random_dir[2] = -abs(random_dir[2]) - 0.3
        light = light / np.linalg.norm(light) * (1 - style.light) + style.light * random_dir / np.linalg.norm(random_dir)
        ambient += style.light * (rng.uniform(0.15, 0.5) - ambient)
        diffuse += style.light * (rng.uniform(0.4, 0.9) - diffuse)
        light_colour = 1 + style.light * rng.uniform(-0.2, 0.2, 3)
    light = light / max(np.linalg.norm(light), 1e-6)
    return light, ambient, diffuse, light_colour


def finish_sample(rng: np.random.Generator, image: np.ndarray, silhouette: np.ndarray, kp2d: np.ndarray,
                  vis: np.ndarray, kp3d: np.ndarray, K: np.ndarray, style: DomainStyle) -> dict:
    """Occluders over the body (covered joints become v = 1), the look's effects, and the sample's record (see
    render_sample). ``image`` ``[S,S,3]`` float with the body drawn, ``silhouette`` ``[S,S]`` bool, ``kp2d``
    ``[K,2]``, ``vis`` ``[K]`` (0, 1, 2), ``kp3d`` ``[K,3]`` camera metres."""
    size = image.shape[0]
    px = np.clip(np.rint(kp2d).astype(int), 0, size - 1)
    if silhouette.any():
        ys, xs = np.nonzero(silhouette)
        body_box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)
    else:
        body_box = np.array([0, 0, size - 1, size - 1], dtype=np.float64)
    occluded = draw_occluders(rng, image, body_box, style)
    vis = vis.copy()
    vis[(vis == 2) & occluded[px[:, 1], px[:, 0]]] = 1
    mask = silhouette & ~occluded
    image_u8 = apply_effects(rng, image, style)
    return {
        "image": image_u8,
        "keypoints": np.concatenate([kp2d, vis[:, None]], 1).astype(np.float32),
        "keypoints3d": kp3d.astype(np.float32),
        "intrinsics": K.astype(np.float32),
        "mask": mask.astype(np.uint8),
        "bbox": body_box.astype(np.float32),
    }


def _part_appearance(rng: np.random.Generator, body: BodyModel, style: DomainStyle) -> dict[str, tuple]:
    looks: dict[str, tuple] = {}
    for part in body.parts:
        if part == "skin":
            base = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.05)
        elif part == "dark":
            base = np.full(3, rng.uniform(0.05, 0.2))
        else:
            base = random_colour(rng, style)
        texture = None
        if part not in ("skin", "dark") and rng.random() < style.texture_prob:
            second = random_colour(rng, style)
            if rng.random() < 0.5:
                texture = ("stripes", rng.uniform(0.15, 0.5), rng.uniform(0, 6.28), second)
            else:
                texture = ("checker", rng.uniform(0.3, 0.8), second)
        looks[part] = (np.clip(base, 0, 1), texture)
    return looks


def render_sample(body: BodyModel, style: DomainStyle, size: int, rng: np.random.Generator,
                  families: dict[str, float] | None = None) -> dict:
    """One labelled sample; ``families``: pose family weights (poses.sample_pose; None = the plain prior).

    Returns ``image`` ``[S,S,3]`` uint8, ``keypoints`` ``[K,3]`` (x, y, v with v 0 = outside, 1 = occluded,
    2 = visible), ``keypoints3d`` ``[K,3]`` camera metres, ``intrinsics`` ``[3,3]``, ``mask`` ``[S,S]`` uint8,
    ``bbox`` ``[4]`` (x0, y0, x1, y1 of the visible silhouette).
    """
    idx = body.index()
    angles, root, _ = sample_pose(body, rng, style.pose_spread, families)
    scales = np.full(len(body.nodes), rng.uniform(0.9, 1.1)) * rng.uniform(0.93, 1.07, len(body.nodes))
    thickness = rng.uniform(0.8, 1.25)
    pos = forward_kinematics(body, angles, scales)
    if root is not None:
        pos = pos @ root.T
    cam = (camera_rotation(rng, style) @ (pos - pos.mean(0)).T).T
    depth = camera_distance(rng, style)
    cam[:, 2] += depth

    # Choose intrinsics so the body fills the requested fraction of the image (a crop around the person).
    norm = cam[:, :2] / cam[:, 2:3]
    K = frame_intrinsics(rng, style, size, norm, norm[idx_keypoints(body)], pad=0.12 * thickness / depth)

    looks = _part_appearance(rng, body, style)
    capsules = [
        Capsule(cam[idx[limb.a]], cam[idx[limb.b]], limb.radius * thickness, *looks[limb.part]) for limb in body.limbs
    ]
    image = draw_background(rng, size, style)
    draw_distractors(rng, image, style, K, depth)
    zbuf = render_capsules(image, capsules, K, *sample_light(rng, style))
    silhouette = np.isfinite(zbuf)

    kp_nodes = idx_keypoints(body)
    kp3d = cam[kp_nodes]
    kp2d = project(kp3d, K)
    radius = np.full(len(kp_nodes), 0.1)
    for j, node in enumerate(kp_nodes):
        touching = [limb.radius for limb in body.limbs if idx[limb.a] == node or idx[limb.b] == node]
        if touching:
            radius[j] = max(touching) * thickness
    inside = (kp2d >= 0).all(1) & (kp2d <= size - 1).all(1)
    vis = np.where(inside, 2, 0)
    px = np.clip(np.rint(kp2d).astype(int), 0, size - 1)
    hidden = zbuf[px[:, 1], px[:, 0]] < kp3d[:, 2] - 1.2 * radius
    vis[inside & hidden] = 1
    return finish_sample(rng, image, silhouette, kp2d, vis, kp3d, K, style)
