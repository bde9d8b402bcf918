"""DisCoM-KD (Ienco & Dantas 2024): disentangled cross-modal knowledge distillation, MDiCo's ancestor.

Follows the paper and the official code (``tanodino/CMKD_Disentangle``: ``model_pytorch.py``,
``main_DisCoM-KD.py``, ``functions.py``), restated here. Per modality m:

    X_m ─ E_m^inv ─ Linear(128→d) → BN → ReLU ─ z_sha   (B, d)  invariant ("shared")
    X_m ─ E_m^spe ─ split ─────────────────────┬ z_spe   (B, d)  informative ("specific")
                                               └ z_unu   (B, d)  irrelevant ("unused")
    ŷ_m = C_m([z_sha ‖ z_spe])                              per-modality task classifier

and five losses, all of weight 1, each averaged over the M modalities:

    task  L_pred(y, C_m([z_sha ‖ z_spe]))
    aux   L_pred(y, C_aux(z_sha)) + L_pred(y, C_aux(z_spe))       C_aux shared by all modalities
    adv   CE(m, D(GRL_λ(z_sha)))                                  λ = 1: z_sha made modality-invariant
    mod   CE(m, D^spe(z_spe)) + CE(m, D^unu(z_unu))
    orth  |cos(z_spe, z_unu)| + |cos(z_spe, z_sha)|               batch means, L2-normalised features

Adaptations, and where this departs from the released code:
- Modality labels are integers 0..M-1 with a hard CE, as the paper intends. The released code
  passes float one/zero tensors shaped like the logits, which PyTorch reads as soft labels (the
  second modality's terms vanish, the first's push toward uniform).
- Orthogonality uses |cos| (``ortho="abs"``, default) or cos² (``"square"``). The released
  signed cosine only works with non-negative (ReLU) features; TempCNN's embedding is linear.
- Batches are paired (the same samples for every modality), like MDiCo's; the released code
  shuffles each modality separately.
- Sizes: this project's encoders output 128 features, so d = 64 (the released ResNet-18 gives
  512, halves of 256 and a 256-d projection); every head is one linear layer.
- The released code is classification-only; the task terms use `TaskLoss`, so multilabel and
  regression work too. The modality losses classify among M modalities, so any M >= 2 works.

Common settings: the shared trainer (Adam 1e-3) and early-stopping rule (total validation loss).
Original settings (``DisCoMKD.original_recipe``, ``functions.py``, ``main_DisCoM-KD.py``): Adam
1e-4, constant, no weight decay, no early stopping, and every modality evaluated with the weights
of its own best validation score (weighted F1; R² for regression), checked every epoch.
Substitutions: 300 epochs -> the 100-epoch cap; paired batches and integer modality labels (above)
kept; the official flip / rotation augmentation has no time-series counterpart here.

Inference from modality m: C_m([z_sha ‖ z_spe]), reading only X_m.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec, Recipe


class _GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by -λ backward (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, lambd: float) -> Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.lambd * grad, None


def grad_reverse(x: Tensor, lambd: float = 1.0) -> Tensor:
    """Gradient reversal layer: ``x`` forward, ``-lambd * grad`` backward."""
    return _GradientReversal.apply(x, lambd)


class DisCoMKD(Method):
    """Invariant / informative / irrelevant features per modality, adversarial alignment.

    Args:
        spec: modalities (at least 2), task, outputs.
        encoder: encoder name (two per modality).
        grl_lambda: gradient-reversal factor λ (official: 1).
        ortho: "abs" (|cos|, default) or "square" (cos²).
        **encoder_options: passed to the encoders.
    """

    name = "discomkd"
    paper_name = "DisCoM-KD"
    min_modalities = 2  # distils across modalities
    original_recipe = Recipe(
        train={"lr": 1e-4, "patience": 0, "monitor": "score", "checkpoint": "per_view"},
        notes=("300 epochs -> the 100-epoch cap",
               "paired batches and integer modality labels (the released code: unpaired, soft float labels)",
               "no flip / rotation augmentation for time series"),
    )

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", grl_lambda: float = 1.0, ortho: str = "abs",
                 **encoder_options: Any):
        super().__init__(spec, encoder)
        if ortho not in ("abs", "square"):
            raise ValueError(f"ortho must be 'abs' or 'square', got {ortho!r}")
        self.grl_lambda, self.ortho = grl_lambda, ortho
        mods, M = list(spec.shapes), len(spec.shapes)
        self.d = d = EMB_DIM // 2
        self.invariant = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in spec.shapes.items()})
        self.specific = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in spec.shapes.items()})
        self.inv_proj = nn.ModuleDict({m: nn.Sequential(nn.Linear(EMB_DIM, d), nn.BatchNorm1d(d), nn.ReLU())
                                       for m in mods})
        self.heads = nn.ModuleDict({m: nn.Linear(2 * d, spec.n_outputs) for m in mods})
        self.aux_head = nn.Linear(d, spec.n_outputs)
        self.disc_adv = nn.Linear(d, M)  # behind the gradient reversal
        self.disc_spe = nn.Linear(d, M)
        self.disc_unu = nn.Linear(d, M)

    def encode(self, x: Tensor, m: str) -> tuple[Tensor, Tensor, Tensor]:
        """(z_sha, z_spe, z_unu) of modality `m`, each (B, d)."""
        z_sha = self.inv_proj[m](self.invariant[m](x))  # (B, d)
        h = self.specific[m](x)  # (B, 2d)
        return z_sha, h[:, :self.d], h[:, self.d:]

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        z_sha, z_spe, _ = self.encode(x[view], view)
        return torch.cat([z_sha, z_spe], dim=-1)  # (B, 2d)

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.heads[view](self.features(x, view))

    def _cos(self, a: Tensor, b: Tensor) -> Tensor:
        c = F.cosine_similarity(a, b, dim=-1)  # (B,)
        return (c.abs() if self.ortho == "abs" else c.square()).mean()

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        y, mods = batch["y"], self.modalities
        terms = {k: 0.0 for k in ("task", "aux", "adv", "mod", "orth")}
        for k, m in enumerate(mods):
            z_sha, z_spe, z_unu = self.encode(batch["x"][m], m)
            label = torch.full((len(z_sha),), k, dtype=torch.long, device=z_sha.device)
            terms["task"] = terms["task"] + self.task_loss(self.heads[m](torch.cat([z_sha, z_spe], -1)), y)
            terms["aux"] = terms["aux"] + self.task_loss(self.aux_head(z_sha), y) + self.task_loss(
                self.aux_head(z_spe), y)
            terms["adv"] = terms["adv"] + F.cross_entropy(self.disc_adv(grad_reverse(z_sha, self.grl_lambda)), label)
            terms["mod"] = terms["mod"] + F.cross_entropy(self.disc_spe(z_spe), label) + F.cross_entropy(
                self.disc_unu(z_unu), label)
            terms["orth"] = terms["orth"] + self._cos(z_spe, z_unu) + self._cos(z_spe, z_sha)
        return {k: v / len(mods) for k, v in terms.items()}
