"""Property tests of the converters on malformed input: random COCO JSON and LSP/LSPET ``joints.mat`` files (wrong
shapes and types, non-finite and huge values, out-of-range flags, duplicates, dangling references), drawn by a seeded
generator (each case's seed is in its test id, so a failure replays alone).

Each conversion must end in one of two ways:

- a clean error: exit code 2, 3 or 4, exactly one ``error:`` line, no traceback, and no dataset file or temporary
  file left behind;
- a dataset whose stored keypoints are the input's: every annotation is either stored or counted as left out
  (``skipped``), every stored row comes from the photograph its annotation names, and each joint keeps its x, y
  (as float32) and its visibility, except for the documented rules (0/1 COCO flags read as 0/2, labelled joints
  outside the image stored with v = 0, unlabelled joints' non-finite or far coordinates stored as 0).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

from posekit.cli import app
from posekit.data.meta import LSP_TO_MPII16
from tests.test_converters import write_image

runner = CliRunner()
SIZES = [(60, 40), (50, 50), (30, 70)]  # width, height of the three raw images
NAMES = ["left_eye", "right_eye", "nose", "left_ear", "right_ear", "neck"]
COCO_CASES = 100
MAT_CASES = 100
MAPPED = [i for i in range(16) if i not in (6, 7)]


@pytest.fixture(scope="module")
def raw_images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("props")
    for n, (w, h) in enumerate(SIZES):
        write_image(root / f"img{n}.jpg", w, h, n)
        write_image(root / "images" / f"im{n + 1:05d}.jpg", w, h, n)
    return root


def run_prepare(ws: Path, *args: str):
    return runner.invoke(app, ["-w", str(ws), "prepare", *args, "--size", "32", "--workers", "1"])


def assert_clean_failure(result, ws: Path, name: str) -> None:
    output = result.output
    assert result.exit_code in (2, 3, 4), output
    assert len([line for line in output.splitlines() if line.startswith("error:")]) == 1, output
    assert "Traceback" not in output
    left = list((ws / "data" / name).glob("*.h5*")) if (ws / "data" / name).exists() else []
    assert left == [], left


def read_split(path: Path) -> dict:
    with h5py.File(path) as f:
        out = {k: f[k][...] for k in ("keypoints_orig", "orig_size")}
        out["source_id"] = [s.decode() for s in f["source_id"][...]]
        out["skipped"] = json.loads(f.attrs["skipped"])
    return out


def assert_joints_kept(stored: np.ndarray, given: np.ndarray, size: tuple[int, int], where: str) -> None:
    """``stored`` ``[K,3]`` (keypoints_orig) against the input joints ``given`` ``[K,3]`` (format flags) in an image
    of ``size`` (width, height)."""
    w, h = size
    for j, ((x, y, v), (sx, sy, sv)) in enumerate(zip(given, stored)):
        inside = -0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5
        if v > 0:
            assert (sx, sy) == (np.float32(x), np.float32(y)), (where, j)
            assert sv == (v if inside else 0), (where, j, v, sv)
        else:
            assert sv == 0, (where, j)
            keep = math.isfinite(x) and math.isfinite(y) and max(abs(x), abs(y)) <= 1e6
            assert (sx, sy) == ((np.float32(x), np.float32(y)) if keep else (0, 0)), (where, j)


# ------------------------------------------------------------------------------------------------- COCO JSON
def odd_value(rng: random.Random):
    return rng.choice(["12", True, None, {"x": 1}, [1, 2], float("nan"), float("inf"), -float("inf"), 1e308, -1e308,
                       1e7, 10**400, -3.5, 0, 2, 3, 0.5])


def coco_doc(rng: random.Random) -> dict:
    """A valid document: 3 images, 1–2 categories sharing K names, 2–6 annotations with unique ids."""
    k = rng.randint(2, 5)
    names = NAMES[:k]
    cats = [{"id": 1, "name": "person", "keypoints": list(names), "skeleton": [[1, 2]]}]
    if rng.random() < 0.5:
        cats.append({"id": 2, "name": "robot", "keypoints": list(names)})
    images = [{"id": n + 1, "file_name": f"img{n}.jpg", "width": w, "height": h} for n, (w, h) in enumerate(SIZES)]
    anns = []
    for i in range(rng.randint(2, 6)):
        img = rng.randrange(3)
        w, h = SIZES[img]
        kp = []
        for _ in range(k):
            kp += [round(rng.uniform(-5, w + 5), 2), round(rng.uniform(-5, h + 5), 2), rng.choice([0, 1, 2, 2, 2])]
        ann = {"id": 100 + i, "image_id": img + 1, "category_id": rng.choice([c["id"] for c in cats]), "keypoints": kp}
        if rng.random() < 0.4:
            ann["bbox"] = [round(rng.uniform(0, w / 2), 1), round(rng.uniform(0, h / 2), 1), rng.uniform(1, w / 2),
                           rng.uniform(1, h / 2)]
        anns.append(ann)
    return {"images": images, "annotations": anns, "categories": cats}


def mutate_coco(doc: dict, rng: random.Random) -> None:
    anns, images, cats = doc["annotations"], doc["images"], doc["categories"]
    ann = rng.choice([a for a in anns if isinstance(a, dict) and isinstance(a.get("keypoints"), list)] or [None])
    images = [img for img in images if isinstance(img, dict)]
    if ann is None or not images or not isinstance(cats[0].get("keypoints"), list):
        return
    kind = rng.randrange(22)
    if kind == 0:
        ann["keypoints"] = ann["keypoints"][: -rng.randint(1, 4)]
    elif kind == 1:
        ann["keypoints"] = ann["keypoints"] + [1.0] * rng.randint(1, 3)
    elif kind == 2:
        kp = ann["keypoints"]
        ann["keypoints"] = [kp[i:i + 3] for i in range(0, len(kp), 3)]  # K × [x, y, v]: valid
    elif kind == 3:
        ann["keypoints"][rng.randrange(len(ann["keypoints"]))] = odd_value(rng)
    elif kind == 4:
        ann["keypoints"][rng.randrange(len(ann["keypoints"]) // 3) * 3 + 2] = rng.choice([-1, 3, 0.5, 1.0, 2.0, 7])
    elif kind == 5:
        images.append({**rng.choice(images), "file_name": rng.choice(images)["file_name"]})  # repeated id
    elif kind == 6:
        rng.choice(images)["id"] = rng.choice(["1", True, [1], None, 2])
    elif kind == 7:
        ann["image_id"] = rng.choice([99, "1", [1], None, True])
    elif kind == 8:
        ann["category_id"] = rng.choice([7, "1", [1], None, 2])
    elif kind == 9:
        cats[0]["keypoints"][-1] = cats[0]["keypoints"][0]  # a name listed twice
    elif kind == 10:
        cats[0]["keypoints"] = rng.choice(["left_eye", [1, 2], None, {"a": 1}])
    elif kind == 11:
        ann["iscrowd"] = rng.choice([0, 1, True, "yes", 2])
    elif kind == 12:
        ann["bbox"] = rng.choice([[1, 2, 3], ["1", 2, 3, 4], [0, 0, 0, 0], [1, 1, -5, 4], [float("nan")] * 4,
                                  [10**400, 0, 1, 1], None, "box"])
    elif kind == 13:
        anns.append(rng.choice([[1, 2, 3], "ann", None, 7]))
    elif kind == 14:
        del doc[rng.choice(["images", "annotations", "categories"])]
    elif kind == 15:
        doc[rng.choice(["images", "annotations", "categories"])] = rng.choice([{}, "x", 3])
    elif kind == 16:
        rng.choice(images)["file_name"] = rng.choice([None, 3, "", "missing.jpg"])
    elif kind == 17:
        del ann["keypoints"]
    elif kind == 18:
        for a in anns:  # 0/1 flags only: read as 0 = unlabelled, 1 = visible
            if isinstance(a.get("keypoints"), list):
                a["keypoints"][2::3] = [rng.choice([0, 1]) for _ in a["keypoints"][2::3]]
    elif kind == 19:
        ann["keypoints"][:] = [0] * len(ann["keypoints"])  # no labelled keypoint
    elif kind == 20:
        ann["keypoints"][0:2] = rng.choice([[1e7, 5], [-1e308, 3], [float("inf"), 1], [5, float("nan")]])
    else:
        ann["id"] = anns[0]["id"]  # repeated annotation id


def coco_expectation(doc: dict, data: dict) -> None:
    """Check a successful conversion against the document (see the module docstring)."""
    anns = {a["id"]: a for a in doc["annotations"]}
    images = {img["id"]: img for img in doc["images"]}
    ids = {c["id"] for c in doc["categories"]}
    used = [a for a in doc["annotations"] if isinstance(a.get("category_id"), int) and a["category_id"] in ids
            and not isinstance(a["category_id"], bool) and not a.get("iscrowd")]  # the file's keypoint annotations
    flags = [v for a in used for v in np.asarray(a["keypoints"], dtype=float).reshape(-1, 3)[:, 2]]
    binary = max(flags) <= 1
    for row, sid in enumerate(data["source_id"]):
        file_name, ann_id = sid.rsplit("#", 1)
        ann = anns[int(ann_id)]
        image = images[ann["image_id"]]
        assert file_name == image["file_name"], sid  # the photograph the annotation names
        assert data["orig_size"][row].tolist() == [image["height"], image["width"]], sid
        given = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3).copy()
        if binary:
            given[:, 2] = np.where(given[:, 2] > 0, 2, 0)
        assert_joints_kept(data["keypoints_orig"][row], given, (image["width"], image["height"]), sid)
    assert len(data["source_id"]) + sum(data["skipped"].values()) == len(doc["annotations"]), data["skipped"]


@pytest.mark.parametrize("seed", range(COCO_CASES))
def test_malformed_coco_json_fails_cleanly_or_keeps_the_keypoints(raw_images, tmp_path, seed):
    rng = random.Random(seed)
    doc = coco_doc(rng)
    for _ in range(rng.randint(0, 3)):
        if all(isinstance(doc.get(key), list) for key in ("images", "annotations", "categories")):
            mutate_coco(doc, rng)
    (raw_images / f"ann{seed}.json").write_text(json.dumps(doc))  # NaN/Infinity as JSON extensions, as Python writes
    ws = tmp_path / "ws"
    result = run_prepare(ws, "coco", "--raw", str(raw_images), "--ann-file", f"val=ann{seed}.json", "--name", "p")
    if result.exit_code != 0:
        assert_clean_failure(result, ws, "p")
        return
    coco_expectation(doc, read_split(ws / "data/p/val.h5"))
    assert not list(ws.rglob("*.tmp"))


# ------------------------------------------------------------------------------------------------- joints.mat
def joints_array(rng: random.Random) -> tuple[np.ndarray, str]:
    """A valid LSP ``(3, 14, 3)`` or LSPET ``(14, 3, 3)`` array for the three images, and its layout."""
    layout = rng.choice(["lsp", "lspet"])
    joints = np.zeros((3, 14, 3))
    for n, (w, h) in enumerate(SIZES):
        joints[n, :, 0] = np.round([rng.uniform(-3, w + 3) for _ in range(14)], 2)
        joints[n, :, 1] = np.round([rng.uniform(-3, h + 3) for _ in range(14)], 2)
        joints[n, :, 2] = [rng.choice([0, 1, 1]) for _ in range(14)]
    return (joints.transpose(2, 1, 0) if layout == "lsp" else joints.transpose(1, 2, 0)), layout


def mutate_joints(mat: np.ndarray, rng: random.Random):
    kind = rng.randrange(12)
    xyz = mat[:2] if mat.shape[0] == 3 else mat[:, :2]
    flags = mat[2] if mat.shape[0] == 3 else mat[:, 2]
    if kind == 0:
        return mat[..., : rng.choice([1, 2])]  # fewer columns than images
    if kind == 1:
        return np.concatenate([mat, mat[..., :1]], axis=-1)  # an annotation without an image
    if kind == 2:
        return rng.choice([mat[:, :2], mat[:13], mat[..., 0], mat[None], np.float64(3), mat.reshape(-1)])
    if kind == 3:
        xyz[tuple(rng.randrange(n) for n in xyz.shape)] = rng.choice([np.nan, np.inf, -np.inf, 1e308, 2e6, -7.5])
    if kind == 4:
        flags[tuple(rng.randrange(n) for n in flags.shape)] = rng.choice([0.5, 2, -1, np.nan, 1.0])
    if kind == 5:
        return mat.astype(rng.choice([np.int32, np.float32, np.bool_, np.complex128]))
    if kind == 6:
        return np.array(["joints"] * 3)
    lspet = mat.shape[0] != 3  # LSPET: flag 1 = visible, 0 = not labelled; LSP: every joint is labelled
    if kind == 7:
        flags[:, rng.randrange(mat.shape[-1])] = 1 - lspet  # LSPET: an image with no labelled joint
    if kind == 8:
        column = rng.randrange(mat.shape[-1])
        flags[:, column] = 1 - lspet
        flags[rng.randrange(14), column] = lspet  # LSPET: one labelled joint
    if kind == 9:
        return {"other": mat}
    if kind == 10:
        return b"\0" * rng.choice([0, 10, 300])  # not a MAT file
    return mat


def write_mat(path: Path, value) -> None:
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        scipy.io.savemat(path, value if isinstance(value, dict) else {"joints": value})


@pytest.mark.parametrize("seed", range(MAT_CASES))
def test_malformed_joints_mat_fails_cleanly_or_keeps_the_keypoints(raw_images, tmp_path, seed):
    rng = random.Random(1000 + seed)
    mat, _ = joints_array(rng)
    value = mat
    for _ in range(rng.randint(0, 2)):
        if isinstance(value, np.ndarray) and value.shape[:2] in ((3, 14), (14, 3)) and value.ndim == 3:
            value = mutate_joints(value, rng)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "images").symlink_to(raw_images / "images")
    write_mat(raw / "joints.mat", value)
    ws = tmp_path / "ws"
    result = run_prepare(ws, "lspet", "--raw", str(raw), "--name", "p")
    if result.exit_code != 0:
        assert_clean_failure(result, ws, "p")
        return
    stored = scipy.io.loadmat(raw / "joints.mat")["joints"].astype(np.float64)  # what the converter read
    if stored.shape[:2] == (3, 14):
        xy, flag = stored[:2].transpose(2, 1, 0), stored[2].T
        v = np.where(flag > 0.5, 1, 2)
    else:
        xy, flag = stored[:, :2].transpose(2, 0, 1), stored[:, 2].T
        v = np.where(flag > 0.5, 2, 0)
    given = np.concatenate([xy, v[..., None]], -1)[:, LSP_TO_MPII16]
    data = read_split(ws / "data/p/train.h5")
    for row, sid in enumerate(data["source_id"]):
        n = int(sid[len("images/im"):-len(".jpg")]) - 1
        assert data["orig_size"][row].tolist() == [SIZES[n][1], SIZES[n][0]], sid
        assert_joints_kept(data["keypoints_orig"][row][MAPPED], given[n][MAPPED], SIZES[n], sid)
        assert (data["keypoints_orig"][row][[6, 7]] == 0).all()  # pelvis, thorax: no LSP joint
    assert len(data["source_id"]) + sum(data["skipped"].values()) == given.shape[0], data["skipped"]
