"""Seeded fuzz of the files users hand posekit: --boxes JSON (both layouts), COCO keypoint JSON, LSP joints.mat and
image files (modes, bit depths, formats, sizes from 0 pixels to a huge header, truncated). Each case must end in
success or one of posekit's own errors (never another exception), and input that is corrupt by construction
(truncated, duplicate ids, non-finite numbers, nested too deeply) must be refused, not accepted. Case counts are in
``COUNTS`` (printed with -s)."""

from __future__ import annotations

import copy
import json
import math
import struct
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from posekit.data.boxes import read_boxes
from posekit.data.image_files import image_size, load_image
from posekit.data.images import open_rgb
from posekit.datasets.converters.coco import CocoConverter
from posekit.datasets.converters.lsp import load_lsp_joints
from posekit.errors import PosekitError

COUNTS: Counter = Counter()
JUNK = [None, True, -1, 0, 1.5, float("nan"), float("inf"), 1e308, -1e308, 10**30, "", "x", [], {}, [1, 2], {"a": 1},
        [[0, 0, 1, 1]], "1e3"]


def outcome(fn, *args):
    """("ok", value) or ("refused", error); any other exception fails the test."""
    try:
        return "ok", fn(*args)
    except PosekitError as exc:
        assert exc.message and "\n" not in exc.message.strip(), exc.message
        return "refused", exc


def mutate(rng: np.random.Generator, doc):
    """One random change somewhere in a JSON document: a value replaced by junk, a key dropped, an entry duplicated."""
    doc = copy.deepcopy(doc)
    paths = []

    def walk(node, trail):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((node, k))
                walk(v, trail + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((node, i))
                walk(v, trail + [i])

    walk(doc, [])
    if not paths:
        return JUNK[rng.integers(len(JUNK))]
    parent, key = paths[rng.integers(len(paths))]
    action = rng.integers(3)
    if action == 0:
        parent[key] = copy.deepcopy(JUNK[rng.integers(len(JUNK))])
    elif action == 1:
        del parent[key]
    elif isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    else:
        parent[key] = [copy.deepcopy(parent[key])]
    return doc


def write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


# ----------------------------------------------------------------------------------------------- --boxes files
def boxes_docs():
    detections = [{"image_id": 1, "bbox": [2, 3, 10, 12], "score": 0.9, "category_id": 1},
                  {"file_name": "b.jpg", "bbox": [0, 0, 5, 5], "score": 0.4}]
    annotations = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
                   "annotations": [{"image_id": 1, "bbox": [1, 1, 4, 4]}, {"image_id": 2, "bbox": [3, 3, 4, 6],
                                                                          "iscrowd": 0}]}
    return detections, annotations


def check_boxes(result, inputs):
    for path, dets in result.boxes.items():
        assert path in inputs
        for det in dets:
            assert all(math.isfinite(v) for v in det.box) and det.box[0] < det.box[2] and det.box[1] < det.box[3]
            assert det.score is None or math.isfinite(det.score)


def test_boxes_files_fuzz(tmp_path):
    rng = np.random.default_rng(31)
    inputs = [tmp_path / "1.jpg", tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for doc in boxes_docs():
        for _ in range(300):
            bad = mutate(rng, doc)
            for _ in range(int(rng.integers(0, 2))):
                bad = mutate(rng, bad)
            state, result = outcome(read_boxes, write_json(tmp_path / "boxes.json", bad), inputs)
            COUNTS[f"boxes mutated {state}"] += 1
            if state == "ok":
                check_boxes(result, inputs)
        text = json.dumps(doc)
        for cut in sorted(set(rng.integers(1, len(text), 40))):  # a truncated file is never read as boxes
            (tmp_path / "cut.json").write_text(text[:cut])
            assert outcome(read_boxes, tmp_path / "cut.json", inputs)[0] == "refused"
            COUNTS["boxes truncated refused"] += 1
    for depth in (50, 5_000, 200_000):  # nested deeper than the parser's recursion: a DataError, not a RecursionError
        (tmp_path / "deep.json").write_text("[" * depth + "]" * depth)
        assert outcome(read_boxes, tmp_path / "deep.json", inputs)[0] == "refused"
        COUNTS["boxes deeply nested refused"] += 1
    duplicate = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"}],
                 "annotations": [{"image_id": 1, "bbox": [1, 1, 4, 4]}]}
    state, error = outcome(read_boxes, write_json(tmp_path / "dup.json", duplicate), inputs)
    assert state == "refused" and "lists id 1 twice (a.jpg and b.jpg)" in error.message
    for value in ("NaN", "Infinity", "-Infinity", "1e999"):
        (tmp_path / "nan.json").write_text(f'[{{"image_id": 1, "bbox": [0, 0, {value}, 5]}}]')
        assert outcome(read_boxes, tmp_path / "nan.json", inputs)[0] == "refused"
        COUNTS["boxes non-finite refused"] += 1
    (tmp_path / "big.json").write_text('[{"image_id": 1, "bbox": [0, 0, ' + "9" * 5000 + ", 5]}]")
    assert outcome(read_boxes, tmp_path / "big.json", inputs)[0] == "refused"
    COUNTS["boxes special refused"] += 2


