"""3D converters (rhd, h36m, mpi_inf_3dhp): tiny raw trees built here in each exact format, and MMPose's test
fixtures in ../shared/data when it exists. Measured on the fixtures (pinhole projection of the stored keypoints3d
with the stored intrinsics vs the stored keypoints_orig): RHD ≤ 0.075 px; H36M ≤ 3.38 px (its 2D annotations
include lens distortion; with cameras.pkl's distortion ≤ 0.01 px); MPI-INF-3DHP ≤ 2.14 px."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.ndimage
from PIL import Image
from typer.testing import CliRunner

from posekit.cli import app
from posekit.data.crop import apply_affine
from posekit.data.meta import H36M17, HAND21, MPII16, ROOT_JOINTS, SKELETONS
from posekit.datasets.converters.mpi_inf_3dhp import MPI3DHP_TO_H36M17
from posekit.datasets.converters.rhd import RHD_TO_HAND21

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = SHARED / "fixtures" / "mmpose"
needs_shared = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"{FIXTURES} is absent (development data, not shipped)")
runner = CliRunner()


def invoke(ws: Path, *args: str):
    return runner.invoke(app, ["-w", str(ws), "prepare", *args, "--size", "64", "--workers", "1"])


def prepare(ws: Path, *args: str) -> None:
    result = invoke(ws, *args)
    assert result.exit_code == 0, result.output


def read(ws: Path, dataset: str, split: str) -> dict:
    with h5py.File(ws / "data" / dataset / f"{split}.h5") as f:
        out = {k: f[k][...] for k in f}
        out["attrs"] = dict(f.attrs)
    out["source_id"] = [s.decode() for s in out["source_id"]]
    out["meta"] = json.loads(out["attrs"]["meta"])
    return out


def project(d: dict) -> np.ndarray:
    """Pinhole projection ``[N,K,2]`` of the stored keypoints3d with the stored intrinsics."""
    p = np.einsum("nij,nkj->nki", d["intrinsics"].astype(float), d["keypoints3d"].astype(float))
    return p[..., :2] / p[..., 2:]


def assert_affine_round_trip(d: dict) -> None:
    """(b) crop keypoints through the stored affine land on keypoints_orig within 0.5 px (in fact ≈ 1e-4)."""
    a = d["affine"].astype(float)
    back = np.einsum("nij,nkj->nki", a[:, :, :2], d["keypoints"][..., :2].astype(float)) + a[:, None, :, 2]
    assert np.abs(back - d["keypoints_orig"][..., :2]).max() < 0.5


def assert_pixels_match(d: dict, image_of) -> None:
    """(d) crop pixels at the labelled keypoints = the original box-filtered by k = ⌊scale⌋ (k ≥ 2) and bilinearly
    sampled at affine @ [x, y, 1], pixel centres at integers: an independent numpy/scipy reference."""
    size = d["images"].shape[1]
    for n, sid in enumerate(d["source_id"]):
        original = np.asarray(Image.open(image_of(sid)).convert("RGB"), dtype=float)
        a = d["affine"][n].astype(float)
        k = max(1, int(np.sqrt(np.linalg.det(a[:, :2]))))
        h, w = original.shape[0] // k, original.shape[1] // k
        reduced = original[: h * k, : w * k].reshape(h, k, w, k, 3).mean((1, 3))
        kp = d["keypoints"][n]
        px = np.clip(np.rint(kp[kp[:, 2] > 0, :2]), 0, size - 1).astype(int)
        pts = (apply_affine(a, px.astype(float)) - (k - 1) / 2) / k
        sampled = np.stack([scipy.ndimage.map_coordinates(reduced[..., c], [pts[:, 1], pts[:, 0]], order=1)
                            for c in range(3)], 1)
        diff = np.abs(d["images"][n][px[:, 1], px[:, 0]].astype(float) - sampled)
        assert len(px) >= 5 and diff.max() < 2.0 and diff.mean() < 1.0, (sid, diff.max(), diff.mean())


def bones(d: dict, edges) -> np.ndarray:
    x = d["keypoints3d"].astype(float)
    return np.stack([np.linalg.norm(x[:, a] - x[:, b], axis=-1) for a, b in edges], 1)


def facing(x: np.ndarray) -> np.ndarray:
    """``[N,17,3]`` h36m17 camera coordinates → how far upper_neck lies in front of the thorax (m), taking index 1
    as the right hip: forward = up × right in right-handed camera axes. Positive iff left/right are right."""
    right, up = x[:, 1] - x[:, 4], x[:, 8] - x[:, 0]
    fwd = np.cross(up, right)
    return np.einsum("ni,ni->n", x[:, 9] - x[:, 8], fwd / np.linalg.norm(fwd, axis=1, keepdims=True))


def one_error(result) -> None:
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output


# ---------------------------------------------------------------- meta


def test_hand21_and_h36m17_metas_and_root_joints():
    assert HAND21.num_joints == 21 and H36M17.num_joints == 17
    assert SKELETONS["hand21"] is HAND21 and SKELETONS["h36m17"] is H36M17
    assert ROOT_JOINTS == {"human16": (2, 3), "hand21": (0,), "h36m17": (0,)}
    assert [MPII16.names[i] for i in ROOT_JOINTS["human16"]] == ["right_hip", "left_hip"]
    for meta in (HAND21, H36M17):
        grouped = [j for g in meta.groups.values() for j in g]
        assert len(grouped) == len(set(grouped))  # no joint in two groups
        assert all(0 <= j < meta.num_joints for e in meta.skeleton for j in e)
        assert len(meta.skeleton) == meta.num_joints - 1  # a tree over every joint
    for a, b in H36M17.flip_pairs:
        part = H36M17.names[a].split("_", 1)[1]
        assert {H36M17.names[a], H36M17.names[b]} == {f"left_{part}", f"right_{part}"}
    assert set(H36M17.names) - set(MPII16.names) == {"spine"}
    assert sorted(j for g in HAND21.groups.values() for j in g) == list(range(21))
    assert HAND21.names[1:5] == ("thumb1", "thumb2", "thumb3", "thumb4")  # base → tip


# ---------------------------------------------------------------- tiny raw trees


def write_image(path: Path, width: int, height: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def rhd_tree(raw: Path, masks: bool = True) -> list[dict]:
    """Two RHD sets (training, evaluation) of one 64×48 image each: a left hand (classes 2–17) in the box x 10–29,
    y 8–39, a right hand (18–33) at x 40–59; annotations in RHD order (tips first), projected with K."""
    anns = []
    for split, folder in (("train", "training"), ("test", "evaluation")):
        write_image(raw / folder / "color" / "00000.png", 64, 48, len(anns))
        if masks:
            labels = np.ones((48, 64), np.uint8)
            labels[8:40, 10:30], labels[8:40, 40:60] = 5, 20
            (raw / folder / "mask").mkdir(parents=True)
            Image.fromarray(labels).save(raw / folder / "mask" / "00000.png")
        rng = np.random.default_rng(len(anns))
        xyz = np.stack([rng.uniform(-60, -10, 21), rng.uniform(-40, 40, 21), rng.uniform(380, 420, 21)], 1)  # mm
        uv = xyz[:, :2] / xyz[:, 2:] * 100.0 + [32, 24]
        flags = np.ones(21)
        flags[7] = 0
        ann = {"id": 5, "image_id": 1, "category_id": 1, "hand_type": "left", "bbox": [10, 8, 20, 32],
               "keypoints": np.concatenate([uv, flags[:, None]], 1).tolist(), "joint_cam": xyz.tolist()}
        doc = {"images": [{"id": 1, "file_name": f"{folder}/color/00000.png", "width": 64, "height": 48,
                           "cam_param": {"focal": [100.0, 100.0], "princpt": [32.0, 24.0]}}],
               "annotations": [ann], "categories": []}
        (raw / "annotations").mkdir(parents=True, exist_ok=True)
        (raw / "annotations" / f"rhd_{split}.json").write_text(json.dumps(doc))
        anns.append(ann)
    return anns


def test_rhd_tree_reorders_fingers_stores_metres_flags_and_hand_masks(tmp_path):
    anns = rhd_tree(tmp_path / "raw")
    prepare(tmp_path / "ws", "rhd", "--raw", str(tmp_path / "raw"))
    d = read(tmp_path / "ws", "rhd", "test")
    kp = np.asarray(anns[1]["keypoints"])[list(RHD_TO_HAND21)]
    assert d["source_id"] == ["evaluation/color/00000.png#5"] and d["meta"]["names"] == list(HAND21.names)
    assert np.allclose(d["keypoints_orig"][0, :, :2], kp[:, :2], atol=1e-4)
    assert (d["keypoints_orig"][0, :, 2] == np.where(kp[:, 2] > 0, 2, 1)).all() and d["keypoints_orig"][0, 6, 2] == 1
    assert np.allclose(d["keypoints3d"][0], np.asarray(anns[1]["joint_cam"])[list(RHD_TO_HAND21)] / 1000, atol=1e-6)
    assert np.allclose(d["intrinsics"][0], [[100, 0, 32], [0, 100, 24], [0, 0, 1]])
    assert np.abs(project(d) - d["keypoints_orig"][..., :2]).max() < 1e-3
    assert np.allclose(d["bbox"][0], [10, 8, 30, 40]) and np.isclose(d["affine"][0, 0, 0], 1.25 * 32 / 64)
    # masks: the left hand's pixels (classes 2–17), not the right hand's (18–33) nor the person's (1)
    ys, xs = np.mgrid[:64, :64]
    orig = apply_affine(d["affine"][0].astype(float), np.stack([xs.ravel(), ys.ravel()], 1)).reshape(64, 64, 2)
    inside = (orig[..., 0] > 11) & (orig[..., 0] < 28) & (orig[..., 1] > 9) & (orig[..., 1] < 38)
    outside = (orig[..., 0] < 8.5) | (orig[..., 0] > 31.5) | (orig[..., 1] < 6.5) | (orig[..., 1] > 41.5)
    assert d["masks"].shape == (1, 64, 64) and d["masks"].dtype == np.uint8
    assert (d["masks"][0][inside] == 1).all() and (d["masks"][0][outside] == 0).all()
    assert "masks: the annotated hand" in d["attrs"]["notes"]
    assert_affine_round_trip(d)


def test_rhd_without_mask_folder_writes_no_masks_and_bad_values_name_the_field(tmp_path):
    raw = tmp_path / "raw"
    anns = rhd_tree(raw, masks=False)
    prepare(tmp_path / "ws", "rhd", "--raw", str(raw), "--ann-file", "val=annotations/rhd_test.json")
    d = read(tmp_path / "ws", "rhd", "val")
    assert "masks" not in d and "no masks" in d["attrs"]["notes"]
    doc = json.loads((raw / "annotations/rhd_test.json").read_text())
    doc["annotations"][0]["joint_cam"] = anns[1]["joint_cam"][:20]
    (raw / "annotations/rhd_test.json").write_text(json.dumps(doc))
    result = invoke(tmp_path / "ws", "rhd", "--raw", str(raw), "--name", "bad")
    assert result.exit_code == 4 and "rhd_test.json (annotation 5): joint_cam must hold 21×3" in result.output
    one_error(result)
    result = invoke(tmp_path / "ws", "rhd", "--raw", str(raw), "--ann-file", "Val=x.json", "--name", "bad")
    assert result.exit_code == 2 and "bad split name" in result.output


def body_tree(raw: Path, names: list[str], keys: list, ann: str, cam_file: str, order=tuple(range(17)),
              seed: int = 0) -> dict:
    """An MMPose-style 3D body ``.npz`` (imgname, part, S in camera metres) with its cameras pickle and 80×60
    images; also a world-coordinate copy of S (``world``) made with each camera's R (camera→world) and T."""
    rng = np.random.default_rng(seed)
    cams, world, S, part = {}, [], [], []
    for key in dict.fromkeys(keys):
        r, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        cams[key] = {"R": r, "T": rng.normal(size=(3, 1)), "f": np.array([[90.0], [95.0]]),
                     "c": np.array([[40.0], [30.0]]), "w": 80, "h": 60}
    for i, (name, key) in enumerate(zip(names, keys)):
        x = np.stack([rng.uniform(-0.5, 0.5, 17), rng.uniform(-0.8, 0.8, 17), rng.uniform(3.5, 4.5, 17)], 1)
        cam = cams[key]
        uv = x[:, :2] / x[:, 2:] * cam["f"].ravel() + cam["c"].ravel()
        S.append(np.concatenate([x, np.ones((17, 1))], 1))
        part.append(np.concatenate([uv, np.ones((17, 1))], 1))
        world.append(x @ cam["R"].T + cam["T"].ravel())
        write_image(raw / "images" / name, 80, 60, i)
    (raw / ann).parent.mkdir(parents=True, exist_ok=True)
    np.savez(raw / ann, imgname=np.array(names), part=np.array(part), S=np.array(S))
    (raw / cam_file).parent.mkdir(parents=True, exist_ok=True)
    with open(raw / cam_file, "wb") as fh:
        pickle.dump(cams, fh)
    return {"S": np.array(S), "part": np.array(part), "world": np.array(world), "cams": cams}


