import torch

from posekit.data.augment import flip_joints, resize_matrix, sample_affine, transform_keypoints, warp_images
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
