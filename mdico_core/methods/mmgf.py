"""MMGF: multi-modal gated fusion, the full-modality reference of Tables 2-5.

The acronym is not defined by any released source; this follows the closest reference code,
the gated feature fusion of Mena's ``CoM-views`` (``config/com_gated.yaml``: ``FusionModuleMissing``
with mode concat, adaptive, features), restated here:

    h_m = E_m(X_m)                                    (B, 128) per modality
    a   = W [h_1 ‖ ... ‖ h_M] + b                     (B, M*128) gate logits, one Linear
    α   = softmax over the M modalities, per feature  (B, M, 128)
    h   = Σ_m α_m ⊙ h_m                               (B, 128)
    ŷ   = H(h)                                        MLP head Linear(128) → BN → ReLU → Dropout(0.2) → Linear

It reads every modality, so its only view is ``"fusion"`` (``fusion = True``). A modality absent
at inference would get gate logit -inf (weight 0); the fusion view always has all of them.
Works for any M >= 1 and any task (`TaskLoss`).

Settings: its original recipe (the authors' framework defaults: Adam 1e-3, no weight decay, no
schedule, early stopping with patience 5 and min_delta 0.01 on the validation loss, which is the
full-modality loss here, best weights) is the common budget, so both settings name the same runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import FUSION, Batch, Method, ProblemSpec
from mdico_core.methods.fcom import mlp_head


class MMGF(Method):
    """Per-modality encoders, softmax gates per feature over modalities, MLP head.

    Args:
        spec: modalities, task, outputs.
        encoder: encoder name (one per modality).
        hidden: hidden units of the MLP head.
        dropout: dropout of the MLP head.
        **encoder_options: passed to the encoders.
    """

    name = "mmgf"
    paper_name = "MMGF"
    fusion = True

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", hidden: int = 128, dropout: float = 0.2,
                 **encoder_options: Any):
        super().__init__(spec, encoder)
        M = len(spec.shapes)
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in spec.shapes.items()})
        self.gate = nn.Linear(M * EMB_DIM, M * EMB_DIM)
        self.head = mlp_head(spec.n_outputs, EMB_DIM, hidden, dropout)

    def features(self, x: Mapping[str, Tensor], view: str = FUSION) -> Tensor:
        missing = [m for m in self.modalities if m not in x]
        if missing:
            raise KeyError(f"MMGF reads every modality; missing {missing} (its only view is {FUSION!r})")
        h = torch.stack([self.encoders[m](x[m]) for m in self.modalities], dim=1)  # (B, M, 128)
        logits = self.gate(h.flatten(1)).view_as(h)  # (B, M, 128)
        return (logits.softmax(dim=1) * h).sum(1)  # (B, 128)

    def _predict(self, x: Mapping[str, Tensor], view: str = FUSION) -> Tensor:
        return self.head(self.features(x, view))

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        return {"main": self.task_loss(self._predict(batch["x"]), batch["y"])}
