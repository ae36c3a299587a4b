import numpy as np

from posekit.data.synthetic.bodies import BODIES
from posekit.data.synthetic.domains import domain_style
from posekit.data.synthetic.generate import render_sample
from posekit.data.synthetic.render import project


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
