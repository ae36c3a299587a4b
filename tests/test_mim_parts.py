"""The masked-image-modelling method's parts: masking, L_WMAE, segmentation-guided augmentation, attention, 2.5D."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.data.codec import HeatmapCodec, pool_depth
from posekit.evaluation.lift import lift_to_camera
from posekit.losses.attention import attention_distribution, attention_loss
from posekit.losses.pose3d import root_relative_depth
from posekit.losses.wmae import patch_targets, pixel_weights, wmae_loss
from posekit.methods.segaug import background_swap, cut_paste, segment_augment
from posekit.models.vit import MAEDecoder, MaskedAutoencoder, ViTEncoder, patchify, random_masking, unpatchify
from posekit.models.vit_pose import ViTPose25D


def tiny_encoder(seed: int = 0) -> ViTEncoder:
    torch.manual_seed(seed)
    return ViTEncoder(patch_size=8, dim=32, depth=2, heads=2)


@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.3])
def test_masking_hides_exactly_round_r_n_tokens_and_restore_unshuffles(ratio):
    g = torch.Generator().manual_seed(0)
    keep, mask, restore = random_masking(5, 64, ratio, g)
    assert (mask.sum(1) == round(ratio * 64)).all()
    assert keep.shape == (5, 64 - round(ratio * 64))
    tokens = torch.arange(64).expand(5, 64)
    kept = tokens.gather(1, keep)
    assert (mask.gather(1, keep) == 0).all()  # the kept tokens are exactly the unmasked ones
    shuffled = torch.cat([kept, tokens.gather(1, torch.argsort(restore, 1)[:, keep.shape[1]:])], 1)
    assert torch.equal(shuffled.gather(1, restore), tokens)


def test_patchify_round_trip_and_layout():
    x = torch.randn(2, 3, 32, 32)
    p = patchify(x, 8)
    assert p.shape == (2, 16, 8 * 8 * 3)
    assert torch.equal(unpatchify(p, 8), x)
    assert torch.equal(p[0, 1].reshape(8, 8, 3).permute(2, 0, 1), x[0, :, :8, 8:16])  # patch 1 = row 0, column 1


def _loss_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(3, 3, 32, 32, generator=g)
    masks = (torch.rand(3, 1, 32, 32, generator=g) > 0.6).float()
    pred = torch.randn(3, 16, 192, generator=g)
    _, token_mask, _ = random_masking(3, 16, 0.75, g)
    return images, masks, pred, token_mask


def test_wmae_with_equal_weights_is_plain_mae():
    images, masks, pred, token_mask = _loss_inputs()
    target = patch_targets(images, 8, norm_pix=False)
    w = patchify(pixel_weights(masks, torch.ones(3, dtype=torch.bool), 0.7, 0.7).expand(-1, 1, 32, 32), 8)
    plain = (((pred - target) ** 2).mean(-1) * token_mask).sum() / token_mask.sum()  # He et al.'s loss
    assert torch.allclose(wmae_loss(pred, target, w, token_mask), plain, atol=1e-6)


def test_wmae_ignores_background_with_zero_weight_and_counts_only_masked_patches():
    images, masks, pred, token_mask = _loss_inputs(1)
    has = torch.ones(3, dtype=torch.bool)
    w = patchify(pixel_weights(masks, has, 1.0, 0.0).expand(-1, 1, 32, 32), 8)
    base = wmae_loss(pred, patch_targets(images, 8, False), w, token_mask)
    changed = images + (1 - masks) * 5.0  # background pixels only
    assert torch.allclose(wmae_loss(pred, patch_targets(changed, 8, False), w, token_mask), base)
    foreground = images + masks * 5.0
    assert not torch.allclose(wmae_loss(pred, patch_targets(foreground, 8, False), w, token_mask), base)
    visible_only = pred.clone()
    visible_only[token_mask == 0] += 3.0  # errors on visible patches do not count
    assert torch.allclose(wmae_loss(visible_only, patch_targets(images, 8, False), w, token_mask), base)
    target = patch_targets(images, 8, True)
    assert wmae_loss(target, target, w, token_mask) == 0


def test_images_without_a_mask_get_unit_weights():
    masks = torch.zeros(2, 1, 8, 8)
    w = pixel_weights(masks, torch.tensor([True, False]), 1.0, 0.1)
    assert torch.allclose(w[0], torch.full_like(w[0], 0.1)) and torch.allclose(w[1], torch.ones_like(w[1]))


def test_background_swap_keeps_foreground_and_changes_only_background():
    images, masks, _, _ = _loss_inputs(2)
    backgrounds = torch.rand(3, 3, 32, 32)
    out = background_swap(images, masks, backgrounds, torch.tensor([True, True, False]))
    fg = masks.expand(-1, 3, -1, -1).bool()
    assert torch.equal(out[:2][fg[:2]], images[:2][fg[:2]])
    assert torch.equal(out[:2][~fg[:2]], backgrounds[:2][~fg[:2]])
    assert torch.equal(out[2], images[2])


def test_cut_paste_moves_the_foreground_and_its_mask_without_wrapping():
    images = torch.zeros(1, 3, 16, 16)
    images[0, :, 2:6, 2:6] = 1.0
    masks = torch.zeros(1, 1, 16, 16)
    masks[0, :, 2:6, 2:6] = 1.0
    backgrounds = torch.full((1, 3, 16, 16), 0.5)
    out, moved = cut_paste(images, masks, backgrounds, torch.tensor([[-4, 3]]), torch.tensor([True]))
    assert moved[0, 0, 5:9, 0:2].eq(1).all() and moved.sum() == 8  # 2 of 4 columns left the frame: no wrap
    assert out[0, :, 5:9, 0:2].eq(1).all() and out[0, :, 0:4, 12:16].eq(0.5).all()


def test_segment_augment_only_touches_images_that_have_masks():
    images, masks, _, _ = _loss_inputs(3)
    g = torch.Generator().manual_seed(0)
    out, _ = segment_augment("bg_swap", images, masks, torch.tensor([False, False, False]), 1.0, g)
    assert torch.equal(out, images)


def test_attention_maps_are_distributions_and_the_auxiliary_copy_gives_zero_loss():
    enc = tiny_encoder()
    x = torch.randn(2, 3, 32, 32)
    tokens, maps = enc(x, attention_layers=2)
    assert tokens.shape == (2, 16, 32) and len(maps) == 2 and maps[0].shape == (2, 2, 16, 16)
    assert (maps[0] >= 0).all() and torch.allclose(maps[0].sum(-1), torch.ones(2, 2, 16))
    a = attention_distribution(maps)
    assert a.shape == (2, 16) and torch.allclose(a.sum(-1), torch.ones(2))
    fused, _ = enc(x)
    assert torch.allclose(fused, tokens, atol=1e-5)  # the explicit path equals fused attention

    import copy

    aux = copy.deepcopy(enc).requires_grad_(False)
    _, aux_maps = aux(x, attention_layers=2)
    for distance in ("mse", "kl"):
        assert attention_loss(a, attention_distribution(aux_maps), distance).abs() < 1e-7
    other = tiny_encoder(seed=1)
    _, other_maps = other(x, attention_layers=2)
    loss = attention_loss(attention_distribution(enc(x, attention_layers=2)[1]), attention_distribution(other_maps))
    loss.backward()
    assert loss > 0 and enc.blocks[-1].attn.qkv.weight.grad is not None
    assert all(p.grad is None for p in aux.parameters())


def test_mae_reconstructs_every_token_and_the_pose_head_shapes():
    enc = tiny_encoder()
    mae = MaskedAutoencoder(enc, MAEDecoder(32, 16, 1, 2, 8))
    keep, _, restore = random_masking(2, 16, 0.75, torch.Generator().manual_seed(0))
    assert mae(torch.randn(2, 3, 32, 32), keep, restore).shape == (2, 16, 192)
    net = ViTPose25D(enc, 16, num_joints=5)
    out = net(torch.randn(2, 3, 64, 64))
    assert out["heatmaps"].shape == out["depth"].shape == (2, 5, 16, 16) and out["attention"] == []


def test_decoding_a_ground_truth_heatmap_recovers_the_keypoint_and_its_depth():
    codec = HeatmapCodec(64, 16, 2.0)
    kp = torch.tensor([[[10.3, 40.7, 2.0], [33.0, 21.6, 2.0]]])
    maps, _ = codec.encode(kp)
    xy, _ = codec.decode(maps)
    assert (xy - kp[..., :2]).abs().max() < 0.5
    depth_maps = torch.tensor([0.3, -0.2])[None, :, None, None].expand(1, 2, 16, 16)
    assert torch.allclose(pool_depth(depth_maps, maps), torch.tensor([[0.3, -0.2]]))


def test_lifting_2_5d_back_to_3d_is_exact():
    rng = np.random.default_rng(0)
    joints = rng.normal(0, 0.3, (4, 6, 3)) + np.array([0.1, -0.2, 4.0])
    K = np.array([[[500.0, 0, 120], [0, 480.0, 130], [0, 0, 1]]]).repeat(4, 0)
    uvw = joints @ K.transpose(0, 2, 1)
    xy = uvw[..., :2] / uvw[..., 2:]
    root = (0, 1)
    rel = root_relative_depth(torch.from_numpy(joints), root, 1.0).numpy()
    root_depth = joints[:, root, 2].mean(1)
    assert np.allclose(lift_to_camera(xy, rel, K, root_depth), joints, atol=1e-9)


def test_vit_b16_has_its_published_size_and_takes_mae_weights_in_their_naming(tmp_path, monkeypatch):
    from posekit.errors import MissingArtifactError
    from posekit.models.vit_weights import convert_mae_state, load_mae_imagenet

    enc = ViTEncoder(patch_size=16, dim=768, depth=12, heads=12)
    assert 85.5e6 < sum(p.numel() for p in enc.parameters()) < 86.0e6  # ViT-B/16 without class token / head
    # a checkpoint in MAE's (timm's) naming, as mae_pretrain_vit_base.pth stores it
    names = {"patch_embed.": "patch_embed.proj.", "mlp.0.": "mlp.fc1.", "mlp.2.": "mlp.fc2."}
    theirs = {}
    for key, value in enc.state_dict().items():
        for mine, other in names.items():
            key = key.replace(mine, other)
        theirs[key] = torch.randn_like(value)
    theirs |= {"cls_token": torch.zeros(1, 1, 768), "pos_embed": torch.zeros(1, 197, 768)}
    torch.save({"model": theirs}, tmp_path / "mae.pth")
    load_mae_imagenet(enc, tmp_path / "mae.pth")
    assert torch.equal(enc.blocks[3].mlp[2].weight, theirs["blocks.3.mlp.fc2.weight"])
    assert torch.equal(enc.patch_embed.weight, theirs["patch_embed.proj.weight"])
    assert "cls_token" not in convert_mae_state(theirs)

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    with pytest.raises(MissingArtifactError, match="MAE ImageNet"):
        load_mae_imagenet(enc, tmp_path / "absent.pth")
