"""Poses from motion capture (`--pose-families mocap=…`): the clip parser, the mapping onto the capsule angles and
the anny rig, the mirror, the sampler's determinism and the CLI.

The clips come with the optional `pybullet` package (extra `mocap`): the tests that read them skip without it; the
mesh ones also skip without `anny`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.data.meta import MPII16
from posekit.datasets.synthetic import mocap
from posekit.datasets.synthetic.bodies import BODIES, kinematic_chain
from posekit.datasets.synthetic.poses import _mirror, parse_families, sample_pose

BODY = BODIES["human"]
IDX = BODY.index()
NAMES = list(MPII16.names)
FRAME_COUNTS = {"walk": 39, "run": 25, "jump": 107, "kick": 47, "punch": 65, "spinkick": 78, "spin": 107,
                "cartwheel": 164, "backflip": 29, "roll": 121, "crawl": 177, "dance_a": 98, "dance_b": 153,
                "getup_faceup": 227, "getup_facedown": 183}

needs_clips = pytest.mark.skipif(mocap.clip_dir() is None, reason="pybullet_data (extra `mocap`) is not installed")


def _capsule_joints(angles: np.ndarray, root: np.ndarray) -> dict[str, np.ndarray]:
    """Node positions of the capsule human (body frame, Y up, pelvis at the origin) by name."""
    pos, _ = kinematic_chain(BODY, angles, np.ones(len(BODY.nodes)))
    pos = pos @ root.T
    return {n.name: pos[i] for i, n in enumerate(BODY.nodes)}


def _upright(y: dict[str, float]) -> bool:
    return (max(y["left_ankle"], y["right_ankle"]) < min(y["left_hip"], y["right_hip"])
            and y["head_top"] > max(y["left_shoulder"], y["right_shoulder"]))


@needs_clips
def test_the_parser_reads_15_clips_of_44_numbers_a_frame():
    clips = mocap.load_clips()
    assert tuple(clips) == mocap.CLIPS
    assert {name: len(frames) for name, frames in clips.items()} == FRAME_COUNTS
    assert sum(FRAME_COUNTS.values()) == 1620
    assert all(frames.shape[1] == 44 for frames in clips.values())
    for start in (4, 8, 12, 16, 21, 25, 30, 35, 39):  # quaternions: most unit, a few off (0.58 … 1.12), normalised
        norms = np.concatenate([np.linalg.norm(f[:, start:start + 4], axis=1) for f in clips.values()])
        assert np.median(np.abs(norms - 1)) < 1e-3 and norms.min() > 0.5


def test_the_parser_refuses_what_is_not_a_clip(tmp_path):
    bad = tmp_path / "short.txt"
    bad.write_text(json.dumps({"Loop": "wrap", "Frames": [[0.0] * 43]}))
    with pytest.raises(ValueError, match="44 finite numbers"):
        mocap.parse_clip(bad)
    (tmp_path / "junk.txt").write_text("not json")
    with pytest.raises(ValueError, match="not a DeepMimic motion clip"):
        mocap.parse_clip(tmp_path / "junk.txt")


@needs_clips
def test_walk_frames_stand_upright_and_stride():
    feet = []
    for frame in mocap.load_clips()["walk"]:
        pos = _capsule_joints(*mocap.frame_angles(BODY, frame))
        assert _upright({k: v[1] for k, v in pos.items()})
        feet.append(pos["left_ankle"][2] - pos["right_ankle"][2])  # Z = forward
    assert min(feet) < -0.3 and max(feet) > 0.3  # each foot in front in turn


@needs_clips
def test_quaternions_are_read_w_first():
    """Read (x, y, z, w) instead, no walk frame would stand upright: the order is not a guess."""
    upright = 0
    for frame in mocap.load_clips()["walk"]:
        swapped = frame.copy()
        for start in (4, 8, 12, 16, 21, 25, 30, 35, 39):
            swapped[start:start + 4] = np.roll(frame[start:start + 4], 1)
        pos = _capsule_joints(*mocap.frame_angles(BODY, swapped))
        upright += _upright({k: v[1] for k, v in pos.items()})
    assert upright == 0


@needs_clips
def test_a_cartwheel_goes_through_a_handstand():
    heads_below_feet = 0
    for frame in mocap.load_clips()["cartwheel"]:
        y = {k: v[1] for k, v in _capsule_joints(*mocap.frame_angles(BODY, frame)).items()}
        heads_below_feet += y["head_top"] < min(y["left_ankle"], y["right_ankle"])
    assert heads_below_feet >= 10


@needs_clips
def test_the_mirror_swaps_left_and_right():
    angles, root = mocap.frame_angles(BODY, mocap.load_clips()["kick"][20])
    pos = _capsule_joints(angles, root)
    mirrored = _capsule_joints(_mirror(BODY, angles), mocap.mirror_root(root))
    flip = np.array([-1.0, 1.0, 1.0])
    for name in pos:
        other = name.replace("left", "@").replace("right", "left").replace("@", "right")
        assert np.allclose(mirrored[other], pos[name] * flip, atol=1e-9), name
    assert not np.allclose(pos["left_ankle"], pos["right_ankle"] * flip, atol=0.05)  # the kick is not symmetric


@needs_clips
def test_the_sampler_is_deterministic_and_draws_the_clip_asked():
    def draw(seed, families):
        return sample_pose(BODY, np.random.default_rng(seed), 0.18, families)

    a, b, c = draw(3, {"mocap": 1.0}), draw(3, {"mocap": 1.0}), draw(4, {"mocap": 1.0})
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == "mocap"
    assert not np.array_equal(a[0], c[0])
    assert draw(0, {"prior": 1.0, "mocap_walk": 1e6})[2] == "mocap_walk"
    limits = np.array([n.limits for n in BODY.nodes], dtype=np.float64)
    walk = mocap.clip_poses()["walk"][0]
    walk = np.concatenate([walk, [_mirror(BODY, a) for a in walk]])  # every centre the sampler may take
    lo, hi = np.minimum(limits[..., 0], walk.min(0)), np.maximum(limits[..., 1], walk.max(0))
    for seed in range(20):  # a walk stays upright, whatever the jitter; angles stay in the limits or the clip's
        angles, root, _ = draw(seed, {"mocap_walk": 1.0})
        assert _upright({k: v[1] for k, v in _capsule_joints(angles, root).items()})
        assert (angles >= lo - 1e-9).all() and (angles <= hi + 1e-9).all()


def test_family_names_are_validated():
    assert parse_families("prior=4,running=2,mocap=4,mocap_cartwheel=1") == {
        "prior": 4.0, "running": 2.0, "mocap": 4.0, "mocap_cartwheel": 1.0}
    with pytest.raises(ValueError, match="unknown pose family 'mocap_swim'.*mocap_CLIP"):
        parse_families("mocap_swim=1")


def test_missing_clips_name_the_extra_to_install(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from posekit.cli import app

    monkeypatch.setattr(mocap, "clip_dir", lambda: None)
    result = CliRunner().invoke(app, ["-w", str(tmp_path / "ws"), "prepare", "synthetic",
                                      "--pose-families", "mocap=1"])
    assert result.exit_code == 2 and "pip install 'posekit[mocap]'" in result.output, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "ws" / "data").exists()


@needs_clips
def test_capsule_bodies_take_mocap_poses_too():
    from posekit.datasets.converters.synthetic import PeopleSource, RenderJob, _render_chunk

    source = PeopleSource("capsule", {"mocap": 1.0})
    batch = _render_chunk(RenderJob("human", "source", "train", 48, 0, 0, 4, source=source))
    assert batch["keypoints"].shape == (4, 16, 3) and np.isfinite(batch["keypoints3d"]).all()


@pytest.fixture(scope="module")
def kit():
    pytest.importorskip("anny")
    if mocap.clip_dir() is None:
        pytest.skip("pybullet_data (extra `mocap`) is not installed")
    from posekit.datasets.synthetic.mesh.sample import load_mesh_kit

    return load_mesh_kit()


def _mesh_joints(kit, frame) -> dict[str, np.ndarray]:
    """The MPII-16 joints of the average anny body in a clip frame's pose, by name (body frame, Y up)."""
    from posekit.datasets.synthetic.mesh.body import PHENOTYPES

    angles, root = mocap.frame_angles(kit.body.capsule, frame)
    joints = kit.joints(kit.body.pose(angles, dict.fromkeys(PHENOTYPES, 0.5))) @ root.T
    return dict(zip(NAMES, joints))