H36M_NAMES = ["S1/S1_Walking.54138969/S1_Walking.54138969_000001.jpg",
              "S1/S1_Walking.55011271/S1_Walking.55011271_000001.jpg"]


def test_h36m_tree_default_layout_npz_and_world_json_agree(tmp_path):
    raw = tmp_path / "raw"
    keys = [("S1", "54138969"), ("S1", "55011271")]
    tree = body_tree(raw, H36M_NAMES, keys, "annotation_body3d/fps10/h36m_test.npz", "annotation_body3d/cameras.pkl")
    shutil.copy(raw / "annotation_body3d/fps10/h36m_test.npz", raw / "annotation_body3d/fps10/h36m_train.npz")
    prepare(tmp_path / "ws", "h36m", "--raw", str(raw))
    d = read(tmp_path / "ws", "h36m", "test")
    assert d["source_id"] == H36M_NAMES and d["meta"]["names"] == list(H36M17.names)
    assert np.allclose(d["keypoints3d"], tree["S"][..., :3], atol=1e-6)
    assert np.allclose(d["intrinsics"][1], [[90, 0, 40], [0, 95, 30], [0, 0, 1]])
    assert np.abs(project(d) - d["keypoints_orig"][..., :2]).max() < 1e-3
    assert "annotation_body3d/cameras.pkl" in d["attrs"]["annotation_sha1"]
    assert_affine_round_trip(d)
    # the COCO-style file (flat names, world coordinates) → the same samples, back in camera coordinates
    doc = {"images": [{"id": i, "file_name": Path(n).name} for i, n in enumerate(H36M_NAMES)],
           "annotations": [{"image_id": i, "keypoints": tree["part"][i].ravel().tolist(),
                            "keypoints_3d": np.concatenate([tree["world"][i], np.ones((17, 1))], 1).ravel().tolist()}
                           for i in range(2)]}
    (raw / "annotation_body3d/fps10/coco.json").write_text(json.dumps(doc))
    prepare(tmp_path / "ws", "h36m", "--raw", str(raw), "--ann-file", "test=annotation_body3d/fps10/coco.json",
            "--name", "json")
    j = read(tmp_path / "ws", "json", "test")
    assert j["source_id"] == H36M_NAMES and np.allclose(j["keypoints3d"], d["keypoints3d"], atol=1e-5)
    # a camera the pickle lacks, and a pickle holding something other than arrays
    with open(raw / "annotation_body3d/cameras.pkl", "wb") as fh:
        pickle.dump({("S1", "54138969"): tree["cams"][keys[0]]}, fh)
    result = invoke(tmp_path / "ws", "h36m", "--raw", str(raw), "--name", "bad")
    assert result.exit_code == 4 and "h36m_train.npz (S1/S1_Walking.55011271" in result.output
    assert "no camera ('S1', '55011271')" in result.output
    with open(raw / "annotation_body3d/cameras.pkl", "wb") as fh:
        pickle.dump({"a": Path("x")}, fh)
    result = invoke(tmp_path / "ws", "h36m", "--raw", str(raw), "--name", "bad")
    assert result.exit_code == 4 and "cameras.pkl: unreadable camera file (refusing pathlib" in result.output
    with open(raw / "annotation_body3d/cameras.pkl", "wb") as fh:
        pickle.dump(tree["cams"], fh)
    np.savez(raw / "annotation_body3d/fps10/h36m_train.npz", imgname=np.array(H36M_NAMES), part=tree["part"],
             S=tree["S"][:, :16])
    result = invoke(tmp_path / "ws", "h36m", "--raw", str(raw), "--name", "bad")
    assert result.exit_code == 4 and "h36m_train.npz: S must hold 2×17×3" in result.output
    one_error(result)


