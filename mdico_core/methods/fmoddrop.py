"""FModDrop (Chen, Zhao & Bruzzone, TGRS 2024): feature-level modality dropout over a Transformer.

The official code (``Yusin2Chen/incomplete_multimodal_fusion``) is a MultiMAE-style image
segmentation Transformer; this follows Mena's EO time-series version of it, which the MDiCo
authors ran (``fmenat/CoM-views``: ``config/baseline_featureSensD.yaml`` tagged "-Chen",
``src/models/fusion_module.py``, ``base_fusion.py``); the paper describes FModDrop as "modality
dropout over transformer layers", so this Transformer version is used, not the feature-averaging
FSensD of ``fmenat/DSensDp``. Restated here:

    t_m = LayerNorm(E_m(X_m)) + e_m               (B, 128) one token per available modality
    u   = Transformer([CLS, t_m for m ∈ S])       1 layer, 8 heads, FFN 128, dropout 0.4
    ŷ   = H(u_CLS)                                MLP head Linear(128) → BN → ReLU → Dropout(0.2) → Linear

Training: each batch draws one of the 2^M - 1 non-empty modality subsets S uniformly (torch's
global RNG, training mode only); absent tokens are dropped from the sequence, not zero-filled. In
eval mode `losses` is the exact expectation over the subsets (their mean), so it is
deterministic. Inference from modality m: S = {m}, i.e. [CLS, t_m], reading only X_m.

Adaptations: e_m is a learned per-modality embedding instead of the reference's sinusoidal
encoding of the token's slot position (which puts a lone second modality in slot 0 and so tells
the model the wrong sensor). The task loss is `TaskLoss`, so every task is supported. Any M >= 1.

Common settings: the shared trainer (Adam 1e-3, early stopping on the total validation loss, here
the mean over the subsets). Original settings (``FModDrop.original_recipe``): the authors'
framework defaults (CoM-views: Adam 1e-3, no weight decay, no schedule, patience 5, min_delta
0.01, best weights), whose validation loss is the FULL-modality forward only (``base_fusion.py``
``loss_batch`` in eval mode), so early stopping watches it (``val_loss="full"``). The official
MultiMAE segmentation recipe (AdamW, 1,600 epochs) does not transfer to this model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec, Recipe
from mdico_core.methods.fcom import mlp_head, nonempty_subsets


class FModDrop(Method):
    """Per-modality tokens, a CLS token, a 1-layer Transformer over the available tokens.

    Args:
        spec: modalities, task, outputs.
        encoder: encoder name (one per modality).
        n_heads, dim_ff, n_layers, attn_dropout: the fusion Transformer (reference: 8, 128, 1, 0.4).
        use_norm: LayerNorm on each 128-d embedding (reference: True).
        hidden, dropout: the MLP head.
        val_loss: "subsets" (eval-mode loss = the mean over the 2^M - 1 subsets) or "full" (the
            full-modality loss, as the reference framework validates).
        **encoder_options: passed to the encoders.
    """

    name = "fmoddrop"
    paper_name = "FModDrop"
    common_recipe = Recipe(sampling="one uniform non-empty subset per batch; validation: mean over the subsets")
    original_recipe = Recipe(
        options={"val_loss": "full"},
        sampling="one uniform non-empty subset per batch; validation: the full-modality loss",
        notes=("Mena's time-series version (CoM-views -Chen config) with the framework's defaults; the official "
               "MultiMAE recipe (AdamW, 1,600 epochs) is for its segmentation transformer",),
    )

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", n_heads: int = 8, dim_ff: int = 128,
                 n_layers: int = 1, attn_dropout: float = 0.4, use_norm: bool = True, hidden: int = 128,
                 dropout: float = 0.2, val_loss: str = "subsets", **encoder_options: Any):
        super().__init__(spec, encoder)
        if val_loss not in ("subsets", "full"):
            raise ValueError(f"val_loss must be 'subsets' or 'full', got {val_loss!r}")
        self.val_loss = val_loss
        mods = list(spec.shapes)
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in spec.shapes.items()})
        self.norms = nn.ModuleDict({m: nn.LayerNorm(EMB_DIM) if use_norm else nn.Identity() for m in mods})
        self.modality_embedding = nn.ParameterDict({m: nn.Parameter(0.02 * torch.randn(EMB_DIM)) for m in mods})
        self.cls = nn.Parameter(0.02 * torch.randn(EMB_DIM))
        layer = nn.TransformerEncoderLayer(EMB_DIM, n_heads, dim_ff, attn_dropout, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = mlp_head(spec.n_outputs, EMB_DIM, hidden, dropout)
        self.subsets = nonempty_subsets(mods)

    def token(self, x: Tensor, m: str) -> Tensor:
        """Token of modality `m`, (B, 128)."""
        return self.norms[m](self.encoders[m](x)) + self.modality_embedding[m]

    def fuse(self, tokens: list[Tensor]) -> Tensor:
        """CLS output of the Transformer over the given tokens, each (B, 128) -> (B, 128)."""
        B = len(tokens[0])
        seq = torch.stack([self.cls.expand(B, -1), *tokens], dim=1)  # (B, 1 + |S|, 128)
        return self.transformer(seq)[:, 0]

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.fuse([self.token(x[view], view)])

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.head(self.features(x, view))

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        y = batch["y"]
        if self.training:
            subset = self.draw_subset()
            return {"main": self.task_loss(self.head(self.fuse([self.token(batch["x"][m], m) for m in subset])), y)}
        t = {m: self.token(batch["x"][m], m) for m in self.modalities}
        subsets = [tuple(self.modalities)] if self.val_loss == "full" else self.subsets
        total = sum(self.task_loss(self.head(self.fuse([t[m] for m in s])), y) for s in subsets)
        return {"main": total / len(subsets)}

    def draw_subset(self) -> tuple[str, ...]:
        """The modalities of one training batch: a uniform non-empty subset (global RNG)."""
        return self.subsets[int(torch.randint(len(self.subsets), ()))]