def test_a_walk_frame_poses_the_rig_upright_and_a_cartwheel_frame_upside_down(kit):
    clips = mocap.load_clips()
    for frame in clips["walk"][::8]:
        y = {k: v[1] for k, v in _mesh_joints(kit, frame).items()}
        assert max(y["left_ankle"], y["right_ankle"]) < min(y["left_hip"], y["right_hip"])
        assert y["head_top"] > y["upper_neck"] > max(y["left_shoulder"], y["right_shoulder"]) - 0.05
        assert y["head_top"] - min(y["left_ankle"], y["right_ankle"]) > 1.3  # a standing adult's height
    def inverted(frame):  # how far the head is above the lower foot (capsule): most negative = most upside down
        p = _capsule_joints(*mocap.frame_angles(BODY, frame))
        return p["head_top"][1] - min(p["left_ankle"][1], p["right_ankle"][1])

    frame = min(clips["cartwheel"], key=inverted)
    y = {k: v[1] for k, v in _mesh_joints(kit, frame).items()}
    assert y["head_top"] < min(y["left_ankle"], y["right_ankle"]) - 0.5  # the handstand of the cartwheel
    assert y["head_top"] < min(y["left_hip"], y["right_hip"], y["left_shoulder"], y["right_shoulder"])


def test_prepare_mesh_with_mocap_poses_writes_a_valid_split(kit, tmp_path):
    from typer.testing import CliRunner

    from posekit.cli import app
    from posekit.data.h5format import validate_h5

    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["-w", str(ws), "prepare", "synthetic", "--body", "mesh", "--pose-families",
                                      "mocap=1", "--size", "64", "--num-train", "3", "--num-val", "0",
                                      "--num-test", "1", "--workers", "1", "--name", "moc"])
    assert result.exit_code == 0, result.output
    assert validate_h5(ws / "data/moc_src/train.h5")["num_samples"] == 3
    assert validate_h5(ws / "data/moc_tgt/test.h5")["num_samples"] == 1