def test_mpi_inf_3dhp_tree_maps_joints_into_h36m17(tmp_path):
    raw = tmp_path / "raw"
    names = ["S1_Seq1_Cam0_000001.jpg", "S1_Seq1_Cam0_000002.jpg", "S2_Seq2_Cam8_000001.jpg"]
    tree = body_tree(raw, names, ["S1_Seq1_Cam0", "S1_Seq1_Cam0", "S2_Seq2_Cam8"], "annotations/train.npz",
                     "annotations/cameras_train.pkl")
    prepare(tmp_path / "ws", "mpi_inf_3dhp", "--raw", str(raw), "--ann-file", "train=annotations/train.npz")
    d = read(tmp_path / "ws", "mpi_inf_3dhp", "train")
    order = list(MPI3DHP_TO_H36M17)
    assert d["source_id"] == names and d["meta"]["name"] == "h36m17"
    assert np.allclose(d["keypoints3d"], tree["S"][:, order, :3], atol=1e-6)
    assert np.allclose(d["keypoints_orig"][..., :2], tree["part"][:, order, :2], atol=1e-3)
    assert np.abs(project(d) - d["keypoints_orig"][..., :2]).max() < 1e-3
    assert_affine_round_trip(d)


@pytest.mark.parametrize("dataset,expected", [
    ("rhd", ["annotations/rhd_train.json", "annotations/rhd_test.json"]),
    ("h36m", ["annotation_body3d/fps10/h36m_train.npz", "annotation_body3d/fps10/h36m_test.npz", "images",
              "annotation_body3d/fps10/cameras*.pkl"]),
    ("mpi_inf_3dhp", ["annotations/mpi_inf_3dhp_train.npz", "annotations/mpi_inf_3dhp_test_valid.npz", "images",
                      "annotations/cameras*.pkl"]),
])
def test_missing_raw_files_are_listed_in_one_error(tmp_path, dataset, expected):
    (tmp_path / "raw").mkdir()
    result = invoke(tmp_path / "ws", dataset, "--raw", str(tmp_path / "raw"))
    assert result.exit_code == 3 and f"{len(expected)} raw file(s)/folder(s) missing" in result.output
    assert "http" in result.output and all(e in result.output for e in expected), result.output
    one_error(result)


