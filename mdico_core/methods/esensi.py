"""ESensI (Mena et al. 2024, arXiv 2407.15512): an ensemble of single-sensor models with a shared head.

Follows the authors' reference code (``fmenat/CoM-views``: ``config/baseline_ensemble.yaml``
"-MenaSensei", ``train_baseline_ensemble.py``, ``SVPool`` with ``sharing: True`` and
``create_awareness_vectors``), restated here:

    h_m = E_m(X_m) + ρ_m        (B, 128); ρ_m a learnable sensor-awareness vector, ρ_m ~ N(0, 1) at init
    ŷ_m = H(h_m)                one head H shared by every modality
    L   = Σ_m L_pred(y, ŷ_m)    the sum (not the mean) over modalities, as the reference code

At inference the ensemble averages the predictions of the available modalities; from one
modality that is its own prediction ŷ_m, which reads only X_m. Nothing is random.

Defaults: head = Linear(128) → BN → ReLU → Dropout(0.2) → Linear (the CoM-views head). The task
loss is `TaskLoss`, so every task is supported. Works for any M >= 1 (with M = 1 it is a single
model with a bias vector).

Common settings: the shared trainer (Adam 1e-3, early stopping, min_delta 0.01). Original settings
(``ESensI.original_recipe``, ``train_baseline_ensemble.py``): the authors' framework defaults, with
early stopping's min_delta scaled to 0.01 x M, since the monitored loss is the sum over M
modalities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec, Recipe
from mdico_core.methods.fcom import mlp_head


class ESensI(Method):
    """Per-modality encoders, additive sensor-awareness vectors, one shared head.

    Args:
        spec: modalities, task, outputs.
        encoder: encoder name (one per modality).
        hidden: hidden units of the shared MLP head.
        dropout: dropout of the shared MLP head.
        **encoder_options: passed to the encoders.
    """

    name = "esensi"
    paper_name = "ESensI"
    original_recipe = Recipe(train={"min_delta_per_modality": True})

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", hidden: int = 128, dropout: float = 0.2,
                 **encoder_options: Any):
        super().__init__(spec, encoder)
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in spec.shapes.items()})
        self.awareness = nn.ParameterDict({m: nn.Parameter(torch.randn(EMB_DIM)) for m in spec.shapes})
        self.head = mlp_head(spec.n_outputs, EMB_DIM, hidden, dropout)

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.encoders[view](x[view]) + self.awareness[view]  # (B, 128)

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.head(self.features(x, view))

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        y = batch["y"]
        return {"main": sum(self.task_loss(self._predict(batch["x"], m), y) for m in self.modalities)}
