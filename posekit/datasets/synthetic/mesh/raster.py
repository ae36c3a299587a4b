"""A z-buffered triangle rasteriser in NumPy: coverage, depth and perspective-correct barycentrics per pixel.

Pixel centres sit at integer coordinates (x right, y down), as everywhere in posekit. A pixel is covered by a
triangle when its centre lies inside it or on an edge. Every (triangle, pixel-in-its-bounding-box) pair is tested
at once, and the nearest triangle per pixel is chosen with one ``np.minimum.at`` over integer keys (depth in
micrometres, then the face index), so the result does not depend on the order of the faces and ties are broken the
same way on every run. Meant for meshes whose triangles cover a few pixels each (a body of ~27k faces in a
128-pixel crop); a triangle's cost grows with its bounding box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEAR = 0.05  # metres: faces with a vertex closer to the camera than this are dropped
DEPTH_STEP = 1e-6  # metres: depth quantisation of the z-buffer keys


@dataclass
class Raster:
    """What a rasterisation leaves per pixel of an ``[H, W]`` image.

    ``face``: ``[H, W]`` int64, the nearest face (−1 where no face covers the pixel); ``depth``: ``[H, W]`` float64
    camera depth of that face (``inf`` where empty); ``bary``: ``[H, W, 3]`` float64 perspective-correct barycentric
    weights of the face's three vertices (0 where empty).
    """

    face: np.ndarray
    depth: np.ndarray
    bary: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """``[H, W]`` bool: pixels some face covers."""
        return self.face >= 0

    def interpolate(self, values: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """Per-vertex ``values`` ``[V, C]`` → ``[N, C]`` at the N covered pixels (row-major order)."""
        f = self.face[self.covered]
        w = self.bary[self.covered]
        return np.einsum("nk,nkc->nc", w, values[faces[f]])


def rasterize(points: np.ndarray, faces: np.ndarray, height: int, width: int, cull_back: bool = True) -> Raster:
    """Rasterise triangles given in screen space.

    ``points``: ``[V, 3]`` (x, y in pixels, z camera depth > 0); ``faces``: ``[F, 3]`` vertex indices.
    ``cull_back`` drops faces turned away from the camera, which a closed mesh hides behind its front faces anyway;
    it assumes outward normals ``(b − a) × (c − a)`` (faces wound counter-clockwise seen from outside).
    """
    points = np.asarray(points, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    empty = Raster(np.full((height, width), -1, np.int64), np.full((height, width), np.inf),
                   np.zeros((height, width, 3)))
    xa, ya, za = points[faces[:, 0]].T
    xb, yb, zb = points[faces[:, 1]].T
    xc, yc, zc = points[faces[:, 2]].T
    # twice the signed screen area: the z component of the normal (b − a) × (c − a) scaled by f²/z², so < 0 for
    # faces whose outward normal points towards the camera (camera frame: x right, y down, z ahead)
    area = (xb - xa) * (yc - ya) - (xc - xa) * (yb - ya)
    keep = (np.minimum(np.minimum(za, zb), zc) > NEAR) & (area < 0 if cull_back else area != 0)
    x0 = np.maximum(np.ceil(np.minimum(np.minimum(xa, xb), xc)), 0)
    x1 = np.minimum(np.floor(np.maximum(np.maximum(xa, xb), xc)), width - 1)
    y0 = np.maximum(np.ceil(np.minimum(np.minimum(ya, yb), yc)), 0)
    y1 = np.minimum(np.floor(np.maximum(np.maximum(ya, yb), yc)), height - 1)
    keep &= (x0 <= x1) & (y0 <= y1)
    ids = np.nonzero(keep)[0]
    if len(ids) == 0:
        return empty
    x, y, z = (np.stack([a[ids], b[ids], c[ids]], 1) for a, b, c in ((xa, xb, xc), (ya, yb, yc), (za, zb, zc)))
    area = area[ids]
    bw = (x1[ids] - x0[ids] + 1).astype(np.int64)
    counts = bw * (y1[ids] - y0[ids] + 1).astype(np.int64)
    pair = np.repeat(np.arange(len(ids)), counts)  # index into the kept faces
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    pair_w = bw[pair]
    px = x0[ids][pair] + offset % pair_w
    py = y0[ids][pair] + offset // pair_w

    bary = _barycentric(x[pair], y[pair], area[pair], px, py)
    inside = (bary >= -1e-9).all(1)
    pair, px, py, bary = pair[inside], px[inside], py[inside], bary[inside]
    inv_z = (bary / z[pair]).sum(1)  # 1/z interpolates linearly in screen space
    depth = 1.0 / inv_z

    pixel = py.astype(np.int64) * width + px.astype(np.int64)
    face_bits = max(len(faces).bit_length(), 1)
    pair_face = ids[pair]
    key = (np.rint(depth / DEPTH_STEP).astype(np.int64) << face_bits) | pair_face
    best = np.full(height * width, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(best, pixel, key)
    won = best[pixel] == key
    face_map = np.full(height * width, -1, np.int64)
    face_map[pixel[won]] = pair_face[won]
    depth_map = np.full(height * width, np.inf)
    depth_map[pixel[won]] = depth[won]
    bary_map = np.zeros((height * width, 3))
    persp = bary[won] / z[pair[won]]
    bary_map[pixel[won]] = persp / persp.sum(1, keepdims=True)
    return Raster(face_map.reshape(height, width), depth_map.reshape(height, width), bary_map.reshape(height, width, 3))


def _barycentric(x: np.ndarray, y: np.ndarray, area: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Screen-space barycentric weights ``[N, 3]`` of points ``(px, py)`` in triangles ``x, y`` ``[N, 3]``."""
    w0 = (x[:, 1] - px) * (y[:, 2] - py) - (x[:, 2] - px) * (y[:, 1] - py)
    w1 = (x[:, 2] - px) * (y[:, 0] - py) - (x[:, 0] - px) * (y[:, 2] - py)
    w0, w1 = w0 / area, w1 / area
    return np.stack([w0, w1, 1.0 - w0 - w1], 1)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit per-vertex normals ``[V, 3]``: the area-weighted sum of the normals of the faces around each vertex
    (outward for faces wound counter-clockwise seen from outside)."""
    a, b, c = vertices[faces[:, 0]].T, vertices[faces[:, 1]].T, vertices[faces[:, 2]].T
    (ux, uy, uz), (vx, vy, vz) = b - a, c - a
    face_n = (uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx)  # (b − a) × (c − a): length = twice the area
    corner = faces.T.ravel()  # the faces' first vertices, then their second, then their third
    n = np.stack([np.bincount(corner, np.tile(component, 3), minlength=len(vertices)) for component in face_n], 1)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def lambert(normals: np.ndarray, light: np.ndarray, ambient: float, diffuse: float) -> np.ndarray:
    """Shading factor ``[N]`` of unit ``normals`` ``[N, 3]`` under ambient light plus one directional light;
    ``light`` ``[3]`` points from the surface towards the light."""
    return ambient + diffuse * np.clip(normals @ light, 0.0, None)