def test_repeated_image_id_in_predict_boxes_is_refused_like_prepare_coco(tmp_path):
    from typer.testing import CliRunner

    from posekit.cli import app

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(folder / name)
    boxes = write_json(tmp_path / "ann.json", {"images": [{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}],
                                               "annotations": [{"image_id": 1, "bbox": [1, 1, 8, 8]}]})
    result = CliRunner().invoke(app, ["-w", str(tmp_path / "ws"), "predict", str(folder), "-c", "x.pt", "--boxes",
                                      str(boxes), "--out", str(tmp_path / "out")])
    assert result.exit_code == 4 and "lists id 1 twice (a.png and b.png)" in result.output, result.output
    assert not (tmp_path / "out").exists()
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = CliRunner().invoke(app, ["-w", str(tmp_path / "ws"), "predict", str(folder), "-c", "x.pt", "--boxes",
                                      str(deep), "--out", str(tmp_path / "out")])
    assert result.exit_code == 4 and "nested too deeply" in result.output and "Traceback" not in result.output


# ----------------------------------------------------------------------------------------------- COCO keypoints
def coco_doc():
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30},
                       {"id": 2, "file_name": "b.jpg", "width": 40, "height": 30}],
            "categories": [{"id": 1, "name": "person", "keypoints": ["nose", "left_eye", "right_eye"],
                            "skeleton": [[1, 2], [1, 3]]}],
            "annotations": [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [2, 2, 20, 20], "num_keypoints": 2,
                             "keypoints": [5, 5, 2, 8, 6, 2, 0, 0, 0], "iscrowd": 0},
                            {"id": 11, "image_id": 2, "category_id": 1, "bbox": [4, 4, 10, 12], "num_keypoints": 3,
                             "keypoints": [6, 6, 2, 7, 7, 1, 9, 9, 2], "iscrowd": 0}]}


def test_coco_keypoint_files_fuzz(tmp_path):
    rng = np.random.default_rng(131)
    raw = tmp_path / "raw"
    raw.mkdir()
    params = {"ann_file": {"val": "ann.json"}, "image_root": None, "categories": None, "canonical": None,
              "keypoint_map": None, "limit": None}
    converter = CocoConverter()
    doc = coco_doc()
    assert outcome(converter.load, raw, params)[0] == "refused"  # no annotation file yet
    write_json(raw / "ann.json", doc)
    assert outcome(converter.load, raw, params)[0] == "ok"
    for _ in range(250):
        bad = mutate(rng, doc)
        if rng.random() < 0.5:
            bad = mutate(rng, bad)
        write_json(raw / "ann.json", bad)
        state, loaded = outcome(converter.load, raw, params)
        COUNTS[f"coco mutated {state}"] += 1
        if state == "ok":
            for records in loaded.splits.values():
                for rec in records:
                    assert np.isfinite(np.asarray(rec.keypoints, dtype=np.float64)).all()
    text = json.dumps(doc)
    for cut in sorted(set(rng.integers(1, len(text), 40))):
        (raw / "ann.json").write_text(text[:cut])
        assert outcome(converter.load, raw, params)[0] == "refused"
        COUNTS["coco truncated refused"] += 1
    (raw / "ann.json").write_text("{" * 100_000)
    assert outcome(converter.load, raw, params)[0] == "refused"
    COUNTS["coco special refused"] += 1


