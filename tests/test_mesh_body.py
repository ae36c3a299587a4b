"""Mesh bodies (`prepare synthetic --body mesh`): the rasteriser, labels against the image, determinism, the CLI.

The rasteriser test needs nothing optional; the rest skip when the `anny` extra is absent. The first
construction of anny's model ever on a machine takes ~2 minutes (it writes ~790 MB to ~/.cache/anny); later ones
take seconds, and the model is built once per test session here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from posekit.data.meta import MPII16
from posekit.datasets.synthetic.domains import domain_style
from posekit.datasets.synthetic.generate import FLIP_YZ
from posekit.datasets.synthetic.mesh.raster import rasterize, vertex_normals

NAMES = list(MPII16.names)
STILL = {"prior": 1.0}  # the prior alone: near-neutral stances at a small spread


def test_rasteriser_orders_depth_and_covers_triangles_exactly():
    # a near triangle (z = 2) over the left half of a far square (z = 4) of two triangles, all facing the camera
    far = [[1, 1, 4], [9, 1, 4], [9, 9, 4], [1, 9, 4]]
    near = [[0, 0, 2], [6, 0, 2], [0, 6, 2]]
    points = np.array(far + near, dtype=float)
    faces = np.array([[0, 2, 1], [0, 3, 2], [4, 6, 5]])  # counter-clockwise seen from the camera (y down)
    r = rasterize(points, faces, 12, 12)
    ys, xs = np.mgrid[0:12, 0:12]
    in_near = (xs + ys <= 6)
    in_far = (xs >= 1) & (xs <= 9) & (ys >= 1) & (ys <= 9)
    assert np.array_equal(r.covered, in_near | in_far)  # pixel centres on edges count, nothing else does
    assert np.array_equal(r.face == 2, in_near)  # the near triangle wins wherever it covers
    assert np.allclose(r.depth[in_near], 2.0) and np.allclose(r.depth[in_far & ~in_near], 4.0)
    assert np.isinf(r.depth[~(in_near | in_far)]).all()
    assert set(np.unique(r.face[in_far & ~in_near])) == {0, 1}
    # barycentric weights reproduce the pixel position inside the near triangle
    pos = r.interpolate(points[:, :2], faces)
    assert np.allclose(pos, np.stack([xs[r.covered], ys[r.covered]], 1))
    # faces turned away from the camera are culled unless asked otherwise
    flipped = faces[:, ::-1]
    assert not rasterize(points, flipped, 12, 12).covered.any()
    assert np.array_equal(rasterize(points, flipped, 12, 12, cull_back=False).face == 2, in_near)


def test_vertex_normals_point_out_of_a_closed_mesh():
    tetra = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])  # outward by (b − a) × (c − a)
    n = vertex_normals(tetra, faces)
    assert np.allclose(np.linalg.norm(n, axis=1), 1)
    assert ((n * (tetra - tetra.mean(0))).sum(1) > 0).all()


@pytest.fixture(scope="module")
def kit():
    pytest.importorskip("anny")
    from posekit.datasets.synthetic.mesh.sample import load_mesh_kit

    return load_mesh_kit()


def _render(kit, seed, style=None, families=None, size=96):
    from posekit.datasets.synthetic.mesh.sample import render_mesh_sample

    style = style or domain_style("source", 0.6)
    return render_mesh_sample(kit, style, size, np.random.default_rng(seed), families)


def _facing(monkeypatch, yaw_deg: float):
    """Make the sample's camera look at the body's front turned by ``yaw_deg`` (0: facing the camera), upright."""
    from posekit.datasets.synthetic import bodies
    from posekit.datasets.synthetic.mesh import sample

    def rotation(rng, style):
        rng.uniform(size=3)  # the draws the real camera makes
        return FLIP_YZ @ bodies.euler_to_matrix(np.array([0.0, yaw_deg, 0.0]))

    monkeypatch.setattr(sample, "camera_rotation", rotation)


def test_visible_keypoints_lie_on_the_body(kit):
    near = []
    for seed in range(8):
        s = _render(kit, seed, families=None)
        kp, mask = s["keypoints"], s["mask"]
        assert s["image"].shape == (96, 96, 3) and mask.any()
        for x, y in np.rint(kp[kp[:, 2] == 2, :2]).astype(int):
            near.append(mask[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].any())
    assert len(near) > 60 and np.mean(near) == 1.0


def test_left_and_right_are_not_swapped(kit, monkeypatch):
    """A body facing the camera shows its left wrist on the image's right; turned around, on the left."""
    style = dataclasses.replace(domain_style("source", 0.6), pose_spread=0.02, elevation=(0.0, 0.0), roll=(0.0, 0.0))
    lw, rw, la, ra = (NAMES.index(n) for n in ("left_wrist", "right_wrist", "left_ankle", "right_ankle"))
    _facing(monkeypatch, 0.0)
    front = _render(kit, 3, style, STILL)["keypoints"]
    assert front[lw, 0] > front[rw, 0] + 10 and front[la, 0] > front[ra, 0]
    assert (front[:, 2] == 2).all()  # nothing hides anything when facing the camera with the arms down
    _facing(monkeypatch, 180.0)
    back = _render(kit, 3, style, STILL)["keypoints"]
    assert back[lw, 0] < back[rw, 0] - 10


