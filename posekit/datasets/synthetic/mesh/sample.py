"""Render one labelled sample from a mesh body: the same record as the capsule generator (generate.render_sample).

Order: pose (family, angles) → phenotype → posed mesh and MPII-16 joints → clothes and hair (the hair's volume
pushes the scalp out) → camera and framing → background and distractors → light → z-buffered mesh with per-pixel
normals and albedo → visibility → occluders and effects.
The camera, framing, distractors, light, occluders and effects are the capsule generator's own functions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from posekit.datasets.synthetic.domains import DomainStyle, camera_distance, draw_background
from posekit.datasets.synthetic.generate import (
    camera_rotation,
    draw_distractors,
    finish_sample,
    frame_intrinsics,
    sample_light,
)
from posekit.datasets.synthetic.mesh.appearance import (
    GROUPS,
    REGIONS,
    Landmarks,
    albedo_regions,
    cloth_detail,
    group_membership,
    hair_weight,
    sample_outfit,
)
from posekit.datasets.synthetic.mesh.body import MeshBody, load_mesh_body
from posekit.datasets.synthetic.mesh.labels import JointRegressor, skin_depth, visibility
from posekit.datasets.synthetic.mesh.lighting import ground_horizon, photo_lights, shade_floor
from posekit.datasets.synthetic.mesh.raster import lambert, rasterize, vertex_normals
from posekit.datasets.synthetic.poses import sample_pose
from posekit.datasets.synthetic.render import project


def _photo_look(style: DomainStyle) -> bool:
    return style.textures != "flat" or style.lighting != "lambert" or style.shadow != "none"


@dataclass
class MeshKit:
    """A mesh body with what rendering it needs: its joint regressor, the canonical body's landmarks, and how much
    each vertex belongs to each body group (appearance.GROUPS)."""

    body: MeshBody
    joints: JointRegressor
    marks: Landmarks
    membership: np.ndarray  # [V, len(GROUPS)] (appearance.group_membership)
    vertex_group: np.ndarray  # [V] the group of largest membership

    @staticmethod
    def build(body: MeshBody) -> MeshKit:
        canonical = body.canonical.vertices
        joints = JointRegressor(body, canonical)
        membership = group_membership(body.bone_labels, body.skin_weights, body.skin_bones)
        vertex_group = membership.argmax(1)
        head = canonical[vertex_group == GROUPS.index("head")]
        trunk = canonical[np.isin(vertex_group, [GROUPS.index("torso"), GROUPS.index("hips")])]
        eyes = body.canonical.bone_heads[[body.bone("eye.L"), body.bone("eye.R")]]
        nose = body.coco_weights[body.coco_labels.index("nose")] @ canonical
        marks = Landmarks.of(joints(body.canonical), head, trunk, eyes, nose)
        return MeshKit(body, joints, marks, membership, vertex_group)


@functools.lru_cache(maxsize=1)
def load_mesh_kit() -> MeshKit:
    """The process's MeshKit (see body.load_mesh_body for the cost of the first call)."""
    return MeshKit.build(load_mesh_body())


def render_mesh_sample(kit: MeshKit, style: DomainStyle, size: int, rng: np.random.Generator,
                       families: dict[str, float] | None, full_range: bool = False) -> dict:
    """One labelled sample of a human mesh, keys and shapes as generate.render_sample (MPII-16 keypoints).

    ``families``: pose family weights (poses.sample_pose; None = the plain prior); ``full_range``: phenotypes over
    the sliders' whole range instead of adults.

    The photo look (``style.textures``, ``lighting``, ``shadow``) draws its random numbers from a second generator
    spawned from ``rng``'s seed, so that turning one of them on or off leaves every other draw of the sample as it
    was (the same person, pose, camera and scene)."""
    body = kit.body
    look = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0]) if _photo_look(style) else None
    angles, root, _ = sample_pose(body.capsule, rng, style.pose_spread, families)
    posed = body.pose(angles, body.sample_phenotype(rng, full_range))
    joints = kit.joints(posed)
    under_skin = skin_depth(posed.vertices, joints)
    outfit = sample_outfit(rng, style, kit.marks)
    normals = vertex_normals(posed.vertices, body.faces)
    hair = hair_weight(outfit, kit.marks, body.canonical.vertices, kit.vertex_group)
    vertices = posed.vertices + normals * (outfit.hair_volume * hair)[:, None]  # the hair's volume
    if root is not None:
        vertices, joints, normals = vertices @ root.T, joints @ root.T, normals @ root.T
    rotation = camera_rotation(rng, style)
    centre = joints.mean(0)
    depth = camera_distance(rng, style)
    offset = np.array([0.0, 0.0, depth])
    cam_vertices = (vertices - centre) @ rotation.T + offset
    cam_joints = (joints - centre) @ rotation.T + offset
    K = frame_intrinsics(rng, style, size, cam_vertices[:, :2] / cam_vertices[:, 2:3],
                         cam_joints[:, :2] / cam_joints[:, 2:3])

    level = None
    if style.shadow == "contact":
        level = ground_horizon(rotation, K, size, centre, offset, float(vertices[:, 1].min()))
    image = draw_background(rng, size, style, level)
    draw_distractors(rng, image, style, K, depth)
    light, ambient, diffuse, light_colour = sample_light(rng, style)
    lights = photo_lights(look, rotation) if style.lighting == "photo" else None

    screen = np.concatenate([project(cam_vertices, K), cam_vertices[:, 2:3]], 1)
    raster = rasterize(screen, body.faces, size, size)
    covered = raster.covered
    pixel_normals = raster.interpolate(normals @ rotation.T, body.faces)
    pixel_normals /= np.maximum(np.linalg.norm(pixel_normals, axis=1, keepdims=True), 1e-12)
    canonical = raster.interpolate(body.canonical.vertices, body.faces)
    colour, region = albedo_regions(outfit, kit.marks, canonical, raster.interpolate(kit.membership, body.faces).argmax(1))
    if style.textures == "photo":
        colour = np.clip(colour * cloth_detail(look, region, canonical, depth / K[0, 0])[:, None], 0, 1)
    if style.shadow == "contact":
        key = lights.key if lights is not None else light
        shade_floor(image, look, vertices, body.faces, rotation, centre, offset, K, rotation.T @ key)
    if lights is None:
        image[covered] = colour * lambert(pixel_normals, light, ambient, diffuse)[:, None] * light_colour
    else:
        image[covered] = lights.shade(colour, pixel_normals, raster.interpolate(cam_vertices, body.faces),
                                      region == REGIONS.index("skin"))

    kp2d = project(cam_joints, K)
    surface_bone = body.vertex_bone[body.faces[np.maximum(raster.face, 0), 0]]  # [S, S]
    vis = visibility(kp2d, cam_joints, raster.depth, surface_bone, kit.joints.own, under_skin)
    return finish_sample(rng, image, covered, kp2d, vis, cam_joints, K, style)
