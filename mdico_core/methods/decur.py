"""DeCUR (Wang et al. 2024): decoupled common and unique representations, adapted to supervision.

Follows the official code (``zhu-xlab/DeCUR``: ``src/pretrain/models/decur.py``,
``pretrain_mm.py``, ``scripts/pretrain/*``), restated here. Per modality m a projector
Linear → BN → ReLU → Linear → BN → ReLU → Linear maps the encoder output to z_m, which is
standardised over the batch (the official affine-free BatchNorm). With C(a, b) = aᵀb / B the
cross-correlation of two standardised batches and λ = 0.0051 (official):

    BT(C)      = Σ_i (1 - C_ii)² + λ Σ_{i≠j} C_ij²                       Barlow Twins
    intra_m    = BT(C(z_m', z_m''))                   two augmented views of modality m
    cross_ij   = ½ [BT(C_common) + Σ_i C_ii² + λ Σ_{i≠j} C_ij² on C_unique]
                 C = C(z_i', z_j'); C_common = first ``dim_common`` rows and columns (diagonal
                 pushed to 1), C_unique = the rest (diagonal pushed to 0)
    L_DeCUR    = (Σ_m intra_m + mean_{i<j} cross_ij) / (M + 1)       = the official mean of 3 for M = 2

Common settings, a supervised co-learning adaptation (INFERRED): each modality keeps its encoder
and a linear head, trained jointly under the shared trainer with

    L = 1/M Σ_m L_pred(y, H_m(E_m(X_m))) + w · L_DeCUR / p

where p is the projector width (the Barlow-Twins sums grow with p; dividing keeps the term O(1)
next to the task loss) and w = 1. With ``pretrain_steps`` = N > 0 the first N training steps are
DeCUR pre-training: the heads then read detached embeddings (linear probes), so the encoders learn
from L_DeCUR only; afterwards everything is fine-tuned jointly (variant ``pretrain``).

Original settings (``DeCUR.original_recipe``, what the paper's asterisk "based on pre-training"
means; README, ``pretrain_mm.py``, ``linear_BE_resnet.py``): two stages. "pretrain": encoders and
projectors on L_DeCUR alone (official scale, no label), AdamW with weight decay 1e-6 and a cosine
schedule, batch 256, the budget's epochs (official 100), final weights. "probe": a linear head per
modality on the FROZEN encoder (eval mode: no dropout, fixed BatchNorm statistics), trained on the
sum of the per-modality task losses (each head its own gradient), SGD momentum 0.9, x0.1 at
60% and 80% of its epochs (official 60 and 80 of 100), batch 64, final weights. Two substitutions
make the probe train on a regression loss: its features are standardised (a BatchNorm without
affine parameters before the linear layer, as MAE-style linear probes do; still a linear map at
inference), and its lr is 0.01 instead of the official 0.5, which was tuned for cross-entropy on
ResNet-50 features. On LFMC (MSE) the official 0.5 and 0.05 diverge to NaN within a few probe
epochs, raw or standardised, and 0.01 on raw features diverges after 100 pre-training epochs (the
features' correlation matrix reaches an eigenvalue of ~36); on standardised 128-d features
heavy-ball SGD is stable while lr x lambda_max(H) < 2 (1 + momentum), and lambda_max(H) <= 2 x 128
for the MSE, so any lr < 0.0148 is, whatever the pre-training did.
Substitution: the released pre-training learning rate (0.05 with AdamW, because the condition
``'vit' or ...`` that picks AdamW over LARS is always true; LARS's rate handed to AdamW) is an
artefact, so AdamW runs at 1e-3, the common Adam rate; the released bias / BatchNorm rate (0.0048)
is not separated. The probe's selection rule is not stated in the source: its final weights.

Other adaptations: the projector is scaled from 8192-8192-8192 to 512-512-512 with
``dim_common`` = 448 (87.5 %, the SAR-MS scripts' 7168/8192 ratio); each modality has its own
projector (the official ``projector1`` and ``projector2`` share layer objects); the
cross-correlation is divided by the batch size on one device (the official code divides by
batch x 4 GPUs). Augmentations for time series (training mode only, torch's global RNG): Gaussian
jitter (σ = 0.1 on z-scored inputs), per-channel scaling by N(1, 0.1²), and zeroing a random window
of 20 % of the time steps (not for a single step, which it would erase); images get jitter,
scaling and a random horizontal flip. In eval mode the views are not augmented, so the loss is
deterministic. The task loss is `TaskLoss`; any M >= 2.

Inference from modality m: H_m(E_m(X_m)), reading only X_m.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations
from typing import Any

import torch
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec, Recipe, Stage


def projector(in_dim: int, width: int) -> nn.Sequential:
    """DeCUR's projector: Linear → BN → ReLU, twice, then Linear, all `width` wide."""
    return nn.Sequential(nn.Linear(in_dim, width), nn.BatchNorm1d(width), nn.ReLU(),
                         nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(),
                         nn.Linear(width, width))


