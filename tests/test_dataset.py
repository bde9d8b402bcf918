"""MultiModalDataset: folds, run splits, normalisation statistics, NaN policy and validation."""

from __future__ import annotations

import numpy as np
import pytest

from mdico_core.data.dataset import DataValidationError, MultiModalDataset, Normalizer


def _ds(n: int = 300, task: str = "multiclass", seed: int = 0, nan_policy: str = "raise",
        split: np.ndarray | None = None) -> MultiModalDataset:
    rng = np.random.default_rng(seed)
    mods = {"S1": rng.normal(size=(n, 5, 2)).astype(np.float32),
            "IMG": rng.normal(size=(n, 3, 4, 4)).astype(np.float32)}
    if task == "multiclass":  # imbalanced on purpose: 2/3, ~23 %, 10 %
        target = np.repeat([0, 1, 2], [n * 2 // 3, n - n * 2 // 3 - n // 10, n // 10]).astype(np.int64)
        target = rng.permutation(target)
    elif task == "binary":
        target = (rng.random(n) < 0.2).astype(np.int64)
    elif task == "multilabel":
        target = (rng.random((n, 4)) < 0.3).astype(np.float32)
    else:
        target = rng.normal(100, 40, n).astype(np.float32)
    return MultiModalDataset(name="t", modalities=mods, target=target, task=task, nan_policy=nan_policy,
                             split=split)


# ------------------------------------------------------------------------------ folds
@pytest.mark.parametrize("task", ["multiclass", "regression", "multilabel"])
def test_folds_disjoint_and_covering(task: str) -> None:
    ds = _ds(task=task)
    folds = ds.folds(k=7, seed=3)
    assert len(folds) == 7
    allidx = np.concatenate(folds)
    assert len(allidx) == len(ds) and len(np.unique(allidx)) == len(ds)
    assert set(allidx) == set(range(len(ds)))


def test_folds_reproducible_and_seed_dependent() -> None:
    ds = _ds()
    a, b, c = ds.folds(5, seed=1), ds.folds(5, seed=1), ds.folds(5, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(np.sort(x), np.sort(y)) for x, y in zip(a, c))


def test_folds_are_stratified_for_classes() -> None:
    ds = _ds(n=300)
    overall = np.bincount(ds.target) / len(ds)
    for fold in ds.folds(5, seed=0):
        share = np.bincount(ds.target[fold], minlength=3) / len(fold)
        np.testing.assert_allclose(share, overall, atol=1.0 / len(fold))  # within one sample per class


def test_folds_reject_bad_k() -> None:
    with pytest.raises(ValueError, match="folds"):
        _ds(n=20).folds(k=1)


# ------------------------------------------------------------------------------ run splits
@pytest.mark.parametrize("fold", [0, 4])
def test_split_indices_disjoint_and_val_outside_test(fold: int) -> None:
    ds = _ds()
    train, val, test = ds.split_indices(fold, k=5, seed=0, val_fraction=0.1)
    assert set(test) == set(ds.folds(5, 0)[fold])
    assert not (set(train) & set(val)) and not (set(train) & set(test)) and not (set(val) & set(test))
    assert len(train) + len(val) + len(test) == len(ds)
    assert abs(len(val) - 0.1 * (len(ds) - len(test))) <= 1


def test_split_indices_reproducible() -> None:
    ds = _ds()
    a, b = ds.split_indices(2, k=5, seed=7), ds.split_indices(2, k=5, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_validation_test_returns_test_fold() -> None:
    ds = _ds()
    train, val, test = ds.split_indices(1, k=5, seed=0, validation="test")
    np.testing.assert_array_equal(val, test)
    assert set(train) == set(range(len(ds))) - set(test)


def test_official_split_used_and_val_carved_when_absent() -> None:
    n = 100
    split = np.array(["train"] * 70 + ["val"] * 10 + ["test"] * 20)
    train, val, test = _ds(n=n, split=split).split_indices(None)
    np.testing.assert_array_equal(val, np.arange(70, 80))
    np.testing.assert_array_equal(test, np.arange(80, 100))
    no_val = np.where(split == "val", "train", split)
    train, val, test = _ds(n=n, split=no_val).split_indices(None, seed=0, val_fraction=0.2)
    assert set(train) | set(val) == set(range(80)) and not set(train) & set(val) and len(val) == 16
    with pytest.raises(ValueError, match="no official split"):
        _ds(n=n).split_indices(None)
    with pytest.raises(ValueError, match="outside"):
        _ds(n=n).split_indices(9, k=5)


# ------------------------------------------------------------------------------ normalisation
def test_normalizer_uses_training_rows_only() -> None:
    ds = _ds(task="regression")
    train, _, test = ds.split_indices(0, k=5, seed=0)
    before = ds.fit_normalizer(train)
    ds.modalities["S1"][test] += 1000.0  # change test rows only
    after = ds.fit_normalizer(train)
    for m in ds.modalities:
        np.testing.assert_array_equal(before.mean[m], after.mean[m])
        np.testing.assert_array_equal(before.std[m], after.std[m])
    ds.modalities["S1"][train[:10]] += 1000.0  # a training row does move them
    assert not np.allclose(ds.fit_normalizer(train).mean["S1"], before.mean["S1"])


def test_normalizer_matches_per_channel_formula() -> None:
    ds = _ds(task="regression")
    train = np.arange(200)
    norm = ds.fit_normalizer(train)
    x = ds.modalities["S1"][train].astype(np.float64)  # (N, T, C): channels last
    np.testing.assert_allclose(norm.mean["S1"], x.mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(norm.std["S1"], x.std(axis=(0, 1)), rtol=1e-5)
    img = ds.modalities["IMG"][train].astype(np.float64)  # (N, C, H, W): channels at axis 1
    np.testing.assert_allclose(norm.mean["IMG"], img.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-7)
    z = norm.transform({"S1": ds.modalities["S1"][train]})["S1"]
    np.testing.assert_allclose(z.mean(axis=(0, 1)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 1)), 1, atol=1e-4)


def test_constant_channel_gets_unit_std() -> None:
    x = np.ones((10, 3, 2), np.float32)
    assert np.all(Normalizer.fit({"a": x}).std["a"] == 1.0)


# ------------------------------------------------------------------------------ NaN policy
def _with_nan(ds: MultiModalDataset) -> dict[str, np.ndarray]:
    mods = {m: x.copy() for m, x in ds.modalities.items()}
    mods["S1"][3, 1, 0] = np.nan
    mods["S1"][7, :, 1] = np.nan
    return mods


def test_nan_policy_raise_is_helpful() -> None:
    ds = _ds(task="regression")
    with pytest.raises(DataValidationError, match=r"NaN in 2 samples.*nan_policy='zero'"):
        MultiModalDataset(name="t", modalities=_with_nan(ds), target=ds.target, task="regression")


def test_nan_policy_zero_fills_zero_after_zscore() -> None:
    ds = _ds(task="regression")
    nan_ds = MultiModalDataset(name="t", modalities=_with_nan(ds), target=ds.target, task="regression",
                               nan_policy="zero")
    norm = nan_ds.fit_normalizer(np.arange(len(ds)))
    assert np.isfinite(norm.mean["S1"]).all() and np.isfinite(norm.std["S1"]).all()
    z = norm.transform(nan_ds.modalities)["S1"]
    assert z[3, 1, 0] == 0.0 and np.all(z[7, :, 1] == 0.0)
    assert np.isfinite(z).all()
    ok = ~np.isnan(nan_ds.modalities["S1"])
    expected = (nan_ds.modalities["S1"] - norm.mean["S1"]) / norm.std["S1"]
    np.testing.assert_allclose(z[ok], expected[ok], rtol=1e-6)


def test_bad_nan_policy() -> None:
    with pytest.raises(DataValidationError, match="nan_policy"):
        _ds(nan_policy="drop")


# ------------------------------------------------------------------------------ validation errors
def _make(**over):
    rng = np.random.default_rng(0)
    kw = {"name": "t", "modalities": {"A": rng.normal(size=(8, 4, 2)).astype(np.float32)},
          "target": rng.normal(size=8).astype(np.float32), "task": "regression"}
    kw.update(over)
    return MultiModalDataset(**kw)


@pytest.mark.parametrize(("over", "pattern"), [
    ({"modalities": {"A": np.zeros((8, 4), np.float32)}}, r"2 axes.*\(N, T, C\)"),
    ({"modalities": {"A": np.zeros((8, 1, 2, 3, 4), np.float32)}}, "5 axes"),
    ({"modalities": {"A": np.zeros((7, 4, 2), np.float32)}}, "7 samples but the target has 8"),
    ({"modalities": {"A": np.zeros((8, 4, 2), np.float64)}}, r"dtype float64.*astype\(np.float32\)"),
    ({"modalities": {"A": [[0.0]] * 8}}, "numpy array"),
    ({"modalities": {"A": np.full((8, 4, 2), np.inf, np.float32)}}, "inf"),
    ({"modalities": {}}, "at least one modality"),
    ({"task": "ordinal"}, "task"),
    ({"target": np.arange(8)}, "regression target must be float"),
    ({"target": np.array([1.0] * 7 + [np.nan], np.float32)}, "NaN or inf"),
    ({"task": "multiclass", "target": np.array([0, 1, 2, 5, 0, 1, 2, 0]), "class_names": ["a", "b", "c"]},
     r"\[0, 3\)"),
    ({"task": "multiclass", "target": np.array([0, 1, -1, 0, 0, 1, 1, 0])}, "class indices"),
    ({"task": "binary", "target": np.linspace(0, 1, 8).astype(np.float32)}, "integer class indices"),
    ({"task": "binary", "target": np.array([0, 1, 2, 0, 1, 2, 0, 1])}, "binary task needs 2 classes"),
    ({"task": "multilabel", "target": np.full((8, 3), 0.5, np.float32)}, "0/1"),
    ({"split": np.array(["train"] * 7 + ["holdout"])}, "split"),
    ({"info": {"B": None}}, "do not exist"),
])
def test_validation_errors(over: dict, pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern):
        _make(**over)


def test_valid_dataset_passes_and_subset_keeps_pairs() -> None:
    ds = _ds(task="binary")
    sub = ds.subset(np.array([5, 1, 9]))
    assert len(sub) == 3
    np.testing.assert_array_equal(sub.target, ds.target[[5, 1, 9]])
    np.testing.assert_array_equal(sub.modalities["IMG"][1], ds.modalities["IMG"][1])


def test_released_validation_uses_an_official_val_list_when_there_is_one():
    from mdico_core.data.synthetic import make_synthetic

    ds = make_synthetic("multilabel", n=60, seed=0)
    ds.split = np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    train, val, test = ds.split_indices(None, validation="test")
    assert len(val) == 10 and not set(val) & set(test)
    ds.split = np.array(["train"] * 50 + ["test"] * 10)
    train, val, test = ds.split_indices(None, validation="test")
    assert np.array_equal(val, test)  # no official val list: the test set, as the released code


# ------------------------------------------------------------------------------ site-grouped folds
def _sited(n: int = 400, sites: int = 37, seed: int = 0) -> MultiModalDataset:
    """A regression dataset whose rows come from `sites` sites of unequal sizes (a metadata column)."""
    import pandas as pd

    ds = _ds(n=n, task="regression", seed=seed)
    rng = np.random.default_rng(seed + 1)
    site = rng.choice([f"s{i}" for i in range(sites)], size=n, p=rng.dirichlet(np.ones(sites) * 2))
    ds.metadata = pd.DataFrame({"site": site})
    return ds


@pytest.mark.parametrize("fold", [0, 3, 9])
def test_grouped_folds_hold_whole_sites_on_every_side(fold: int) -> None:
    ds = _sited()
    site = ds.metadata["site"].to_numpy()
    folds = ds.folds(10, seed=2, by="site")
    allidx = np.concatenate(folds)
    assert sorted(allidx) == list(range(len(ds)))  # disjoint and covering
    owner = {}  # every site lies in exactly one fold
    for f, idx in enumerate(folds):
        for s in set(site[idx]):
            assert owner.setdefault(s, f) == f
    train, val, test = ds.split_indices(fold, k=10, seed=2, by="site")
    assert len(train) + len(val) + len(test) == len(ds)
    assert not set(site[train]) & set(site[test]), "a test site is also a training site"
    assert not set(site[train]) & set(site[val]), "early stopping would see a training site"
    assert not set(site[val]) & set(site[test])
    assert len(val) >= 0.1 * (len(train) + len(val))  # whole sites until a tenth of the training rows


def test_grouped_folds_are_balanced_in_rows() -> None:
    ds = _sited(n=2000, sites=150)
    sizes = [len(f) for f in ds.folds(10, seed=0, by="site")]
    largest_site = ds.metadata["site"].value_counts().max()
    assert max(sizes) - min(sizes) <= largest_site  # greedy to the emptiest fold: within one site


def test_grouped_folds_follow_the_split_seed() -> None:
    ds = _sited()
    a, b, c = (ds.folds(5, seed=s, by="site") for s in (1, 1, 2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    ta, tb = ds.split_indices(1, k=5, seed=4, by="site"), ds.split_indices(1, k=5, seed=4, by="site")
    assert all(np.array_equal(x, y) for x, y in zip(ta, tb))


def test_grouped_folds_refuse_a_missing_column_in_one_line() -> None:
    ds = _sited()
    with pytest.raises(ValueError, match=r"no metadata column 'region'.*columns: site") as err:
        ds.split_indices(0, k=5, seed=0, by="region")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="groups"):
        ds.folds(50, seed=0, by="site")  # more folds than sites
