"""FCoM-av: feature-level fusion trained on every combination of modalities (Mena et al., CoM).

Follows the authors' reference code (``fmenat/CoM-views``: ``config/com_average.yaml``,
``src/models/base_fusion.py`` ``loss_batch``), restated here:

    X_m ─ E_m ─ LayerNorm ─ h_m   (B, 128)           each encoder runs once per batch
    for every non-empty subset S of the M modalities (2^M - 1 of them):
        h_S = mean_{m ∈ S} h_m                        "avg_ignore": only available features
        ŷ_S = H(h_S)                                  one MLP head shared by all subsets
    L = L_pred(concat_S ŷ_S, concat_S y)              all subsets in one batch, equal weights

At inference from modality m alone the subset is {m}: ŷ = H(h_m). Nothing is random, so
training and evaluation compute the same loss.

Defaults (reference code): LayerNorm on the 128-d embedding; head = Linear(128) → BN → ReLU →
Dropout(0.2) → Linear; Adam 1e-3, batch 128 (the shared trainer's). As in the reference code
the head's BatchNorm sees the (2^M - 1)-fold batch.

Common settings: the shared trainer, early stopping on the total validation loss (over all
subsets). Original settings (``FCoMAv.original_recipe``): the same framework defaults (Adam 1e-3,
patience 5, min_delta 0.01, best weights), but validated as the reference code does, on the
full-modality forward only (``val_loss="full"``). Adaptation for this project: the task loss is
`TaskLoss` (class-balanced CE, BCE, or MSE on the z-scored target), so every task is supported.
Works for any M >= 1; the number of subsets grows as 2^M - 1.

This module also holds the two building blocks shared by the CoM-views-derived methods
(`mlp_head`, `nonempty_subsets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import torch
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec, Recipe


def mlp_head(n_outputs: int, in_dim: int = EMB_DIM, hidden: int = 128, dropout: float = 0.2) -> nn.Sequential:
    """The CoM-views prediction head: Linear(hidden) → BN → ReLU → Dropout → Linear(n_outputs)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, n_outputs))


def nonempty_subsets(items: list[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset of `items`, smallest first, in a fixed order (2^M - 1 of them)."""
    return [s for k in range(1, len(items) + 1) for s in combinations(items, k)]


class FCoMAv(Method):
    """FCoM-av: average fusion of the available embeddings, trained on all 2^M - 1 subsets.

    Args:
        spec: modalities, task, outputs.
        encoder: encoder name (one per modality).
        use_norm: LayerNorm on each 128-d embedding (reference config: True).
        hidden: hidden units of the MLP head.
        dropout: dropout of the MLP head.
        val_loss: "subsets" (eval-mode loss over all subsets, as training) or "full" (the
            full-modality loss, as the reference framework validates).
        **encoder_options: passed to the encoders.
    """

    name = "fcom_av"
    paper_name = "FCoM-av"
    common_recipe = Recipe(sampling="all 2^M - 1 subsets in every batch; validation: all subsets")
    original_recipe = Recipe(
        options={"val_loss": "full"},
        sampling="all 2^M - 1 subsets in every batch; validation: the full-modality loss",
    )

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", use_norm: bool = True, hidden: int = 128,
                 dropout: float = 0.2, val_loss: str = "subsets", **encoder_options: Any):
        super().__init__(spec, encoder)
        if val_loss not in ("subsets", "full"):
            raise ValueError(f"val_loss must be 'subsets' or 'full', got {val_loss!r}")
        self.val_loss = val_loss
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in spec.shapes.items()})
        self.norms = nn.ModuleDict({m: nn.LayerNorm(EMB_DIM) if use_norm else nn.Identity() for m in spec.shapes})
        self.head = mlp_head(spec.n_outputs, EMB_DIM, hidden, dropout)
        self.subsets = nonempty_subsets(list(spec.shapes))

    def embed(self, x: Tensor, m: str) -> Tensor:
        """Normalised embedding of modality `m`, (B, 128)."""
        return self.norms[m](self.encoders[m](x))

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        h = {m: self.embed(batch["x"][m], m) for m in self.modalities}  # encoders run once
        subsets = [tuple(self.modalities)] if self.val_loss == "full" and not self.training else self.subsets
        fused = torch.cat([torch.stack([h[m] for m in s]).mean(0) for s in subsets])  # (S*B, 128)
        y = batch["y"]
        y_all = y.repeat(len(subsets), *([1] * (y.ndim - 1)))  # (S*B,) or (S*B, K)
        return {"main": self.task_loss(self.head(fused), y_all)}

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.embed(x[view], view)  # (B, 128): the mean over the subset {view}

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.head(self.features(x, view))