def cross_correlation(a: Tensor, b: Tensor, eps: float = 1e-5) -> Tensor:
    """C(a, b) of two batches standardised per feature over the batch. (B, D), (B, D) -> (D, D)."""
    a = (a - a.mean(0)) / (a.std(0, unbiased=False) + eps)
    b = (b - b.mean(0)) / (b.std(0, unbiased=False) + eps)
    return a.T @ b / len(a)


def _off_diagonal(c: Tensor) -> Tensor:
    return c - torch.diag_embed(torch.diagonal(c))


def barlow_twins(c: Tensor, lambd: float, target: float = 1.0) -> Tensor:
    """Σ_i (target - C_ii)² + λ Σ_{i≠j} C_ij² of a cross-correlation matrix C."""
    return (torch.diagonal(c) - target).square().sum() + lambd * _off_diagonal(c).square().sum()


def augment(x: Tensor, jitter: float = 0.1, scale: float = 0.1, mask_fraction: float = 0.2) -> Tensor:
    """A random view of a batch: jitter, per-channel scaling, and a time mask (series) or flip (images)."""
    B = len(x)
    if x.ndim == 3:  # (B, T, C)
        T = x.shape[1]
        x = x * (1 + scale * torch.randn(B, 1, x.shape[2], device=x.device)) + jitter * torch.randn_like(x)
        if T == 1:  # static features (e.g. mfeat): a time mask would erase the whole sample
            return x
        width = max(1, math.ceil(mask_fraction * T))
        start = torch.randint(0, T - width + 1, (B, 1), device=x.device)  # (B, 1)
        t = torch.arange(T, device=x.device)
        keep = ~((t >= start) & (t < start + width))  # (B, T)
        return x * keep.unsqueeze(-1)
    x = x * (1 + scale * torch.randn(B, x.shape[1], 1, 1, device=x.device)) + jitter * torch.randn_like(x)
    flip = torch.rand(B, device=x.device) < 0.5
    return torch.where(flip.view(B, 1, 1, 1), x.flip(-1), x)


