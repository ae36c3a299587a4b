"""Attention regularisation (L_attn) between the encoder's attention and the auxiliary network's (docs/mim.md)."""

from __future__ import annotations

import torch


def attention_distribution(maps: list[torch.Tensor]) -> torch.Tensor:
    """Attention maps ``[B,heads,N,N]`` of some layers → ``ā`` ``[B,N]``: the mean over layers, heads and query
    tokens, i.e. how much attention each patch token receives; each row sums to 1."""
    a = torch.stack([m.float() for m in maps]).mean(0)  # [B,heads,N,N]
    a = a.mean((1, 2))
    return a / a.sum(-1, keepdim=True)


def attention_loss(a_enc: torch.Tensor, a_aux: torch.Tensor, distance: str = "mse") -> torch.Tensor:
    """Distance between ``[B,N]`` distributions, mean over the batch.

    ``mse``: ``mean_i (N·ā^E_i − N·ā^A_i)²`` (maps rescaled so a uniform map is 1 per token, which keeps the term's
    size independent of N); ``kl``: ``KL(ā^A ‖ ā^E)``.
    """
    n = a_enc.shape[-1]
    if distance == "mse":
        return (n * (a_enc - a_aux)).pow(2).mean()
    if distance == "kl":
        return (a_aux * ((a_aux + 1e-12).log() - (a_enc + 1e-12).log())).sum(-1).mean()
    raise ValueError(f"unknown attention distance {distance!r}")
