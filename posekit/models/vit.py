"""A plain ViT encoder that can return its attention maps, with the MAE path (visible tokens only).

Tokens: an ``S×S`` image and patch ``p`` give ``N = (S/p)²`` patch tokens (no class token) with a fixed 2D
sin-cos positional embedding, so one set of weights runs at any input size divisible by ``p``.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn


def sincos_2d(dim: int, grid: int) -> torch.Tensor:
    """``[grid², dim]`` fixed positional embedding (MAE's: half the channels encode x, half y)."""
    if dim % 4:
        raise ValueError(f"embedding width {dim} must be a multiple of 4")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                            indexing="ij")
    out = [f(pos.reshape(-1, 1) * omega) for pos in (xs, ys) for f in (torch.sin, torch.cos)]
    return torch.cat(out, 1).float()


@functools.lru_cache(maxsize=16)
def cached_sincos(dim: int, grid: int, device: str) -> torch.Tensor:
    """:func:`sincos_2d` on ``device``, computed once per (width, grid, device)."""
    return sincos_2d(dim, grid).to(device)


class Attention(nn.Module):
    """Multi-head self-attention; ``need_weights`` also returns ``softmax(QKᵀ/√d)`` ``[B,heads,N,N]``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if need_weights:
            attn = ((q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)).softmax(-1)
            out = attn @ v
        else:
            attn, out = None, F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c)), attn


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        y, attn = self.attn(self.norm1(x), need_weights)
        x = x + y
        return x + self.mlp(self.norm2(x)), attn


def init_weights(module: nn.Module) -> None:
    """MAE's initialisation: Xavier-uniform linears with zero bias, unit LayerNorms."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ViTEncoder(nn.Module):
    """``[B,3,S,S]`` → tokens ``[B,N,D]`` (or ``[B,n,D]`` for the ``keep`` subset) and attention maps.

    ``keep`` ``[B,n]`` selects visible tokens (MAE). ``attention_layers=L`` returns the attention probabilities of
    the last ``L`` blocks, each ``[B,heads,n,n]`` (rows sum to 1); other blocks use fused attention.
    """

    def __init__(self, patch_size: int, dim: int, depth: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.patch_size, self.dim, self.depth = patch_size, dim, depth
        self.patch_embed = nn.Conv2d(3, dim, patch_size, patch_size)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        init_weights(self)
        w = self.patch_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))

    def grid(self, size: int) -> int:
        if size % self.patch_size:
            raise ValueError(f"input side {size} is not a multiple of the patch size {self.patch_size}")
        return size // self.patch_size

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None,
                attention_layers: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
        g = self.grid(images.shape[-1])
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + cached_sincos(self.dim, g, str(images.device)).to(images.dtype)
        if keep is not None:
            x = x.gather(1, keep[..., None].expand(-1, -1, x.shape[-1]))
        maps = []
        for i, block in enumerate(self.blocks):
            x, attn = block(x, need_weights=i >= self.depth - attention_layers)
            if attn is not None:
                maps.append(attn)
        return self.norm(x), maps


def random_masking(batch: int, num_tokens: int, ratio: float, generator: torch.Generator | None = None,
                   device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MAE's per-sample random masking of exactly ``round(ratio·N)`` tokens.

    Returns ``keep`` ``[B,N-m]`` (visible token indices, in shuffled order), ``mask`` ``[B,N]`` (1 = masked, in the
    original order) and ``restore`` ``[B,N]`` (``shuffled.gather(restore)`` puts tokens back in order).
    """
    masked = round(ratio * num_tokens)
    if not 0 <= masked < num_tokens:
        raise ValueError(f"mask ratio {ratio} leaves no visible token of {num_tokens}")
    shuffle = torch.rand(batch, num_tokens, generator=generator).argsort(1).to(device)
    restore = shuffle.argsort(1)
    mask = torch.ones(batch, num_tokens, device=device)
    mask[:, : num_tokens - masked] = 0
    return shuffle[:, : num_tokens - masked], mask.gather(1, restore), restore


def patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """``[B,C,S,S]`` → ``[B,N,p·p·C]`` (row-major patches, pixels in (y, x, c) order)."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, p: int, channels: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify` for square images: ``[B,N,p·p·C]`` → ``[B,C,S,S]``."""
    b, n, _ = patches.shape
    g = math.isqrt(n)
    x = patches.reshape(b, g, g, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, channels, g * p, g * p)


class MAEDecoder(nn.Module):
    """Visible latents ``[B,n,D]`` + ``restore`` ``[B,N]`` → pixel predictions ``[B,N,p·p·3]`` for every token."""

    def __init__(self, enc_dim: int, dim: int, depth: int, heads: int, patch_size: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.dim, self.patch_size = dim, patch_size
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pred = nn.Linear(dim, patch_size * patch_size * 3)
        init_weights(self)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latent: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        x = self.embed(latent)
        b, n_keep, _ = x.shape
        n = restore.shape[1]
        x = torch.cat([x, self.mask_token.expand(b, n - n_keep, -1).to(x.dtype)], 1)
        x = x.gather(1, restore[..., None].expand(-1, -1, self.dim))
        x = x + cached_sincos(self.dim, math.isqrt(n), str(x.device)).to(x.dtype)
        for block in self.blocks:
            x, _ = block(x)
        return self.pred(self.norm(x))


class MaskedAutoencoder(nn.Module):
    """Encoder + light decoder. ``forward(images, keep, restore)`` → ``[B,N,p·p·3]`` reconstructed patches."""

    def __init__(self, encoder: ViTEncoder, decoder: MAEDecoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, images: torch.Tensor, keep: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        latent, _ = self.encoder(images, keep=keep)
        return self.decoder(latent, restore)
