"""Train K independent runs as one stacked model (folds and/or seeds of one method and dataset).

Small models at small batches are overhead-bound on CPUs and GPUs alike: most of a step is
spent launching tiny kernels. Stacking the K members' parameters along a leading axis and
mapping the member's loss over it with ``torch.func.vmap`` turns K small steps into one large
step. Each member keeps everything that makes it an independent run:

- its own initialisation (built after ``torch.manual_seed(seed_k)``, as `fit` callers do),
- its own training rows, normalisation and batch order (a generator seeded by ``seed_k``),
- its own BatchNorm statistics and dropout masks (``randomness="different"``),
- its own Adam state (Adam is elementwise, so one Adam over stacked tensors is K Adams),
- its own early stopping and best-weights restore.

Validation is stacked too: every member's `evaluate_losses` (the same batches and sample-weighted
means) in one vmapped pass per batch, so an epoch launches the validation model once per batch,
not once per batch and member (what dominates on a GPU, where each small launch costs more than
its arithmetic).

The one difference from `fit`: every member takes ``floor(min_k n_k / batch)`` full batches per
epoch (vmap needs equal shapes), so the few rows of a last partial batch are skipped in an epoch
(they differ from epoch to epoch). Results therefore agree with separate runs in distribution,
not bit for bit; ``tests/test_stacking.py`` checks that.

Methods opt in with ``stackable = True`` when their losses are vmap-safe (no data-dependent
Python control flow, no ``.item()``, no ``randperm``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import torch
from torch.func import functional_call, stack_module_state, vmap

from mdico_core.methods.base import Method
from mdico_core.training import EarlyStopping, FitResult, TensorData, TrainConfig, make_optimizer


def is_stackable(method: Method) -> bool:
    """Whether `method`'s losses can run under vmap (declared by the method)."""
    return bool(getattr(method, "stackable", False))


def fit_stacked(methods: Sequence[Method], trains: Sequence[TensorData], vals: Sequence[TensorData],
                cfg: TrainConfig, seeds: Sequence[int]) -> list[FitResult]:
    """Train every ``methods[k]`` on ``trains[k]`` with early stopping on ``vals[k]``, stacked.

    Each method is restored in place to its best validation epoch, like `fit` does; the
    returned results are in the same order.
    """
    t0 = time.perf_counter()
    k_runs = len(methods)
    if not (len(trains) == len(vals) == len(seeds) == k_runs) or k_runs == 0:
        raise ValueError("fit_stacked needs one train set, validation set and seed per method")
    if len({type(m) for m in methods}) != 1 or not all(is_stackable(m) for m in methods):
        raise ValueError("fit_stacked needs K instances of one stackable method")
    device = torch.device(cfg.device)
    for m in methods:
        m.to(device).train()
    modality_names = list(trains[0]["x"])
    base, params, buffers, batched_terms = _stacked_model(methods, modality_names)
    opt = make_optimizer(list(params.values()), cfg)

    gens = [torch.Generator().manual_seed(s) for s in seeds]
    n_min = min(len(t["y"]) for t in trains)
    b = min(cfg.batch_size, n_min)
    steps = n_min // b
    if cfg.max_steps_per_epoch is not None:
        steps = min(steps, cfg.max_steps_per_epoch)
    results = [FitResult() for _ in range(k_runs)]
    stoppers = [EarlyStopping(cfg.patience, cfg.min_delta) for _ in range(k_runs)]
    active = [True] * k_runs  # host-side: no device sync to read it
    mask = torch.ones(k_runs, device=device)  # the same, as the gradient mask
    # stack_module_state also returns non-persistent buffers, which state_dict() leaves out
    state = {**params, **buffers}
    keys = set(methods[0].state_dict())
    best = {name: t.detach().clone() for name, t in state.items() if name in keys}
    for epoch in range(1, cfg.max_epochs + 1):
        orders = [torch.randperm(len(t["y"]), generator=g).to(device) for t, g in zip(trains, gens)]
        sums: dict[str, torch.Tensor] = {}
        for s in range(steps):
            idx = [o[s * b:(s + 1) * b] for o in orders]
            xs = [torch.stack([t["x"][m][i] for t, i in zip(trains, idx)]) for m in modality_names]  # (K, B, ...)
            y = torch.stack([t["y"][i] for t, i in zip(trains, idx)])  # (K, B, ...)
            terms = batched_terms(params, buffers, xs, y)  # {term: (K,)}
            total = (torch.stack(list(terms.values())).sum(0) * mask).sum()
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            for name, v in terms.items():
                sums[name] = sums.get(name, 0.0) + v.detach()
        train_rows = {name: (v / max(steps, 1)).tolist() for name, v in sums.items()}
        base.eval()
        val_rows = _stacked_losses(batched_terms, params, buffers, vals, modality_names, cfg.batch_size)
        base.train()
        improved = [False] * k_runs
        for k in range(k_runs):
            if not active[k]:
                continue
            row = {f"train/{name}": vals_[k] for name, vals_ in train_rows.items()}
            row["train/total"] = sum(row.values())
            row.update({f"val/{name}": v for name, v in val_rows[k].items()})
            res = results[k]
            res.history.append(row)
            res.epochs_run = epoch
            stoppers[k].update(row["val/total"])
            if stoppers[k].improved_best:
                res.best_epoch, improved[k] = epoch, True
            if stoppers[k].should_stop:
                active[k] = False  # its gradient is masked from now on; its best weights are kept
        if any(improved):  # one masked copy per tensor, not one per member and tensor
            keep = torch.tensor(improved, device=device)
            for name, t in best.items():
                t.copy_(torch.where(keep.view(-1, *[1] * (t.ndim - 1)), state[name].detach(), t))
        mask = torch.tensor(active, dtype=torch.float32, device=device)
        if not any(active):
            break
    wall = time.perf_counter() - t0
    for k, m in enumerate(methods):
        m.load_state_dict({name: t[k] for name, t in best.items()})
        m.eval()
        # amortised: the members shared every step (members stopped early still rode along)
        results[k].wall_time_s = wall / k_runs
    return results