class DeCUR(Method):
    """Per-modality encoders and heads, trained with the task loss plus DeCUR's decoupling loss.

    Args:
        spec: modalities (at least 2), task, outputs.
        encoder: encoder name (one per modality).
        proj_dim: projector width p.
        dim_common: common dimensions of the cross-modal correlation (the rest are unique).
        lambd: weight of the off-diagonal terms (official 0.0051).
        decur_weight: weight w of L_DeCUR / p next to the task loss.
        pretrain_steps: training steps of DeCUR-only encoder training before joint fine-tuning.
        linear_probe: train in the official two stages, "pretrain" then "probe" (see `stages`).
        **encoder_options: passed to the encoders.
    """

    name = "decur"
    paper_name = "DeCUR"
    min_modalities = 2  # cross-modal correlations
    variants = {"default": {}, "pretrain": {"pretrain_steps": 300}}
    common_recipe = Recipe(stages="one: task loss + DeCUR loss / p, jointly (variant pretrain: 300 DeCUR-only "
                                  "steps first)")
    original_recipe = Recipe(
        train={"patience": 0, "checkpoint": "final"},
        stage_train={
            "pretrain": {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-6, "schedule": "cosine",
                         "batch_size": 256},
            "probe": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "schedule": "step",
                      "step_milestones": (0.6, 0.8), "step_gamma": 0.1, "batch_size": 64},
        },
        options={"linear_probe": True},
        stages="pretrain (DeCUR loss alone, encoders + projectors) -> probe (linear heads, frozen encoders)",
        notes=("pre-training lr: AdamW 1e-3 instead of the released 0.05 (LARS's rate reaching AdamW through an "
               "always-true condition); biases and BatchNorm not given their own rate",
               "projector 8192-8192-8192 -> 512 with 448 common dimensions (87.5%, the SAR-MS ratio)",
               "time-series augmentations (jitter, scaling, time mask) for the image ones",
               "probe: standardised features (BatchNorm without affine) and lr 0.01 instead of 0.5: 0.5 and 0.05 "
               "diverge on LFMC's MSE, raw or standardised; 0.01 on raw features diverges after 100 pre-training "
               "epochs; 0.01 on standardised features is provably stable (lr < 2(1+momentum) / (2 x 128))",
               "probe selection rule not stated: final weights"),
    )

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", proj_dim: int = 512, dim_common: int = 448,
                 lambd: float = 0.0051, decur_weight: float = 1.0, pretrain_steps: int = 0,
                 linear_probe: bool = False, **encoder_options: Any):
        super().__init__(spec, encoder)
        if not 0 < dim_common <= proj_dim:
            raise ValueError(f"dim_common must be in 1..proj_dim={proj_dim}, got {dim_common}")
        self.proj_dim, self.dim_common, self.lambd = proj_dim, dim_common, lambd
        self.decur_weight, self.pretrain_steps, self.steps_done = decur_weight, pretrain_steps, 0
        self.linear_probe = linear_probe
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in spec.shapes.items()})
        if linear_probe:  # a linear probe on standardised features (see `original_recipe`)
            self.heads = nn.ModuleDict({m: nn.Sequential(nn.BatchNorm1d(EMB_DIM, affine=False),
                                                         nn.Linear(EMB_DIM, spec.n_outputs)) for m in spec.shapes})
        else:
            self.heads = nn.ModuleDict({m: nn.Linear(EMB_DIM, spec.n_outputs) for m in spec.shapes})
        self.projectors = nn.ModuleDict({m: projector(EMB_DIM, proj_dim) for m in spec.shapes})

    def stages(self, cfg: Any) -> list[Stage]:
        if not self.linear_probe:
            return super().stages(cfg)
        return [Stage("pretrain", cfg.for_stage("pretrain"), params=("encoders", "projectors"), mode="pretrain",
                      views=()),
                Stage("probe", cfg.for_stage("probe"), params=("heads",), mode="probe")]

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.encoders[view](x[view])  # (B, 128)

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.heads[view](self.features(x, view))

    def decur_loss(self, z1: dict[str, Tensor], z2: dict[str, Tensor]) -> Tensor:
        """L_DeCUR from two views' projections per modality, each (B, p)."""
        mods, k = self.modalities, self.dim_common
        intra = sum(barlow_twins(cross_correlation(z1[m], z2[m]), self.lambd) for m in mods)
        cross = 0.0
        pairs = list(combinations(mods, 2))
        for a, b in pairs:
            c = cross_correlation(z1[a], z1[b])  # (p, p)
            common = barlow_twins(c[:k, :k], self.lambd, target=1.0)
            unique = barlow_twins(c[k:, k:], self.lambd, target=0.0) if k < self.proj_dim else 0.0
            cross = cross + (common + unique) / 2
        return (intra + cross / len(pairs)) / (len(mods) + 1)

    def views_of(self, xs: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Projections of two views per modality: augmented in training, the inputs themselves in eval."""
        z1, z2 = {}, {}
        for m in self.modalities:
            if self.training:
                z1[m] = self.projectors[m](self.encoders[m](augment(xs[m])))
                z2[m] = self.projectors[m](self.encoders[m](augment(xs[m])))
            else:
                z1[m] = z2[m] = self.projectors[m](self.encoders[m](xs[m]))
        return z1, z2

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        y, xs = batch["y"], batch["x"]
        if self.stage == "pretrain":  # the official pre-training: DeCUR alone, its own scale
            return {"decur": self.decur_loss(*self.views_of(xs))}
        if self.stage == "probe":  # one linear probe per modality; the sum gives each head its own gradient
            return {"main": sum(self.task_loss(self.heads[m](self.encoders[m](xs[m])), y) for m in self.modalities)}
        probing = False
        if self.training:
            self.steps_done += 1
            probing = self.steps_done <= self.pretrain_steps
        main, z1, z2 = 0.0, {}, {}
        for m in self.modalities:
            h = self.encoders[m](xs[m])  # (B, 128)
            main = main + self.task_loss(self.heads[m](h.detach() if probing else h), y)
            if self.training:
                z1[m] = self.projectors[m](self.encoders[m](augment(xs[m])))
                z2[m] = self.projectors[m](self.encoders[m](augment(xs[m])))
            else:  # no augmentation in eval mode: both views are the input itself
                z1[m] = z2[m] = self.projectors[m](h)
        decur = self.decur_loss(z1, z2) / self.proj_dim
        return {"main": main / len(self.modalities), "decur": self.decur_weight * decur}