# ---------------------------------------------------------------- MMPose's fixtures


@needs_shared
def test_rhd_fixture_projects_reorders_and_matches_pixels(tmp_path):
    raw = FIXTURES / "rhd"
    prepare(tmp_path / "ws", "rhd", "--raw", str(raw), "--ann-file", "test=test_rhd.json")
    d = read(tmp_path / "ws", "rhd", "test")
    doc = json.loads((raw / "test_rhd.json").read_text())
    assert len(d["source_id"]) == len(doc["annotations"]) == 3 and "masks" not in d
    for n, ann in enumerate(doc["annotations"]):
        kp = np.asarray(ann["keypoints"], dtype=float)[list(RHD_TO_HAND21)]
        assert np.allclose(d["keypoints_orig"][n, :, :2], kp[:, :2], atol=1e-3)
    assert np.abs(project(d) - d["keypoints_orig"][..., :2]).max() < 0.1  # (a) measured 0.075 px
    assert_affine_round_trip(d)  # (b)
    lengths = bones(d, HAND21.skeleton).reshape(-1, 5, 4)  # (c) wrist→base, then the 3 phalanges, per finger
    assert lengths.min() > 0.01 and lengths.max() < 0.1
    # base to tip: every finger's first phalanx is longer than its last (reversed RHD order would flip all 15)
    assert (lengths[..., 1] > lengths[..., 3]).all()
    assert_pixels_match(d, lambda sid: raw / sid.split("#")[0])  # (d)


