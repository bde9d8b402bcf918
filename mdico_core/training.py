"""The fit loop shared by every method: Adam, early stopping, per-term loss history.

Data live in memory as tensors on the training device and are batched by tensor indexing
(no per-sample DataLoader calls). Early stopping monitors the total validation loss
(the sum of the method's loss terms) with ``patience`` and ``min_delta``, as the released code
does, and the best epoch's weights are restored at the end.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from mdico_core.methods.base import Method, view_modality

TensorData = dict  # {"x": {modality: Tensor (N, ...)}, "y": Tensor (N,) or (N, K)}


@dataclass(frozen=True)
class TrainConfig:
    """Training budget and optimiser settings (paper Sec. 4.3).

    Attributes:
        max_epochs: upper bound on epochs (paper: 100).
        batch_size: samples per step (paper: 128; the released LFMC config: 32).
        lr: Adam learning rate.
        weight_decay: Adam weight decay (released code: 0).
        patience: epochs without improvement before stopping (0 disables early stopping).
        min_delta: the improvement of the validation loss that counts.
        max_steps_per_epoch: cap on optimiser steps per epoch, for smoke budgets (None: all).
        device: torch device ("cpu", "cuda", ...).
    """

    max_epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    min_delta: float = 0.01
    max_steps_per_epoch: int | None = None
    device: str = "cpu"


@dataclass
class FitResult:
    """What training produced besides the weights (restored in place to the best epoch)."""

    history: list[dict[str, float]] = field(default_factory=list)  # per epoch: {"train/main": ..., "val/total": ...}
    best_epoch: int = 0  # 1-based; 0 if no epoch ran
    epochs_run: int = 0
    wall_time_s: float = 0.0


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


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam, fused into one kernel per step where torch supports it (5x faster on CPU for MDiCo's
    90 parameter tensors; same update rule)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


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


def fit(method: Method, train: TensorData, val: TensorData, cfg: TrainConfig, seed: int = 0,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> FitResult:
    """Train `method` in place; restore the weights of the best validation epoch.

    The batch order is drawn from a generator seeded by `seed`; weight initialisation and
    dropout use torch's global generator, which the caller seeds before building `method`.
    """
    t0 = time.perf_counter()
    device = torch.device(cfg.device)
    method.to(device)
    opt = make_optimizer(method.parameters(), cfg)
    gen = torch.Generator().manual_seed(seed)
    result = FitResult()
    stopper, best_state = EarlyStopping(cfg.patience, cfg.min_delta), None
    n = len(train["y"])
    for epoch in range(1, cfg.max_epochs + 1):
        method.train()
        sums: dict[str, Tensor] = {}
        seen = 0
        for step, idx in enumerate(_batches(n, cfg.batch_size, gen, device)):
            if cfg.max_steps_per_epoch is not None and step >= cfg.max_steps_per_epoch:
                break
            terms = method.losses(_take(train, idx))
            total = torch.stack(list(terms.values())).sum()
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            for k, v in terms.items():  # accumulated on device: no host sync per step
                sums[k] = sums.get(k, 0.0) + v.detach() * len(idx)
            seen += len(idx)
        row = {f"train/{k}": float(v) / max(seen, 1) for k, v in sums.items()}
        row["train/total"] = sum(row.values())
        row.update({f"val/{k}": v for k, v in evaluate_losses(method, val, cfg.batch_size).items()})
        result.history.append(row)
        result.epochs_run = epoch
        if on_epoch is not None:
            on_epoch(epoch, row)
        stopper.update(row["val/total"])
        if stopper.improved_best:
            result.best_epoch, best_state = epoch, copy.deepcopy(method.state_dict())
        if stopper.should_stop:
            break
    if best_state is not None:
        method.load_state_dict(best_state)
    method.eval()
    result.wall_time_s = time.perf_counter() - t0
    return result


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
