"""Skin, hair and clothing of a mesh body, evaluated per pixel.

Everything is laid out on the *canonical* body (mesh/body.py: the average body with its limbs hanging straight
down), so a garment sticks to the same vertices whatever the pose and the phenotype. Each vertex belongs to the
group of its main rig bone (head, neck, torso, hips, arm, hand, leg, foot). Garments are cut by heights on the
canonical body, where the arms hang along the torso: a sleeve ends at a height between the shoulder and the wrist,
trousers at one between the hip and the ankle, and so on. Patterns are solid textures in canonical coordinates
(metres), so they continue across the mesh's texture seams: stripes, 3D checks, noise and prints (a number or
badge on the chest or back).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from posekit.data.meta import MPII16
from posekit.datasets.synthetic.domains import SKIN_TONES, DomainStyle, random_colour

GROUPS = ("head", "neck", "torso", "hips", "arm", "hand", "leg", "foot")
_GROUP_OF_BONE = (("neck", "neck"), ("eye", "head"), ("head", "head"), ("clavicle", "torso"),
                  ("shoulder01", "torso"), ("spine01", "torso"), ("spine02", "torso"), ("spine03", "torso"),
                  ("spine04", "hips"), ("spine05", "hips"), ("root", "hips"), ("pelvis", "hips"),
                  ("upperarm", "arm"), ("lowerarm", "arm"), ("wrist", "hand"), ("finger", "hand"),
                  ("metacarpal", "hand"), ("upperleg", "leg"), ("lowerleg", "leg"), ("foot", "foot"),
                  ("toe", "foot"))
NEUTRALS = np.array([[0.06, 0.06, 0.07], [0.93, 0.93, 0.91], [0.45, 0.45, 0.47], [0.72, 0.72, 0.74],
                     [0.10, 0.13, 0.30], [0.25, 0.35, 0.55], [0.62, 0.55, 0.40], [0.35, 0.23, 0.14]])
HAIR = np.array([[0.05, 0.04, 0.04], [0.18, 0.11, 0.06], [0.35, 0.22, 0.12], [0.62, 0.48, 0.28],
                 [0.80, 0.68, 0.45], [0.45, 0.18, 0.08], [0.55, 0.55, 0.55]])


def bone_group(label: str) -> int:
    """Index into GROUPS of an anny bone label."""
    base = label.split(".")[0]
    for prefix, group in _GROUP_OF_BONE:
        if base.startswith(prefix):
            return GROUPS.index(group)
    raise ValueError(f"no body group for bone {label!r}")


def group_membership(bone_labels: list[str], weights: np.ndarray, bones: np.ndarray) -> np.ndarray:
    """``[V, len(GROUPS)]``: each vertex's skinning weight summed over the bones of each group. Interpolated over
    a face and arg-maxed, it gives group borders that cut smoothly across faces."""
    group_of_bone = np.array([bone_group(label) for label in bone_labels])
    out = np.zeros((len(weights), len(GROUPS)))
    for k in range(weights.shape[1]):
        np.add.at(out, (np.arange(len(weights)), group_of_bone[bones[:, k]]), weights[:, k])
    return out


@dataclass(frozen=True)
class Landmarks:
    """Heights (y, metres) of the canonical body's joints, the centre of its head (y, z), the depth (z) of the
    middle of its trunk (in front: a print on the chest; behind: on the back), the centres of its eyeballs
    ``[2, 3]`` and the tip of its nose ``[3]``."""

    y: dict[str, float]
    head_centre: tuple[float, float]
    trunk_z: float
    eyes: np.ndarray
    nose: np.ndarray

    @staticmethod
    def of(joints: np.ndarray, head_vertices: np.ndarray, trunk_vertices: np.ndarray, eyes: np.ndarray,
           nose: np.ndarray) -> Landmarks:
        """From canonical MPII-16 joints ``[16, 3]``, the head's and the trunk's vertices ``[N, 3]``, the eyeball
        centres ``[2, 3]`` and the nose tip ``[3]``."""
        y = {}
        for name in ("ankle", "knee", "hip", "wrist", "elbow", "shoulder"):
            y[name] = float(joints[[MPII16.names.index(f"left_{name}"), MPII16.names.index(f"right_{name}")], 1].mean())
        for name in ("pelvis", "thorax", "upper_neck", "head_top"):
            y[name] = float(joints[MPII16.names.index(name), 1])
        return Landmarks(y, ((y["upper_neck"] + y["head_top"]) / 2, float(head_vertices[:, 2].mean())),
                         float(trunk_vertices[:, 2].mean()), eyes, nose)


@dataclass
class Fabric:
    """A colour and an optional pattern: ``("stripes", axis, cycles_per_m, phase, duty, colour2)``,
    ``("checks", cycles_per_m, colour2)``, ``("noise", directions [k,3], phases [k], colour2)`` or
    ``("print", mask [h,w] bool, x0, y_top, width, height, z_mid, front, colour2)``."""

    colour: np.ndarray
    pattern: tuple | None = None

    def at(self, p: np.ndarray) -> np.ndarray:
        """Albedo ``[N, 3]`` at canonical points ``p`` ``[N, 3]``."""
        out = np.broadcast_to(self.colour, p.shape).copy()
        if self.pattern is None:
            return out
        kind, *args = self.pattern
        if kind == "stripes":
            axis, freq, phase, duty, second = args
            on = np.sin(2 * np.pi * freq * p[:, axis] + phase) > np.cos(np.pi * duty)
        elif kind == "checks":
            freq, second = args
            on = np.floor(freq * p).sum(1) % 2 == 1
        elif kind == "noise":
            directions, phases, second = args
            on = np.sin(p @ directions.T + phases).sum(1) > 0
        else:
            mask, x0, y_top, width, height, z_mid, front, second = args
            u = (p[:, 0] - x0) / width
            v = (y_top - p[:, 1]) / height
            inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1) & ((p[:, 2] > z_mid) == front)
            on = np.zeros(len(p), dtype=bool)
            h, w = mask.shape
            on[inside] = mask[(v[inside] * h).astype(int), (u[inside] * w).astype(int)]
        out[on] = second
        return out


@dataclass
class Outfit:
    """What one sampled person wears. Heights are canonical y (metres); a limb or trunk point is covered by a
    garment between its two heights."""

    skin: np.ndarray
    hair: np.ndarray | None  # None: bald
    hairline: tuple[float, float]  # hair where y − y_c > h0 + slope · (z − z_c) on the head
    hair_volume: float  # metres: the hair stands this far off the scalp (the mesh is pushed out along its normals)
    lips: np.ndarray  # lip colour
    top: Fabric
    sleeve_end: float  # arms covered above this height (inf: sleeveless)
    hem: float  # the top covers the trunk above this height …
    neck_hole: tuple[float, float, float]  # … but the neckline: half an ellipse (half width, lowest, highest y)
    bottom: Fabric
    waist: float  # the bottom covers hips and legs below this height …
    leg_end: float  # … and above this one
    tucked: bool  # the bottom is drawn over the top where they overlap
    shoes: Fabric | None  # None: barefoot
    shoe_top: float
    socks: Fabric | None = None
    sock_top: float = field(default=-np.inf)


def _fabric_colour(rng: np.random.Generator, style: DomainStyle) -> np.ndarray:
    if rng.random() < 0.4:
        return NEUTRALS[rng.integers(len(NEUTRALS))] * rng.uniform(0.85, 1.1)
    return random_colour(rng, style)


def _print_mask(rng: np.random.Generator) -> np.ndarray:
    """A ``[32, 32]`` bool print: a one- or two-digit number, a disc or a chevron."""
    from posekit.fonts import font

    img = Image.new("L", (32, 32), 0)
    draw = ImageDraw.Draw(img)
    kind = rng.integers(3)
    if kind == 0:
        draw.text((16, 16), str(int(rng.integers(1, 100))), fill=255, font=font(26), anchor="mm")
    elif kind == 1:
        draw.ellipse([4, 4, 28, 28], fill=255)
    else:
        draw.polygon([(0, 8), (16, 22), (32, 8), (32, 16), (16, 30), (0, 16)], fill=255)
    return np.asarray(img) > 127


def _fabric(rng: np.random.Generator, style: DomainStyle, marks: Landmarks, is_top: bool) -> Fabric:
    colour = _fabric_colour(rng, style)
    if rng.random() >= style.texture_prob:
        return Fabric(colour)
    second = _fabric_colour(rng, style)
    kind = rng.integers(4 if is_top else 3)
    if kind == 0:
        pattern = ("stripes", int(rng.choice([0, 1])), rng.uniform(4, 18), rng.uniform(0, 2 * np.pi),
                   rng.uniform(0.2, 0.6), second)
    elif kind == 1:
        pattern = ("checks", rng.uniform(10, 25), second)
    elif kind == 2:
        k = 4
        directions = rng.normal(0, 1, (k, 3))
        directions *= rng.uniform(15, 45, (k, 1)) / np.linalg.norm(directions, axis=1, keepdims=True)
        pattern = ("noise", directions, rng.uniform(0, 2 * np.pi, k), second)
    else:
        width = rng.uniform(0.12, 0.26)
        pattern = ("print", _print_mask(rng), rng.uniform(-0.05, 0.05) - width / 2,
                   marks.y["shoulder"] - rng.uniform(0.04, 0.12), width, width * rng.uniform(0.7, 1.1), marks.trunk_z,
                   bool(rng.random() < 0.5), second)
    return Fabric(colour, pattern)


def sample_outfit(rng: np.random.Generator, style: DomainStyle, marks: Landmarks) -> Outfit:
    """A random person's skin, hair and clothes: a top (sleeveless, short or long sleeves, or a leotard), a bottom
    (briefs, shorts, three-quarter or long), shoes or bare feet, sometimes socks; colours from a neutral palette
    or the look's saturation/value ranges, patterned with the look's ``texture_prob``."""
    y = marks.y
    t = rng.random() * (len(SKIN_TONES) - 1)
    lo = int(t)
    skin = (SKIN_TONES[lo] * (1 - (t - lo)) + SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)] * (t - lo))
    skin = np.clip(skin * rng.uniform(0.9, 1.05), 0, 1)
    hair = None if rng.random() < 0.06 else np.clip(HAIR[rng.integers(len(HAIR))] * rng.uniform(0.8, 1.15), 0, 1)
    hairline = (rng.uniform(-0.035, 0.03), rng.uniform(0.3, 1.2))
    hair_volume = rng.uniform(0.004, 0.03)
    lips = skin * np.array([0.95, 0.72, 0.72]) * rng.uniform(0.85, 1.0)
    leotard = rng.random() < 0.15
    top = _fabric(rng, style, marks, is_top=True)
    arm = y["shoulder"] - y["wrist"]
    sleeve = rng.choice(3, p=[0.25, 0.45, 0.3])
    sleeve_end = [np.inf, y["shoulder"] - rng.uniform(0.15, 0.45) * arm, y["wrist"] + rng.uniform(0.0, 0.04)][sleeve]
    hem = y["hip"] - rng.uniform(-0.05, 0.12)
    neck_hole = (rng.uniform(0.06, 0.13), y["thorax"] - rng.uniform(0.0, 0.1), y["thorax"] + 0.04)
    if leotard:
        bottom, waist, leg_end = top, y["thorax"], y["hip"] - rng.uniform(0.0, 0.06)
        sleeve_end = np.inf if rng.random() < 0.6 else sleeve_end
    else:
        bottom = _fabric(rng, style, marks, is_top=False)
        waist = y["hip"] + rng.uniform(0.04, 0.14)
        thigh, shin = y["hip"] - y["knee"], y["knee"] - y["ankle"]
        length = rng.choice(4, p=[0.1, 0.35, 0.1, 0.45])
        leg_end = [y["hip"] - rng.uniform(0.05, 0.15) * thigh, y["hip"] - rng.uniform(0.3, 0.75) * thigh,
                   y["knee"] - rng.uniform(0.2, 0.6) * shin, y["ankle"] + rng.uniform(-0.02, 0.03)][length]
    barefoot = rng.random() < 0.1
    shoes = None if barefoot else Fabric(_fabric_colour(rng, style) if rng.random() < 0.5 else
                                         NEUTRALS[rng.choice([0, 1])] * rng.uniform(0.85, 1.1))
    shoe_top = y["ankle"] + rng.uniform(-0.03, 0.06)
    socks, sock_top = None, -np.inf
    if not barefoot and rng.random() < 0.4:
        socks = Fabric(NEUTRALS[rng.choice([0, 1, 2])] if rng.random() < 0.7 else _fabric_colour(rng, style))
        sock_top = shoe_top + rng.uniform(0.03, 0.3)
    return Outfit(skin=skin, hair=hair, hairline=hairline, hair_volume=hair_volume, lips=lips, top=top,
                  sleeve_end=sleeve_end, hem=hem, neck_hole=neck_hole, bottom=bottom, waist=waist, leg_end=leg_end, tucked=bool(rng.random() < 0.4),
                  shoes=shoes, shoe_top=shoe_top, socks=socks, sock_top=sock_top)


def hair_weight(outfit: Outfit, marks: Landmarks, p: np.ndarray, group: np.ndarray) -> np.ndarray:
    """``[N]`` in [0, 1]: 0 off the hair, rising to 1 within 2 cm above the hairline (how far a point of the scalp
    is pushed out by the hair's volume; > 0 is hair)."""
    if outfit.hair is None:
        return np.zeros(len(p))
    yc, zc = marks.head_centre
    h0, slope = outfit.hairline
    above = p[:, 1] - yc - (h0 + slope * (p[:, 2] - zc))
    return np.where(group == GROUPS.index("head"), np.clip(above / 0.02, 0.0, 1.0), 0.0)


REGIONS = ("skin", "top", "bottom", "socks", "shoes", "hair", "features")  # what covers a surface point


def albedo(outfit: Outfit, marks: Landmarks, p: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Surface colour ``[N, 3]`` in [0, 1] at canonical points ``p`` ``[N, 3]`` of body groups ``group`` ``[N]``
    (indices into GROUPS)."""
    return albedo_regions(outfit, marks, p, group)[0]


def albedo_regions(outfit: Outfit, marks: Landmarks, p: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`albedo` and ``[N]`` indices into REGIONS: what covers each point (skin, a garment, hair, or the
    face's features: eyes, brows, lips)."""
    g = {name: group == i for i, name in enumerate(GROUPS)}
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    out = np.broadcast_to(outfit.skin, p.shape).copy()
    region = np.zeros(len(p), dtype=np.int64)

    def paint(where: np.ndarray, fabric: Fabric, name: str) -> None:
        if where.any():
            out[where] = fabric.at(p[where])
            region[where] = REGIONS.index(name)

    trunk = g["torso"] | g["hips"]
    width, low, high = outfit.neck_hole
    neck = (x / width) ** 2 + (np.maximum(high - y, 0.0) / (high - low)) ** 2 < 1
    top = (trunk & (y > outfit.hem) & ~neck) | (g["arm"] & (y > outfit.sleeve_end))
    bottom = (g["hips"] | g["leg"] | g["torso"]) & (y < outfit.waist) & (y > outfit.leg_end)
    for where, fabric, name in ((bottom, outfit.bottom, "bottom"), (top, outfit.top, "top"))[::-1 if outfit.tucked else 1]:
        paint(where, fabric, name)
    if outfit.socks is not None:
        paint((g["leg"] | g["foot"]) & (y < outfit.sock_top), outfit.socks, "socks")
    if outfit.shoes is not None:
        paint((g["leg"] | g["foot"]) & (y < outfit.shoe_top), outfit.shoes, "shoes")
    head = g["head"]
    if head.any():  # eyes, brows and lips on the front of the face
        brow = outfit.hair if outfit.hair is not None else outfit.skin * 0.45
        feature = REGIONS.index("features")
        for eye in marks.eyes:
            near = (np.abs(x - eye[0]) < 0.024) & (z > eye[2]) & head
            ball = near & (((p - eye) ** 2).sum(1) < 0.013**2)
            out[ball] = (0.12, 0.09, 0.08)
            brows = near & (y - eye[1] > 0.016) & (y - eye[1] < 0.026)
            out[brows] = brow
            region[ball | brows] = feature
        nose = marks.nose
        mouth = head & (np.abs(x - nose[0]) < 0.022) & (nose[1] - y > 0.03) & (nose[1] - y < 0.045) & (z > nose[2] - 0.04)
        out[mouth] = outfit.lips
        region[mouth] = feature
        hair = hair_weight(outfit, marks, p, group) > 0
        out[hair] = outfit.hair
        region[hair] = REGIONS.index("hair")
    return np.clip(out, 0, 1), region


def cloth_detail(rng: np.random.Generator, region: np.ndarray, p: np.ndarray, metres_per_pixel: float) -> np.ndarray:
    """``[N]`` multiplicative photo-texture detail for ``--textures photo`` at canonical points ``p`` ``[N, 3]`` of
    ``region`` ``[N]`` (REGIONS): each garment (and the hair) draws a texture (gravel reads as crumpled cloth,
    grass as fibres; brick would read as a printed grid), a scale (one tile spans 0.6–2 m of the body) and an
    amplitude, and is projected from the front and the side of the canonical body (a seamless solid mapping, like
    the patterns); skin and the face's features stay 1. The draws come from ``rng`` in a fixed order whatever is
    visible."""
    from posekit.datasets.synthetic.textures import sample

    out = np.ones(len(p))
    for k in range(1, REGIONS.index("features")):
        name = ("gravel", "grass")[int(rng.integers(2))]
        tile = rng.uniform(0.6, 2.0)  # metres per 512-texel tile
        amp = rng.uniform(0.1, 0.25) if REGIONS[k] == "hair" else rng.uniform(0.25, 0.5)
        shift = rng.uniform(0, 512, 3)
        at = region == k
        if not at.any():
            continue
        t = 512 / tile
        footprint = metres_per_pixel * t
        q = p[at] * t + shift
        front = sample(name, q[:, 0], -q[:, 1], footprint)
        side = sample(name, q[:, 2], -q[:, 1] + 256, footprint)
        out[at] = 1 + amp * np.clip((front + side) / np.sqrt(2), -1, 1)
    return out