@needs_shared
def test_rhd_fixture_with_a_missing_image_fails_with_one_error(tmp_path):
    shutil.copytree(FIXTURES / "rhd", tmp_path / "raw")
    (tmp_path / "raw" / "01111.png").unlink()
    result = invoke(tmp_path / "ws", "rhd", "--raw", str(tmp_path / "raw"), "--ann-file", "test=test_rhd.json")
    assert result.exit_code == 3 and "1 raw file(s)/folder(s) missing" in result.output and "01111.png" in result.output
    one_error(result)  # (e)


def h36m_distort(d: dict, cameras: dict) -> np.ndarray:
    """The stored keypoints3d projected with each frame's H36M camera, radial k and tangential p included."""
    out = []
    for sid, x in zip(d["source_id"], d["keypoints3d"].astype(float)):
        name = Path(sid).name
        cam = cameras[(name.split("_")[0], name.split(".")[1].split("_")[0])]
        (k1, k2, k3), (p1, p2) = cam["k"].ravel(), cam["p"].ravel()
        xy = x[:, :2] / x[:, 2:]
        r2 = (xy**2).sum(1)
        scale = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3 + p1 * xy[:, 1] + p2 * xy[:, 0]
        out.append((xy * scale[:, None] + np.outer(r2, [p2, p1])) * cam["f"].ravel() + cam["c"].ravel())
    return np.array(out)


