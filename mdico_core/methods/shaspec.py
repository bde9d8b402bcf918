"""ShaSpec (Wang et al., CVPR 2023): shared and specific features for missing modalities.

Follows the official code (``billhhh/ShaSpec``: ``DualNet_SS.py``, ``train_SS.py``, ``run.sh``,
``loss_Dual.py``; 3-D BraTS segmentation only), restated for classification / regression:

    s_m = E^sha(P_m(X_m))                 (B, 128) one shared encoder for every modality
    f_m = E_m^spe(X_m)                    (B, 128) one specific encoder per modality
    g_m = s_m + W [s_m ‖ f_m]             (B, 128) residual composition, W shared by modalities
    slot_m = g_m if m is available, else the shared feature of the available modalities
    ŷ = H([slot_1 ‖ ... ‖ slot_M])        one linear head on the M concatenated slots

    L = L_pred(y, ŷ) + α Σ_{pairs} L1(s_i, s_j) + β CE(m, D(f_m)),   α = 0.1, β = 0.02 (official)

where the L1 "domain" term runs over consecutive modality pairs (a ring for M >= 3, the single
pair for M = 2) and D is a linear modality classifier on the specific features.

Adaptations for EO time series (each says why):
- P_m is a per-modality input projection, a Linear(C_m → C_s) at every time step (C_s = the
  largest C_m by default), because one shared encoder needs one input shape and S1 has 2-3
  bands while S2 has 10-13 (the author's advice in ShaSpec issue #15). A series with fewer time
  steps is linearly resampled to the longest T. Image modalities are not supported: a shared
  encoder cannot read an image and a series (the constructor raises).
- Missing slots take the mean shared feature of the available modalities (``fill="mean"``, the
  paper's description); ``fill="first"`` takes the first available one, as the official code.
  With one available modality, as at single-modality inference, both are that modality's s_m.
- The task loss is `TaskLoss` (the official Dice + BCE is for segmentation), so every task is
  supported. Any M >= 2. In eval mode `losses` is the exact expectation of the task term over the
  2^M - 1 subsets (each applied to the whole batch), with the L1 and modality terms on all
  modalities: deterministic. Draws use torch's global RNG, in training mode only.

Common settings (the shared trainer: Adam 1e-3, early stopping): every training sample draws its
own subset uniformly among the 2^M - 1 non-empty ones (the per-iteration draw of a batch of one),
after ``warmup_steps`` optimiser steps on all modalities (default 0); missing slots take the mean
shared feature; the L1 and modality terms are masked to the available modalities (the official
loss is not, ShaSpec issue #4); the L1 term runs over the single pair for M = 2.

Original settings (``ShaSpec.original_recipe``, from ``train_SS.py`` and ``run.sh``): SGD with
Nesterov momentum, lr 1e-2, poly decay (1 - it/max)^0.9 per step over a fixed budget, no
weight decay (the script's 5e-4 never reaches SGD), no early stopping, the final model. Two
stages sharing one optimiser and one schedule: all modalities for 80/180 of the steps, then one
subset per step drawn as the official code draws it (size k ~ U{1..M}, then a uniform subset of
size k; for M = 2 both with 1/2, each single one with 1/4); missing slots take the FIRST available
modality's shared feature; encoders and the L1 / modality terms see every modality (unmasked); the
L1 term runs over the literal ring of consecutive modalities (for M = 2 the pair counts twice;
summed over the ring, inferred). Substitutions: batch 1 for 180k iterations (a memory limit of 3-D
BraTS volumes) becomes the common batch size and the 100-epoch cap, the stage boundary a fraction;
momentum 0.99 becomes 0.9: with 0.99 (an effective step of lr / (1 - 0.99) = 1) TempCNN on LFMC
diverges to NaN within the first epoch (batch 32, MSE on the z-scored target), while 0.9 trains
stably (validation loss 0.79 -> 0.60 over 18 epochs of fold 0).

Inference from modality m: slots = g_m for m and s_m for every other modality; reads only X_m.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec, Recipe, Stage
from mdico_core.methods.fcom import nonempty_subsets


class InputProjection(nn.Module):
    """Linear(C_m → C_s) at every time step, then linear resampling to `steps` time steps."""

    def __init__(self, in_channels: int, out_channels: int, in_steps: int, steps: int):
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels)
        self.resample = in_steps != steps
        self.steps = steps

    def forward(self, x: Tensor) -> Tensor:
        h = self.linear(x)  # (B, T_m, C_s)
        if self.resample:
            h = F.interpolate(h.transpose(1, 2), size=self.steps, mode="linear", align_corners=True).transpose(1, 2)
        return h  # (B, T_s, C_s)


class ShaSpec(Method):
    """Shared encoder + specific encoders, residual composition, slot filling for absent modalities.

    Args:
        spec: modalities (at least 2 time series), task, outputs.
        encoder: encoder name (the shared one and one specific one per modality).
        alpha: weight of the L1 domain term between shared features (official 0.1).
        beta: weight of the specific-feature modality classification (official 0.02).
        fill: "mean" or "first": what fills an absent modality's slot.
        warmup_steps: training steps on all modalities before the random subsets start (common).
        staged: train in the official two stages, "full" then "random" (see `stages`).
        draw: "sample" (a uniform non-empty subset per sample) or "size_first" (one subset per
            step: its size uniform in 1..M, then a uniform subset of that size; official).
        ring: the L1 term over the literal ring of M consecutive pairs (official), else over the
            single pair for M = 2.
        mask_aux: mask the L1 and modality terms to the available modalities.
        shared_channels: C_s of the input projections (None: the largest C_m).
        **encoder_options: passed to the encoders.
    """

    name = "shaspec"
    paper_name = "ShaSpec"
    min_modalities = 2  # shared features are aligned across modalities
    variants = {"default": {}, "first_fill": {"fill": "first"}}
    common_recipe = Recipe(sampling="a uniform non-empty subset per sample; mean fill; L1 / modality terms masked")
    original_recipe = Recipe(
        train={"optimizer": "sgd", "lr": 1e-2, "momentum": 0.9, "nesterov": True, "schedule": "poly",
               "poly_power": 0.9, "weight_decay": 0.0, "patience": 0, "checkpoint": "final"},
        stage_train={"full": {"epochs_fraction": 80 / 180}, "random": {"epochs_fraction": 100 / 180}},
        options={"fill": "first", "staged": True, "draw": "size_first", "ring": True, "mask_aux": False},
        stages="full (all modalities, 80/180 of the budget) -> random (same optimiser and poly schedule)",
        sampling="one subset per step: size k ~ U{1..M}, then a uniform k-subset; first-available fill",
        notes=("batch 1 for 180k iterations -> the common batch size and the 100-epoch cap; stage boundary "
               "80k/180k kept as a fraction",
               "momentum 0.99 -> 0.9: 0.99 diverges to NaN within the first epoch on LFMC (TempCNN, batch 32, MSE); "
               "0.9 trains stably",
               "task loss: TaskLoss instead of Dice + BCE (segmentation)",
               "per-modality input projection and time resampling (one shared encoder needs one input shape)",
               "L1 ring summed over the M consecutive pairs (for M = 2 the pair twice): inferred"),
    )

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", alpha: float = 0.1, beta: float = 0.02,
                 fill: str = "mean", warmup_steps: int = 0, shared_channels: int | None = None,
                 staged: bool = False, draw: str = "sample", ring: bool = False, mask_aux: bool = True,
                 **encoder_options: Any):
        super().__init__(spec, encoder)
        shapes = {m: tuple(s) for m, s in spec.shapes.items()}
        if any(len(s) != 2 for s in shapes.values()):
            raise ValueError(f"ShaSpec's shared encoder reads every modality, which needs time series (T, C) "
                             f"for all of them; got {shapes}. Images are not supported by this adaptation")
        if fill not in ("mean", "first"):
            raise ValueError(f"fill must be 'mean' or 'first', got {fill!r}")
        if draw not in ("sample", "size_first"):
            raise ValueError(f"draw must be 'sample' or 'size_first', got {draw!r}")
        self.alpha, self.beta, self.fill, self.warmup_steps = alpha, beta, fill, warmup_steps
        self.staged, self.draw, self.mask_aux = staged, draw, mask_aux
        self.steps_done = 0
        steps = max(s[0] for s in shapes.values())
        channels = shared_channels or max(s[1] for s in shapes.values())
        mods = list(shapes)
        self.proj = nn.ModuleDict({m: InputProjection(s[1], channels, s[0], steps) for m, s in shapes.items()})
        self.shared = build_encoder(encoder, (steps, channels), **encoder_options)
        self.specific = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in shapes.items()})
        self.compose = nn.Linear(2 * EMB_DIM, EMB_DIM)
        self.head = nn.Linear(len(mods) * EMB_DIM, spec.n_outputs)
        self.mod_classifier = nn.Linear(EMB_DIM, len(mods))
        subsets = nonempty_subsets(mods)
        self.register_buffer("subset_masks", torch.tensor([[float(m in s) for m in mods] for s in subsets]),
                             persistent=False)  # (2^M - 1, M)
        ring_pairs = [(i, (i + 1) % len(mods)) for i in range(len(mods))]
        self.pairs = ring_pairs if ring or len(mods) > 2 else [(0, 1)]

    def stages(self, cfg: Any) -> list[Stage]:
        if not self.staged:
            return super().stages(cfg)
        return [Stage("full", cfg.for_stage("full"), mode="full"),
                Stage("random", cfg.for_stage("random"), mode="random", resume=True)]

    def draw_mask(self, B: int, device: torch.device) -> Tensor:
        """The availability mask (B, M) of a training step (global RNG), as the schedule says."""
        M = len(self.modalities)
        if self.stage == "full":
            return torch.ones(B, M, device=device)
        if self.stage is None:  # the common schedule: a warm-up on all modalities
            self.steps_done += 1
            if self.steps_done <= self.warmup_steps:
                return torch.ones(B, M, device=device)
        if self.draw == "size_first":
            k = int(torch.randint(1, M + 1, ()))
            mask = torch.zeros(M)
            mask[torch.randperm(M)[:k]] = 1.0
            return mask.to(device).expand(B, M)
        return self.subset_masks[torch.randint(len(self.subset_masks), (B,)).to(device)]  # (B, M)

    def encode(self, x: Tensor, m: str) -> tuple[Tensor, Tensor]:
        """(shared, specific) features of modality `m`, each (B, 128)."""
        return self.shared(self.proj[m](x)), self.specific[m](x)

    def slots(self, s: Tensor, f: Tensor, mask: Tensor) -> Tensor:
        """Concatenated slots from all features and an availability mask.

        Shapes: s, f (B, M, 128); mask (B, M) in {0, 1}, one 1 at least per row -> (B, M*128).
        """
        g = s + self.compose(torch.cat([s, f], -1))  # (B, M, 128)
        if self.fill == "mean":
            fill = (s * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)  # (B, 128)
        else:
            fill = s[torch.arange(len(s), device=s.device), mask.argmax(1)]  # first available, (B, 128)
        return torch.where(mask.unsqueeze(-1).bool(), g, fill.unsqueeze(1)).flatten(1)

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        s, f = self.encode(x[view], view)
        g = s + self.compose(torch.cat([s, f], -1))
        return torch.cat([g if m == view else s for m in self.modalities], dim=-1)  # (B, M*128)

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.head(self.features(x, view))

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        y, mods = batch["y"], self.modalities
        enc = [self.encode(batch["x"][m], m) for m in mods]
        s = torch.stack([e[0] for e in enc], 1)  # (B, M, 128)
        f = torch.stack([e[1] for e in enc], 1)  # (B, M, 128)
        B, M = s.shape[:2]
        if self.training:
            mask = self.draw_mask(B, s.device)
            main = self.task_loss(self.head(self.slots(s, f, mask)), y)
        else:  # the exact expectation over the subsets, deterministic
            mask = torch.ones(B, M, device=s.device)
            main = sum(self.task_loss(self.head(self.slots(s, f, sub.expand(B, M))), y)
                       for sub in self.subset_masks) / len(self.subset_masks)
        if not self.mask_aux:
            mask = torch.ones(B, M, device=s.device)
        dom = 0.0
        for i, j in self.pairs:
            both = mask[:, i] * mask[:, j]  # (B,)
            dom = dom + ((s[:, i] - s[:, j]).abs().mean(-1) * both).sum() / both.sum().clamp(min=1)
        labels = torch.arange(M, device=s.device).expand(B, M)  # (B, M)
        ce = F.cross_entropy(self.mod_classifier(f).flatten(0, 1), labels.flatten(), reduction="none")  # (B*M,)
        mod = (ce * mask.flatten()).sum() / mask.sum()
        return {"main": main, "dom": self.alpha * dom, "mod": self.beta * mod}
