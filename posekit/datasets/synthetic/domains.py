"""The two appearance/pose domains of the built-in benchmark and the drawing of backgrounds and effects."""

from __future__ import annotations

import colorsys
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from posekit.data.images import UNREADABLE, decode_rgb, displayed_size
from posekit.errors import DataError


@dataclass(frozen=True)
class DomainStyle:
    """Everything that differs between the clean ``source`` look and the ``target`` look."""

    name: str
    pose_spread: float  # joint-angle spread, see bodies.sample_angles
    elevation: tuple[float, float]  # camera elevation, degrees
    roll: tuple[float, float]  # in-plane body tilt, degrees
    fill: tuple[float, float]  # longest body side / image side
    jitter: float  # centre offset, fraction of the image side
    background: str  # "studio" (plain gradient) | "clutter" (blobs and shapes) | "scene" (sky or wall, textured ground)
    clutter: float  # clutter strength in [0, 1]: colour variation of the background and number of shapes
    texture_prob: float  # chance that a clothing part is striped/checked
    saturation: tuple[float, float]  # clothing colours (HSV)
    value: tuple[float, float]
    light: float  # 0 = fixed studio light; 1 = random direction, colour cast, uneven illumination, gamma
    blur: tuple[float, float]  # Gaussian blur radius, pixels
    noise: tuple[float, float]  # Gaussian noise std, in [0, 1] units
    occluder_prob: float  # chance of an occluding shape over the body (a second one at half that chance)
    distractors: int  # at most this many limb-like shapes in the background
    framing: str = "body"  # "body": the silhouette fills `fill` of the side, offset by `jitter`; "joints": the
    # square crop real datasets use (LSPET: side 1.25 × the joints' extent, centred on it), `fill`/`jitter` unused
    backgrounds: str | None = None  # a folder of images: every background is a random crop of one of them
    textures: str = "flat"  # "photo": drawn floors and walls, and mesh clothes, carry photo texture detail
    lighting: str = "lambert"  # mesh bodies: "photo": ambient + 1–2 coloured lights from above, specular skin
    shadow: str = "none"  # mesh bodies: "contact": a soft shadow on the floor; drawn scenes level with the camera
    lens: str = "normal"  # "varied": camera distance 2–15 m instead of 3.5–6 m (wide-angle to telephoto)


SOURCE = DomainStyle(
    name="source", pose_spread=0.18, elevation=(-8.0, 12.0), roll=(-6.0, 6.0), fill=(0.72, 0.86), jitter=0.03,
    background="studio", clutter=0.0, texture_prob=0.0, saturation=(0.55, 0.9), value=(0.75, 1.0), light=0.0,
    blur=(0.0, 0.0), noise=(0.0, 0.004), occluder_prob=0.0, distractors=0,
)
FULL_TARGET = DomainStyle(
    name="target", pose_spread=0.38, elevation=(-25.0, 35.0), roll=(-30.0, 30.0), fill=(0.6, 0.95), jitter=0.08,
    background="clutter", clutter=0.6, texture_prob=0.7, saturation=(0.1, 0.6), value=(0.2, 0.75), light=1.0,
    blur=(0.0, 1.3), noise=(0.01, 0.06), occluder_prob=0.6, distractors=4,
)


PHOTO_LOOK = ("textures", "lighting", "shadow", "lens")  # options kept at their default in domain_style
GEOMETRY_FIELDS = ("pose_spread", "elevation", "roll", "fill", "jitter")  # what the body does and where the camera is
SHIFTS = ("all", "appearance")


def domain_style(domain: str, gap: float, shift: str = "all") -> DomainStyle:
    """``source``, or the ``target`` look at strength ``gap`` ∈ [0, 1]: every factor moves from the source value
    (gap 0) to the full target value (gap 1) together, so one number controls the domain gap. ``shift="appearance"``
    keeps the source's ``GEOMETRY_FIELDS`` (joint-angle spread, camera elevation, roll, framing) in the target, so
    that only the look differs: the pose distribution is then the same in both domains."""
    if shift not in SHIFTS:
        raise ValueError(f"shift must be one of {SHIFTS}, not {shift!r}")
    if domain == "source":
        return SOURCE

    def lerp(a, b):
        if isinstance(a, tuple):
            return tuple(lerp(x, y) for x, y in zip(a, b))
        return a + gap * (b - a)

    values = {f: lerp(getattr(SOURCE, f), getattr(FULL_TARGET, f)) for f in SOURCE.__dataclass_fields__
              if f not in ("name", "background", "distractors", "framing", "backgrounds", *PHOTO_LOOK)}
    if shift == "appearance":
        values.update({f: getattr(SOURCE, f) for f in GEOMETRY_FIELDS})
    return DomainStyle(name="target", background="clutter", distractors=round(gap * FULL_TARGET.distractors),
                       **values)


