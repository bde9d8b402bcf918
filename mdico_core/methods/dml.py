"""DML, Deep Mutual Learning (Zhang et al. 2018): single-modality networks that mimic each other.

Follows the official code (``YingZhangDUT/Deep-Mutual-Learning``, ``train_models.py``), restated:
one network per modality, trained together on paired samples; network k minimises

    L_k = L_pred(y, ŷ_k) + 1/(M-1) Σ_{j≠k} D(p_j ‖ p_k)

where the peers' predictions p_j are constants for network k (the official code gives each
network its own optimiser over its own variables; here the peers are detached, which with Adam's
per-parameter updates is the same thing).

Mimicry D by task (the official code is classification-only; the other two are adaptations):
    binary / multiclass: KL(p_j ‖ p_k) of the softmax outputs, temperature 1 (official);
    multilabel: BCE of network k's logits against the detached sigmoid p_j, per label, minus
        the constant entropy of p_j (so the term is the Bernoulli KL, 0 when the two agree);
    regression: MSE between the z-scored outputs, the peer's detached.

Returned terms: ``main`` = mean over k of L_pred, ``mimic`` = mean over k of the mimicry (weight
1, official); their sum is the mean of the L_k (``reduction="sum"``: the sums, so that each
network gets exactly the gradient of its own L_k). Inference: each modality's own network.
Needs M >= 2.

Common settings: the shared trainer (Adam 1e-3, early stopping) and `TaskLoss`, mean reduction.
Original settings (``DML.original_recipe``, ``train_models.py`` and its Market-1501 script): Adam
2e-4 with β1 0.5 (β2 0.999, ε 1e-8), coupled L2 weight decay 4e-5, label smoothing 0.1 on the
cross-entropy (classification), KL weight 1, T 1, and one optimiser per network: Adam is
elementwise and every parameter belongs to one network, so one Adam over all of them with the
sum reduction (each network's gradient is that of its own L_k, plus its own decay) is exactly one
Adam per network. Substitution: the official 200k steps at batch 16 and final model (a budget
tied to Market-1501) become the common batch size, the 100-epoch cap and early stopping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from mdico_core.encoders import EMB_DIM, build_encoder
from mdico_core.methods.base import Batch, Method, ProblemSpec, Recipe, TaskLoss


class DML(Method):
    """One encoder + linear head per modality, with mutual mimicry between modalities.

    Args:
        spec: modalities (at least 2), task, outputs.
        encoder: encoder name (one per modality).
        mimic_weight: weight of the mimicry term (official: 1).
        temperature: softmax temperature of the KL mimicry (official: 1); classification only.
        label_smoothing: of the task cross-entropy (official: 0.1); classification only.
        reduction: "mean" or "sum" of the networks' losses.
        **encoder_options: passed to the encoders.
    """

    name = "dml"
    paper_name = "DML"
    min_modalities = 2  # the networks mimic each other
    original_recipe = Recipe(
        train={"lr": 2e-4, "beta1": 0.5, "weight_decay": 4e-5},
        options={"label_smoothing": 0.1, "reduction": "sum"},
        stages="one (one Adam per network: the sum of the L_k under one elementwise Adam)",
        notes=("200k steps at batch 16, final model (tied to Market-1501) -> the common batch size, the 100-epoch "
               "cap and early stopping",
               "label smoothing applies to classification only; multilabel / regression mimicry adapted"),
    )

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", mimic_weight: float = 1.0,
                 temperature: float = 1.0, label_smoothing: float = 0.0, reduction: str = "mean",
                 **encoder_options: Any):
        super().__init__(spec, encoder)
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.mimic_weight, self.temperature, self.reduction = mimic_weight, temperature, reduction
        if label_smoothing:
            self.task_loss = TaskLoss(spec, label_smoothing=label_smoothing)
        self.encoders = nn.ModuleDict({m: build_encoder(encoder, s, **encoder_options) for m, s in spec.shapes.items()})
        self.heads = nn.ModuleDict({m: nn.Linear(EMB_DIM, spec.n_outputs) for m in spec.shapes})

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.encoders[view](x[view])  # (B, 128)

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        return self.heads[view](self.features(x, view))

    def mimicry(self, student: Tensor, teacher: Tensor) -> Tensor:
        """D(teacher ‖ student) on raw outputs; the teacher is treated as a constant."""
        teacher = teacher.detach()
        task = self.spec.task
        if task in ("binary", "multiclass"):
            t = self.temperature
            return F.kl_div(F.log_softmax(student / t, -1), F.softmax(teacher / t, -1), reduction="batchmean")
        if task == "multilabel":  # BCE minus the teacher's entropy: the per-label Bernoulli KL, 0 at agreement
            p = teacher.sigmoid()
            return F.binary_cross_entropy_with_logits(student, p) - F.binary_cross_entropy_with_logits(teacher, p)
        return F.mse_loss(student, teacher)

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        y, mods = batch["y"], self.modalities
        out = {m: self._predict(batch["x"], m) for m in mods}
        M = len(mods)
        scale = 1 if self.reduction == "sum" else M
        main = sum(self.task_loss(out[m], y) for m in mods) / scale
        mimic = sum(self.mimicry(out[k], out[j]) for k in mods for j in mods if j != k) / (scale * (M - 1))
        return {"main": main, "mimic": self.mimic_weight * mimic}
