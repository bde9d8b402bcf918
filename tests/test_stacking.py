"""Stacked training (K runs as one model) agrees with separate runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mdico_core.data.synthetic import make_synthetic
from mdico_core.methods import ProblemSpec, build_method
from mdico_core.metrics import score
from mdico_core.stacking import fit_stacked, is_stackable
from mdico_core.training import TrainConfig, fit, predict, to_tensors

CFG = TrainConfig(max_epochs=5, batch_size=32, patience=2, min_delta=0.0)


def _runs(ds, keys):
    """(method, train, val, test, seed) per (fold, seed) key, each built as the runner does."""
    out = []
    for fold, seed in keys:
        tr, va, te = ds.split_indices(fold, 5, seed)
        x = ds.fit_normalizer(tr).transform(ds.modalities)
        sub = lambda idx, x=x: to_tensors({m: v[idx] for m, v in x.items()}, ds.target[idx])  # noqa: E731
        torch.manual_seed(seed)
        method = build_method("mdico", ProblemSpec.from_dataset(ds, tr))
        out.append((method, sub(tr), sub(va), (te, sub(te)), seed))
    return out


def _r2(ds, method, test) -> float:
    te, data = test
    return score("regression", ds.target[te], predict(method, data["x"], "S1"))["r2"]


@pytest.fixture(scope="module")
def ds():
    return make_synthetic("regression", n=260, shapes={"S1": (6, 3), "S2": (6, 5)}, seed=3)


@pytest.mark.slow
def test_stacked_matches_separate_runs_in_distribution(ds):
    keys = [(f, s) for s in (0, 1) for f in range(2)]
    separate = []
    for method, tr, va, te, seed in _runs(ds, keys):
        fit(method, tr, va, CFG, seed=seed)
        separate.append(_r2(ds, method, te))
    runs = _runs(ds, keys)
    results = fit_stacked([r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs], CFG,
                          [r[4] for r in runs])
    stacked = [_r2(ds, r[0], r[3]) for r in runs]
    assert len(results) == len(keys)
    # Same model, data and budget: the mean R² agrees within the spread of the separate runs.
    spread = max(np.std(separate, ddof=1), 0.02)
    assert abs(np.mean(stacked) - np.mean(separate)) < 2 * spread, (separate, stacked)
    assert np.mean(stacked) > 0.3  # they learned something


@pytest.mark.slow
def test_each_member_keeps_its_own_state(ds):
    runs = _runs(ds, [(0, 0), (1, 0), (2, 1)])
    methods = [r[0] for r in runs]
    results = fit_stacked(methods, [r[1] for r in runs], [r[2] for r in runs], CFG, [r[4] for r in runs])
    for res in results:  # records identical in form to fit()'s
        assert res.epochs_run == len(res.history) and 1 <= res.best_epoch <= res.epochs_run
        assert {"train/total", "val/total", "train/cont", "val/main"} <= set(res.history[0])
    # BatchNorm statistics were updated per member, from the member's own rows
    bn = [dict(m.named_buffers())["unique.S1.convs.1.running_mean"] for m in methods]
    assert not torch.allclose(bn[0], bn[1])
    assert not torch.allclose(bn[0], torch.zeros_like(bn[0]))
    # the restored weights are the best epoch's: the validation loss recomputed now equals the recorded one
    from mdico_core.training import evaluate_losses

    for method, (_, _, va, _, _), res in zip(methods, runs, results):
        best = res.history[res.best_epoch - 1]["val/total"]
        assert evaluate_losses(method, va)["total"] == pytest.approx(best, rel=1e-4)


def test_only_stackable_methods_are_stacked(ds):
    spec = ProblemSpec.from_dataset(ds)
    assert is_stackable(build_method("mdico", spec)) and is_stackable(build_method("individual", spec))
    assert not is_stackable(build_method("mdico", spec, variant="unpaired"))
    with pytest.raises(ValueError, match="stackable"):
        m = build_method("mdico", spec, variant="unpaired")
        d = to_tensors(ds.modalities, ds.target)
        fit_stacked([m], [d], [d], CFG, [0])


def _individual_runs(ds, folds=(0, 1)) -> list[tuple]:
    """An Individual model per fold of `ds` (5 folds, split seed 0), with its train and validation tensors
    and (test rows, test tensors): the members of one stacked fit."""
    runs = []
    for fold in folds:
        tr, va, te = ds.split_indices(fold, 5, 0)
        x = ds.fit_normalizer(tr).transform(ds.modalities)
        torch.manual_seed(0)
        m = build_method("individual", ProblemSpec.from_dataset(ds, tr))
        tensors = [to_tensors({k: v[rows] for k, v in x.items()}, ds.target[rows]) for rows in (tr, va, te)]
        runs.append((m, tensors[0], tensors[1], (te, tensors[2])))
    return runs


def test_classification_members_have_their_own_class_weights():
    runs = _individual_runs(make_synthetic("multiclass", n=300, seed=1))
    weights = [r[0].task_loss.class_weights.clone() for r in runs]
    fit_stacked([r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs],
                TrainConfig(max_epochs=1, batch_size=32), [0, 0])
    assert not torch.equal(weights[0], weights[1])
    for (m, *_), w in zip(runs, weights):
        assert torch.equal(m.task_loss.class_weights, w)


def test_individual_stacks_its_per_modality_stages(ds):
    """K stacked Individual runs: one stacked stage per modality, each member stopping on its own."""
    runs = _individual_runs(ds)
    results = fit_stacked([r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs], CFG, [0, 0])
    from mdico_core.training import evaluate_losses

    for (method, _, va, te), res in zip(runs, results):
        stages = [row["stage"] for row in res.history]
        assert stages == sorted(stages, key=["S1", "S2"].index) and set(stages) == {"S1", "S2"}
        assert set(res.best_epochs) == {"S1", "S2"}
        for m in ("S1", "S2"):  # each modality restored to its own stage's best epoch
            hist = [row for row in res.history if row["stage"] == m]
            best = hist[res.best_epochs[m] - 1]["val/total"]
            assert best == min(row["val/total"] for row in hist)
            method.stage = m
            assert evaluate_losses(method, va)["total"] == pytest.approx(best, rel=1e-4)
            method.stage = None
        assert _r2(ds, method, te) > 0.3


def test_per_view_checkpoints_are_not_stacked(ds):
    spec = ProblemSpec.from_dataset(ds)
    d = to_tensors(ds.modalities, ds.target)
    cfg = TrainConfig(max_epochs=1, monitor="score", checkpoint="per_view")
    with pytest.raises(ValueError, match="per-view"):
        fit_stacked([build_method("individual", spec)], [d], [d], cfg, [0])
