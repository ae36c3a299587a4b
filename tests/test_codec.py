import torch

from posekit.data.codec import HeatmapCodec


def test_encode_decode_round_trip_is_subpixel_exact():
    codec = HeatmapCodec(input_size=256, heatmap_size=64, sigma=2.0)
    g = torch.Generator().manual_seed(0)
    xy = 20 + torch.rand(4, 16, 2, generator=g) * 210  # away from the borders
    kp = torch.cat([xy, torch.full((4, 16, 1), 2.0)], -1)
    maps, weights = codec.encode(kp)
    assert maps.shape == (4, 16, 64, 64) and weights.min() == 1
    decoded, scores = codec.decode(maps)
    err = (decoded - xy).abs().max().item()
    assert err < 0.05, err
    # without refinement the error is that of the integer grid (up to half a heatmap pixel = 2 input px)
    coarse, _ = codec.decode(maps, refine=False)
    assert (coarse - xy).abs().max().item() > 0.5
    assert torch.allclose(scores, torch.ones_like(scores), atol=0.1)


def test_weights_follow_visibility_and_bounds():
    codec = HeatmapCodec(64, 16, 1.0, supervise_occluded=False)
    kp = torch.tensor([[[10.0, 10.0, 2.0], [10.0, 10.0, 1.0], [10.0, 10.0, 0.0], [70.0, 10.0, 2.0], [-3.0, 5.0, 2.0]]])
    maps, weights = codec.encode(kp)
    assert weights.tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0]]
    assert maps[0, 1:].abs().sum() == 0
    occluded_ok = HeatmapCodec(64, 16, 1.0, supervise_occluded=True)
    assert occluded_ok.encode(kp)[1].tolist() == [[1.0, 1.0, 0.0, 0.0, 0.0]]


def test_pixel_centre_convention():
    # input pixel 1.5 with stride 4 lies at heatmap coordinate (1.5 + 0.5) / 4 - 0.5 = 0.0
    codec = HeatmapCodec(64, 16, 1.0)
    maps, _ = codec.encode(torch.tensor([[[1.5, 1.5, 2.0]]]))
    assert maps[0, 0].argmax().item() == 0


def test_a_peak_in_the_border_pixel_is_refined_from_the_inside():
    """Issue 30: with the replicated border the Taylor step pushed a border peak half a heatmap pixel outwards
    (a joint at input y 59.8 of 64 decoded at 63.5). Expanding from the pixel inside makes it exact there too."""
    codec = HeatmapCodec(64, 16, 1.0)
    # heatmap coordinates -0.375 … 15.375 are the input's full extent -0.5 … 63.5; these sit in border pixels
    xy = torch.tensor([[[59.83, 14.75], [0.3, 40.0], [63.2, 0.0], [20.0, 62.9], [33.0, 2.0]]])
    decoded, _ = codec.decode(codec.gaussians(xy))
    assert (decoded - xy).abs().max() < 1e-3


def test_gaussians_are_drawn_wherever_the_peak_is_and_encode_weights_them():
    from posekit.data.codec import pool_depth

    codec = HeatmapCodec(64, 16, 1.0)
    kp = torch.tensor([[[10.3, 40.7, 2.0], [63.2, 30.0, 2.0]]])  # the second beyond the last heatmap pixel centre
    maps, weights = codec.encode(kp)
    assert torch.allclose(maps[0, 0], codec.gaussians(kp[..., :2])[0, 0]) and weights.tolist() == [[1.0, 0.0]]
    # reading a depth under a predicted peak there still reads that joint's depth (encode would read 0)
    depth = torch.tensor([0.3, -0.2])[None, :, None, None].expand(1, 2, 16, 16)
    assert torch.allclose(pool_depth(depth, codec.gaussians(kp[..., :2])), torch.tensor([[0.3, -0.2]]))
    assert pool_depth(depth, maps)[0, 1] == 0
