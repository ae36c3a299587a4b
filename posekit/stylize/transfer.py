"""Training-free style transfer, batched: colour-statistics matching and Fourier domain adaptation (FDA)."""

from __future__ import annotations

import torch


def colour_match(content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Give each content image ``[B,3,H,W]`` (in [0, 1]) the per-channel mean and std of its style image,
    blended by ``alpha`` ``[B]``: ``α·matched + (1−α)·content``."""
    cm, cs = content.mean((2, 3), keepdim=True), content.std((2, 3), keepdim=True) + 1e-5
    sm, ss = style.mean((2, 3), keepdim=True), style.std((2, 3), keepdim=True) + 1e-5
    matched = (content - cm) / cs * ss + sm
    a = alpha[:, None, None, None]
    return (a * matched + (1 - a) * content).clamp(0, 1)


def fda(content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor, beta: float) -> torch.Tensor:
    """Fourier domain adaptation (Yang & Soatto 2020): replace the lowest frequencies of the content amplitude
    spectrum (a centred square of side ``2·floor(β·min(H, W))+1``) by the style's, keep the content phase;
    blended by ``alpha`` ``[B]`` like ``colour_match``."""
    h, w = content.shape[-2:]
    fc = torch.fft.fftshift(torch.fft.fft2(content), dim=(-2, -1))
    fs = torch.fft.fftshift(torch.fft.fft2(style), dim=(-2, -1))
    amp, phase = fc.abs(), fc.angle()
    r = int(beta * min(h, w))
    cy, cx = h // 2, w // 2
    amp[..., cy - r : cy + r + 1, cx - r : cx + r + 1] = fs.abs()[..., cy - r : cy + r + 1, cx - r : cx + r + 1]
    mixed = torch.polar(amp, phase)
    out = torch.fft.ifft2(torch.fft.ifftshift(mixed, dim=(-2, -1))).real
    a = alpha[:, None, None, None]
    return (a * out + (1 - a) * content).clamp(0, 1)
