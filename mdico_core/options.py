"""The named choices of a run, and `TrainConfig`: importable without torch.

The command line offers these names as its choices (``mdico --help`` never imports torch), the
configs check against them, and the fit loop (`mdico_core.training`, which re-exports
`TrainConfig`) reads them. A name is defined here once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

EXECUTORS = ("serial", "processes", "dask")  # how a sweep runs: see mdico_core/experiments/executors.py
SETTINGS = ("common", "original")  # one budget for every method, or each method's official recipe
PROTOCOLS = ("paper", "released", "released_validation", "released_statistics")
# The released protocol's two differences from the paper's, each also a protocol of its own so
# that the book can measure it alone: early stopping and checkpoint selection on the test fold,
# and z-score statistics over every row (test folds included).
VALIDATES_ON_TEST = ("released", "released_validation")
STATISTICS_ON_ALL_ROWS = ("released", "released_statistics")
# The released code draws its 10 folds with np.random.seed(10) (``runs_seed: [10]``): shuffle, then
# np.array_split. Our unstratified folds (regression: LFMC) are exactly those (tests/test_lfmc.py);
# classification folds are stratified, so on CropHarvest they are not the authors'.
RELEASED_SPLIT_SEED = 10

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "poly", "cosine", "warmup_cosine", "step")
MONITORS = ("total", "task", "score")
CHECKPOINTS = ("best", "final", "per_view")


@dataclass(frozen=True)
class TrainConfig:
    """Training budget, optimiser, schedule and model-selection rule (defaults: paper Sec. 4.3).

    Attributes:
        max_epochs: upper bound on epochs (paper: 100).
        batch_size: samples per step (paper: 128; the released LFMC config: 32).
        lr: the (peak) learning rate.
        weight_decay: L2 weight decay: coupled (added to the gradient) for "adam" and "sgd",
            decoupled for "adamw" (released code: 0).
        patience: epochs without improvement before stopping (0 disables early stopping).
        min_delta: the improvement of the monitored value that counts.
        max_steps_per_epoch: cap on optimiser steps per epoch, for smoke budgets (None: all).
        device: torch device ("cpu", "cuda", ...).
        optimizer: "adam" | "adamw" | "sgd".
        beta1: the first Adam / AdamW moment coefficient (beta2 is 0.999).
        momentum: SGD momentum.
        nesterov: SGD with Nesterov momentum.
        schedule: learning-rate factor per optimiser step over the planned budget (max_epochs x
            steps per epoch): "constant"; "poly" (1 - t)^poly_power; "cosine" (1 + cos(pi t)) / 2;
            "warmup_cosine" linear warm-up over warmup_epochs, then cosine; "step" x step_gamma
            at each milestone.
        poly_power: exponent of the "poly" schedule.
        warmup_epochs: warm-up of "warmup_cosine" (at most max_epochs).
        step_milestones: milestones of "step", as fractions of the budget (e.g. (0.6, 0.8)).
        step_gamma: factor of "step" at each milestone.
        monitor: what early stopping and "best"/"per_view" checkpoints watch: "total" (the total
            validation loss, the paper's rule), "task" (the mean task loss of the single-modality
            inference views) or "score" (their mean validation weighted F1 / R², maximised).
        checkpoint: the weights kept: "best" (of the monitored value), "final" (the last epoch's),
            or "per_view" (each view evaluated with the weights of its own best "task"/"score";
            early stopping then waits until no view has improved for `patience` epochs).
        min_delta_per_modality: min_delta is multiplied by the number of modalities M (ESensI's
            code: 0.01 x M on its summed loss).
        stages: per-stage overrides of the fields above, by stage name, e.g.
            ``(("probe", (("lr", 0.5), ("optimizer", "sgd"))),)``; a stage not named uses the
            fields as they are (see `for_stage`).
    """

    max_epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    min_delta: float = 0.01
    max_steps_per_epoch: int | None = None
    device: str = "cpu"
    optimizer: str = "adam"
    beta1: float = 0.9
    momentum: float = 0.0
    nesterov: bool = False
    schedule: str = "constant"
    poly_power: float = 0.9
    warmup_epochs: int = 0
    step_milestones: tuple[float, ...] = ()
    step_gamma: float = 0.1
    monitor: str = "total"
    checkpoint: str = "best"
    min_delta_per_modality: bool = False
    stages: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def __post_init__(self) -> None:
        for name, valid in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("monitor", MONITORS),
                            ("checkpoint", CHECKPOINTS)):
            if getattr(self, name) not in valid:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; valid: {', '.join(valid)}")
        if self.checkpoint == "per_view" and self.monitor == "total":
            raise ValueError("checkpoint 'per_view' keeps each view's best weights, so it needs a per-view "
                             "monitor: set monitor to 'task' or 'score'")
        valid = {f.name for f in dataclasses.fields(self)} - {"stages"}
        for stage, overrides in self.stages:
            bad = sorted({k for k, _ in overrides} - valid)
            if bad:
                raise ValueError(f"stage {stage!r}: unknown training settings {bad}")

    def for_stage(self, name: str) -> TrainConfig:
        """These settings with the overrides of stage `name` (and no per-stage table)."""
        overrides = dict(dict(self.stages).get(name, ()))
        return dataclasses.replace(self, stages=(), **overrides)
