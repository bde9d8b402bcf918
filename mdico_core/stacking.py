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

The one difference from `fit`: every member takes ``floor(min_k n_k / batch)`` full batches per
epoch (vmap needs equal shapes), so the few rows of a last partial batch are skipped in an epoch
(they differ from epoch to epoch). Results therefore agree with separate runs in distribution,
not bit for bit; ``tests/test_stacking.py`` checks that.

Methods opt in with ``stackable = True`` when their losses are vmap-safe (no data-dependent
Python control flow, no ``.item()``, no ``randperm``).

Stages (``Method.stages``) run one after the other, each stacked over the K members: Individual's
per-modality models are K stacked S1 models with their own early stopping, then K stacked S2
models. Each member also gets each stage's own optimiser (any of `TrainConfig`'s: all are
elementwise, so one over stacked tensors is K of them), schedule and monitor. Not supported here
(`fit` runs them): stages that resume an optimiser, and per-view checkpoints.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import torch
from torch.func import functional_call, stack_module_state, vmap

from mdico_core.methods.base import Method, Stage
from mdico_core.training import (
    EarlyStopping,
    FitResult,
    TensorData,
    TrainConfig,
    evaluate_losses,
    lr_factor,
    make_optimizer,
    monitor_values,
    set_stage_modes,
    stage_seed,
    trainable,
)


def is_stackable(method: Method) -> bool:
    """Whether `method`'s losses can run under vmap (declared by the method)."""
    return bool(getattr(method, "stackable", False))


def fit_stacked(methods: Sequence[Method], trains: Sequence[TensorData], vals: Sequence[TensorData],
                cfg: TrainConfig, seeds: Sequence[int]) -> list[FitResult]:
    """Train every ``methods[k]`` on ``trains[k]`` with early stopping on ``vals[k]``, stacked.

    Each method is restored in place to its best validation epoch of every stage, like `fit`
    does; the returned results are in the same order.
    """
    t0 = time.perf_counter()
    k_runs = len(methods)
    if not (len(trains) == len(vals) == len(seeds) == k_runs) or k_runs == 0:
        raise ValueError("fit_stacked needs one train set, validation set and seed per method")
    if len({type(m) for m in methods}) != 1 or not all(is_stackable(m) for m in methods):
        raise ValueError("fit_stacked needs K instances of one stackable method")
    stages = methods[0].stages(cfg)
    if any(s.resume or s.cfg.checkpoint == "per_view" for s in stages):
        raise ValueError("fit_stacked does not run stages that resume an optimiser or keep per-view checkpoints; "
                         "train these runs with `fit`")
    device = torch.device(cfg.device)
    for m in methods:
        m.to(device).train()
    params, buffers = stack_module_state(list(methods))  # each tensor (K, ...)
    base = copy.deepcopy(methods[0]).to("meta")
    modality_names = list(trains[0]["x"])

    def member_terms(p, b, xs, y):
        return functional_call(base, (p, b), args=(), kwargs={"batch": {"x": dict(zip(modality_names, xs)), "y": y}},
                               strict=False)

    base.forward = base.losses  # functional_call calls forward(batch=...)
    batched_terms = vmap(member_terms, in_dims=(0, 0, 0, 0), randomness="different")
    # stack_module_state also returns non-persistent buffers, which state_dict() leaves out
    state = {**params, **buffers}
    keys = set(methods[0].state_dict())
    results = [FitResult() for _ in range(k_runs)]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    for stage in stages:
        if stage.independent:
            torch.manual_seed(stage_seed(seeds[0], stage.name))
            gens = [torch.Generator().manual_seed(stage_seed(s, stage.name)) for s in seeds]
        _stacked_stage(stage, methods, base, batched_terms, params, buffers, keys, trains, vals, gens, results,
                       modality_names)
    wall = time.perf_counter() - t0
    for k, m in enumerate(methods):
        m.load_state_dict({name: state[name][k] for name in keys})
        m.stage = None
        m.eval()
        # amortised: the members shared every step (members stopped early still rode along)
        results[k].wall_time_s = wall / k_runs
    return results


