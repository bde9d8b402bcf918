"""A method of your own, as the book's page "Add your own method" (11_own_method) trains and tests it.

`mdico book` registers this file (``$MDICO_METHODS``), trains its runs beside the book's Individual
and MDiCo runs, and the page pairs them. Yours: copy this file, change the class, and run
``mdico run --method-module path/to/it.py --dataset lfmc --methods <its name> --profile paper``,
then ``mdico versus lfmc_paper --method-module path/to/it.py --methods <its name>``.
"""

import torch
from torch import nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods import Method


class ModalityDropout(Method):
    """One encoder per modality and one prediction head shared by all of them. Each training step drops
    each modality's loss with probability `p_drop` (one modality is always kept), so that the head
    learns to predict from whichever modality is there, the all-but-one setting of the paper."""

    name = "modality_dropout"

    def __init__(self, spec, encoder="tempcnn", p_drop=0.5, **options):
        super().__init__(spec, encoder)
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s) for m, s in spec.shapes.items()})
        self.head = nn.Linear(EMB_DIM, spec.n_outputs)  # shared: (B, EMB_DIM) -> (B, n_outputs)
        self.p_drop = p_drop

    def losses(self, batch):
        keep = torch.rand(len(self.modalities)) >= self.p_drop  # the run's seeded generator
        keep[torch.randint(len(self.modalities), ())] = True  # never every modality dropped
        terms = [self.task_loss(self.head(self.encoders[m](batch["x"][m])), batch["y"])
                 for m, kept in zip(self.modalities, keep) if kept]
        return {"main": sum(terms) / len(terms)}

    def features(self, x, view):
        return self.encoders[view](x[view])

    def _predict(self, x, view):
        return self.head(self.features(x, view))
