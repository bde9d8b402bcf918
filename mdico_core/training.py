"""The fit loop shared by every method: stages, optimisers, schedules, early stopping, checkpoints.

Data live in memory as tensors on the training device and are batched by tensor indexing
(no per-sample DataLoader calls). A method trains in one or more *stages* (``Method.stages``):
each trains some of its parameters on the method's loss in a given mode, with its own
`TrainConfig`. By default a method has one stage and the defaults reproduce the paper's protocol
(Sec. 4.3): Adam 1e-3 at a constant rate, early stopping on the total validation loss (the sum of
the method's loss terms) with ``patience`` and ``min_delta``, as the released code does, and the
best epoch's weights restored at the end. The other settings (optimisers, schedules, monitors,
checkpoint rules) serve the competitors' own recipes (``mdico methods`` lists them).
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mdico_core.methods.base import Method, Stage, view_modality
from mdico_core.optim import lr_factor, make_optimizer, steps_per_epoch
from mdico_core.options import CHECKPOINTS, MONITORS, OPTIMIZERS, SCHEDULES, TrainConfig  # noqa: F401 (re-exported)

TensorData = dict  # {"x": {modality: Tensor (N, ...)}, "y": Tensor (N,) or (N, K)}


@dataclass
class FitResult:
    """What training produced besides the weights (restored in place as the checkpoint rule says)."""

    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch: {"stage": ..., "train/main": ...}
    best_epoch: int = 0  # kept epoch of the last stage, 1-based within it (per_view: the latest view's); 0: none ran
    best_epochs: dict[str, int] = field(default_factory=dict)  # view -> kept epoch of the weights it is scored with
    epochs_run: int = 0  # over all stages
    wall_time_s: float = 0.0
    view_states: dict[str, dict[str, Tensor]] = field(default_factory=dict)  # checkpoint "per_view": view -> weights


class EarlyStopping:
    """Stop after `patience` epochs without an improvement larger than `min_delta`; keep the best.

    As the released code (Lightning's EarlyStopping + ModelCheckpoint): `min_delta` only decides
    when to stop, while the weights kept are those of the lowest validation loss, however small
    its improvement. ``patience=0`` never stops early.
    """

    def __init__(self, patience: int, min_delta: float):
        self.patience, self.min_delta = patience, min_delta
        self.best = self.reference = float("inf")
        self.stale = 0
        self.improved_best = self.should_stop = False

    def update(self, value: float) -> None:
        self.improved_best = value < self.best
        self.best = min(self.best, value)
        if value < self.reference - self.min_delta:
            self.reference, self.stale = value, 0
        else:
            self.stale += 1
        self.should_stop = bool(self.patience) and self.stale >= self.patience


def to_tensors(x: Mapping[str, np.ndarray], y: np.ndarray, device: str | torch.device = "cpu") -> TensorData:
    """Numpy modalities and target -> tensors on `device` (integer targets stay int64)."""
    yt = torch.as_tensor(y)
    if yt.is_floating_point():
        yt = yt.float()
    return {"x": {m: torch.as_tensor(v, dtype=torch.float32).to(device) for m, v in x.items()}, "y": yt.to(device)}


def _batches(n: int, batch_size: int, generator: torch.Generator | None, device: torch.device):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    order = order.to(device)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if generator is not None and len(idx) < 2 and n >= 2:
            continue  # BatchNorm cannot train on a batch of one sample
        yield idx


def _take(data: TensorData, idx: Tensor) -> dict:
    return {"x": {m: v[idx] for m, v in data["x"].items()}, "y": data["y"][idx]}


@torch.inference_mode()
def evaluate_losses(method: Method, data: TensorData, batch_size: int = 1024) -> dict[str, float]:
    """Sample-weighted mean of every loss term on `data`, in eval mode."""
    was_training = method.training
    method.eval()
    sums: dict[str, float] = {}
    n = len(data["y"])
    for idx in _batches(n, batch_size, None, data["y"].device):
        terms = method.losses(_take(data, idx))
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
    method.train(was_training)
    out = {k: v / n for k, v in sums.items()}
    out["total"] = sum(out.values())
    return out


@torch.inference_mode()
def view_task_loss(method: Method, data: TensorData, view: str, batch_size: int = 1024) -> float:
    """The task loss of `view`'s single-modality prediction on `data` (sample-weighted mean), in eval mode."""
    method.eval()
    n, total = len(data["y"]), 0.0
    needed = method.modalities if view == "fusion" else [view_modality(view)]
    for idx in _batches(n, batch_size, None, data["y"].device):
        out = method._predict({m: data["x"][m][idx] for m in needed}, view)
        total += float(method.task_loss(out, data["y"][idx])) * len(idx)
    return total / n


def view_score(method: Method, data: TensorData, view: str, batch_size: int = 1024) -> float:
    """The paper's metric of `view` on `data`: weighted F1 (%) or R²."""
    from mdico_core.metrics import PRIMARY, score

    pred = predict(method, data["x"], view, batch_size)
    return score(method.spec.task, data["y"].cpu().numpy(), pred)[PRIMARY[method.spec.task]]


def monitor_values(method: Method, val: TensorData, stage: Stage, row: Mapping[str, float],
                   batch_size: int) -> tuple[float, dict[str, float]]:
    """(value to minimise, {view: value to minimise}) of the stage's monitor after an epoch.

    "total" reads the validation total of `row`; "task" and "score" evaluate each of the stage's
    single-modality views (a score is negated, so that lower is better everywhere).
    """
    cfg = stage.cfg
    views = stage.views if stage.views is not None else method.plain_views()
    if cfg.monitor == "total" or not views:  # a stage that decides no view (pre-training) watches its loss
        return row["val/total"], {}
    if cfg.monitor == "task":
        per_view = {v: view_task_loss(method, val, v, batch_size) for v in views}
    else:
        per_view = {v: -view_score(method, val, v, batch_size) for v in views}
    return float(np.mean(list(per_view.values()))), per_view


def stage_seed(seed: int, name: str) -> int:
    """The seed of an independent stage: a function of the run's seed and the stage's name only."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:4], "little") & 0x7FFFFFFF


def trainable(method: torch.nn.Module, prefixes: tuple[str, ...]) -> list[tuple[str, torch.nn.Parameter]]:
    """The named parameters under the module-name `prefixes` (all of them when empty)."""
    named = list(method.named_parameters())
    if not prefixes:
        return named
    return [(n, p) for n, p in named if any(n == pre or n.startswith(pre + ".") for pre in prefixes)]


def set_stage_modes(module: torch.nn.Module, prefixes: tuple[str, ...], prefix: str = "") -> None:
    """Train mode for `module`, eval mode for every submodule outside `prefixes` (frozen: no BatchNorm
    statistics update, no dropout), as a linear probe on a frozen encoder runs."""
    module.train()
    if not prefixes:
        return
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        if any(full == pre or full.startswith(pre + ".") for pre in prefixes):
            continue
        if any(pre.startswith(full + ".") for pre in prefixes):
            set_stage_modes(child, prefixes, full + ".")
        else:
            child.eval()


@dataclass
class _Chain:
    """Optimiser state carried from a stage to the stages that `resume` it."""

    opt: torch.optim.Optimizer
    cfg: TrainConfig
    total_steps: int
    step: int = 0


def fit(method: Method, train: TensorData, val: TensorData, cfg: TrainConfig, seed: int = 0,
        on_epoch: Callable[[int, dict[str, Any]], None] | None = None) -> FitResult:
    """Train `method` in place, stage by stage; keep the weights its checkpoint rule says.

    The batch order is drawn from a generator seeded by `seed` (an independent stage reseeds it,
    and torch's global generator, from `stage_seed`); weight initialisation and dropout use
    torch's global generator, which the caller seeds before building `method`.
    """
    t0 = time.perf_counter()
    device = torch.device(cfg.device)
    method.to(device)
    stages = method.stages(cfg)
    n = len(train["y"])
    budgets = [s.cfg.max_epochs * steps_per_epoch(n, s.cfg) for s in stages]
    result, chain = FitResult(), None
    gen = torch.Generator().manual_seed(seed)
    for i, stage in enumerate(stages):
        if not (stage.resume and chain is not None):  # a resumed stage keeps the optimiser and its schedule
            total = budgets[i] + sum(
                budgets[j] for j in range(i + 1, len(stages)) if all(s.resume for s in stages[i + 1:j + 1]))
            params = [p for _, p in trainable(method, stage.params)]
            chain = _Chain(make_optimizer(params, stage.cfg), stage.cfg, total)
        if stage.independent:
            torch.manual_seed(stage_seed(seed, stage.name))
            gen = torch.Generator().manual_seed(stage_seed(seed, stage.name))
        _fit_stage(method, stage, train, val, gen, chain, result, on_epoch)
    method.stage = None
    method.eval()
    result.wall_time_s = time.perf_counter() - t0
    return result


def _fit_stage(method: Method, stage: Stage, train: TensorData, val: TensorData, gen: torch.Generator,
               chain: _Chain, result: FitResult, on_epoch) -> None:
    names = {n for n, _ in trainable(method, stage.params)}
    frozen = [p for n, p in method.named_parameters() if n not in names and p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        _train_epochs(method, stage, train, val, gen, chain, result, on_epoch)
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _train_epochs(method: Method, stage: Stage, train: TensorData, val: TensorData, gen: torch.Generator,
                  chain: _Chain, result: FitResult, on_epoch) -> None:
    cfg, opt = stage.cfg, chain.opt
    device = torch.device(cfg.device)
    method.stage = stage.mode
    n = len(train["y"])
    spe = steps_per_epoch(n, cfg)
    min_delta = cfg.min_delta * (len(method.modalities) if cfg.min_delta_per_modality else 1)
    stopper, best_state, kept = EarlyStopping(cfg.patience, min_delta), None, 0
    view_stoppers: dict[str, EarlyStopping] = {}  # per_view: one per view; stop when every view is stale
    needs_monitor = cfg.patience > 0 or cfg.checkpoint != "final"
    views = list(stage.views if stage.views is not None else method.views())
    epoch = 0
    for epoch in range(1, cfg.max_epochs + 1):
        set_stage_modes(method, stage.params)
        sums: dict[str, Tensor] = {}
        seen = 0
        for step, idx in enumerate(_batches(n, cfg.batch_size, gen, device)):
            if cfg.max_steps_per_epoch is not None and step >= cfg.max_steps_per_epoch:
                break
            if chain.cfg.schedule != "constant":
                factor = lr_factor(chain.cfg, chain.step, chain.total_steps, spe)
                for group in opt.param_groups:
                    group["lr"] = chain.cfg.lr * factor
            terms = method.losses(_take(train, idx))
            total = torch.stack(list(terms.values())).sum()
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            chain.step += 1
            for k, v in terms.items():  # accumulated on device: no host sync per step
                sums[k] = sums.get(k, 0.0) + v.detach() * len(idx)
            seen += len(idx)
        row: dict[str, Any] = {f"train/{k}": float(v) / max(seen, 1) for k, v in sums.items()}
        row["train/total"] = sum(row.values())
        row.update({f"val/{k}": v for k, v in evaluate_losses(method, val, cfg.batch_size).items()})
        value, per_view = monitor_values(method, val, stage, row, cfg.batch_size) if needs_monitor else (0.0, {})
        if cfg.monitor != "total" and needs_monitor:
            row[f"val/monitor_{cfg.monitor}"] = value
        result.history.append({"stage": stage.name, "epoch": epoch, **row})
        result.epochs_run += 1
        if on_epoch is not None:
            on_epoch(epoch, row)
        stopper.update(value)
        if cfg.checkpoint == "best" and stopper.improved_best:
            kept, best_state = epoch, copy.deepcopy(method.state_dict())
        if cfg.checkpoint == "per_view":
            for v, val_v in per_view.items():
                view_stopper = view_stoppers.setdefault(v, EarlyStopping(cfg.patience, min_delta))
                view_stopper.update(val_v)
                if view_stopper.improved_best:
                    result.view_states[v] = copy.deepcopy(method.state_dict())
                    result.best_epochs[v] = epoch
            if view_stoppers and all(s.should_stop for s in view_stoppers.values()):
                break
        elif stopper.should_stop:
            break
    if cfg.checkpoint == "final" or (cfg.checkpoint == "best" and best_state is None):
        kept = epoch
    if best_state is not None:
        method.load_state_dict(best_state)
    if cfg.checkpoint != "per_view":
        result.best_epochs.update({v: kept for v in views})
    result.best_epoch = kept if cfg.checkpoint != "per_view" else max(result.best_epochs.values(), default=0)


@torch.inference_mode()
def _per_view(fn: Callable[[Mapping[str, Tensor], str], Tensor], method: Method, x: Mapping[str, Tensor],
              view: str, batch_size: int) -> np.ndarray:
    """`fn(x_batch, view)` over every sample, in eval mode, handing it only the modalities `view` reads."""
    if view not in method.views():
        raise ValueError(f"{method.name}: unknown view {view!r}; valid views: {method.views()}")
    method.eval()
    needed = method.modalities if view == "fusion" else [view_modality(view)]
    n = len(next(iter(x.values())))
    out = [fn({m: x[m][i:i + batch_size] for m in needed}, view) for i in range(0, n, batch_size)]
    return torch.cat(out).cpu().numpy()


def predict(method: Method, x: Mapping[str, Tensor], view: str, batch_size: int = 2048) -> np.ndarray:
    """Predictions of `view` for every sample, reading only the modality that view needs."""
    return _per_view(method.predict, method, x, view, batch_size)


def features(method: Method, x: Mapping[str, Tensor], view: str, batch_size: int = 2048) -> np.ndarray:
    """Learned features (N, D) of `view` for every sample."""
    return _per_view(method.features, method, x, view, batch_size)


def use_view_weights(method: Method, result: FitResult, view: str) -> None:
    """Load the weights `view` is evaluated with (checkpoint "per_view"); otherwise leave them."""
    state = result.view_states.get(view)
    if state is not None:
        method.load_state_dict(state)
