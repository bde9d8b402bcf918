"""The one interface that MDiCo and every competitor share.

A method is an ``nn.Module`` built from a `ProblemSpec` (modalities and their shapes, the task)
and an encoder name. Training calls ``losses(batch)``, a dict of named loss terms whose sum is
minimised; evaluation calls ``predict(x, view)``, which must read only the modality named by
``view`` (the all-but-one missing-modality setting); ``features(x, view)`` gives the learned
representation for t-SNE.

A *view* is a modality name (``"S1"``), a modality with an inference mode
(``"S1:shared"``, ``"S1:specific"`` for MDiCo's Table 7), or ``"fusion"`` for the multi-modal
references, which read every modality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mdico_core.data.dataset import MultiModalDataset, Task

Batch = dict[str, Any]  # {"x": {modality: Tensor (B, ...)}, "y": Tensor (B,) or (B, K)}
FUSION = "fusion"


@dataclass(frozen=True)
class ProblemSpec:
    """What a method needs to know about the data, and nothing else.

    Attributes:
        shapes: modality -> per-sample shape, (T, C) for a series or (C, H, W) for an image.
        task: "binary" | "multiclass" | "multilabel" | "regression".
        n_outputs: logits of the head: classes (2 for binary), labels, or 1 for regression.
        class_weights: balanced class weights from the training rows (classification), else None.
        target_mean, target_std: z-score of a regression target (fitted on training rows).
    """

    shapes: Mapping[str, tuple[int, ...]]
    task: Task
    n_outputs: int
    class_weights: tuple[float, ...] | None = None
    target_mean: float = 0.0
    target_std: float = 1.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return list(self.shapes)

    @classmethod
    def from_dataset(cls, ds: MultiModalDataset, train_idx: np.ndarray | None = None) -> ProblemSpec:
        """Spec of `ds`, with class weights / target statistics from the rows `train_idx`."""
        idx = np.arange(len(ds)) if train_idx is None else train_idx
        y = ds.target[idx]
        weights, mean, std = None, 0.0, 1.0
        if ds.task in ("binary", "multiclass"):
            counts = np.bincount(y, minlength=ds.n_classes).astype(np.float64)
            # sklearn's 'balanced' rule, n / (k * count); an absent class gets weight 0.
            w = np.where(counts > 0, len(y) / (ds.n_classes * np.maximum(counts, 1)), 0.0)
            weights = tuple(float(v) for v in w)
        elif ds.task == "regression":
            mean, std = float(y.mean()), float(y.std())
        return cls(dict(ds.shapes), ds.task, ds.n_classes, weights, mean, std if std > 0 else 1.0)


class TaskLoss(nn.Module):
    """The task's loss on raw head outputs.

    Class-balanced cross-entropy (binary and multiclass, a softmax over ``n_outputs`` logits),
    BCE with logits (multilabel), or the squared error on the z-scored target (regression: the
    head predicts ``(y - mean) / std``).
    """

    def __init__(self, spec: ProblemSpec):
        super().__init__()
        self.task = spec.task
        w = None if spec.class_weights is None else torch.tensor(spec.class_weights, dtype=torch.float32)
        self.register_buffer("class_weights", w)
        # Buffers, not floats: runs trained stacked (see stacking.py) each have their own statistics.
        self.register_buffer("mean", torch.tensor(spec.target_mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(spec.target_std, dtype=torch.float32))

    def forward(self, out: Tensor, y: Tensor) -> Tensor:
        if self.task in ("binary", "multiclass"):
            return F.cross_entropy(out, y, weight=self.class_weights)
        if self.task == "multilabel":
            return F.binary_cross_entropy_with_logits(out, y.to(out.dtype))
        return F.mse_loss(out.squeeze(-1), (y - self.mean) / self.std)

    def to_prediction(self, out: Tensor) -> Tensor:
        """Raw head output -> probabilities (classification) or target units (regression)."""
        if self.task in ("binary", "multiclass"):
            return out.softmax(-1)
        if self.task == "multilabel":
            return out.sigmoid()
        return out.squeeze(-1) * self.std + self.mean


class Method(nn.Module):
    """Base class of every method. Subclasses set `name` and implement `losses` and `_predict`.

    Class attributes:
        name: registry name (lower case, as on the command line).
        paper_name: as in the paper's tables.
        fusion: True for the multi-modal references, evaluated on all modalities (view "fusion").
        stackable: True when `losses` is vmap-safe, so that K runs can train as one (stacking.py).
        variants: variant name -> constructor options (``"default"`` must exist).
        min_modalities, max_modalities: how many modalities it trains on (None: no upper limit);
            the constructor refuses any other number, naming the limit. `modality_support` says
            it in words, for ``mdico methods``.
    """

    name: ClassVar[str] = ""
    paper_name: ClassVar[str] = ""
    fusion: ClassVar[bool] = False
    stackable: bool = False  # losses are vmap-safe, so K runs can train as one (stacking.py)
    variants: ClassVar[dict[str, dict[str, Any]]] = {"default": {}}
    min_modalities: ClassVar[int] = 1
    max_modalities: ClassVar[int | None] = None

    def __init__(self, spec: ProblemSpec, encoder: str = "tempcnn", **options: Any):
        super().__init__()
        M, who = len(spec.shapes), self.paper_name or self.name
        if M < self.min_modalities:
            raise ValueError(f"{who} needs at least {self.min_modalities} modalities (it learns across them); "
                             f"got {M}: {list(spec.shapes)}")
        if self.max_modalities is not None and M > self.max_modalities:
            raise ValueError(f"{who} trains on at most {self.max_modalities} modalities; got {M}: {list(spec.shapes)}. "
                             f"Train it on a subset (RunConfig.modalities, `mdico run --modalities ...`)")
        self.spec = spec
        self.encoder_name = encoder
        self.task_loss = TaskLoss(spec)

    @classmethod
    def modality_support(cls) -> str:
        """The number of modalities it trains on, in words: "any", "2 or more", "1 to 2"."""
        if cls.max_modalities is None:
            return "any" if cls.min_modalities <= 1 else f"{cls.min_modalities} or more"
        return f"{cls.min_modalities} to {cls.max_modalities}"

    @property
    def modalities(self) -> list[str]:
        return self.spec.modalities

    def views(self) -> list[str]:
        """The views `predict` accepts; every one is evaluated and recorded."""
        return [FUSION] if self.fusion else list(self.modalities)

    def losses(self, batch: Batch) -> dict[str, Tensor]:
        """Named loss terms on a training batch; their sum is minimised."""
        raise NotImplementedError

    def _predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        """Raw head output (logits, or the z-scored regression value) for one view."""
        raise NotImplementedError

    def features(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        """The representation the head reads, (B, D), for t-SNE."""
        raise NotImplementedError

    def predict(self, x: Mapping[str, Tensor], view: str) -> Tensor:
        """Probabilities (classification) or target-unit values (regression) from `view` only."""
        if view not in self.views():
            raise ValueError(f"{self.name}: unknown view {view!r}; valid views: {self.views()}")
        return self.task_loss.to_prediction(self._predict(x, view))

    def extra_repr(self) -> str:
        return f"encoder={self.encoder_name}, modalities={self.modalities}, task={self.spec.task}"


def view_modality(view: str) -> str:
    """The modality a view reads (``"S1:shared"`` -> ``"S1"``)."""
    return view.split(":", 1)[0]


class NotReproducedError(RuntimeError):
    """A method cannot be run faithfully here (e.g. pretrained weights are absent).

    The runner records the run as "not reproduced" with this message, and the tables say so;
    a silently different model is never substituted.
    """
