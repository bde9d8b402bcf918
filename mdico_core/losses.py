"""Loss functions of MDiCo beyond the task loss: InfoNCE and uncertainty-based weighting."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def info_nce(anchor: Tensor, other: Tensor, tau: float = 0.07) -> Tensor:
    """InfoNCE of paper Eq. (9), with `anchor` as the anchor modality.

    For sample i the positive is ``other[i]`` and the negatives are ``other[j], j != i``: the
    denominator runs over every cross-modality pair of the batch, positive included. Cosine
    similarity, temperature `tau`; mean over the batch.

    Shapes: anchor, other (B, D) -> scalar.
    """
    a = F.normalize(anchor, dim=-1)
    b = F.normalize(other, dim=-1)
    logits = a @ b.T / tau  # (B, B): row i holds S(a_i, b_j) / tau
    target = torch.arange(len(a), device=a.device)
    return F.cross_entropy(logits, target)


def symmetric_info_nce(z1: Tensor, z2: Tensor, tau: float = 0.07) -> Tensor:
    """Paper Eq. (10): each of the two modalities in turn is the anchor, summed."""
    a = F.normalize(z1, dim=-1)
    b = F.normalize(z2, dim=-1)
    logits = a @ b.T / tau  # (B, B); its transpose holds the other direction, computed once
    target = torch.arange(len(a), device=a.device)
    return F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)


def nt_xent(z1: Tensor, z2: Tensor, tau: float = 0.1) -> Tensor:
    """SimCLR's NT-Xent over the 2B vectors of both modalities (the released code's InfoNCE).

    Each of the 2B anchors has its paired sample as positive and the other 2B - 2 vectors, from
    both modalities, as negatives; mean over the 2B anchors.
    """
    z = F.normalize(torch.cat([z1, z2]), dim=-1)  # (2B, D)
    sim = z @ z.T / tau  # (2B, 2B)
    n = len(z1)
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class UncertaintyWeighting(nn.Module):
    """Kendall, Gal & Cipolla (2018): learn one log-variance s_k per loss term.

    ``total = sum_k exp(-s_k) * L_k + s_k``, the form commonly used for both classification and
    regression terms (the 1/2 factors of the paper's regression derivation are absorbed into s_k).
    `weighted(terms)` returns the re-weighted terms, so the trainer's sum is this total.
    """

    def __init__(self, names: list[str]):
        super().__init__()
        self.names = list(names)
        self.log_vars = nn.Parameter(torch.zeros(len(names)))

    def weighted(self, terms: dict[str, Tensor]) -> dict[str, Tensor]:
        out = {}
        for i, name in enumerate(self.names):
            if name in terms:
                s = self.log_vars[i]
                out[name] = torch.exp(-s) * terms[name] + s
        return out
