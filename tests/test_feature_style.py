"""The image levels that need no cache: cross-domain MixStyle and random convolutions (style.kind)."""

import pytest
import torch
from torch import nn

from posekit.data.codec import HeatmapCodec
from posekit.methods.feature_style import (
    CrossDomainMixStyle,
    beta_draws,
    channel_statistics,
    random_convolution,
    random_convolution_draws,
)


def _layers():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 5, 3, padding=1))


def test_mixstyle_gives_source_features_the_mixed_statistics_of_a_target_image():
    net = _layers()
    mix = CrossDomainMixStyle([net[0], net[1]], alpha=0.1, prob=1.0)
    target, source = torch.rand(3, 3, 8, 8) * 4 + 2, torch.rand(2, 3, 8, 8)
    with mix.capture():
        net(target)
    assert [tuple(m.shape) for m, _ in mix.target] == [(3, 4, 1, 1), (3, 5, 1, 1)]
    use, lam, partner = torch.tensor([True, False]), torch.tensor([0.25, 0.5]), torch.tensor([2, 0])
    seen = []
    with mix.mix((use, lam, partner)):  # a hook registered after the mix's sees the mixed output
        hook = net[0].register_forward_hook(lambda _m, _i, out: seen.append(out))
        net(source)
    hook.remove()
    plain = net[0](source)
    mu_s, sig_s = channel_statistics(plain)
    mu_t, sig_t = mix.target[0]
    mu_o, sig_o = channel_statistics(seen[0])
    # image 0: statistics 0.25 · own + 0.75 · target image 2's; image 1 (not drawn): untouched
    torch.testing.assert_close(mu_o[0], 0.25 * mu_s[0] + 0.75 * mu_t[2], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(sig_o[0], 0.25 * sig_s[0] + 0.75 * sig_t[2], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(seen[0][1], plain[1])
    # the hooks are gone after the block: the layers run plain again
    assert not net[0]._forward_hooks and not net[1]._forward_hooks


def test_mixstyle_refuses_to_mix_before_a_capture():
    net = _layers()
    with pytest.raises(RuntimeError, match="capture"), CrossDomainMixStyle([net[0]], 0.1, 1.0).mix(
            (torch.ones(1, dtype=torch.bool), torch.zeros(1), torch.zeros(1, dtype=torch.long))):
        pass


def test_beta_draws_follow_the_generator_and_have_the_beta_shape():
    a = beta_draws(4000, 0.1, torch.Generator().manual_seed(3))
    b = beta_draws(4000, 0.1, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert 0 <= a.min() and a.max() <= 1
    # Beta(0.1, 0.1) is U-shaped: most mass near 0 and 1, mean 1/2
    assert ((a < 0.1) | (a > 0.9)).float().mean() > 0.7 and abs(a.mean().item() - 0.5) < 0.05


def test_random_convolution_filters_chosen_images_with_their_own_kernel_size():
    g = torch.Generator().manual_seed(0)
    use, weights, alpha = random_convolution_draws(64, (1, 3, 5), 0.5, g)
    assert weights.shape == (64, 3, 3, 5, 5)
    sizes = set()
    for w in weights:  # each filter lives in the centre k × k of the 5 × 5 kernel, k in (1, 3, 5)
        rows = w.abs().sum((0, 1, 3)) > 0
        k = int(rows.sum())
        sizes.add(k)
        assert rows.tolist() == [abs(i - 2) <= k // 2 for i in range(5)]
    assert sizes == {1, 3, 5} and 0.2 < use.float().mean() < 0.8

    images = torch.rand(4, 3, 16, 16)
    use = torch.tensor([True, True, False, True])
    alpha = torch.tensor([0.0, 1.0, 0.0, 0.0])
    out = random_convolution(images, (use, weights[:4], alpha))
    assert torch.equal(out[2], images[2])  # not drawn
    torch.testing.assert_close(out[1], images[1])  # α = 1: the input itself
    assert 0 <= out.min() and out.max() <= 1
    assert (out[0] - images[0]).abs().mean() > 0.05  # α = 0: the filtered image
    # a 1 × 1 filter mixes the channels of each pixel and nothing else: a flat image stays flat
    one = torch.zeros(1, 3, 3, 5, 5)
    one[0, :, :, 2, 2] = torch.randn(3, 3, generator=g)
    flat = torch.full((1, 3, 8, 8), 0.4)
    flat[0, :, 4:, :] = 0.6  # two flat halves
    res = random_convolution(flat, (torch.tensor([True]), one, torch.zeros(1)))
    assert res[0, :, :4].flatten(1).std(1).max() < 1e-5 and res[0, :, 4:].flatten(1).std(1).max() < 1e-5


def _method(**style):
    from posekit.config.schema import AdaptConfig, ModelConfig
    from posekit.data.meta import MPII16
    from posekit.methods.multilevel import MultiLevelMethod
    from posekit.models.factory import build_pose_net

    cfg = AdaptConfig.model_validate({"style": style, "adversarial": {"enabled": False}})
    torch.manual_seed(0)
    model = build_pose_net(ModelConfig(backbone="resnet18", width=0.25, deconv_channels=16), 16)
    return MultiLevelMethod(model, HeatmapCodec(64, 16, 1.0), cfg, MPII16, 0)


def _batch() -> dict:
    """Dark source crops and bright target crops: two domains whose channel statistics differ."""
    g = torch.Generator().manual_seed(0)
    kp = torch.cat([torch.rand(4, 16, 2, generator=g) * 64, torch.full((4, 16, 1), 2.0)], -1)
    return {"image": torch.randint(0, 60, (4, 3, 64, 64), dtype=torch.uint8, generator=g), "keypoints": kp,
            "target_image": torch.randint(150, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=g)}


def _source_heatmaps(method) -> tuple[dict, torch.Tensor]:
    """One step's losses and the student's heatmaps on the source images (the pass with 4 images whose input
    is darker: the source)."""
    seen = []
    hook = method.model.register_forward_hook(lambda _m, inputs, out: seen.append((inputs[0].mean(), out["heatmaps"])))
    losses = method.losses(_batch(), 0)
    hook.remove()
    return losses, min(seen, key=lambda s: s[0])[1].detach()


def test_mixstyle_in_the_method_changes_only_the_source_pass():
    off, off_maps = _source_heatmaps(_method(enabled=False))
    never, never_maps = _source_heatmaps(_method(kind="mixstyle", prob=0.0))
    always, always_maps = _source_heatmaps(_method(kind="mixstyle", prob=1.0))
    # drawn for no image: the same losses as without an image level (the passes only change order)
    for key in ("sup", "cons", "im"):
        torch.testing.assert_close(never[key], off[key], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(never_maps, off_maps, rtol=1e-5, atol=1e-6)
    # drawn for every image: the source pass sees target-like statistics, the target terms do not move
    assert (always_maps - off_maps).abs().mean() > 0.05 * off_maps.abs().mean()
    torch.testing.assert_close(always["cons"], off["cons"], rtol=1e-5, atol=1e-6)
    m = _method(kind="mixstyle", prob=1.0)
    m.losses(_batch(), 0)
    hooked = [mod for mod in list(m.model.modules()) + list(m.teacher.model.modules()) if mod._forward_hooks]
    assert not hooked


def test_randconv_in_the_method_filters_the_source_images():
    # the same draws either way (the filters are drawn for every image, used for those chosen), so the views'
    # geometry is the same and only the filtering differs
    never, never_maps = _source_heatmaps(_method(kind="randconv", prob=0.0))
    always, always_maps = _source_heatmaps(_method(kind="randconv", prob=1.0))
    torch.testing.assert_close(always["cons"], never["cons"], rtol=1e-5, atol=1e-6)
    assert (always_maps - never_maps).abs().mean() > 0.05 * never_maps.abs().mean()


def test_style_kinds_are_checked_and_need_no_cache():
    from pydantic import ValidationError

    from posekit.config.schema import AdaptConfig

    with pytest.raises(ValidationError, match="odd"):
        AdaptConfig.model_validate({"style": {"kind": "randconv", "randconv_kernels": [1, 4]}})
    with pytest.raises(ValidationError, match="mixstyle takes its statistics"):
        AdaptConfig.model_validate({"style": {"kind": "mixstyle"}, "consistency": {"enabled": False},
                                    "occlusion": {"enabled": False}, "adversarial": {"enabled": False},
                                    "infomax": {"enabled": False}})
    with pytest.raises(ValidationError, match="torch.compile"):  # compiled networks skip forward hooks
        AdaptConfig.model_validate({"style": {"kind": "mixstyle"}, "train": {"compile": "default"}})
    AdaptConfig.model_validate({"style": {"kind": "randconv"}, "consistency": {"enabled": False},
                                "occlusion": {"enabled": False}, "adversarial": {"enabled": False},
                                "infomax": {"enabled": False}})


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_lite0"])
def test_backbones_name_their_stride_4_and_8_stages(backbone):
    from posekit.models.backbones import build_backbone

    net = build_backbone(backbone)
    shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(out.shape[-1])) for m in net.style_layers()]
    net(torch.zeros(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert shapes == [16, 8]


@pytest.mark.parametrize("kind", ["mixstyle", "randconv"])
def test_adapt_runs_a_cacheless_image_level_without_a_style_cache(trained, tmp_path, kind):
    import json
    import shutil

    from typer.testing import CliRunner

    from posekit.cli import app

    ws = tmp_path / "ws"
    shutil.copytree(trained, ws)
    assert not (ws / "styles").exists()  # no `posekit stylize` ran here
    result = CliRunner().invoke(app, ["-w", str(ws), "adapt", "--set", "data.num_workers=0", "--set",
                                      "train.batch_size=8", "--set", f"style.kind={kind}", "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert f"image ({kind})" in result.output
    run = ws / "runs" / "adapt" / (ws / "runs" / "adapt" / "latest").read_text().strip()
    assert json.loads((run / "lineage.json").read_text())["style_cache"] is None
