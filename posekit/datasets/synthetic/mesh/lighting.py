"""The photo look's light, floor shadow and camera distance for mesh bodies (``--lighting photo``,
``--shadow contact``; docs/synthetic-benchmark.md).

Directions are unit vectors from the surface towards the light. The *world* is the posed body's frame (y up, the
floor under its lowest vertex); ``rotation`` maps world directions into the camera frame (x right, y down, z ahead):
``camera = rotation @ (world − centre) + offset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from posekit.datasets.synthetic.mesh.raster import rasterize
from posekit.datasets.synthetic.render import project

UP = np.array([0.0, 1.0, 0.0])
def ground_horizon(rotation: np.ndarray, K: np.ndarray, size: int, centre: np.ndarray, offset: np.ndarray,
                   ground: float) -> float | None:
    """The row (fraction of the side) of the floor's horizon for a camera of this elevation, level (the camera's
    in-plane roll is left out, so drawn scenes stay upright as in photos), so that the feet stand below it; None
    when the camera is less than 0.3 m above the floor ``ground`` (world y), which then has no sensible horizon."""
    camera_height = (centre - rotation.T @ offset)[1] - ground
    if camera_height < 0.3:
        return None
    up_z = float(rotation[2, 1])  # the world's up in the camera frame, z component: < 0 when looking down
    y = K[1, 2] + K[1, 1] * up_z / np.sqrt(max(1 - up_z**2, 1e-9))
    return float(y / size)


@dataclass
class PhotoLights:
    """Ambient light from a bright sky and a darker ground, a key light from above, an optional fill light, and
    Blinn–Phong highlights: strong on skin, a faint sheen on clothes and hair. Directions in the camera frame."""

    ambient: np.ndarray  # [3] colour
    up: np.ndarray  # [3] the world's up
    key: np.ndarray  # [3]
    key_colour: np.ndarray  # [3]
    fill: np.ndarray  # [3]
    fill_colour: np.ndarray  # [3] (zero: no fill light)
    specular: float  # highlight strength on skin
    shininess: float
    sheen: float  # highlight strength elsewhere

    def shade(self, albedo: np.ndarray, normals: np.ndarray, points: np.ndarray, skin: np.ndarray) -> np.ndarray:
        """Colour ``[N, 3]`` of surface points of ``albedo`` ``[N, 3]``, unit ``normals`` ``[N, 3]``, camera
        positions ``points`` ``[N, 3]``; ``skin`` ``[N]`` bool takes the skin's highlight."""
        hemisphere = 0.7 + 0.3 * (normals @ self.up)  # sky above, darker ground bounce below
        light = self.ambient * hemisphere[:, None]
        view = -points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-9)
        spec = np.zeros_like(albedo)
        for direction, colour in ((self.key, self.key_colour), (self.fill, self.fill_colour)):
            facing = np.clip(normals @ direction, 0.0, None)
            light = light + colour * facing[:, None]
            half = view + direction
            half /= np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-9)
            spec = spec + colour * (np.clip((normals * half).sum(1), 0.0, None) ** self.shininess * (facing > 0))[:, None]
        strength = np.where(skin, self.specular, self.sheen)
        return albedo * light + strength[:, None] * spec


def _direction(azimuth: float, altitude: float, towards: np.ndarray) -> np.ndarray:
    """World direction ``altitude`` radians above the horizon, ``azimuth`` radians around the up axis from the
    horizontal unit vector ``towards``."""
    side = np.cross(UP, towards)
    flat = np.cos(azimuth) * towards + np.sin(azimuth) * side
    return np.cos(altitude) * flat + np.sin(altitude) * UP


def photo_lights(rng: np.random.Generator, rotation: np.ndarray) -> PhotoLights:
    """Random photo lights for a camera of ``rotation``: a key light 20–65° above the horizon, within 110° of the
    camera's side of the body (sun or lamp, white to warm, 0.55–0.95), a cool-to-warm fill light from the other
    side 60 % of the time, a sky-tinted ambient of 0.3–0.5, skin highlights of 0.12–0.3. Fixed number of draws."""
    to_camera = rotation.T @ np.array([0.0, 0.0, -1.0])
    to_camera[1] = 0.0
    norm = np.linalg.norm(to_camera)
    to_camera = to_camera / norm if norm > 1e-6 else np.array([0.0, 0.0, 1.0])
    azimuth, altitude = np.deg2rad(rng.uniform(-110, 110)), np.deg2rad(rng.uniform(20, 65))
    warmth, strength = rng.uniform(0, 1), rng.uniform(0.55, 0.95)
    key_colour = strength * np.array([1.0, 1 - 0.08 * warmth, 1 - 0.22 * warmth])
    sky = rng.uniform(0, 1)
    ambient = rng.uniform(0.3, 0.5) * (1 + sky * np.array([-0.06, -0.01, 0.08]))
    has_fill = rng.random() < 0.6
    fill_az = azimuth + np.pi + np.deg2rad(rng.uniform(-60, 60))
    fill_alt = np.deg2rad(rng.uniform(0, 35))
    fill_colour = rng.uniform(0.1, 0.3) * (1 + rng.uniform(-0.15, 0.15, 3)) * has_fill
    specular, shininess, sheen = rng.uniform(0.12, 0.3), rng.uniform(12, 40), rng.uniform(0.0, 0.05)
    return PhotoLights(ambient, rotation @ UP, rotation @ _direction(azimuth, altitude, to_camera), key_colour,
                       rotation @ _direction(fill_az, fill_alt, to_camera), fill_colour, specular, shininess, sheen)


def shade_floor(image: np.ndarray, rng: np.random.Generator, vertices: np.ndarray, faces: np.ndarray,
                rotation: np.ndarray, centre: np.ndarray, offset: np.ndarray, K: np.ndarray, key: np.ndarray) -> None:
    """Darken ``image`` ``[S, S, 3]`` in place with the body's shadow on the floor (the plane under its lowest
    vertex): the mesh projected along the key light ``key`` (world; raised to at least 25° above the horizon, so a
    low light still shades the floor under the body), blurred by 1–2.5 % of the side, 25–50 % dark, and a tighter
    contact shadow (30–50 %) under the parts within 12 cm of the floor. Fixed number of draws."""
    size = image.shape[0]
    cast_blur, cast_dark = rng.uniform(0.01, 0.025) * size, rng.uniform(0.25, 0.5)
    contact_dark = rng.uniform(0.3, 0.5)
    ground = vertices[:, 1].min()
    height = vertices[:, 1] - ground
    flat_dir = key - key[1] * UP
    norm = np.linalg.norm(flat_dir)
    altitude = max(np.arcsin(np.clip(key[1] / max(np.linalg.norm(key), 1e-9), -1, 1)), np.deg2rad(25))
    light = (flat_dir / norm if norm > 1e-6 else np.zeros(3)) * np.cos(altitude) + UP * np.sin(altitude)

    def coverage(points: np.ndarray, keep: np.ndarray) -> np.ndarray:
        cam = (points - centre) @ rotation.T + offset
        screen = np.concatenate([project(cam, K), cam[:, 2:3]], 1)
        return rasterize(screen, faces[keep], size, size, cull_back=False).covered.astype(np.float64)

    cast = coverage(vertices - light * (height / light[1])[:, None], np.ones(len(faces), bool))
    low = (height[faces] < 0.12).all(1)
    contact = coverage(vertices - height[:, None] * UP, low) if low.any() else np.zeros((size, size))
    shade = (1 - cast_dark * gaussian_filter(cast, cast_blur)) * (1 - contact_dark * gaussian_filter(contact, 0.01 * size))
    image *= shade[..., None]