@needs_shared
def test_h36m_fixture_projects_with_distortion_has_plausible_bones_and_right_handedness(tmp_path):
    raw = FIXTURES / "h36m"
    prepare(tmp_path / "ws", "h36m", "--raw", str(raw), "--ann-file", "test=test_h36m_body3d.npz", "--image-root", ".")
    d = read(tmp_path / "ws", "h36m", "test")
    z = np.load(raw / "test_h36m_body3d.npz")
    assert d["source_id"] == list(z["imgname"]) and np.allclose(d["keypoints3d"], z["S"][..., :3], atol=1e-6)
    with open(raw / "cameras.pkl", "rb") as fh:
        cameras = pickle.load(fh)
    err = np.linalg.norm(project(d) - d["keypoints_orig"][..., :2], axis=-1)
    assert 1.0 < err.max() < 3.5  # (a) pinhole: lens distortion, measured 3.38 px
    assert np.abs(h36m_distort(d, cameras) - d["keypoints_orig"][..., :2]).max() < 0.01  # (a) with k, p: exact
    assert_affine_round_trip(d)  # (b)
    lengths = bones(d, [(1, 2), (4, 5), (2, 3), (5, 6)])  # (c) thighs, shins
    assert lengths.min() > 0.3 and lengths.max() < 0.6
    assert (facing(d["keypoints3d"].astype(float)) > 0.03).all()  # index 1 is the right hip
    assert_pixels_match(d, lambda sid: raw / sid)  # (d)
    # MMPose's COCO-style copy holds world coordinates: the extrinsics bring them back to the same camera joints
    prepare(tmp_path / "ws", "h36m", "--raw", str(raw), "--ann-file", "test=h36m_coco.json", "--image-root", ".",
            "--name", "world")
    w = read(tmp_path / "ws", "world", "test")
    assert w["source_id"] == d["source_id"] and np.abs(w["keypoints3d"] - d["keypoints3d"]).max() < 1e-5


@needs_shared
def test_mpi_inf_3dhp_fixture_projects_and_has_plausible_bones(tmp_path):
    raw = FIXTURES / "mpi_inf_3dhp"
    prepare(tmp_path / "ws", "mpi_inf_3dhp", "--raw", str(raw), "--ann-file", "train=test_3dhp_train.npz",
            "--ann-file", "test=test_3dhp_test.npz", "--image-root", ".")
    for split in ("train", "test"):
        d = read(tmp_path / "ws", "mpi_inf_3dhp", split)
        z = np.load(raw / f"test_3dhp_{split}.npz")
        assert np.allclose(d["keypoints3d"], z["S"][:, list(MPI3DHP_TO_H36M17), :3], atol=1e-6)
        assert np.linalg.norm(project(d) - d["keypoints_orig"][..., :2], axis=-1).max() < 2.5  # (a) measured 2.14
        assert_affine_round_trip(d)  # (b)
        lengths = bones(d, [(1, 2), (4, 5), (2, 3), (5, 6)])  # (c)
        assert lengths.min() > 0.3 and lengths.max() < 0.6
        assert (facing(d["keypoints3d"].astype(float)) > 0.01).all()
        assert_pixels_match(d, lambda sid: raw / sid)  # (d)
    outside = d["keypoints_orig"][1, :, 0] < -0.5  # TS2's frame cuts off a hand: v = 0, 3D kept
    assert outside.any() and (d["keypoints_orig"][1, outside, 2] == 0).all()