def _stacked_stage(stage: Stage, methods, base, batched_terms, params, buffers, keys, trains, vals, gens, results,
                   modality_names) -> None:
    """One stage of every member; at its end, every member's state holds the weights it keeps."""
    cfg, k_runs = stage.cfg, len(methods)
    state = {**params, **buffers}
    device = torch.device(cfg.device)
    names = {n for n, _ in trainable(methods[0], stage.params)}
    for n, p in params.items():
        p.requires_grad_(n in names)
    base.stage = stage.mode
    for m in methods:
        m.stage = stage.mode
    set_stage_modes(base, stage.params)
    opt = make_optimizer([p for n, p in params.items() if n in names], cfg)
    n_min = min(len(t["y"]) for t in trains)
    b = min(cfg.batch_size, n_min)
    steps = n_min // b
    if cfg.max_steps_per_epoch is not None:
        steps = min(steps, cfg.max_steps_per_epoch)
    min_delta = cfg.min_delta * (len(methods[0].modalities) if cfg.min_delta_per_modality else 1)
    stoppers = [EarlyStopping(cfg.patience, min_delta) for _ in range(k_runs)]
    kept = [0] * k_runs
    active = torch.ones(k_runs, device=device)
    best = {name: t.detach().clone() for name, t in state.items() if name in keys}
    needs_monitor = cfg.patience > 0 or cfg.checkpoint != "final"
    views = list(stage.views if stage.views is not None else methods[0].views())
    step_count, total_steps = 0, cfg.max_epochs * steps
    for epoch in range(1, cfg.max_epochs + 1):
        orders = [torch.randperm(len(t["y"]), generator=g).to(device) for t, g in zip(trains, gens)]
        sums: dict[str, torch.Tensor] = {}
        for s in range(steps):
            if cfg.schedule != "constant":
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * lr_factor(cfg, step_count, total_steps, steps)
            idx = [o[s * b:(s + 1) * b] for o in orders]
            xs = [torch.stack([t["x"][m][i] for t, i in zip(trains, idx)]) for m in modality_names]  # (K, B, ...)
            y = torch.stack([t["y"][i] for t, i in zip(trains, idx)])  # (K, B, ...)
            terms = batched_terms(params, buffers, xs, y)  # {term: (K,)}
            total = (torch.stack(list(terms.values())).sum(0) * active).sum()
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            step_count += 1
            for name, v in terms.items():
                sums[name] = sums.get(name, 0.0) + v.detach()
        train_rows = {name: (v / max(steps, 1)).tolist() for name, v in sums.items()}
        for k in range(k_runs):
            if active[k] == 0:
                continue
            member = _member(methods[k], keys, state, k)
            row = {f"train/{name}": vals_[k] for name, vals_ in train_rows.items()}
            row["train/total"] = sum(row.values())
            row.update({f"val/{name}": v for name, v in evaluate_losses(member, vals[k], cfg.batch_size).items()})
            value, _ = monitor_values(member, vals[k], stage, row, cfg.batch_size) if needs_monitor else (0.0, {})
            res = results[k]
            res.history.append({"stage": stage.name, "epoch": epoch, **row})
            res.epochs_run += 1
            stoppers[k].update(value)
            if cfg.checkpoint == "final" or stoppers[k].improved_best:
                kept[k] = epoch
                for name in best:
                    best[name][k].copy_(state[name][k].detach())
            if stoppers[k].should_stop:
                active[k] = 0  # its gradient is masked from now on; its best weights are kept
        if active.sum() == 0:
            break
    with torch.no_grad():
        for name in best:
            state[name].copy_(best[name])
    for k, res in enumerate(results):
        res.best_epoch = kept[k]
        res.best_epochs.update({v: kept[k] for v in views})
    for p in params.values():
        p.requires_grad_(True)


def _member(template: Method, keys: set, state: dict, k: int) -> Method:
    """Member `k` of the stack as a plain module (its current weights copied), in eval mode."""
    template.load_state_dict({name: state[name][k].detach() for name in keys})
    return template.eval()
