"""Render one labelled sample from a mesh body: the same record as the capsule generator (generate.render_sample).

Order: pose (family, angles) → phenotype → posed mesh and MPII-16 joints → camera and framing → clothes → background
and distractors → light → z-buffered mesh with per-pixel normals and albedo → visibility → occluders and effects.
The camera, framing, distractors, light, occluders and effects are the capsule generator's own functions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from posekit.data.synthetic.domains import DomainStyle, draw_background
from posekit.data.synthetic.generate import (
    camera_rotation,
    draw_distractors,
    finish_sample,
    frame_intrinsics,
    sample_light,
)
from posekit.data.synthetic.mesh.appearance import GROUPS, Landmarks, albedo, bone_group, sample_outfit
from posekit.data.synthetic.mesh.body import MeshBody, load_mesh_body
from posekit.data.synthetic.mesh.labels import JointRegressor, skin_depth, visibility
from posekit.data.synthetic.mesh.raster import lambert, rasterize, vertex_normals
from posekit.data.synthetic.poses import sample_pose
from posekit.data.synthetic.render import project


@dataclass
class MeshKit:
    """A mesh body with what rendering it needs: its joint regressor, the canonical body's landmarks and
    coordinates, and the body group (appearance.GROUPS) of each face."""

    body: MeshBody
    joints: JointRegressor
    marks: Landmarks
    face_group: np.ndarray  # [F]

    @staticmethod
    def build(body: MeshBody) -> MeshKit:
        canonical = body.canonical.vertices
        joints = JointRegressor(body, canonical)
        group_of_bone = np.array([bone_group(label) for label in body.bone_labels])
        vertex_group = group_of_bone[body.vertex_bone]
        head = canonical[vertex_group == GROUPS.index("head")]
        trunk = canonical[np.isin(vertex_group, [GROUPS.index("torso"), GROUPS.index("hips")])]
        marks = Landmarks.of(joints(body.canonical), head, trunk)
        return MeshKit(body, joints, marks, vertex_group[body.faces[:, 0]])


@functools.lru_cache(maxsize=1)
def load_mesh_kit() -> MeshKit:
    """The process's MeshKit (see body.load_mesh_body for the cost of the first call)."""
    return MeshKit.build(load_mesh_body())


def render_mesh_sample(kit: MeshKit, style: DomainStyle, size: int, rng: np.random.Generator,
                       families: dict[str, float] | None, full_range: bool = False) -> dict:
    """One labelled sample of a human mesh, keys and shapes as generate.render_sample (MPII-16 keypoints).

    ``families``: pose family weights (poses.sample_pose; None = the plain prior); ``full_range``: phenotypes over
    the sliders' whole range instead of adults."""
    body = kit.body
    angles, root, _ = sample_pose(body.capsule, rng, style.pose_spread, families)
    posed = body.pose(angles, body.sample_phenotype(rng, full_range))
    joints = kit.joints(posed)
    under_skin = skin_depth(posed.vertices, joints)
    vertices = posed.vertices
    if root is not None:
        vertices, joints = vertices @ root.T, joints @ root.T
    rotation = camera_rotation(rng, style)
    centre = joints.mean(0)
    depth = rng.uniform(3.5, 6.0)
    offset = np.array([0.0, 0.0, depth])
    cam_vertices = (vertices - centre) @ rotation.T + offset
    cam_joints = (joints - centre) @ rotation.T + offset
    K = frame_intrinsics(rng, style, size, cam_vertices[:, :2] / cam_vertices[:, 2:3],
                         cam_joints[:, :2] / cam_joints[:, 2:3])

    outfit = sample_outfit(rng, style, kit.marks)
    image = draw_background(rng, size, style)
    draw_distractors(rng, image, style, K, depth)
    light, ambient, diffuse, light_colour = sample_light(rng, style)

    screen = np.concatenate([project(cam_vertices, K), cam_vertices[:, 2:3]], 1)
    raster = rasterize(screen, body.faces, size, size)
    covered = raster.covered
    normals = raster.interpolate(vertex_normals(cam_vertices, body.faces), body.faces)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    colour = albedo(outfit, kit.marks, raster.interpolate(body.canonical.vertices, body.faces),
                    kit.face_group[raster.face[covered]])
    image[covered] = colour * lambert(normals, light, ambient, diffuse)[:, None] * light_colour

    kp2d = project(cam_joints, K)
    surface_bone = body.vertex_bone[body.faces[np.maximum(raster.face, 0), 0]]  # [S, S]
    vis = visibility(kp2d, cam_joints, raster.depth, surface_bone, kit.joints.own, under_skin)
    return finish_sample(rng, image, covered, kp2d, vis, cam_joints, K, style)