DISTANCE = {"normal": (3.5, 6.0), "varied": (2.0, 15.0)}  # metres from the camera to the body's centre


def camera_distance(rng: np.random.Generator, style: DomainStyle) -> float:
    """The camera's distance to the body's centre: uniform in 3.5–6 m (``lens="normal"``), or log-uniform in 2–15 m
    (``"varied"``: the framing scales the focal length with it, so wide-angle close-ups to telephoto shots). One draw
    either way."""
    lo, hi = DISTANCE[style.lens]
    if style.lens == "normal":
        return float(rng.uniform(lo, hi))
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


SKIN_TONES = np.array(
    [[0.96, 0.80, 0.69], [0.87, 0.67, 0.53], [0.76, 0.57, 0.42], [0.55, 0.38, 0.26], [0.36, 0.24, 0.17]]
)


def random_colour(rng: np.random.Generator, style: DomainStyle) -> np.ndarray:
    h = rng.random()
    s = rng.uniform(*style.saturation)
    v = rng.uniform(*style.value)
    return np.array(colorsys.hsv_to_rgb(h, s, v))


def draw_background(rng: np.random.Generator, size: int, style: DomainStyle,
                    horizon: float | None = None) -> np.ndarray:
    """An ``[S, S, 3]`` float background in [0, 1]; ``horizon`` (scene only): the row of a level horizon, a fraction
    of the side (default: a random tilted one)."""
    if style.backgrounds is not None:
        return photo_background(rng, size, style.backgrounds)
    if style.background == "studio":
        top = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.35), rng.uniform(0.25, 0.97)))
        bottom = top * rng.uniform(0.7, 0.9)
        ramp = np.linspace(0.0, 1.0, size)[:, None, None]
        img = top * (1 - ramp) + bottom * ramp
        horizon = int(size * rng.uniform(0.6, 0.85))
        img[horizon:] *= 0.9
        return np.broadcast_to(img, (size, size, 3)).copy()
    if style.background == "scene":
        return draw_scene(rng, size, style, horizon)
    # clutter: a muted base colour with smooth colour blobs of amplitude `clutter`, then random shapes
    base = random_colour(rng, style)
    gh, gw = rng.integers(3, 8), rng.integers(3, 8)
    luminance = 1 + style.clutter * (rng.random((gh, gw, 1)) - 0.5) * 1.6
    chroma = 0.3 * style.clutter * (rng.random((gh, gw, 3)) - 0.5)
    grid = base * luminance + chroma
    blobs = Image.fromarray((np.clip(grid, 0, 1) * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    canvas = blobs.copy()
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(0, round(12 * style.clutter) + 1)):
        colour = tuple(int(c) for c in (random_colour(rng, style) * 255))
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * size
        wh = rng.uniform(0.05, 0.5, 2) * size
        box = [x0, y0, x0 + wh[0], y0 + wh[1]]
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle(box, fill=colour)
        elif kind == 1:
            draw.ellipse(box, fill=colour)
        else:
            draw.line(box, fill=colour, width=int(rng.integers(1, max(2, size // 24))))
    return np.asarray(canvas, dtype=np.float64) / 255.0


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@functools.lru_cache(maxsize=4)
def list_images(folder: str) -> tuple[Path, ...]:
    """The image files (IMAGE_SUFFIXES, any case) directly in ``folder``, sorted by name."""
    return tuple(sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))


def unreadable_background(path: Path, exc: BaseException) -> DataError:
    """The one-line error for an image of ``--backgrounds`` that cannot be read, naming the cause: the system's
    (permission denied …) or the decoder's (not an image, truncated)."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
        f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:120]}" if str(exc) else exc.__class__.__name__
    return DataError(f"--backgrounds {path}: not a readable image ({reason})",
                     hint="make it readable, replace or remove it (every image in the folder is used), then re-run the "
                          "same prepare command")


def check_backgrounds(folder: str) -> None:
    """Every image of ``folder`` opens (its header is read): a bad one fails before anything is written."""
    for path in list_images(folder):
        try:
            displayed_size(str(path))
        except UNREADABLE as exc:
            raise unreadable_background(path, exc) from None


def photo_background(rng: np.random.Generator, size: int, folder: str) -> np.ndarray:
    """An ``[S, S, 3]`` float background in [0, 1]: a random square crop (40–100 % of the image's shorter side),
    mirrored half of the time, of a random image of ``folder``."""
    paths = list_images(folder)
    path = paths[int(rng.integers(len(paths)))]
    try:
        im = decode_rgb(str(path))  # as prepare reads photos: 16-bit scaled, EXIF orientation applied
    except UNREADABLE as exc:
        raise unreadable_background(path, exc) from None
    w, h = im.size
    side = max(1, int(min(w, h) * rng.uniform(0.4, 1.0)))
    x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    crop = im.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(crop, dtype=np.float64) / 255.0


# HSV ranges of natural surfaces: (hue, saturation, value) intervals
SKIES = (((0.53, 0.64), (0.15, 0.6), (0.65, 1.0)), ((0.0, 1.0), (0.0, 0.08), (0.55, 0.95)))  # blue, overcast
WALLS = (((0.0, 1.0), (0.0, 0.35), (0.35, 0.95)),)
GROUNDS = (((0.17, 0.33), (0.3, 0.75), (0.25, 0.65)),  # grass
           ((0.0, 0.07), (0.35, 0.7), (0.35, 0.7)),  # running track, clay
           ((0.0, 1.0), (0.0, 0.1), (0.3, 0.8)),  # concrete, mats
           ((0.06, 0.12), (0.3, 0.6), (0.35, 0.8)),  # wooden floor, sand
           ((0.55, 0.68), (0.3, 0.7), (0.3, 0.7)))  # water, blue gym floor


def _surface_colour(rng: np.random.Generator, choices: tuple) -> np.ndarray:
    return _surface_pick(rng, choices)[0]


def _surface_pick(rng: np.random.Generator, choices: tuple) -> tuple[np.ndarray, int]:
    """A random colour of ``choices`` and the index of the range it came from."""
    k = int(rng.integers(len(choices)))
    h, s, v = choices[k]
    return np.array(colorsys.hsv_to_rgb(rng.uniform(*h), rng.uniform(*s), rng.uniform(*v))), k


def fractal_noise(rng: np.random.Generator, size: int, octaves: int = 4) -> np.ndarray:
    """``[S, S]`` noise in about [-1, 1]: random grids from 4×4 up, bicubically upsampled, amplitude halving."""
    out = np.zeros((size, size))
    for o in range(octaves):
        n = 4 * 2**o
        grid = Image.fromarray(((rng.random((n, n)) * 255)).astype(np.uint8))
        out += (np.asarray(grid.resize((size, size), Image.BICUBIC), dtype=np.float64) / 127.5 - 1) * 0.5**o
    return out / 1.875


def _frontal_texture(rng: np.random.Generator, size: int, choices: tuple[str, ...], amp: tuple[float, float]) -> np.ndarray:
    """``[S, S]`` multiplicative photo-texture detail for an upright surface facing the camera: a random texture
    of ``choices`` at 1–4 texels per pixel, random offset, amplitude drawn from ``amp``."""
    from posekit.datasets.synthetic.textures import sample

    name = choices[int(rng.integers(len(choices)))]
    scale, (du, dv), a = rng.uniform(1.0, 4.0), rng.uniform(0, 512, 2), rng.uniform(*amp)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    return 1 + a * sample(name, xs * scale + du, ys * scale + dv, scale)


def _ground_texture(rng: np.random.Generator, size: int, kind: int, horizon: np.ndarray) -> np.ndarray:
    """``[S, S]`` multiplicative photo-texture detail of a ground plane seen in perspective below ``horizon``
    (fraction of the side per pixel): grass on grass, brick paving or gravel on the other grounds; texels per
    pixel grow towards the horizon, where the pyramid's coarse levels average the detail away."""
    from posekit.datasets.synthetic.textures import sample

    name = "grass" if kind == 0 else ("brick" if rng.random() < 0.3 else "gravel")
    density = rng.uniform(40, 150) if name == "brick" else rng.uniform(150, 500)  # texels per unit of ground
    (du, dv), a, vx = rng.uniform(0, 512, 2), rng.uniform(0.35, 0.6), rng.uniform(0.3, 0.7)
    ys, xs = (np.mgrid[0:size, 0:size] + 0.5) / size
    d = np.maximum(ys - horizon, 1.0 / size)
    u, v = (xs - vx) / d * density + du, density / d + dv
    footprint = density / (d * d * size)  # texels per pixel along the image's rows (the larger stretch)
    return 1 + a * sample(name, u, v, footprint)


def draw_scene(rng: np.random.Generator, size: int, style: DomainStyle, level: float | None = None) -> np.ndarray:
    """A sports-photo-like background: sky or wall above a tilted horizon, a textured ground with perspective lines
    (track lanes, floor boards), a few upright structures (posts, buildings, doors); ``clutter`` scales the texture.
    ``level``: the horizon is level at this row (fraction of the side) instead of random and tilted.
    ``style.textures == "photo"``: the ground, a wall and half the structures carry photo texture detail
    (textures.py), drawn from a second generator spawned from ``rng``'s seed, so that the scene is otherwise the one
    drawn without textures."""
    photo = style.textures == "photo"
    tex = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0]) if photo else None
    ys, xs = np.mgrid[0:size, 0:size] / size
    tilt = np.tan(np.deg2rad(rng.uniform(-15, 15)))
    horizon = rng.uniform(0.15, 0.85) + tilt * (xs - 0.5)
    if level is not None:
        horizon = np.full_like(xs, level)
    wall = rng.random() >= 0.5
    upper = _surface_colour(rng, WALLS if wall else SKIES)
    lower, kind = _surface_pick(rng, GROUNDS)
    amp = 0.1 + 0.25 * style.clutter
    sky = upper * (1 + 0.25 * (ys - 0.5) * rng.uniform(-1, 1))[..., None]
    sky = sky * (1 + 0.5 * amp * fractal_noise(rng, size, 3))[..., None]
    ground = lower * (1 + amp * fractal_noise(rng, size))[..., None]
    if photo:
        ground = ground * _ground_texture(tex, size, kind, horizon)[..., None]
        if wall:
            sky = sky * _frontal_texture(tex, size, ("brick",), (0.25, 0.5))[..., None]
    if rng.random() < 0.6:  # lines converging on a vanishing point on the horizon
        vx = rng.uniform(-0.5, 1.5)
        depth = np.maximum(ys - horizon, 1e-3)
        lanes = np.sin((xs - vx) / depth * rng.uniform(3, 12) * np.pi)
        ground = np.where((lanes > 0.93)[..., None], ground * 0.4 + 0.6 * _surface_colour(rng, WALLS), ground)
    img = np.where((ys > horizon)[..., None], ground, sky)
    for _ in range(rng.integers(0, 5)):  # posts, building fronts, doors, standing on the ground
        x0, w = rng.uniform(-0.1, 1.0), rng.uniform(0.02, 0.4)
        top = rng.uniform(0.0, 0.8)
        base = rng.uniform(0.0, 0.15)  # how far below the horizon the structure stands
        colour = _surface_colour(rng, WALLS + GROUNDS)
        inside = (xs >= x0) & (xs < x0 + w) & (ys >= top) & (ys < horizon + base)
        shade = 1 + amp * fractal_noise(rng, size, 2)
        if photo and tex.random() < 0.5:
            shade = shade * _frontal_texture(tex, size, ("brick", "gravel"), (0.25, 0.5))
        img = np.where(inside[..., None], colour * shade[..., None], img)
    return np.clip(img, 0, 1)


def draw_occluders(rng: np.random.Generator, image: np.ndarray, body_box: np.ndarray, style: DomainStyle) -> np.ndarray:
    """Maybe paint one or two shapes over the body box; returns their ``[S, S]`` boolean mask."""
    size = image.shape[0]
    mask_img = Image.new("L", (size, size), 0)
    n = int(rng.random() < style.occluder_prob) + int(rng.random() < style.occluder_prob / 2)
    if n == 0:
        return np.zeros((size, size), dtype=bool)
    draw = ImageDraw.Draw(mask_img)
    x0, y0, x1, y1 = body_box
    for _ in range(n):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        w, h = rng.uniform(0.12, 0.3, 2) * size
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=255)
    mask = np.asarray(mask_img) > 127
    colour = random_colour(rng, style)
    shade = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0), size)[None, :, None]
    image[mask] = (colour * shade * np.ones((size, 1, 1)))[mask]
    return mask


def apply_effects(rng: np.random.Generator, image: np.ndarray, style: DomainStyle) -> np.ndarray:
    """Lighting gradient, colour cast, blur and sensor noise; returns uint8 ``[S, S, 3]``."""
    size = image.shape[0]
    if style.light > 0:
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:size, 0:size] / size - 0.5
        ramp = 1.0 + style.light * rng.uniform(0.1, 0.5) * (np.cos(angle) * xs + np.sin(angle) * ys)
        image = image * ramp[..., None] * (1 + style.light * rng.uniform(-0.2, 0.2, 3))
        image = np.clip(image, 0, 1) ** (1 + style.light * rng.uniform(-0.3, 0.4))
    out = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
    radius = rng.uniform(*style.blur)
    if radius > 0.05:
        out = out.filter(ImageFilter.GaussianBlur(radius))
    arr = np.asarray(out, dtype=np.float64) / 255.0
    sigma = rng.uniform(*style.noise)
    if sigma > 0:
        arr = arr + rng.standard_normal(arr.shape) * sigma
    return (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
