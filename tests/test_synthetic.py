import numpy as np
import pytest

from posekit.datasets.synthetic.bodies import BODIES
from posekit.datasets.synthetic.domains import domain_style
from posekit.datasets.synthetic.generate import render_sample
from posekit.datasets.synthetic.render import project


def _sample(domain="source", seed=0, skeleton="human"):
    return render_sample(BODIES[skeleton], domain_style(domain, 1.0), 96, np.random.default_rng(seed))


def test_deterministic_for_a_seed():
    a, b, c = _sample(seed=1), _sample(seed=1), _sample(seed=2)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["keypoints"], b["keypoints"])
    assert not np.array_equal(a["image"], c["image"])


def test_labels_are_consistent_with_the_camera_and_the_image():
    for seed in range(20):
        s = _sample("target", seed)
        np.testing.assert_allclose(project(s["keypoints3d"], s["intrinsics"]), s["keypoints"][:, :2], atol=1e-3)
        kp = s["keypoints"]
        inside = (kp[:, :2] >= 0).all(1) & (kp[:, :2] <= 95).all(1)
        assert np.array_equal(kp[:, 2] > 0, inside)  # v = 0 exactly when out of frame
        assert (s["keypoints3d"][:, 2] > 0).all()
        visible = kp[kp[:, 2] == 2]
        if len(visible):  # visible joints sit on the person's silhouette (or its edge)
            px = np.clip(np.rint(visible[:, :2]).astype(int), 0, 95)
            near = [s["mask"][max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].any() for x, y in px]
            assert np.mean(near) > 0.9


def test_self_occlusion_happens_on_side_views():
    occluded = sum(int((_sample("source", seed)["keypoints"][:, 2] == 1).sum()) for seed in range(30))
    assert occluded > 10


def test_domains_differ_in_appearance():
    def background_detail(domain):
        """Mean absolute difference between horizontal neighbours, over background pixels."""
        vals = []
        for seed in range(10):
            s = _sample(domain, seed)
            img = s["image"].astype(float)
            diff = np.abs(img[:, 1:] - img[:, :-1]).mean(-1)
            background = (s["mask"][:, 1:] == 0) & (s["mask"][:, :-1] == 0)
            vals.append(diff[background].mean())
        return np.mean(vals)

    assert background_detail("target") > 4 * background_detail("source")


def test_quadruped_renders_tigdog_keypoints():
    s = _sample("source", 0, "quadruped")
    assert s["keypoints"].shape == (18, 3) and s["mask"].any()


def _chunk(overrides: dict, n: int = 40, size: int = 48, shift: str = "all") -> dict:
    from posekit.datasets.converters.synthetic import RenderJob, _render_chunk

    return _render_chunk(RenderJob("human", "target", "train", size, 0, 0, n, shift=shift, overrides=overrides))


def test_pose_spread_option_widens_the_pose_prior():
    from posekit.data.meta import MPII16

    names = list(MPII16.names)
    wrist, hip, ankle = names.index("left_wrist"), names.index("left_hip"), names.index("left_ankle")

    def limb_stats(overrides):
        k = _chunk(overrides)["keypoints3d"]
        return np.linalg.norm(k[:, wrist] - k[:, hip], axis=1).mean(), np.linalg.norm(k[:, ankle] - k[:, hip], axis=1).std()

    arm_default, leg_std_default = limb_stats({})
    arm_wide, leg_std_wide = limb_stats({"pose_spread": 1.0})
    assert arm_wide > arm_default + 0.1  # arms raised away from the hips (metres)
    assert leg_std_wide > 1.5 * leg_std_default  # knees bent over their whole range


def test_joints_framing_is_the_real_datasets_crop():
    """framing=joints: the joints' extent is 1/1.25 of the side along its longer axis, centred, as LSPET's crops."""
    size = 48
    kp = _chunk({"framing": "joints"}, size=size)["keypoints"][..., :2]
    lo, hi = kp.min(1), kp.max(1)
    np.testing.assert_allclose((hi - lo).max(1), size / 1.25, rtol=1e-4)
    np.testing.assert_allclose((lo + hi) / 2, (size - 1) / 2, atol=1e-3)
    body = _chunk({}, size=size)["keypoints"][..., :2]  # the default framing is looser and off-centre
    assert ((body.max(1) - body.min(1)).max(1) < size / 1.25 - 2).mean() > 0.5
    assert np.abs((body.min(1) + body.max(1)) / 2 - (size - 1) / 2).max() > 1.0


def test_roll_option_turns_bodies_upside_down():
    from posekit.data.meta import MPII16

    names = list(MPII16.names)
    head, pelvis = names.index("head_top"), names.index("pelvis")

    def upside_down(overrides):
        kp = _chunk(overrides, n=60)["keypoints"]
        return float((kp[:, head, 1] > kp[:, pelvis, 1]).mean())  # the head below the pelvis in the image

    assert upside_down({}) == 0.0
    assert upside_down({"roll": (-180.0, 180.0)}) > 0.2