# ----------------------------------------------------------------------------------------------- LSP joints.mat
def test_lsp_joints_mat_fuzz(tmp_path):
    rng = np.random.default_rng(231)
    path = tmp_path / "joints.mat"
    for _ in range(150):
        layout = rng.integers(4)
        n = int(rng.integers(0, 4))
        shape = [(3, 14, n), (14, 3, n), (14, 2, n), tuple(int(s) for s in rng.integers(0, 5, rng.integers(1, 4)))][layout]
        joints = rng.uniform(-5, 50, shape)
        if joints.ndim == 3 and joints.shape[:2] == (3, 14):
            joints[2] = rng.integers(0, 2, joints[2].shape)
        elif joints.ndim == 3 and joints.shape[:2] == (14, 3):
            joints[:, 2] = rng.integers(0, 2, joints[:, 2].shape)
        if joints.size and rng.random() < 0.4:
            joints.flat[rng.integers(joints.size)] = [np.nan, np.inf, 7.0, -1.0][rng.integers(4)]
        kind = rng.integers(4)
        value = {0: joints, 1: joints.astype(np.int32), 2: joints.astype(np.complex128), 3: "text"}[int(kind)]
        scipy.io.savemat(path, {"joints" if rng.random() < 0.9 else "other": value})
        state, out = outcome(load_lsp_joints, path)
        COUNTS[f"lsp generated {state}"] += 1
        if state == "ok":
            assert out.ndim == 3 and out.shape[1:] == (14, 3)
            v = out[..., 2]
            assert np.isin(v[np.isfinite(v)], (0, 1, 2)).all()
            assert (np.isfinite(out[..., :2]).all(-1) | (v == 0) | np.isnan(v)).all()  # junk only where unlabelled
        data = path.read_bytes()
        for cut in sorted(set(rng.integers(1, len(data), 2))):
            path.write_bytes(data[:cut])
            state, _ = outcome(load_lsp_joints, path)
            COUNTS[f"lsp truncated {state}"] += 1
            if cut < 128:  # not even the header: never read
                assert state == "refused"
    path.write_bytes(b"not a mat file at all" * 10)
    assert outcome(load_lsp_joints, path)[0] == "refused"
    COUNTS["lsp special refused"] += 1


# ----------------------------------------------------------------------------------------------- images
MODES = ("1", "L", "LA", "RGB", "RGBA", "P", "I;16", "I", "F", "CMYK")
FORMATS = {"png": ("1", "L", "LA", "RGB", "RGBA", "P", "I;16", "I"), "tiff": MODES, "bmp": ("1", "L", "RGB", "P"),
           "jpeg": ("L", "RGB", "CMYK"), "webp": ("RGB", "RGBA"), "gif": ("L", "P")}


def make_image(rng: np.random.Generator, mode: str, w: int, h: int) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(0, 70000 if rng.random() < 0.3 else 65536, (h, w)).astype(np.int32))
    if mode == "F":
        return Image.fromarray(rng.random((h, w)).astype(np.float32))
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)


def png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims ``w×h`` pixels, with a few bytes of image data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def read_all(path: Path):
    """Every reader of a user image gives the same verdict."""
    verdicts = [outcome(fn, path) for fn in (lambda p: np.asarray(open_rgb(str(p))), load_image)]
    assert len({v[0] for v in verdicts}) == 1, verdicts
    return verdicts[1]


def test_image_files_fuzz(tmp_path):
    rng = np.random.default_rng(331)
    for fmt, modes in FORMATS.items():
        for mode in modes:
            for w, h in ((1, 1), (7, 5), (64, 48)):
                image = make_image(rng, mode, w, h)
                path = tmp_path / f"im.{fmt}"
                try:
                    image.save(path)
                except (OSError, ValueError, KeyError):
                    COUNTS["image mode not writable by Pillow (skipped)"] += 1
                    continue
                state, array = read_all(path)
                COUNTS[f"image valid {state}"] += 1
                with Image.open(path) as check:
                    stored = check.mode
                if state == "ok":
                    assert array.shape == (h, w, 3) and array.dtype == np.uint8 and image_size(path) == (h, w)
                    if stored.startswith("I"):
                        values = np.asarray(Image.open(path), dtype=np.int64)
                        assert np.abs(array[..., 0].astype(int) - np.round(values / 257)).max() <= 1
                else:  # only what has no 8-bit reading is refused: floats, integers beyond 16 bits
                    assert stored == "F" or (stored == "I" and np.asarray(Image.open(path)).max() > 65535), stored
                data = path.read_bytes()
                for cut in sorted(set(rng.integers(1, max(2, len(data) - 1), 3))):
                    path.write_bytes(data[:cut])
                    state, _ = read_all(path)
                    COUNTS[f"image truncated {state}"] += 1
                    # pixel data cut short is refused (a tiny image may decode whole before the cut: not asserted)
                    if fmt in ("png", "jpeg", "webp", "gif", "tiff", "bmp") and w * h > 100 and cut < 0.9 * len(data):
                        assert state == "refused", (fmt, mode, w, h, cut, len(data))
    for w, h in ((0, 0), (0, 10), (10, 0), (200_000, 200_000), (1, 2**31 - 1)):  # no pixels; huge headers
        path = tmp_path / "header.png"
        path.write_bytes(png_header(w, h))
        assert read_all(path)[0] == "refused", (w, h)
        COUNTS["image header refused"] += 1
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert read_all(path)[0] == "refused"
    COUNTS["image header refused"] += 1


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    print("\nfuzz cases:", dict(sorted(COUNTS.items())), "total", sum(COUNTS.values()))
