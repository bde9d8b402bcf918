"""EmbraceNet (Choi & Lee 2019): fusion by per-coordinate modality sampling.

Follows the official PyTorch code (``idearibosome/embracenet``: ``embracenet_pytorch/embracenet.py``
and the Fashion-MNIST example), restated here:

    d_m = ReLU(W_m h_m + b_m),  h_m = E_m(X_m)      "docking": (B, c) per modality, c = 256
    for every sample b and coordinate k:             "embracement"
        r[b, k] ~ Categorical(p_b),  p_b ∝ availability a_b ∈ {0, 1}^M
        e[b, k] = d_{r[b, k]}[b, k]                  (B, c)
    ŷ = Linear(e)

Training ("modality dropout", as the example): with probability ``p_single`` = 0.5 per batch,
every sample keeps exactly one modality drawn uniformly, else all modalities are available.
Both draws use torch's global RNG and happen only in training mode.

Single-modality inference (view m) sets a one-hot availability, so e = d_m exactly: the
prediction reads only X_m and is deterministic. In eval mode `losses` is the mean of the M
single-modality losses (the all-but-one setting the tables evaluate), which is deterministic, so
early stopping does not follow sampling noise; the training loss is the sampled one.

Adaptations: the 128-d encoders of this project feed the docking layers; the head is one linear
layer; the task loss is `TaskLoss`, so every task is supported. Works for any M >= 2.

Common settings: the shared trainer (Adam 1e-3, early stopping). Original settings
(``EmbraceNet.original_recipe``, the PyTorch Fashion-MNIST example): Adam 1e-4, constant, no
weight decay, docking c = 256 and modality dropout p 0.5 on (the example's "Section 5.1" run).
Substitution: 50k steps at batch 16 and the final model (tied to MNIST) become the common batch
size, the 100-epoch cap and early stopping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec, Recipe


class EmbraceNet(Method):
    """Docking layers + stochastic embracement + linear head.

    Args:
        spec: modalities, task, outputs.
        encoder: encoder name (one per modality).
        dock_dim: size c of the docking and embraced vectors (official default 256).
        p_single: probability, per training batch, that every sample keeps one random modality.
        **encoder_options: passed to the encoders.
    """

    name = "embracenet"
    paper_name = "EmbraceNet"
    common_recipe = Recipe(sampling="per batch, p 0.5: every sample keeps one uniform modality")
    original_recipe = Recipe(
        train={"lr": 1e-4},
        sampling="per batch, p 0.5: every sample keeps one uniform modality",
        notes=("50k steps at batch 16, final model (tied to MNIST) -> the common batch size, the 100-epoch cap and "
               "early stopping",),
    )

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", dock_dim: int = 256, p_single: float = 0.5,
                 **encoder_options: Any):
        super().__init__(spec, encoder)
        if not 0.0 <= p_single <= 1.0:
            raise ValueError(f"p_single is a probability, got {p_single}")
        self.p_single = p_single
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in spec.shapes.items()})
        self.docking = nn.ModuleDict({m: nn.Sequential(nn.Linear(EMB_DIM, dock_dim), nn.ReLU()) for m in spec.shapes})
        self.head = nn.Linear(dock_dim, spec.n_outputs)

    def dock(self, x: Tensor, m: str) -> Tensor:
        """Docking vector of modality `m`, (B, c)."""
        return self.docking[m](self.encoders[m](x))

    def embrace(self, docks: Tensor, available: Tensor) -> Tensor:
        """Sample each coordinate from one available modality.

        Shapes: docks (B, M, c), available (B, M) in {0, 1} with at least one 1 per row -> (B, c).
        """
        B, M, c = docks.shape
        probs = available.float() / available.float().sum(1, keepdim=True)  # (B, M)
        pick = torch.multinomial(probs, c, replacement=True)  # (B, c) modality index per coordinate
        return docks.gather(1, pick.unsqueeze(1)).squeeze(1)  # (B, c)

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        mods, y = self.modalities, batch["y"]
        docks = torch.stack([self.dock(batch["x"][m], m) for m in mods], dim=1)  # (B, M, c)
        if not self.training:  # deterministic: the single-modality losses the tables evaluate
            return {"main": sum(self.task_loss(self.head(docks[:, k]), y) for k in range(len(mods))) / len(mods)}
        available = self.draw_availability(*docks.shape[:2], docks.device)
        return {"main": self.task_loss(self.head(self.embrace(docks, available)), y)}

    def draw_availability(self, B: int, M: int, device: torch.device) -> Tensor:
        """Modality dropout of one training batch (global RNG): (B, M) in {0, 1}."""
        if torch.rand(()) < self.p_single:  # one random modality per sample
            return F.one_hot(torch.randint(M, (B,)), M).to(device)
        return torch.ones(B, M, device=device)

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.dock(x[view], view)  # one-hot availability: the embraced vector is d_m itself

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.head(self.features(x, view))