def test_look_options_enter_the_settings_only_when_given():
    from posekit.config.schema import SyntheticConfig
    from posekit.datasets.converters.synthetic import look_overrides
    from posekit.stages.prepare import _synthetic_params

    default = _synthetic_params(SyntheticConfig(), None, 64, "raw")
    assert not set(default) & {"pose_spread", "roll", "framing", "shift"}  # default datasets keep their settings hash
    given = _synthetic_params(SyntheticConfig(pose_spread=1.0, roll=90.0, framing="joints", background="scene"),
                              None, 64, "raw")
    assert look_overrides(given) == {"pose_spread": 1.0, "roll": (-90.0, 90.0), "framing": "joints",
                                     "background": "scene"}


def test_scene_background_has_a_horizon_and_differs_from_clutter():
    """``--background scene``: the upper and lower parts of the frame are different surfaces (sky or wall over
    ground), unlike the clutter look whose colour blobs have no such split."""
    def halves_differ(overrides):
        b = _chunk(overrides, n=24, size=64)
        diffs = []
        for img, mask in zip(b["images"].astype(float).mean(-1), b["masks"] == 0):  # grey level, background
            top, bottom = mask[:16], mask[-16:]
            if top.sum() > 50 and bottom.sum() > 50:
                diffs.append(abs(img[:16][top].mean() - img[-16:][bottom].mean()))
        return np.median(diffs)

    assert halves_differ({"background": "scene"}) > 2 * halves_differ({})


def test_appearance_shift_keeps_the_source_poses_and_changes_only_the_look():
    from posekit.data.meta import MPII16
    from posekit.datasets.converters.synthetic import RenderJob, _render_chunk
    from posekit.datasets.synthetic.domains import GEOMETRY_FIELDS, SOURCE

    full, look_only = domain_style("target", 0.6), domain_style("target", 0.6, "appearance")
    for field in SOURCE.__dataclass_fields__:
        expected = getattr(SOURCE if field in GEOMETRY_FIELDS else full, field)
        assert getattr(look_only, field) == expected, field
    assert full.roll != SOURCE.roll and full.pose_spread != SOURCE.pose_spread

    names = list(MPII16.names)
    pelvis, thorax = names.index("pelvis"), names.index("thorax")

    def mean_torso_tilt(kp):  # degrees from upright in the image, over the samples
        v = kp[:, thorax, :2] - kp[:, pelvis, :2]
        return float(np.abs(np.degrees(np.arctan2(v[:, 0], -v[:, 1]))).mean())

    source = mean_torso_tilt(_render_chunk(RenderJob("human", "source", "train", 48, 0, 0, 200))["keypoints"])
    target = mean_torso_tilt(_chunk({}, n=200)["keypoints"])
    target_look_only = mean_torso_tilt(_chunk({}, n=200, shift="appearance")["keypoints"])
    assert target > source + 4 and abs(target_look_only - source) < 2
    with pytest.raises(ValueError, match="shift"):
        domain_style("target", 0.6, "poses")


def test_domains_option_writes_one_domain_with_the_same_images(tmp_path):
    """`--domains target` writes NAME_tgt alone, with the images and labels a two-domain prepare writes for it, and a
    later prepare of both domains finds that dataset up to date (the option is not in the settings hash)."""
    import h5py
    from typer.testing import CliRunner

    from posekit.cli import app

    tiny = ["prepare", "synthetic", "--name", "d", "--size", "48", "--num-train", "6", "--num-val", "0",
            "--num-test", "2", "--workers", "1"]
    one, both = tmp_path / "one", tmp_path / "both"
    result = CliRunner().invoke(app, ["-w", str(one), *tiny, "--domains", "target"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (one / "data").iterdir()) == ["d_tgt"]
    assert CliRunner().invoke(app, ["-w", str(both), *tiny]).exit_code == 0
    for split in ("train", "test"):
        with h5py.File(one / "data/d_tgt" / f"{split}.h5") as a, h5py.File(both / "data/d_tgt" / f"{split}.h5") as b:
            for key in ("images", "keypoints"):
                np.testing.assert_array_equal(a[key][:], b[key][:])  # one computation, one machine
    written = (one / "data/d_tgt/train.h5").stat().st_mtime_ns
    again = CliRunner().invoke(app, ["-w", str(one), *tiny])
    assert again.exit_code == 0, again.output
    assert (one / "data/d_tgt/train.h5").stat().st_mtime_ns == written  # up to date, not rewritten
    assert (one / "data/d_src/train.h5").exists()
    bad = CliRunner().invoke(app, ["-w", str(one), *tiny, "--domains", "neither"])
    assert bad.exit_code == 2 and "domains" in bad.output
