"""A small z-buffered capsule rasteriser with Lambert shading (numpy, one image at a time)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Capsule:
    """A limb in camera space: endpoints ``p0, p1`` (metres, camera frame, Z forward) and radius ``r``."""

    p0: np.ndarray
    p1: np.ndarray
    r: float
    albedo: np.ndarray  # [3] base colour in [0, 1]
    texture: tuple | None = None  # ("stripes", freq, phase, colour2) | ("checker", freq, colour2) | None


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera points ``[..., 3]`` → pixel coordinates ``[..., 2]`` with intrinsics ``K`` ``[3, 3]``."""
    uvw = points @ K.T
    return uvw[..., :2] / uvw[..., 2:3]


def render_capsules(
    image: np.ndarray,
    capsules: list[Capsule],
    K: np.ndarray,
    light: np.ndarray,
    ambient: float,
    diffuse: float,
    light_colour: np.ndarray,
) -> np.ndarray:
    """Draw ``capsules`` into ``image`` ``[H, W, 3]`` (float, modified in place) with a z-buffer.

    Returns the z-buffer ``[H, W]`` (camera depth of the nearest surface, ``inf`` where empty).
    """
    h, w = image.shape[:2]
    zbuf = np.full((h, w), np.inf)
    f = K[0, 0]
    for cap in capsules:
        (u0, v0), (u1, v1) = project(np.stack([cap.p0, cap.p1]), K)
        z0, z1 = cap.p0[2], cap.p1[2]
        if min(z0, z1) <= 0.05:
            continue
        r0, r1 = f * cap.r / z0, f * cap.r / z1
        rmax = max(r0, r1)
        x_lo, x_hi = int(np.floor(min(u0, u1) - rmax)), int(np.ceil(max(u0, u1) + rmax)) + 1
        y_lo, y_hi = int(np.floor(min(v0, v1) - rmax)), int(np.ceil(max(v0, v1) + rmax)) + 1
        x_lo, y_lo, x_hi, y_hi = max(x_lo, 0), max(y_lo, 0), min(x_hi, w), min(y_hi, h)
        if x_lo >= x_hi or y_lo >= y_hi:
            continue
        ys, xs = np.mgrid[y_lo:y_hi, x_lo:x_hi].astype(np.float64)
        dx, dy = u1 - u0, v1 - v0
        seg2 = dx * dx + dy * dy
        t = np.zeros_like(xs) if seg2 < 1e-9 else np.clip(((xs - u0) * dx + (ys - v0) * dy) / seg2, 0.0, 1.0)
        ex, ey = xs - (u0 + t * dx), ys - (v0 + t * dy)
        dist = np.sqrt(ex * ex + ey * ey)
        rp = r0 + t * (r1 - r0)
        inside = dist < rp
        if not inside.any():
            continue
        q = np.where(inside, dist / np.maximum(rp, 1e-6), 1.0)
        nz = np.sqrt(np.clip(1.0 - q * q, 0.0, 1.0))
        zc = z0 + t * (z1 - z0)
        depth = zc - cap.r * nz
        sub = zbuf[y_lo:y_hi, x_lo:x_hi]
        win = inside & (depth < sub)
        if not win.any():
            continue
        nx = np.where(inside, ex / np.maximum(rp, 1e-6), 0.0)
        ny = np.where(inside, ey / np.maximum(rp, 1e-6), 0.0)
        shade = ambient + diffuse * np.clip(nx * light[0] + ny * light[1] - nz * light[2], 0.0, None)
        colour = np.broadcast_to(cap.albedo, xs.shape + (3,))
        if cap.texture is not None:
            length = np.hypot(dx, dy) + 1e-6
            along = t * length / max(rmax, 1.0)
            if cap.texture[0] == "stripes":
                _, freq, phase, c2 = cap.texture
                pattern = np.sin(2 * np.pi * freq * along + phase) > 0
            else:
                _, freq, c2 = cap.texture
                around = np.arctan2(nx, nz + 1e-6)
                pattern = (np.floor(freq * along) + np.floor(freq * 1.5 * around)) % 2 == 1
            colour = np.where(pattern[..., None], c2, colour)
        pix = colour * shade[..., None] * light_colour
        image[y_lo:y_hi, x_lo:x_hi][win] = pix[win]
        sub[win] = depth[win]
    return zbuf
