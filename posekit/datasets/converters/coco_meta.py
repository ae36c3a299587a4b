"""Keypoint metadata for COCO-style files: derived from ``categories[]``, or a mapping onto a canonical skeleton."""

from __future__ import annotations

import re

from posekit.data.meta import KeypointMeta
from posekit.errors import ConfigError, DataError

MIRROR = {"left": "right", "right": "left", "l": "r", "r": "l"}


def _tokens(name: str) -> tuple[str, ...]:
    return tuple(t for t in re.split(r"[^a-z0-9]+", name.lower()) if t)


def _compact(name: str) -> str:
    return "".join(_tokens(name))


def flip_pairs(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Left/right pairs found by name: ``left_eye``/``right_eye``, ``L_Eye``/``R_Eye`` … → ``((i, j), …)``, i < j."""
    index = {_tokens(n): i for i, n in enumerate(names)}
    pairs = set()
    for i, name in enumerate(names):
        mirrored = tuple(MIRROR.get(t, t) for t in _tokens(name))
        j = index.get(mirrored)
        if j is not None and j != i:
            pairs.add((min(i, j), max(i, j)))
    return tuple(sorted(pairs))


def meta_from_category(category: dict, meta_name: str, where: str) -> KeypointMeta:
    """A KeypointMeta from one COCO category: joint names, skeleton edges (1-based as in COCO, or 0-based when an
    edge uses joint 0), left/right flip pairs from the names; no groups, so "All" averages every joint."""
    try:
        if not isinstance(category["keypoints"], list) or not all(isinstance(n, str) for n in category["keypoints"]):
            raise TypeError
        names = tuple(category["keypoints"])
        edges = [(int(a), int(b)) for a, b in category.get("skeleton") or []]
    except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: an edge index of Infinity
        raise DataError(f"{where}: a category needs keypoints [names] and skeleton [[a, b], …]",
                        hint="fix the categories[] entry of the annotation file") from None
    twice = sorted({n for n in names if names.count(n) > 1} | {n for n in names if _tokens(n) in
                    [_tokens(m) for m in names if m != n]})
    if twice:
        raise DataError(f"{where}: keypoint name(s) {', '.join(twice)} appear twice in the category",
                        hint="give every keypoint its own name (left/right pairs for flipping are found by name)")
    k = len(names)
    base = 0 if any(0 in e for e in edges) else 1
    skeleton = tuple((a - base, b - base) for a, b in edges)
    if any(not 0 <= v < k for e in skeleton for v in e):
        raise DataError(f"{where}: skeleton edges {edges} do not index {k} keypoints",
                        hint="fix categories[].skeleton (COCO uses 1-based joint indices)")
    return KeypointMeta(name=meta_name, names=names, flip_pairs=flip_pairs(names), groups={}, skeleton=skeleton,
                        all_joints=tuple(range(k)))


def canonical_mapping(source: tuple[str, ...], meta: KeypointMeta, explicit: dict[str, str]) -> list[int | None]:
    """For each joint of ``meta``: the index of the source joint that fills it, or None (stored unlabelled).

    ``explicit`` maps canonical → source names; other joints match by name, ignoring case and punctuation
    (``right_ankle`` = ``Right-Ankle``).
    """
    bad = [c for c in explicit if c not in meta.names] + [s for s in explicit.values() if s not in source]
    if bad:
        raise ConfigError(f"--keypoint-map names unknown joints: {', '.join(bad)}",
                          hint=f"canonical {meta.name}: {', '.join(meta.names)}; file: {', '.join(source)}")
    by_name = {_compact(n): i for i, n in enumerate(source)}
    mapping = [source.index(explicit[c]) if c in explicit else by_name.get(_compact(c)) for c in meta.names]
    if all(m is None for m in mapping):
        raise ConfigError(f"no joint of the file matches the canonical {meta.name} skeleton",
                          hint="give pairs with --keypoint-map CANONICAL=SOURCE, or drop --canonical to keep the "
                               "file's own keypoints")
    return mapping