def test_a_joint_behind_the_torso_is_hidden(kit, monkeypatch):
    """Side views: the far arm's shoulder and elbow are behind the torso (v = 1), the near arm's are visible."""
    style = dataclasses.replace(domain_style("source", 0.6), pose_spread=0.02, elevation=(0.0, 0.0), roll=(0.0, 0.0))
    for yaw, near, far in ((90.0, "right", "left"), (-90.0, "left", "right")):
        _facing(monkeypatch, yaw)
        kp = _render(kit, 5, style, STILL)["keypoints"]
        for joint in ("shoulder", "elbow"):
            assert kp[NAMES.index(f"{near}_{joint}"), 2] == 2, (yaw, near, joint)
            assert kp[NAMES.index(f"{far}_{joint}"), 2] == 1, (yaw, far, joint)


def test_one_seed_renders_bit_identical_samples_whatever_the_thread_count(kit):
    import torch

    threads = torch.get_num_threads()
    try:
        a = _render(kit, 11, domain_style("target", 0.6))
        torch.set_num_threads(2)
        b = _render(kit, 11, domain_style("target", 0.6))
    finally:
        torch.set_num_threads(threads)
    c = _render(kit, 12, domain_style("target", 0.6))
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key
    assert not np.array_equal(a["image"], c["image"])


def test_pose_families_change_the_poses(kit):
    head, pelvis = NAMES.index("head_top"), NAMES.index("pelvis")
    style = dataclasses.replace(domain_style("source", 0.6), roll=(0.0, 0.0))
    upside_down = [_render(kit, i, style, {"handstand": 1.0}, size=48)["keypoints3d"] for i in range(4)]
    upright = [_render(kit, i, style, STILL, size=48)["keypoints3d"] for i in range(4)]
    # camera y points down: the head is above the pelvis when its y is smaller
    assert all(k[head, 1] > k[pelvis, 1] for k in upside_down)
    assert all(k[head, 1] < k[pelvis, 1] for k in upright)


def test_prepare_mesh_writes_valid_splits_and_pretrain_trains_on_them(kit, tmp_path):
    from typer.testing import CliRunner

    from posekit.cli import app
    from posekit.data.h5format import validate_h5
    from tests.conftest import TINY_TRAIN

    ws = tmp_path / "ws"
    prepare = ["-w", str(ws), "prepare", "synthetic", "--body", "mesh", "--size", "64", "--num-train", "16",
               "--num-val", "8", "--num-test", "8", "--workers", "1"]
    result = CliRunner().invoke(app, prepare)
    assert result.exit_code == 0, result.output
    info = validate_h5(ws / "data/synth_src/train.h5")
    assert info["num_samples"] == 16
    import h5py

    with h5py.File(ws / "data/synth_tgt/test.h5") as f:
        assert f["keypoints"].shape == (8, 16, 3) and f["keypoints3d"].shape == (8, 16, 3)
        assert f["masks"].shape == (8, 64, 64) and f["intrinsics"].shape == (8, 3, 3)
        kp, k3, K = f["keypoints"][:], f["keypoints3d"][:], f["intrinsics"][:]
        uvw = np.einsum("nij,nkj->nki", K, k3)
        assert np.allclose(uvw[..., :2] / uvw[..., 2:], kp[..., :2], atol=1e-3)  # 2D = projected 3D
        assert f["source_id"][0].decode().startswith("synthetic/human-mesh/target/test/")
    again = CliRunner().invoke(app, prepare)
    assert again.exit_code == 0 and "up to date" in again.output
    result = CliRunner().invoke(app, ["-w", str(ws), "pretrain", *TINY_TRAIN, "--set", "train.steps=2"])
    assert result.exit_code == 0, result.output
    assert (next((ws / "runs/pretrain").glob("*-supervised")) / "ckpt/final.pt").exists()


