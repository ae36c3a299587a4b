"""The mesh source's photo look (issue 35 item 2): --textures, --lighting, --shadow, --lens, --elevation. Each
option is off by default and stays out of the settings hash; each changes the images the way its help says."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pydantic import ValidationError

from posekit.datasets.synthetic.domains import camera_distance, domain_style, draw_scene

pytest.importorskip("skimage")

OPTIONS = {"textures": "photo", "lighting": "photo", "shadow": "contact", "lens": "varied"}


@pytest.fixture(scope="module")
def kit():
    pytest.importorskip("anny")
    from posekit.datasets.synthetic.mesh.sample import load_mesh_kit

    return load_mesh_kit()


def _render(kit, seed, size=64, **look):
    from posekit.datasets.synthetic.mesh.sample import render_mesh_sample

    style = dataclasses.replace(domain_style("source", 0.6), framing="joints", **look)
    return render_mesh_sample(kit, style, size, np.random.default_rng(seed), None)


def _high_pass_energy(grey: np.ndarray) -> np.ndarray:
    """Squared difference of each pixel to the mean of its 4 neighbours, ``[H-2, W-2]``."""
    g = grey.astype(np.float64)
    mean = (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]) / 4
    return (g[1:-1, 1:-1] - mean) ** 2


def _inside(mask: np.ndarray) -> np.ndarray:
    """``[H-2, W-2]``: pixels of ``mask`` 2 pixels or more from its border (no silhouette edge in the energy)."""
    from scipy.ndimage import binary_erosion

    return binary_erosion(mask > 0, iterations=2)[1:-1, 1:-1]


def test_options_are_off_by_default_and_enter_the_settings_only_when_given():
    from posekit.config.schema import SyntheticConfig
    from posekit.datasets.converters.synthetic import look_overrides
    from posekit.stages.prepare import _synthetic_params

    for domain in ("source", "target"):
        style = domain_style(domain, 0.6)
        assert (style.textures, style.lighting, style.shadow, style.lens) == ("flat", "lambert", "none", "normal")
    default = _synthetic_params(SyntheticConfig(body="mesh"), None, 64, "raw")
    assert not set(default) & {*OPTIONS, "elevation"}  # datasets made before these options keep their hash
    given = _synthetic_params(SyntheticConfig(body="mesh", elevation=20.0, **OPTIONS), None, 64, "raw")
    assert look_overrides(given) == {"elevation": (-20.0, 20.0), **OPTIONS}
    assert _synthetic_params(SyntheticConfig(body="mesh", shadow="contact"), None, 64, "raw")["shadow"] == "contact"


@pytest.mark.parametrize("options, fragment", [
    ({"lighting": "photo"}, "--lighting applies to --body mesh only"),
    ({"shadow": "contact"}, "--shadow applies to --body mesh only"),
    ({"textures": "photo"}, "--textures photo textures drawn scenes and mesh clothes"),
    ({"textures": "shiny"}, "textures"),
    ({"elevation": 95.0}, "elevation"),
])
def test_bad_photo_look_options_are_refused(options, fragment):
    from posekit.config.schema import SyntheticConfig

    with pytest.raises(ValidationError, match=fragment):
        SyntheticConfig(**options)


def test_capsule_scenes_take_textures():
    from posekit.config.schema import SyntheticConfig

    assert SyntheticConfig(textures="photo", background="scene").textures == "photo"


def test_missing_scikit_image_names_the_extra(monkeypatch):
    from posekit.datasets.synthetic import textures
    from posekit.errors import ConfigError

    monkeypatch.setattr(textures.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="scikit-image") as e:
        textures.texture_folder()
    assert "posekit[textures]" in e.value.hint


def test_photo_textures_raise_the_floors_high_frequency_energy():
    """The same drawn scenes (the textures' draws come from their own stream), level horizon at 30 % of the side:
    the floor (bottom quarter) carries more fine detail with photo textures than with the drawn noise and lanes
    alone (whose sharp lane edges dominate where there are lanes; a lane-free drawn floor has almost none)."""
    def floor_energy(textures):
        style = dataclasses.replace(domain_style("source", 0.6), background="scene", textures=textures)
        return np.array([_high_pass_energy(draw_scene(np.random.default_rng(seed), 64, style, level=0.3).mean(-1))[-16:].mean()
                         for seed in range(12)])

    flat, photo = floor_energy("flat"), floor_energy("photo")
    assert (photo > flat).sum() >= 11
    assert (photo - flat).mean() > 4e-4  # an added rms of about 5 grey levels
    assert photo[flat < 1e-5].min() > 2e-4  # lane-free floors: detail where there was none


def test_photo_textures_add_detail_to_the_clothes_only(kit):
    """The same person in the same scene (a studio background, untouched by textures): the body's inner pixels
    carry more high-frequency detail at 128 pixels (at 64 the pyramid averages most of it away), the background and
    the labels are the same."""
    energy = {}
    for textures in ("flat", "photo"):
        samples = [_render(kit, seed, 128, textures=textures) for seed in range(6)]
        energy[textures] = np.array([_high_pass_energy(s["image"].mean(-1))[_inside(s["mask"])].mean()
                                     for s in samples])
        if textures == "flat":
            flat = samples
    for a, b in zip(flat, samples):
        np.testing.assert_array_equal(a["keypoints"], b["keypoints"])
        np.testing.assert_array_equal(a["mask"], b["mask"])
        np.testing.assert_array_equal(a["image"][a["mask"] == 0], b["image"][b["mask"] == 0])
    # skin, dark clothes and the garments' own patterns dilute the gain: on average, not for every person
    assert energy["photo"].sum() > 1.15 * energy["flat"].sum()
    assert (energy["photo"] > 0.9 * energy["flat"]).all()


def test_contact_shadow_darkens_the_floor_under_the_feet(kit, monkeypatch):
    """The same render with and without the floor shadow: darker just below the ankles, and never lighter."""
    from posekit.data.meta import MPII16
    from posekit.datasets.synthetic.mesh import sample

    ankles = [MPII16.names.index("left_ankle"), MPII16.names.index("right_ankle")]
    size = 64
    with_shadow = [_render(kit, seed, size, shadow="contact") for seed in range(4)]
    monkeypatch.setattr(sample, "shade_floor", lambda *args: None)
    without = [_render(kit, seed, size, shadow="contact") for seed in range(4)]
    darker = []
    for a, b in zip(with_shadow, without):
        np.testing.assert_array_equal(a["mask"], b["mask"])
        grey_a, grey_b = a["image"].astype(float).mean(-1), b["image"].astype(float).mean(-1)
        assert (grey_a <= grey_b + 1).all()  # a shadow only darkens (+1: rounding)
        x, y = np.rint(a["keypoints"][ankles, :2].mean(0)).astype(int)
        box = (slice(max(y - 2, 0), min(y + 6, size)), slice(max(x - 8, 0), min(x + 8, size)))
        floor = a["mask"][box] == 0
        darker.append((grey_b[box][floor] - grey_a[box][floor]).mean())
    assert np.mean(darker) > 8  # grey levels, 0-255


def test_specular_raises_the_brightest_skin_pixels(kit, monkeypatch):
    """Photo lighting with and without the skin's highlight (clothes' sheen off in both): the highlight only adds
    light, and the brightest body pixels get brighter."""
    from posekit.datasets.synthetic.mesh import lighting, sample

    real = lighting.photo_lights

    def lights(specular):
        return lambda rng, rotation: dataclasses.replace(real(rng, rotation), sheen=0.0, specular=specular)

    gain = []
    for seed in range(4):
        monkeypatch.setattr(sample, "photo_lights", lights(0.3))
        shiny = _render(kit, seed, lighting="photo")
        monkeypatch.setattr(sample, "photo_lights", lights(0.0))
        matte = _render(kit, seed, lighting="photo")
        body = matte["mask"] > 0
        lum_s, lum_m = shiny["image"].astype(float).mean(-1)[body], matte["image"].astype(float).mean(-1)[body]
        assert (lum_s >= lum_m - 1).all()
        gain.append(np.percentile(lum_s, 99) - np.percentile(lum_m, 99))
    assert np.mean(gain) > 5


def test_photo_lighting_comes_from_above():
    """The key light is 20–65° above the floor whatever the camera; the fill light is above it too."""
    from posekit.datasets.synthetic.generate import camera_rotation
    from posekit.datasets.synthetic.mesh.lighting import photo_lights

    rng = np.random.default_rng(0)
    style = dataclasses.replace(domain_style("source", 0.6), roll=(-90.0, 90.0), elevation=(-30.0, 30.0))
    for _ in range(50):
        rotation = camera_rotation(rng, style)
        lights = photo_lights(rng, rotation)
        up = rotation.T @ lights.key  # back in the world frame
        assert np.sin(np.deg2rad(19.9)) < up[1] < np.sin(np.deg2rad(65.1))
        assert (rotation.T @ lights.fill)[1] >= -1e-9


def test_varied_lens_spreads_the_camera_distance():
    rng = np.random.default_rng(0)
    normal = [camera_distance(rng, domain_style("source", 0.6)) for _ in range(400)]
    varied = [camera_distance(rng, dataclasses.replace(domain_style("source", 0.6), lens="varied"))
              for _ in range(400)]
    assert 3.5 <= min(normal) and max(normal) <= 6.0
    assert min(varied) < 2.5 and max(varied) > 12 and 2.0 <= min(varied) and max(varied) <= 15.0


def test_the_photo_look_is_deterministic_and_keeps_the_labels(kit):
    """One seed, every option on: the same image twice; the look's draws come from their own stream, so the
    person, pose and camera (keypoints, mask) are those of the render without the look (same lens)."""
    a, b = (_render(kit, 3, **OPTIONS) for _ in range(2))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    plain = _render(kit, 3, lens="varied")
    np.testing.assert_array_equal(a["keypoints"], plain["keypoints"])
    np.testing.assert_array_equal(a["mask"], plain["mask"])
    assert not np.array_equal(a["image"], plain["image"])
