"""Individual: one independent encoder + linear head per modality (the paper's baseline)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec


class Individual(Method):
    """One model per modality, trained on the task loss only.

    The models share nothing; they are trained in one loop for convenience, and the loss is
    the mean of the per-modality task losses, so each gets exactly the gradient it would get
    alone. Every table's improvement claims are measured against this baseline.
    """

    name = "individual"
    paper_name = "Individual"
    stackable = True

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", **options: Any):
        super().__init__(spec, encoder)
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s, **options) for m, s in spec.shapes.items()})
        self.heads = nn.ModuleDict({m: nn.Linear(EMB_DIM, spec.n_outputs) for m in spec.shapes})

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        y = batch["y"]
        terms = [self.task_loss(self.heads[m](self.encoders[m](x)), y) for m, x in batch["x"].items()]
        return {"main": sum(terms) / len(terms)}

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.encoders[view](x[view])  # (B, 128)

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.heads[view](self.features(x, view))