def test_pose_families_apply_to_capsule_bodies_too():
    from posekit.datasets.converters.synthetic import PeopleSource, RenderJob, _render_chunk

    head, pelvis = NAMES.index("head_top"), NAMES.index("pelvis")
    source = PeopleSource("capsule", {"handstand": 1.0})
    kp = _render_chunk(RenderJob("human", "source", "train", 48, 0, 0, 12, source=source))["keypoints"]
    assert (kp[:, head, 1] > kp[:, pelvis, 1]).all()  # upside down in the image (y points down)
    plain = _render_chunk(RenderJob("human", "source", "train", 48, 0, 0, 12))["keypoints"]
    assert (plain[:, head, 1] < plain[:, pelvis, 1]).all()


def test_backgrounds_option_uses_the_users_images(tmp_path):
    from PIL import Image

    from posekit.datasets.converters.synthetic import RenderJob, _render_chunk

    (tmp_path / "notes.txt").write_text("not an image")
    Image.new("RGB", (90, 60), (200, 30, 40)).save(tmp_path / "red.png")
    batch = _render_chunk(RenderJob("human", "source", "train", 48, 0, 0, 4, overrides={"backgrounds": str(tmp_path)}))
    background = batch["images"][batch["masks"] == 0].astype(float)
    assert np.abs(np.median(background, 0) - [200, 30, 40]).max() <= 3


@pytest.mark.parametrize("args, code, fragment", [
    (["--body", "blob"], 2, "unknown --body 'blob'"),
    (["--body", "mesh", "--skeleton", "quadruped"], 2, "--body mesh draws humans only"),
    (["--phenotypes", "all"], 2, "--phenotypes applies to --body mesh only"),
    (["--pose-families", "running=fast"], 2, "weight must be a number, got 'fast'"),
    (["--pose-families", "swimming"], 2, "unknown pose family 'swimming'"),
    (["--backgrounds", "/nonexistent/folder"], 2, "not a folder holding images"),
])
def test_bad_mesh_options_give_one_line_errors(tmp_path, args, code, fragment):
    from typer.testing import CliRunner

    from posekit.cli import app

    result = CliRunner().invoke(app, ["-w", str(tmp_path / "ws"), "prepare", "synthetic", *args])
    assert result.exit_code == code and fragment in result.output, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "ws" / "data").exists()


def test_a_missing_body_model_names_the_extra_to_install(tmp_path, monkeypatch):
    import sys

    from typer.testing import CliRunner

    from posekit.cli import app

    monkeypatch.setitem(sys.modules, "anny", None)  # import anny now raises ImportError
    result = CliRunner().invoke(app, ["-w", str(tmp_path / "ws"), "prepare", "synthetic", "--body", "mesh"])
    assert result.exit_code == 2 and "pip install 'posekit[bodies]'" in result.output, result.output
    assert "Traceback" not in result.output


def test_show_writes_a_contact_sheet(tiny_ws, tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from posekit.cli import app

    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(app, ["-w", str(tiny_ws), "show", "synth_src:val", "--out", str(out), "--num", "3",
                                      "--columns", "2", "--cell", "40"])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.height > 4 * 40  # two rows of samples, each drawn twice (as stored, with labels)
    result = CliRunner().invoke(app, ["-w", str(tiny_ws), "show", "synth_src:nope"])
    assert result.exit_code == 3 and "available splits" in result.output


def test_worker_processes_render_the_same_samples(kit):
    """prepare's mesh workers (spawned processes) give the samples this process gives, bit for bit."""
    from posekit.datasets.converters.synthetic import PeopleSource, RenderJob, _mesh_pool, _render_chunk

    source = PeopleSource("mesh", {"prior": 1.0, "running": 1.0})
    jobs = [RenderJob("human", "target", "val", 32, 4, start, start + 2, source=source) for start in (0, 2)]
    here = [_render_chunk(job) for job in jobs]
    there = list(_mesh_pool(2).map(_render_chunk, jobs))
    for a, b in zip(here, there):
        assert list(a["source_id"]) == list(b["source_id"])
        for key in set(a) - {"source_id"}:
            assert a[key].tobytes() == b[key].tobytes(), key
