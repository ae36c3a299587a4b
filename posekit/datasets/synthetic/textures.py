"""Photo textures for ``--textures photo``: scikit-image's CC0 texture photos (``brick.png``, ``grass.png``,
``gravel.png``, 512 × 512 grey, shipped inside its wheel under ``skimage/data/``), read once per process through
posekit's image reader and kept as zero-mean detail in about [-1, 1], with a box-filtered pyramid so that far or
small surfaces are sampled without aliasing. They modulate the drawn scenes' floors and walls and the clothes of mesh
bodies; colours stay the generator's own."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from posekit.data.images import decode_rgb
from posekit.errors import ConfigError

TEXTURES = ("brick", "grass", "gravel")  # scikit-image's CC0 texture photos (docs/synthetic-benchmark.md)
LEVELS = 6  # pyramid levels: 512, 256, … 16 texels


def texture_folder() -> Path:
    """scikit-image's ``data/`` folder; a ConfigError naming the extra to install when it is missing."""
    spec = importlib.util.find_spec("skimage")
    folder = Path(spec.origin).parent / "data" if spec is not None and spec.origin else None
    if folder is None or not all((folder / f"{name}.png").is_file() for name in TEXTURES):
        raise ConfigError("--textures photo needs scikit-image's texture photos (brick, grass, gravel; CC0)",
                          hint="pip install 'posekit[textures]' (scikit-image), or drop --textures")
    return folder


@functools.lru_cache(maxsize=1)
def load_textures() -> dict[str, list[np.ndarray]]:
    """``{name: [level 0 [512, 512], level 1 [256, 256], …]}`` float32 detail: the photo's grey level minus its
    mean, divided by 2.5 standard deviations and clipped to [-1, 1]; each level is the previous one box-filtered to
    half its side."""
    folder = texture_folder()
    out = {}
    for name in TEXTURES:
        grey = np.asarray(decode_rgb(str(folder / f"{name}.png")), dtype=np.float64).mean(-1)
        detail = np.clip((grey - grey.mean()) / (2.5 * grey.std()), -1, 1).astype(np.float32)
        levels = [detail]
        for _ in range(LEVELS - 1):
            im = Image.fromarray(levels[-1], mode="F")
            levels.append(np.asarray(im.resize((im.width // 2, im.height // 2), Image.BOX), dtype=np.float32))
        out[name] = levels
    return out


def sample(name: str, u: np.ndarray, v: np.ndarray, footprint: np.ndarray | float) -> np.ndarray:
    """Detail of texture ``name`` at texel coordinates ``u``, ``v`` (level-0 texels, any shape, wrapped around),
    bilinear, from the pyramid level whose texels match ``footprint`` (level-0 texels per output pixel)."""
    levels = load_textures()[name]
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    level = np.clip(np.floor(np.log2(np.maximum(np.broadcast_to(footprint, u.shape), 1.0))), 0, LEVELS - 1).astype(int)
    out = np.zeros(u.shape)
    for k in np.unique(level):
        at = level == k
        tex = levels[k]
        n = tex.shape[0]
        x, y = u[at] / 2**k - 0.5, v[at] / 2**k - 0.5
        x0, y0 = np.floor(x), np.floor(y)
        fx, fy = x - x0, y - y0
        x0, y0 = x0.astype(np.int64) % n, y0.astype(np.int64) % n
        x1, y1 = (x0 + 1) % n, (y0 + 1) % n
        out[at] = ((tex[y0, x0] * (1 - fx) + tex[y0, x1] * fx) * (1 - fy)
                   + (tex[y1, x0] * (1 - fx) + tex[y1, x1] * fx) * fy)
    return out
