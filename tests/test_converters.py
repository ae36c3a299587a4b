"""Real-dataset converters: each runs on a tiny raw tree in its exact format, built here; LSPET and COCO-style
converters also run on the real samples in ../shared/data when it exists."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.ndimage
from PIL import Image
from typer.testing import CliRunner

from posekit.cli import app
from posekit.data.crop import apply_affine, crop_affine, warp_crop
from posekit.data.meta import ANIMALPOSE14, LSP_TO_MPII16, MPII16, TIGDOG18

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (development data, not shipped)")
MAPPED = [i for i in range(16) if i not in (6, 7)]
runner = CliRunner()


def invoke(ws: Path, *args: str):
    return runner.invoke(app, ["-w", str(ws), "prepare", *args])


def prepare(ws: Path, *args: str) -> str:
    result = invoke(ws, *args, "--size", "64", "--workers", "1")
    assert result.exit_code == 0, result.output
    return result.output


def read(ws: Path, dataset: str, split: str) -> dict:
    with h5py.File(ws / "data" / dataset / f"{split}.h5") as f:
        out = {k: f[k][...] for k in f}
        out["source_id"] = [s.decode() for s in out["source_id"]]
        out["attrs"] = dict(f.attrs)
    out["meta"] = json.loads(out["attrs"]["meta"])
    return out


def assert_round_trip(d: dict) -> None:
    """``keypoints_orig ≈ affine @ [keypoints, 1]`` for every joint, well within 0.5 px."""
    back = np.einsum("nij,nkj->nki", d["affine"][:, :, :2], d["keypoints"][..., :2]) + d["affine"][:, None, :, 2]
    assert np.abs(back - d["keypoints_orig"][..., :2]).max() < 0.01


def write_image(path: Path, width: int, height: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


# ---------------------------------------------------------------- crop geometry


@pytest.mark.parametrize("side", [36.0, 40.0, 90.0, 130.0])  # upsampling, 1:1, and box-filtered by 2 and 3
def test_warp_crop_puts_pixel_centres_where_the_affine_says(side):
    ys, xs = np.mgrid[:192, :192]
    blob = 250 * np.exp(-((xs - 90.3) ** 2 + (ys - 92.6) ** 2) / (2 * 6.0**2))  # centred on (90.3, 92.6)
    image = Image.fromarray(np.repeat(blob[..., None], 3, -1).astype(np.uint8))
    a = crop_affine(91.0, 93.5, side, 40)
    assert np.allclose(apply_affine(a, np.array([[-0.5, -0.5], [39.5, 39.5]])),
                       [[91 - side / 2, 93.5 - side / 2], [91 + side / 2, 93.5 + side / 2]])
    crop = warp_crop(image, a, 40)[..., 0].astype(float)
    cy, cx = np.mgrid[:40, :40]
    centroid = np.array([(crop * cx).sum(), (crop * cy).sum()]) / crop.sum()
    assert np.abs(apply_affine(a, centroid[None])[0] - [90.3, 92.6]).max() < 0.1  # a half-pixel slip: ≥ 0.5


# ---------------------------------------------------------------- LSP / LSPET


def lsp_tree(root: Path, layout: str, sizes: list[tuple[int, int]], seed: int = 0) -> np.ndarray:
    """LSP (``3×14×N``, 1 = occluded) or LSPET (``14×3×N``, 1 = visible) joints and images → ``[N,14,3]``."""
    rng = np.random.default_rng(seed)
    joints = np.zeros((len(sizes), 14, 3))
    for n, (w, h) in enumerate(sizes):
        joints[n, :, 0] = rng.uniform(2, w - 3, 14)
        joints[n, :, 1] = rng.uniform(2, h - 3, 14)
        joints[n, :, 2] = rng.random(14) < 0.3
        write_image(root / "images" / (f"im{n + 1:04d}.jpg" if layout == "lsp" else f"im{n + 1:05d}.jpg"), w, h, n)
    if layout == "lspet":  # invisible LSPET joints lie outside the image, holding junk
        off = joints[..., 2] == 1
        joints[..., 2] = 1 - joints[..., 2]
        joints[off, 1] = -20.0
    mat = joints.transpose(2, 1, 0) if layout == "lsp" else joints.transpose(1, 2, 0)
    scipy.io.savemat(root / "joints.mat", {"joints": mat})
    return joints


@pytest.mark.parametrize("layout", ["lsp", "lspet"])
def test_lsp_reads_both_joint_layouts_maps_to_mpii16_and_keeps_lsps_split(tmp_path, layout):
    sizes = [(40, 60), (70, 50), (52, 52), (90, 30)]
    joints = lsp_tree(tmp_path / "raw", "lsp", sizes)
    if layout == "lspet":  # the same joints stored the LSPET way must read the same
        occluded = joints[..., 2].copy()
        scipy.io.savemat(tmp_path / "raw/joints.mat",
                         {"joints": np.concatenate([joints[..., :2], 1 - occluded[..., None]], -1).transpose(1, 2, 0)})
    prepare(tmp_path / "ws", "lsp", "--raw", str(tmp_path / "raw"))
    train, test = read(tmp_path / "ws", "lsp", "train"), read(tmp_path / "ws", "lsp", "test")
    assert train["source_id"] == ["images/im0001.jpg", "images/im0002.jpg"] and len(test["source_id"]) == 2
    assert train["meta"]["names"] == list(MPII16.names) and train["meta"]["groups"]["Sld"] == [12, 13]
    orig = np.concatenate([train["keypoints_orig"], test["keypoints_orig"]])
    expected = joints[:, LSP_TO_MPII16]
    assert np.allclose(orig[:, MAPPED, :2], expected[:, MAPPED, :2], atol=1e-4)
    want_v = np.where(expected[:, MAPPED, 2] == 1, 1 if layout == "lsp" else 0, 2)  # occluded: LSP 1, LSPET 0
    assert (orig[:, MAPPED, 2] == want_v).all()
    assert (orig[:, [6, 7]] == 0).all()
    # whole image padded to a centred square: image 90×30 → side 90, crop pixel (-0.5, -0.5) at (-0.5, -30.5)
    a = test["affine"][1]
    assert np.allclose(apply_affine(a.astype(float), np.array([[-0.5, -0.5]])), [[-0.5, 14.5 - 45]], atol=1e-4)
    assert (test["orig_size"][1] == [30, 90]).all()
    assert_round_trip(train)
    assert_round_trip(test)


def test_lspet_split_by_index_visibility_box_crop_limit_and_workers(tmp_path, monkeypatch):
    joints = lsp_tree(tmp_path / "raw", "lspet", [(60 + n, 50) for n in range(20)])
    prepare(tmp_path / "ws", "lspet", "--raw", str(tmp_path / "raw"), "--limit", "5")
    train, test = read(tmp_path / "ws", "lspet", "train"), read(tmp_path / "ws", "lspet", "test")
    assert test["source_id"] == ["images/im00010.jpg", "images/im00020.jpg"]
    assert train["source_id"] == [f"images/im{i:05d}.jpg" for i in range(1, 6)]
    kp = joints[:5][:, LSP_TO_MPII16]
    assert (train["keypoints_orig"][:, MAPPED, 2] == np.where(kp[:, MAPPED, 2] == 1, 2, 0)).all()
    labelled = train["keypoints_orig"][0][train["keypoints_orig"][0][:, 2] > 0, :2]
    box = np.concatenate([labelled.min(0), labelled.max(0)])
    assert np.allclose(train["bbox"][0], box, atol=1e-4)
    assert np.isclose(train["affine"][0, 0, 0], 1.25 * (box[2:] - box[:2]).max() / 64, atol=1e-5)
    assert_round_trip(train)
    assert "up to date" in prepare(tmp_path / "ws", "lspet", "--raw", str(tmp_path / "raw"), "--limit", "5")
    result = invoke(tmp_path / "ws", "lspet", "--raw", str(tmp_path / "raw"), "--limit", "6", "--size", "64")
    assert result.exit_code == 2 and "--force" in result.output
    monkeypatch.setattr("posekit.datasets.converters.real.CHUNK", 1)  # 5 jobs through a pool that holds 4 at a time
    result = invoke(tmp_path / "ws", "lspet", "--raw", str(tmp_path / "raw"), "--name", "pooled", "--limit", "5",
                    "--size", "64", "--workers", "2")
    assert result.exit_code == 0, result.output
    pooled = read(tmp_path / "ws", "pooled", "train")
    for key in ("images", "keypoints", "keypoints_orig", "affine", "bbox"):
        assert np.array_equal(pooled[key], train[key]), key
    prepare(tmp_path / "ws", "lspet", "--raw", str(tmp_path / "raw"), "--name", "dev", "--dev-every", "3")
    dev = {split: read(tmp_path / "ws", "dev", split)["source_id"] for split in ("train", "val", "test")}
    rest = [f"images/im{i:05d}.jpg" for i in range(1, 21) if i % 10]  # 18 non-test images; every 3rd to val
    assert dev["val"] == rest[2::3] and dev["train"] == [r for j, r in enumerate(rest, 1) if j % 3]
    assert dev["test"] == ["images/im00010.jpg", "images/im00020.jpg"]


@needs_shared
def test_lspet_real_files_round_trip_onto_the_annotations_and_the_pixels(tmp_path):
    prepare(tmp_path / "ws", "lspet", "--raw", str(SHARED / "lspet"), "--limit", "50")
    joints = scipy.io.loadmat(SHARED / "lspet/joints.mat")["joints"]  # (14, 3, N): x, y, visible
    for split in ("train", "test"):
        d = read(tmp_path / "ws", "lspet", split)
        assert len(d["source_id"]) == 50
        idx = [int(s[len("images/im"):-4]) - 1 for s in d["source_id"]]
        assert all(((i + 1) % 10 == 0) == (split == "test") for i in idx)
        ann = joints[:, :, idx].transpose(2, 0, 1)[:, LSP_TO_MPII16]
        back = np.einsum("nij,nkj->nki", d["affine"][:, :, :2], d["keypoints"][..., :2]) + d["affine"][:, None, :, 2]
        vis = ann[:, MAPPED, 2] == 1
        h, w = d["orig_size"][:, None, 0], d["orig_size"][:, None, 1]
        xy = ann[:, MAPPED, :2]
        inside = (xy >= -0.5).all(-1) & (xy[..., 0] <= w - 0.5) & (xy[..., 1] <= h - 0.5)
        assert (d["keypoints_orig"][:, MAPPED, 2] == np.where(vis & inside, 2, 0)).all()  # outside the image: 0
        assert np.abs(back[:, MAPPED][vis] - ann[:, MAPPED, :2][vis]).max() <= 0.5
    # the crop's pixels are the original's (box-filtered by k = ⌊scale⌋ when k ≥ 2), bilinearly sampled at
    # affine @ [x, y, 1] with pixel centres at integers: an independent numpy/scipy reference
    d = read(tmp_path / "ws", "lspet", "train")
    for n in range(4):
        original = np.asarray(Image.open(SHARED / "lspet" / d["source_id"][n]).convert("RGB"), dtype=float)
        a = d["affine"][n].astype(float)
        k = max(1, int(np.sqrt(np.linalg.det(a[:, :2]))))
        h, w = (original.shape[0] // k, original.shape[1] // k)
        reduced = original[: h * k, : w * k].reshape(h, k, w, k, 3).mean((1, 3))
        ys, xs = np.mgrid[:64, :64]
        pts = (apply_affine(a, np.stack([xs.ravel(), ys.ravel()], 1)) - (k - 1) / 2) / k
        inside = (pts >= 0).all(1) & (pts[:, 0] <= w - 1) & (pts[:, 1] <= h - 1)
        sampled = np.stack([scipy.ndimage.map_coordinates(reduced[..., c], [pts[inside, 1], pts[inside, 0]], order=1)
                            for c in range(3)], 1)
        crop = d["images"][n].reshape(-1, 3)[inside].astype(float)
        assert inside.mean() > 0.3 and np.abs(crop - sampled).mean() < 1.0


# ---------------------------------------------------------------- SURREAL


def test_surreal_maps_smpl_joints_and_keeps_3d(tmp_path):
    raw = tmp_path / "raw"
    kp2d = np.stack([2 + 1.5 * np.arange(24), 3 + np.arange(24.0)], 1)
    kp2d[15] = [-5, 10]  # SMPL head (MPII head_top) outside the frame → unlabelled
    for split in ("train", "val", "test"):
        for run in range(3):
            name = f"frame_{split}_{run}.png"
            write_image(raw / split / f"run{run}" / name, 48, 48, run)
            entry = {"name": name, "keypoint2d": kp2d.tolist(), "keypoint3d": (np.arange(72.0).reshape(24, 3) / 10).tolist(),
                     "intrinsic_matrix": [[60.0, 0, 24], [0, 60, 24], [0, 0, 1]]}
            (raw / split / f"run{run}.json").write_text(json.dumps([entry]))
    prepare(tmp_path / "ws", "surreal", "--raw", str(raw))
    d = read(tmp_path / "ws", "surreal", "val")
    assert d["source_id"] == [f"val/run{r}/frame_val_{r}.png" for r in range(3)]
    smpl = np.array((7, 4, 1, 2, 5, 8, 0, 9, 12, 15, 20, 18, 13, 14, 19, 21))
    assert np.allclose(d["keypoints_orig"][0, :, 0][smpl != 15], (2 + 1.5 * smpl)[smpl != 15])
    assert (d["keypoints_orig"][0, :, 2] == np.where(smpl == 15, 0, 2)).all()
    assert np.allclose(d["keypoints3d"][0], np.arange(72.0).reshape(24, 3)[smpl] / 10)
    assert d["intrinsics"].shape == (3, 3, 3) and np.isclose(d["affine"][0, 0, 0], 48 / 64)
    assert_round_trip(d)


# ---------------------------------------------------------------- synthetic animals


def synanimal_tree(raw: Path, counts: dict[str, int]) -> dict[str, list[np.ndarray]]:
    from posekit.datasets.converters.synanimal import VERTICES

    out = {}
    for cat, n in counts.items():
        folder = raw / "synthetic_animal" / f"{cat}_combineds5r5_texture"
        out[cat] = []
        for i in range(n):
            rng = np.random.default_rng(i)
            v = max(VERTICES[cat][1]) + 5
            pts = np.stack([rng.uniform(5, 60, v), rng.uniform(5, 40, v), rng.random(v) < 0.7], 1)
            pts[0, 0] = 70.0  # one vertex beyond the 64-px-wide render: the box is clipped
            write_image(folder / f"{i:04d}_img.png", 64, 48, i)
            np.save(folder / f"{i:04d}_kpts.npy", pts)
            out[cat].append(pts)
    return out


def test_synanimal_vertex_keypoints_categories_and_splits(tmp_path):
    from posekit.datasets.converters.synanimal import VERTICES

    raw = tmp_path / "raw"
    verts = synanimal_tree(raw, {"horse": 5, "tiger": 2, "hound": 1})
    prepare(tmp_path / "ws", "synanimal", "--raw", str(raw), "--categories", "horse")
    train, val = read(tmp_path / "ws", "synanimal", "train"), read(tmp_path / "ws", "synanimal", "val")
    assert len(train["source_id"]) == 4 and val["source_id"] == ["synthetic_animal/horse_combineds5r5_texture/0004_img.png"]
    sel = verts["horse"][4][list(VERTICES["horse"][1])]
    assert np.allclose(val["keypoints_orig"][0, :, :2], sel[:, :2], atol=1e-4)
    assert (val["keypoints_orig"][0, :, 2] == np.where(sel[:, 2] > 0, 2, 1)).all()
    lo = verts["horse"][4][:, :2].min(0)
    assert np.allclose(val["bbox"][0], [lo[0], lo[1], 63.5, verts["horse"][4][:, 1].max()], atol=1e-4)
    assert val["meta"]["names"] == list(TIGDOG18.names)
    assert_round_trip(train)

    prepare(tmp_path / "ws", "synanimal", "--raw", str(raw), "--categories", "horse,tiger", "--name", "both")
    assert len(read(tmp_path / "ws", "both", "train")["source_id"]) == 6
    result = invoke(tmp_path / "ws", "synanimal", "--raw", str(raw), "--categories", "horse,hound", "--name", "x")
    assert result.exit_code == 2 and "different keypoint sets" in result.output
    split = tmp_path / "cached/synthetic_animal/hound_combineds5r5_texture"
    split.mkdir(parents=True)
    np.save(split / "train_idxs.npy", np.array([0]))
    np.save(split / "valid_idxs.npy", np.array([], dtype=np.int64))
    prepare(tmp_path / "ws", "synanimal", "--raw", str(raw), "--categories", "hound", "--name", "hound",
            "--split-dir", str(tmp_path / "cached"))
    hound = read(tmp_path / "ws", "hound", "train")
    assert hound["meta"]["names"] == list(ANIMALPOSE14.names) and len(hound["source_id"]) == 1
    assert not (tmp_path / "ws/data/hound/val.h5").exists()


# ---------------------------------------------------------------- TigDog


def tigdog_tree(raw: Path, cat: str, ranges: list[tuple[int, int, int]], missing_shots=(), empty_frames=()) -> dict:
    """behaviorDiscovery2.0 ranges/landmarks/frames → ``{frame: [19,3] landmarks (x, y, flag)}``."""
    root = raw / "behaviorDiscovery2.0"
    (root / "ranges" / cat).mkdir(parents=True, exist_ok=True)
    (root / "landmarks" / cat).mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "ranges" / cat / "ranges.mat", {"ranges": np.array(ranges, dtype=np.int32)})
    frames = {}
    for shot, start, end in ranges:
        cells = np.empty((end - start + 1, 1), dtype=object)
        for frame in range(start, end + 1):
            rng = np.random.default_rng(frame)
            lm = np.stack([rng.uniform(20, 60, 19), rng.uniform(15, 45, 19), rng.random(19) < 0.7], 1)
            lm[3, :2] = 0  # an unannotated landmark
            if frame in empty_frames:
                lm[:, :2] = 0
            cells[frame - start, 0] = {"coords": lm[:, :2], "visibility": lm[:, 2:]}
            frames[frame] = lm
            write_image(root / cat / f"{frame:08d}.jpg", 80, 60, frame)
        if shot not in missing_shots:
            scipy.io.savemat(root / "landmarks" / cat / f"{shot}.mat", {"landmarks": cells})
    return frames


def test_tigdog_landmarks_visibility_video_split_and_tiger_order(tmp_path):
    raw = tmp_path / "raw"
    ranges = [(1, 1, 2), (2, 3, 4), (3, 5, 5), (4, 6, 6), (5, 7, 8), (6, 9, 9)]
    horse = tigdog_tree(raw, "horse", ranges, missing_shots=(4,), empty_frames=(9,))
    tiger = tigdog_tree(raw, "tiger", [(11, 20, 20)])
    prepare(tmp_path / "ws", "tigdog", "--raw", str(raw), "--categories", "horse")
    train, test = read(tmp_path / "ws", "tigdog", "train"), read(tmp_path / "ws", "tigdog", "test")
    assert test["source_id"] == ["behaviorDiscovery2.0/horse/00000007.jpg", "behaviorDiscovery2.0/horse/00000008.jpg"]
    assert [s[-12:-4] for s in train["source_id"]] == ["00000001", "00000002", "00000003", "00000004", "00000005"]
    assert json.loads(train["attrs"]["skipped"]) == {"no labelled landmark": 1}
    lm = horse[7][:18]
    want_v = np.where(lm[:, 0] > 0, np.where(lm[:, 2] > 0, 2, 1), 0)
    assert (test["keypoints_orig"][0, :, 2] == want_v).all()
    assert np.allclose(test["keypoints_orig"][0, :, :2], lm[:, :2], atol=1e-4)
    xy = lm[want_v > 0, :2]
    box = np.concatenate([np.maximum(xy.min(0) - 15, -0.5), np.minimum(xy.max(0) + 15, [79.5, 59.5])])
    assert np.allclose(test["bbox"][0], box, atol=1e-4)
    assert_round_trip(train)

    prepare(tmp_path / "ws", "tigdog", "--raw", str(raw), "--categories", "tiger", "--name", "tiger")
    t = read(tmp_path / "ws", "tiger", "train")
    order = np.array([1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 18, 13, 14, 9, 10, 11, 12]) - 1
    assert np.allclose(t["keypoints_orig"][0, :, :2], tiger[20][order, :2], atol=1e-4)

    cached = tmp_path / "cached/real_animal/horse"
    cached.mkdir(parents=True)
    np.save(cached / "train_idxs_by_video.npy", np.array([0, 1, 2]))
    np.save(cached / "valid_idxs_by_video.npy", np.array([5, 6]))  # frames of shots 1,2,3,5,6 → 7 and 8
    prepare(tmp_path / "ws", "tigdog", "--raw", str(raw), "--categories", "horse", "--name", "anchors",
            "--split-dir", str(tmp_path / "cached"))
    assert [s[-6:-4] for s in read(tmp_path / "ws", "anchors", "test")["source_id"]] == ["07", "08"]
    assert len(read(tmp_path / "ws", "anchors", "train")["source_id"]) == 3


# ---------------------------------------------------------------- Animal-Pose


def animalpose_tree(raw: Path) -> list[dict]:
    ann_dir = raw / "animal-pose"
    cats = [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}, {"id": 3, "name": "sheep"}]
    (ann_dir).mkdir(parents=True)
    (ann_dir / "keypoints.json").write_text(json.dumps({"images": {"7": "2007_0007.jpg", "8": "2008_0008.jpg"},
                                                        "categories": cats, "annotations": []}))
    write_image(ann_dir / "images/2007_0007.jpg", 90, 70, 7)
    write_image(ann_dir / "images/2008_0008.jpg", 60, 80, 8)
    rng = np.random.default_rng(0)
    entries = []
    for i, (cat, cid, image_id) in enumerate([("dog", 1, 7), ("dog", 1, 8), ("sheep", 3, 8)]):
        kp = np.stack([rng.integers(10, 50, 20), rng.integers(10, 60, 20), rng.random(20) < 0.6], 1).tolist()
        entry = {"image_id": image_id, "bbox": [5, 8, 55, 66], "keypoints": kp, "num_keypoints": 20, "category_id": cid}
        entries.append(entry)
        folder = raw / "cached_data/real_animal_pose" / cat
        folder.mkdir(parents=True, exist_ok=True)
        split = "train_anno.npy" if i != 1 else "test_anno.npy"
        old = list(np.load(folder / split, allow_pickle=True)) if (folder / split).exists() else []
        np.save(folder / split, np.array(old + [entry], dtype=object), allow_pickle=True)
        other = folder / ("test_anno.npy" if split == "train_anno.npy" else "train_anno.npy")
        if not other.exists():
            np.save(other, np.array([], dtype=object), allow_pickle=True)
    return entries


def test_animalpose_keeps_14_joints_categories_and_refuses_permuted_split_files(tmp_path):
    raw = tmp_path / "raw"
    entries = animalpose_tree(raw)
    prepare(tmp_path / "ws", "animalpose", "--raw", str(raw))
    train, test = read(tmp_path / "ws", "animalpose", "train"), read(tmp_path / "ws", "animalpose", "test")
    assert len(train["source_id"]) == 2 and test["source_id"][0].startswith("animal-pose/images/2008_0008.jpg#dog")
    idx = [0, 1, 13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8]
    kp = np.array(entries[1]["keypoints"], dtype=float)[idx]
    assert np.allclose(test["keypoints_orig"][0, :, :2], kp[:, :2])
    assert (test["keypoints_orig"][0, :, 2] == np.where(kp[:, 2] > 0, 2, 0)).all()
    assert np.allclose(test["bbox"][0], [5, 8, 55, 66]) and np.isclose(test["affine"][0, 0, 0], 1.25 * 58 / 64)
    assert test["meta"]["names"] == list(ANIMALPOSE14.names)
    assert_round_trip(train)

    prepare(tmp_path / "ws", "animalpose", "--raw", str(raw), "--categories", "sheep", "--name", "sheep")
    assert read(tmp_path / "ws", "sheep", "train")["source_id"][0].endswith("#sheep/train_anno[0]")
    np.save(raw / "cached_data/real_animal_pose/dog/train_anno.npy", np.array([entries[2]], dtype=object))
    result = invoke(tmp_path / "ws", "animalpose", "--raw", str(raw), "--name", "bad", "--size", "64")
    assert result.exit_code == 4 and "category_id 3 (sheep)" in result.output and "permuted" in result.output


# ---------------------------------------------------------------- COCO


def coco_doc() -> dict:
    names = ["L_Eye", "R_Eye", "Nose"]
    cats = [{"id": 1, "name": "cat", "supercategory": "animal", "keypoints": names, "skeleton": [[1, 2], [1, 3]]},
            {"id": 2, "name": "dog", "supercategory": "animal", "keypoints": names, "skeleton": [[1, 2], [1, 3]]}]
    anns = [
        {"id": 10, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [10, 12, 30, 20],
         "keypoints": [15, 20, 2, 30, 21, 1, 22, 25, 2]},
        {"id": 11, "image_id": 2, "category_id": 2, "iscrowd": 0, "keypoints": [[5, 6, 2], [20, 7, 2], [0, 0, 0]]},
        {"id": 12, "image_id": 2, "category_id": 2, "iscrowd": 1, "bbox": [1, 1, 5, 5], "keypoints": [0] * 9},
        {"id": 13, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 5, 5], "keypoints": [0] * 9},
    ]
    return {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "sub/b.jpg"}], "annotations": anns,
            "categories": cats}


def test_coco_own_meta_canonical_mapping_and_skips(tmp_path):
    raw = tmp_path / "raw"
    write_image(raw / "imgs/a.jpg", 60, 40)
    write_image(raw / "imgs/sub/b.jpg", 30, 30)
    raw.mkdir(exist_ok=True)
    (raw / "ann.json").write_text(json.dumps(coco_doc()))
    prepare(tmp_path / "ws", "coco", "--raw", str(raw), "--ann-file", "val=ann.json", "--image-root", "imgs",
            "--name", "pets")
    d = read(tmp_path / "ws", "pets", "val")
    meta = d["meta"]
    assert meta["name"] == "animal3" and meta["flip_pairs"] == [[0, 1]] and meta["skeleton"] == [[0, 1], [0, 2]]
    assert d["source_id"] == ["a.jpg#10", "sub/b.jpg#11"]
    assert json.loads(d["attrs"]["skipped"]) == {"crowd": 1, "no labelled keypoint": 1}
    assert np.allclose(d["keypoints_orig"][0], [[15, 20, 2], [30, 21, 1], [22, 25, 2]])
    assert np.allclose(d["bbox"][0], [10, 12, 40, 32]) and np.allclose(d["bbox"][1], [5, 6, 20, 7])
    assert_round_trip(d)

    prepare(tmp_path / "ws", "coco", "--raw", str(raw), "--ann-file", "val=ann.json", "--image-root", "val=imgs",
            "--categories", "cat", "--canonical", "animalpose14", "--keypoint-map", "left_eye=L_Eye",
            "--keypoint-map", "right_eye=R_Eye", "--name", "mapped")
    m = read(tmp_path / "ws", "mapped", "val")
    assert m["meta"]["name"] == "animalpose14" and len(m["source_id"]) == 1
    assert np.allclose(m["keypoints_orig"][0, :2], [[15, 20, 2], [30, 21, 1]]) and (m["keypoints_orig"][0, 2:] == 0).all()
    result = invoke(tmp_path / "ws", "coco", "--raw", str(raw), "--ann-file", "val=ann.json", "--keypoint-map", "a=b")
    assert result.exit_code == 2 and "--canonical" in result.output


COCO_FIXTURES = [("coco", "test_coco.json"), ("coco", "test_coco_wholebody.json"), ("animalpose", "test_animalpose.json"),
                 ("ap10k", "test_ap10k.json"), ("horse10", "test_horse10.json"), ("freihand", "test_freihand.json"),
                 ("panoptic", "test_panoptic.json"), ("rhd", "test_rhd.json"), ("mpii", "test_mpii_trb.json")]


@needs_shared
@pytest.mark.parametrize("folder,file", COCO_FIXTURES)
def test_coco_converter_on_mmpose_fixtures_lands_on_the_annotations(tmp_path, folder, file):
    raw = SHARED / "fixtures/mmpose" / folder
    prepare(tmp_path / "ws", "coco", "--raw", str(raw), "--ann-file", f"test={file}", "--name", "fx")
    d = read(tmp_path / "ws", "fx", "test")
    doc = json.loads((raw / file).read_text())
    names = doc["categories"][0]["keypoints"]
    anns = {a["id"]: a for a in doc["annotations"]}
    assert d["meta"]["names"] == names and len(d["source_id"]) >= 1
    back = np.einsum("nij,nkj->nki", d["affine"][:, :, :2], d["keypoints"][..., :2]) + d["affine"][:, None, :, 2]
    for n, sid in enumerate(d["source_id"]):
        kp = np.asarray(anns[int(sid.split("#")[1])]["keypoints"], dtype=float).reshape(-1, 3)
        labelled = kp[:, 2] > 0
        assert (d["keypoints_orig"][n, labelled, 2] > 0).all()
        assert np.abs(back[n, labelled] - kp[labelled, :2]).max() <= 0.5
    assert_round_trip(d)


@needs_shared
def test_coco_fixture_mapped_onto_mpii16_and_broken_fixtures_refused(tmp_path):
    raw = SHARED / "fixtures/mmpose/coco"
    prepare(tmp_path / "ws", "coco", "--raw", str(raw), "--ann-file", "val=test_coco.json", "--canonical", "human16")
    d = read(tmp_path / "ws", "coco", "val")
    doc = json.loads((raw / "test_coco.json").read_text())
    first = next(a for a in doc["annotations"] if str(a["id"]) == d["source_id"][0].split("#")[1])
    coco = np.asarray(first["keypoints"], dtype=float).reshape(17, 3)
    assert np.allclose(d["keypoints_orig"][0, 0, :2], coco[16, :2]) if coco[16, 2] > 0 else d["keypoints_orig"][0, 0, 2] == 0
    assert (d["keypoints_orig"][:, [6, 7, 8, 9], 2] == 0).all()
    cases = [("h36m", "h36m_coco.json", 3, "S1_Directions_1.54138969_000001.jpg"),
             ("coco", "test_keypoint_partition_metric.json", 4, "399 keypoint values"),
             ("coco", "test_coco_det_AP_H_56.json", 4, "not a COCO keypoint file")]
    for folder, file, code, text in cases:
        result = invoke(tmp_path / "ws", "coco", "--raw", str(SHARED / "fixtures/mmpose" / folder), "--ann-file",
                        f"val={file}", "--name", "broken")
        assert result.exit_code == code and text in result.output, result.output


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("dataset,extra,expected", [
    ("lsp", [], ["joints.mat", "images"]),
    ("surreal", [], ["train/run0.json", "train/run0", "val/run2.json", "(+6 more)"]),
    ("synanimal", ["--categories", "horse,tiger"], ["synthetic_animal/horse_combineds5r5_texture",
                                                    "synthetic_animal/tiger_combineds5r5_texture"]),
    ("tigdog", [], ["behaviorDiscovery2.0/ranges/horse/ranges.mat", "behaviorDiscovery2.0/landmarks/tiger",
                    "behaviorDiscovery2.0/tiger"]),
    ("animalpose", [], ["animal-pose/keypoints.json", "animal-pose/images", "real_animal_pose/sheep/test_anno.npy"]),
    ("coco", ["--ann-file", "train=a.json", "--image-root", "imgs"], ["a.json", "imgs"]),
])
def test_missing_raw_files_are_listed_in_one_error(tmp_path, dataset, extra, expected):
    (tmp_path / "raw").mkdir()
    result = invoke(tmp_path / "ws", dataset, "--raw", str(tmp_path / "raw"), *extra)
    assert result.exit_code == 3, result.output
    assert "missing" in result.output and "http" in result.output
    for entry in expected:
        assert entry in result.output, entry


def test_bad_raw_values_name_the_file_and_the_fix(tmp_path):
    raw = tmp_path / "raw"
    joints = lsp_tree(raw, "lsp", [(40, 40), (40, 40)])
    (raw / "images/im0002.jpg").unlink()
    result = invoke(tmp_path / "ws", "lsp", "--raw", str(raw))
    assert result.exit_code == 3 and "1 raw file(s)/folder(s) missing" in result.output and ": images/im0002.jpg" in result.output
    (raw / "images/im0002.jpg").write_bytes(b"not a jpeg")
    result = invoke(tmp_path / "ws", "lsp", "--raw", str(raw), "--workers", "1")
    assert result.exit_code == 4 and "im0002.jpg: unreadable image" in result.output and "re-download" in result.output
    assert not list((tmp_path / "ws/data/lsp").glob("test.h5*"))
    bad = joints.transpose(2, 1, 0).copy()
    bad[0, 3, 1] = np.nan
    scipy.io.savemat(raw / "joints.mat", {"joints": bad})
    result = invoke(tmp_path / "ws", "lsp", "--raw", str(raw))
    assert result.exit_code == 4 and "joints.mat (image im0002.jpg): NaN" in result.output
    scipy.io.savemat(raw / "joints.mat", {"joints": np.zeros((2, 14, 2))})
    result = invoke(tmp_path / "ws", "lsp", "--raw", str(raw))
    assert result.exit_code == 4 and "(3, 14, N)" in result.output


def test_options_are_checked_against_the_converter(tmp_path):
    raw = str(tmp_path)
    cases = [
        (invoke(tmp_path / "ws", "lsp"), "needs --raw"),
        (invoke(tmp_path / "ws", "lsp", "--raw", raw, "--num-train", "5"), "only applies to `prepare synthetic`"),
        (invoke(tmp_path / "ws", "synthetic", "--raw", raw), "--raw does not apply"),
        (invoke(tmp_path / "ws", "synthetic", "--categories", "dog"), "--categories does not apply"),
        (invoke(tmp_path / "ws", "lsp", "--raw", raw, "--ann-file", "train=a.json"), "--ann-file does not apply"),
        (invoke(tmp_path / "ws", "coco", "--raw", raw), "needs at least one --ann-file"),
        (invoke(tmp_path / "ws", "tigdog", "--raw", raw, "--categories", "zebra"), "unknown tigdog categories"),
        (invoke(tmp_path / "ws", "lspet", "--raw", raw, "--test-every", "1"), "--test-every"),
    ]
    for result, text in cases:
        assert result.exit_code == 2 and text in result.output, (text, result.output)
    listing = runner.invoke(app, ["list", "datasets"])
    for name in ("lsp", "lspet", "surreal", "synanimal", "tigdog", "animalpose", "coco", "synthetic"):
        assert name in listing.output


# ---------------------------------------------------------------- hardening (issue 21)


def test_sixteen_bit_and_exif_rotated_images_are_read_as_displayed(tmp_path):
    """A 16-bit greyscale PNG is scaled to 8 bits (a plain convert("RGB") clips it to white), and a JPEG with EXIF
    orientation 6 (rotate 90° clockwise to display) is cropped as displayed, as predict reads it."""
    raw = tmp_path / "raw"
    raw.mkdir()
    grey = (np.arange(40 * 60).reshape(40, 60) * 27 % 65536).astype(np.uint16)
    Image.fromarray(grey).save(raw / "deep.png")
    stored = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)  # 50 wide, 30 high as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(raw / "turned.jpg", exif=exif, quality=100)
    doc = {"images": [{"id": 1, "file_name": "deep.png"}, {"id": 2, "file_name": "turned.jpg"}],
           "categories": [{"id": 1, "name": "p", "keypoints": ["a", "b"]}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [-0.5, -0.5, 2, 59.5, 39.5, 2]},
                           {"id": 2, "image_id": 2, "category_id": 1, "keypoints": [-0.5, -0.5, 2, 29.5, 49.5, 2]}]}
    (raw / "ann.json").write_text(json.dumps(doc))
    prepare(tmp_path / "ws", "coco", "--raw", str(raw), "--ann-file", "val=ann.json", "--codec", "png")
    d = read(tmp_path / "ws", "coco", "val")
    assert d["orig_size"].tolist() == [[40, 60], [50, 30]]  # the rotated one: 30 wide, 50 high as displayed
    from posekit.data.h5format import decode_image

    deep8 = np.repeat(np.round(grey / 257).astype(np.uint8)[..., None], 3, -1)
    with Image.open(raw / "turned.jpg") as im:  # decoded as stored, turned by hand: 90° clockwise
        turned = np.ascontiguousarray(np.rot90(np.asarray(im.convert("RGB")), k=-1))
    for n, displayed in enumerate((deep8, turned)):
        want = warp_crop(Image.fromarray(displayed), d["affine"][n].astype(np.float64), 64)
        assert np.array_equal(decode_image(d["images"][n]), want), n
    assert_round_trip(d)


def test_lspet_samples_with_fewer_than_two_visible_joints_are_left_out_and_counted(tmp_path):
    raw = tmp_path / "raw"
    joints = lsp_tree(raw, "lspet", [(60, 50)] * 4)  # [N,14,3], v=1 visible
    joints[1, :, 2] = 0  # no visible joint
    joints[2, :, 2] = 0
    joints[2, 3, 2] = 1  # one visible joint
    scipy.io.savemat(raw / "joints.mat", {"joints": joints.transpose(1, 2, 0)})
    out = prepare(tmp_path / "ws", "lspet", "--raw", str(raw))
    train = read(tmp_path / "ws", "lspet", "train")
    assert train["source_id"] == ["images/im00001.jpg", "images/im00004.jpg"]
    assert json.loads(train["attrs"]["skipped"]) == {"fewer than 2 labelled joints in the image and no box": 2}
    assert "2 left out: 2 fewer than 2 labelled joints in the image and no box" in out


def test_coco_annotations_of_unknown_and_other_categories_are_counted(tmp_path):
    raw = tmp_path / "raw"
    write_image(raw / "imgs/a.jpg", 60, 40)
    write_image(raw / "imgs/sub/b.jpg", 30, 30)
    doc = coco_doc()
    doc["annotations"] += [{**doc["annotations"][0], "id": 20, "category_id": 7},  # no such category
                           {**doc["annotations"][0], "id": 21, "category_id": "1"}]  # a string: not category 1
    (raw / "ann.json").write_text(json.dumps(doc))
    out = prepare(tmp_path / "ws", "coco", "--raw", str(raw), "--ann-file", "val=ann.json", "--image-root", "imgs",
                  "--categories", "cat")
    d = read(tmp_path / "ws", "coco", "val")
    assert d["source_id"] == ["a.jpg#10"]
    assert json.loads(d["attrs"]["skipped"]) == {"other category": 2, "unknown category_id": 2,
                                                 "no labelled keypoint": 1}
    assert "5 left out" in out
    manifest = json.loads((tmp_path / "ws/data/coco/manifest.json").read_text())
    assert manifest["splits"]["val"]["skipped"]["unknown category_id"] == 2
