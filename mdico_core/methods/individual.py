"""Individual: one independent encoder + linear head per modality (the paper's baseline)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec, Recipe, Stage


def per_modality_stages(method: Method, cfg: Any, modules: tuple[str, ...]) -> list[Stage]:
    """One independent stage per modality m, training only ``<module>.m`` for each of `modules`:
    its own optimiser state, early stopping and kept weights, its own batch order and dropout draws."""
    return [Stage(m, cfg, params=tuple(f"{mod}.{m}" for mod in modules), mode=m, views=(m,), independent=True)
            for m in method.modalities]


class Individual(Method):
    """M independent models, one per modality, each trained on its task loss alone.

    Every model is its own training stage (`stages`): its own optimiser state, its own early
    stopping on its own validation loss and its own best weights, its own batch order and dropout
    draws (seeded from the run's seed and the modality's name). Training one modality is
    therefore exactly a single-modality fit, whatever the other modalities hold; one run record
    holds all M models, and ``best_epochs`` their kept epochs. This is how the paper trains the
    baseline that every improvement claim is measured against, in both settings (its original
    recipe is the common budget). Outside `fit` (``stage`` None), `losses` is the mean of the M
    task losses.
    """

    name = "individual"
    paper_name = "Individual"
    stackable = True
    common_recipe = Recipe(stages="one per modality, independent (own optimiser, early stopping, best weights)")

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", **options: Any):
        super().__init__(spec, encoder)
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s, **options) for m, s in spec.shapes.items()})
        self.heads = nn.ModuleDict({m: nn.Linear(EMB_DIM, spec.n_outputs) for m in spec.shapes})

    def stages(self, cfg: Any) -> list[Stage]:
        return per_modality_stages(self, cfg, ("encoders", "heads"))

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        y = batch["y"]
        mods = [self.stage] if self.stage in self.spec.shapes else self.modalities
        terms = [self.task_loss(self.heads[m](self.encoders[m](batch["x"][m])), y) for m in mods]
        return {"main": sum(terms) / len(terms)}

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.encoders[view](x[view])  # (B, 128)

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.heads[view](self.features(x, view))
