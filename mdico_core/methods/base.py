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
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mdico_core.data.dataset import MultiModalDataset, Task

if TYPE_CHECKING:
    from mdico_core.options import TrainConfig

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
        extra: facts some methods read, e.g. ``{"dataset": "lfmc"}`` (MDiCo's ``released`` variant
            follows the released code's per-dataset config).
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
        return cls(dict(ds.shapes), ds.task, ds.n_classes, weights, mean, std if std > 0 else 1.0,
                   {"dataset": ds.name})


class TaskLoss(nn.Module):
    """The task's loss on raw head outputs.

    Class-balanced cross-entropy (binary and multiclass, a softmax over ``n_outputs`` logits),
    BCE with logits (multilabel), or the squared error on the z-scored target (regression: the
    head predicts ``(y - mean) / std``).

    Args:
        spec: the problem.
        label_smoothing: of the cross-entropy (binary and multiclass; DML's official 0.1).
        raw_target: ``(mean, std)``: the head predicts the regression target in its own units and
            the loss is the MSE of ``(out - mean) / std`` against ``(y - mean) / std`` (the
            released code's ``norm-mse``, with its fixed constants), instead of the default.
    """

    def __init__(self, spec: ProblemSpec, label_smoothing: float = 0.0,
                 raw_target: tuple[float, float] | None = None):
        super().__init__()
        self.task = spec.task
        self.label_smoothing = label_smoothing
        self.raw_target = None if raw_target is None else (float(raw_target[0]), float(raw_target[1]))
        w = None if spec.class_weights is None else torch.tensor(spec.class_weights, dtype=torch.float32)
        self.register_buffer("class_weights", w)
        # Buffers, not floats: runs trained stacked (see stacking.py) each have their own statistics.
        self.register_buffer("mean", torch.tensor(spec.target_mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(spec.target_std, dtype=torch.float32))

    def forward(self, out: Tensor, y: Tensor) -> Tensor:
        if self.task in ("binary", "multiclass"):
            return F.cross_entropy(out, y, weight=self.class_weights, label_smoothing=self.label_smoothing)
        if self.task == "multilabel":
            return F.binary_cross_entropy_with_logits(out, y.to(out.dtype))
        if self.raw_target is not None:
            mean, std = self.raw_target
            return F.mse_loss((out.squeeze(-1) - mean) / std, (y - mean) / std)
        return F.mse_loss(out.squeeze(-1), (y - self.mean) / self.std)

    def to_prediction(self, out: Tensor) -> Tensor:
        """Raw head output -> probabilities (classification) or target units (regression)."""
        if self.task in ("binary", "multiclass"):
            return out.softmax(-1)
        if self.task == "multilabel":
            return out.sigmoid()
        if self.raw_target is not None:
            return out.squeeze(-1)
        return out.squeeze(-1) * self.std + self.mean


@dataclass(frozen=True)
class Stage:
    """One phase of training (``mdico_core.training.fit`` runs a method's stages in order).

    Attributes:
        name: written into every history row of the stage.
        cfg: its `TrainConfig`: budget, optimiser, schedule, monitor, checkpoint rule.
        params: module-name prefixes of the parameters it trains (empty: all). Every other
            parameter is frozen, and every module outside them is in eval mode.
        mode: set as ``method.stage`` while the stage trains and validates, so that `losses`
            computes the stage's loss (None: the method's usual loss).
        views: the views whose kept weights this stage decides (None: every view); its "task" /
            "score" monitor evaluates these views (None: the plain single-modality views).
        independent: reseed the batch order and torch's global generator from (seed, name), so
            that the stage does not depend on what earlier stages drew (Individual's models).
        resume: continue the previous stage's optimiser state and schedule (ShaSpec's second stage).
    """

    name: str
    cfg: TrainConfig
    params: tuple[str, ...] = ()
    mode: str | None = None
    views: tuple[str, ...] | None = None
    independent: bool = False
    resume: bool = False


@dataclass(frozen=True)
class Recipe:
    """How a method trains in one setting ("common" or "original"), as data.

    Attributes:
        train: `TrainConfig` fields set on top of the profile's budget (e.g. ``{"lr": 1e-4}``).
        stage_train: per-stage `TrainConfig` fields, by stage name; ``"epochs_fraction"`` sets the
            stage's max_epochs to that share of the budget's.
        options: constructor options of the method (on top of its variant's).
        stages: the stages in words, for ``mdico methods``.
        sampling: the modality-dropout / subset-sampling rule in words.
        notes: substitutions for this project's data and budget, and what is inferred.
    """

    train: Mapping[str, Any] = field(default_factory=dict)
    stage_train: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    stages: str = "one"
    sampling: str = "all modalities"
    notes: tuple[str, ...] = ()


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
        common_recipe: the method under the common budget (its `Recipe` describes it; its ``train`` is
            normally empty: the profile's budget as it is).
        original_recipe: its official recipe, or None where that is the common one (then
            ``--settings original`` resolves to the common runs, not duplicates).
    """

    name: ClassVar[str] = ""
    paper_name: ClassVar[str] = ""
    fusion: ClassVar[bool] = False
    stackable: bool = False  # losses are vmap-safe, so K runs can train as one (stacking.py)
    variants: ClassVar[dict[str, dict[str, Any]]] = {"default": {}}
    min_modalities: ClassVar[int] = 1
    max_modalities: ClassVar[int | None] = None
    common_recipe: ClassVar[Recipe] = Recipe()
    original_recipe: ClassVar[Recipe | None] = None

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
        self.stage: str | None = None  # the mode of the training stage running (see `stages`)

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

    def plain_views(self) -> list[str]:
        """The single-modality inference views (no ``"S1:shared"`` modes), or ``["fusion"]``."""
        return [v for v in self.views() if ":" not in v]

    def stages(self, cfg: TrainConfig) -> list[Stage]:
        """The training stages under `cfg`; by default one stage, "main", on the whole loss."""
        return [Stage("main", cfg)]

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
