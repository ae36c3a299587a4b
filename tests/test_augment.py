import torch
import torch.nn.functional as F

from posekit.data import augment
from posekit.data.augment import (
    affine_grid,
    colour_jitter,
    flip_joints,
    jitter_factors,
    normalise,
    render_views,
    resize_matrix,
    sample_affine,
    transform_keypoints,
    warp_images,
)
from posekit.data.meta import MPII16


def _peak(image: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted centre of an [H,W] image (x, y)."""
    h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    total = image.sum()
    return torch.stack([(image * xs).sum() / total, (image * ys).sum() / total])


def test_image_warp_and_keypoint_transform_agree():
    g = torch.Generator().manual_seed(3)
    m, _flipped = sample_affine(6, (96, 80), 64, rotation=45, scale=(0.7, 1.2), shear=(-15, 15), translate=0.05,
                               flip=0.5, generator=g)
    img = torch.zeros(6, 1, 96, 80)
    ys, xs = torch.meshgrid(torch.arange(96.0), torch.arange(80.0), indexing="ij")
    src = torch.tensor([37.3, 51.6])
    img[:, 0] = torch.exp(-((xs - src[0]) ** 2 + (ys - src[1]) ** 2) / (2 * 2.0**2))
    warped = warp_images(img, m, 64)
    kp = transform_keypoints(torch.tensor([[[*src.tolist(), 2.0]]]).expand(6, 1, 3), m)
    for i in range(6):
        assert torch.allclose(_peak(warped[i, 0]), kp[i, 0, :2], atol=0.15), i


def test_affine_inverse_composes_to_identity():
    m, _ = sample_affine(4, (64, 64), 128, 30, (0.8, 1.2), (-10, 10), 0.1, 0.5, generator=torch.Generator().manual_seed(1))
    eye = torch.linalg.inv(m) @ m
    assert torch.allclose(eye, torch.eye(3).expand(4, 3, 3), atol=1e-5)
    kp = torch.rand(4, 16, 3) * 60
    back = transform_keypoints(transform_keypoints(kp, m), torch.linalg.inv(m))
    assert torch.allclose(back, kp, atol=1e-3)


def test_resize_matrix_keeps_pixel_centres():
    m = resize_matrix((64, 64), 128, 1)
    pts = transform_keypoints(torch.tensor([[[-0.5, -0.5, 1], [63.5, 63.5, 1]]]), m)
    assert torch.allclose(pts[0, :, :2], torch.tensor([[-0.5, -0.5], [127.5, 127.5]]))


def test_flip_mirrors_and_swaps_left_right():
    m, flipped = sample_affine(2, (64, 64), 64, 0, (1, 1), (0, 0), 0, flip=1.0)
    assert flipped.all()
    kp = torch.zeros(2, 16, 3)
    kp[:, 10] = torch.tensor([10.0, 20.0, 2])  # right wrist on the left of the image
    out = flip_joints(transform_keypoints(kp, m), flipped, MPII16.flip_permutation())
    assert torch.allclose(out[:, 15, :2], torch.tensor([63 - 10.0, 20.0]).expand(2, 2), atol=1e-4)  # now the left wrist
    assert out[:, 10, 2].eq(0).all()


def _three_step_jitter(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, then contrast about the mean luma, then saturation about the pixel's luma, then clamp."""
    luma = torch.tensor([0.299, 0.587, 0.114])[:, None, None]
    f = factors[:, :, None, None, None]
    images = images * f[:, 0]
    mean = (images * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    images = (images - mean) * f[:, 1] + mean
    grey = (images * luma).sum(1, keepdim=True)
    return ((images - grey) * f[:, 2] + grey).clamp(0, 1)


def test_fused_colour_jitter_equals_the_three_steps():
    g = torch.Generator().manual_seed(5)
    images = torch.rand(6, 3, 20, 24, generator=g)
    factors = jitter_factors(6, 0.6, g)
    out = colour_jitter(images, factors)
    assert torch.allclose(out, _three_step_jitter(images, factors), atol=1e-6)
    assert (out - images).abs().max() > 0.05  # it does change the images
    assert colour_jitter(images, None) is images


def test_affine_grid_equals_torch():
    theta = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(2))
    ours = affine_grid(theta, 17)
    assert torch.allclose(ours, F.affine_grid(theta, [5, 3, 17, 17], align_corners=False), atol=1e-6)


def test_render_views_independent_of_chunks_and_input_dtype(monkeypatch):
    g = torch.Generator().manual_seed(4)
    u8 = torch.randint(0, 256, (7, 3, 32, 32), dtype=torch.uint8, generator=g)
    m, _ = sample_affine(7, (32, 32), 24, 30, (0.8, 1.2), (0, 0), 0.1, 0.5, generator=g)
    factors = jitter_factors(7, 0.3, g)
    reference = normalise(colour_jitter(warp_images(u8.float() / 255.0, m, 24), factors))
    monkeypatch.setattr(augment, "CPU_CHUNK_BYTES", 3 * 32 * 32 * 4 * 3)  # chunks of 3 images: 3 + 3 + 1
    chunked = render_views(u8, m, 24, factors)
    assert chunked.shape == (7, 3, 24, 24)
    # Not bitwise: a chunk boundary moves elements between a kernel's vector body and its scalar tail, whose
    # rounding differs (FMA or not) with the CPU's vector width (AVX2, AVX-512). A few float32 ulps of values in
    # [-2.2, 2.7] (normalised) or [0, 1]; a wrong chunk (another image's view) would differ by ~0.1 and more.
    torch.testing.assert_close(chunked, reference, rtol=0, atol=1e-5)
    torch.testing.assert_close(render_views(u8.float() / 255.0, m, 24, factors, normalised=False),
                               colour_jitter(warp_images(u8.float() / 255.0, m, 24), factors), rtol=0, atol=1e-5)


def test_view_geometry_stays_float32_under_bf16_autocast():
    """Training steps run under bf16 autocast on GPUs; the view matrices, keypoints and warps must not follow it
    (bf16 matrix products put keypoints a quarter pixel off, and CUDA's linalg.inv refuses bf16). CPU autocast
    casts matrix products to bf16 as well, so the bug shows here too."""
    from posekit.config.schema import AdaptConfig, ModelConfig
    from posekit.data.codec import HeatmapCodec
    from posekit.data.warp import view_to_base
    from posekit.methods.multilevel import MultiLevelMethod
    from posekit.models.factory import build_pose_net

    g = torch.Generator().manual_seed(5)
    m, _ = sample_affine(4, (96, 96), 64, rotation=40, scale=(0.7, 1.3), shear=(-10, 10), translate=0.1, flip=0.5,
                         generator=g)
    kp = torch.cat([torch.rand(4, 16, 2, generator=g) * 96, torch.full((4, 16, 1), 2.0)], -1)
    img = torch.rand(4, 3, 96, 96, generator=g)
    maps = torch.rand(4, 16, 16, 16, generator=g)
    u8 = torch.randint(0, 256, (4, 3, 96, 96), dtype=torch.uint8, generator=g)
    method = MultiLevelMethod(build_pose_net(ModelConfig(backbone="resnet18", width=0.25), 16), HeatmapCodec(64, 16, 2.0),
                              AdaptConfig(), MPII16, 0)

    def run():
        method.generator.manual_seed(7)
        view, matrix = method._target_view(u8, method._base_frame(u8), method.cfg.target_augment)
        drawn, _ = sample_affine(4, (96, 80), 64, rotation=30, scale=(0.8, 1.2), shear=(0, 0), translate=0.1, flip=0.5,
                                 generator=torch.Generator().manual_seed(9))
        return (transform_keypoints(kp, m), warp_images(img, m, 64), view_to_base(maps, m, 4.0),
                render_views(u8, m, 64, jitter_factors(4, 0.3, torch.Generator().manual_seed(2))), view, matrix,
                drawn, resize_matrix((96, 80), 64, 4))

    reference = run()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = run()
    for ref, got in zip(reference, under_autocast, strict=True):
        assert got.dtype == torch.float32
        assert torch.equal(ref, got)


def test_resized_crop_draws_daml_windows_in_the_stated_range():
    """RandomResizedCrop(256, scale (0.6, 1.3), ratio 1): area fraction U(0.6, 1.3), windows larger than the image
    redrawn (up to 10 tries), integer window side and corner inside the image, resized back: zoom 1 to 256/198."""
    from posekit.data.augment import sample_resized_crop

    m = sample_resized_crop(20000, 256, (0.6, 1.3), torch.Generator().manual_seed(0))
    zoom = m[:, 0, 0]
    side = 256 / zoom
    assert torch.equal(m[:, 1, 1], zoom) and (m[:, 0, 1] == 0).all() and (m[:, 2] == torch.tensor([0, 0, 1.0])).all()
    assert torch.allclose(side, side.round(), atol=1e-3) and side.min() >= 198 - 1e-3 and side.max() <= 256 + 1e-3
    assert abs((side / 256).square().mean() - 0.8) < 0.01  # accepted areas are uniform on [0.6, 1]
    assert ((side / 256).square() < 0.7).float().mean().sub(0.25).abs() < 0.02
    for axis in (0, 1):
        corner = 0.5 - (m[:, axis, 2] + 0.5) / zoom  # the window's first pixel (its edge −0.5 lands on −0.5)
        assert torch.allclose(corner, corner.round(), atol=1e-3) and corner.min() > -1e-3
        assert (corner + side).max() <= 256 + 1e-3  # the window lies in the image
        assert abs((corner / (256 - side).clamp(min=1)).mean() - 0.5) < 0.02  # uniform offsets
    fixed = sample_resized_crop(100, 256, (0.6, 0.6), torch.Generator().manual_seed(1))
    assert torch.allclose(fixed[:, 0, 0], torch.full((100,), 256 / 198))  # round(√0.6 · 256) = 198
    too_big = sample_resized_crop(100, 256, (1.1, 1.3), torch.Generator().manual_seed(2))
    assert torch.equal(too_big, torch.eye(3).expand(100, 3, 3))  # every try too large: the whole image


def test_source_crop_comes_before_the_affine_and_moves_keypoints_with_the_image():
    from posekit.config.schema import AugmentConfig
    from posekit.methods.views import ViewMethod

    method = ViewMethod()
    ys, xs = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    src = torch.tensor([[40.0, 50.0], [60.0, 30.0]])
    blob = torch.exp(-((xs - src[0, 0]) ** 2 + (ys - src[0, 1]) ** 2) / 8.0)  # drawn at the first keypoint
    images = (blob * 255).round().to(torch.uint8).expand(8, 3, 96, 96).contiguous()
    kp = torch.cat([src, torch.full((2, 1), 2.0)], -1).expand(8, 2, 3)
    still = AugmentConfig(rotation=0, scale=(1, 1), shear=(0, 0), translate=0, flip=0, colour=0)
    spans = {}
    for crop in (None, (0.6, 1.0)):
        method.generator = torch.Generator().manual_seed(5)
        views, moved, _ = method.augmented_view(images, still.model_copy(update={"crop": crop}), 64, kp.clone(),
                                                    [0, 1])
        spans[crop] = (moved[:, 0, :2] - moved[:, 1, :2]).norm(dim=-1) / (src[0] - src[1]).norm()
        for i in range(8):
            lit = (views[i, 0] - views[i, 0].min()).clamp(min=0)
            assert torch.allclose(_peak(lit), moved[i, 0, :2], atol=0.3), i
    assert torch.allclose(spans[None], torch.full((8,), 64 / 96))
    zoom = spans[(0.6, 1.0)] / spans[None]
    assert (zoom >= 1 - 1e-4).all() and (zoom <= 256 / 198 + 1e-3).all() and zoom.std() > 0.01
    # without a crop the view is exactly today's: the affine alone, from the same draws
    method.generator = torch.Generator().manual_seed(6)
    got, _, _ = method.augmented_view(images, AugmentConfig(), 64)
    g = torch.Generator().manual_seed(6)
    m, _ = sample_affine(8, (96, 96), 64, 30.0, (0.75, 1.25), (0.0, 0.0), 0.05, 0.5, generator=g)
    assert torch.equal(got, render_views(images, m, 64, jitter_factors(8, 0.25, g)))