def _stacked_model(methods: Sequence[Method], modality_names: list[str]):
    """(base, params, buffers, batched_terms): the members' tensors stacked along a leading K axis,
    and ``batched_terms(params, buffers, xs, y) -> {term: (K,)}``, the members' losses under vmap
    (each member with its own dropout masks). `base` is a weightless copy whose train/eval mode
    the mapped losses follow."""
    params, buffers = stack_module_state(list(methods))  # each tensor (K, ...)
    base = copy.deepcopy(methods[0]).to("meta")

    def member_terms(p, b, xs, y):
        return functional_call(base, (p, b), args=(), kwargs={"batch": {"x": dict(zip(modality_names, xs)), "y": y}},
                               strict=False)

    base.forward = base.losses  # functional_call calls forward(batch=...)
    return base, params, buffers, vmap(member_terms, in_dims=(0, 0, 0, 0), randomness="different")


def _stacked_losses(batched_terms, params: dict, buffers: dict, vals: Sequence[TensorData],
                    modality_names: list[str], batch_size: int) -> list[dict[str, float]]:
    """`evaluate_losses` of every member on its own `vals[k]`, all members in one vmapped call per batch.

    The members' batches are those `evaluate_losses` takes (consecutive rows, `batch_size` each, the
    last one partial), and each loss is the same sample-weighted mean, accumulated in Python floats;
    only the arithmetic is batched. Members whose validation sets differ in length share every full
    batch; their last batches are grouped by length. The caller puts the model in eval mode.
    """
    k_runs = len(vals)
    sizes = [len(v["y"]) for v in vals]
    sums: list[dict[str, float]] = [{} for _ in range(k_runs)]
    with torch.no_grad():
        for start in range(0, max(sizes), batch_size):
            groups: dict[int, list[int]] = {}
            for k, n in enumerate(sizes):
                if n > start:
                    groups.setdefault(min(batch_size, n - start), []).append(k)
            for length, members in groups.items():
                rows = slice(start, start + length)
                xs = [torch.stack([vals[k]["x"][m][rows] for k in members]) for m in modality_names]
                y = torch.stack([vals[k]["y"][rows] for k in members])
                p, b = params, buffers
                if len(members) < k_runs:
                    sel = torch.tensor(members, device=y.device)
                    p, b = {n: v[sel] for n, v in params.items()}, {n: v[sel] for n, v in buffers.items()}
                terms = batched_terms(p, b, xs, y)  # {term: (len(members),)}
                values = torch.stack(list(terms.values())).tolist()  # one host sync per batch
                for name, per_member in zip(terms, values):
                    for k, v in zip(members, per_member):
                        sums[k][name] = sums[k].get(name, 0.0) + v * length
    out = []
    for k, n in enumerate(sizes):
        row = {name: v / n for name, v in sums[k].items()}
        row["total"] = sum(row.values())
        out.append(row)
    return out
