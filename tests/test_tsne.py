"""t-SNE of stored features (reporting/figures/tsne.py): the embedding, the panels, which runs are shown."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mdico_core.reporting.figures import tsne

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def test_tsne_is_seeded_and_checks_input():
    pytest.importorskip("openTSNE")
    x = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    a, b = tsne.tsne_2d(x, seed=3), tsne.tsne_2d(x, seed=3)
    assert a.shape == (30, 2)
    np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="N >= 5"):
        tsne.tsne_2d(x[:3])


def test_tsne_panels_and_plot():
    pytest.importorskip("openTSNE")
    rng = np.random.default_rng(1)
    arrays = {"y_true": rng.integers(0, 2, 20), "feat/S1": rng.normal(size=(20, 4)).astype(np.float16)}
    panels = tsne.tsne_panels({"Individual": arrays, "MDiCo": arrays}, ["S1", "S2"], "multiclass")
    assert [p[0] for p in panels] == ["Individual, S1", "MDiCo, S1"]  # S2 has no features
    fig = tsne.plot_tsne(panels, "multiclass", ["no", "yes"])
    assert len(fig.legends) == 1
    assert tsne.colour_labels(np.array([[0, 1], [0, 0]]), "multilabel").tolist() == [1, -1]


def _cfg(method: str, fold: int | None, seed: int) -> SimpleNamespace:
    return SimpleNamespace(method=method, fold=fold, seed=seed)


def test_paired_runs_take_one_fold_and_seed_that_every_method_finished():
    cfgs = [_cfg(m, f, s) for s in (0, 1) for f in (0, 1) for m in ("individual", "mdico")]
    finished = {(c.method, c.fold, c.seed) for c in cfgs} - {("individual", 0, 0), ("mdico", 1, 0)}
    runs = tsne.paired_runs(cfgs, lambda c: (c.method, c.fold, c.seed) in finished)
    # (0, 0) lacks Individual and (1, 0) lacks MDiCo: the first complete pair is fold 0, seed 1
    assert {m: (c.fold, c.seed) for m, c in runs.items()} == {"individual": (0, 1), "mdico": (0, 1)}
    assert tsne.paired_runs(cfgs, lambda c: c.method == "mdico") is None
    official = [_cfg("individual", None, 3), _cfg("mdico", None, 3)]
    assert tsne.paired_runs(official, lambda c: True)["mdico"].fold is None


def test_tsne_for_reads_the_pair_from_a_store(tmp_path):
    """On a real store: the panels come from the arrays of the paired runs, on the dataset's modalities."""
    pytest.importorskip("openTSNE")
    from mdico_core.experiments import ResultsStore, RunConfig, train_config

    store = ResultsStore(tmp_path)
    rng = np.random.default_rng(0)
    cfgs = [RunConfig("toy_binary", m, fold=0, n_folds=3, seed=0, train=train_config({"max_epochs": 1}))
            for m in ("individual", "mdico")]
    for c in cfgs:
        store.save({"run_id": c.run_id, "config": c.to_dict(), "status": "done", "task": "binary", "metrics": {}},
                   {"test_idx": np.arange(12), "y_true": rng.integers(0, 2, 12),
                    **{f"feat/{m}": rng.normal(size=(12, 3)).astype(np.float32) for m in ("S1", "S2")}})
    page = SimpleNamespace(store=store, configs_where=lambda **k: [c for c in cfgs if c.dataset == k["dataset"]])
    view = tsne.tsne_for(page, "toy_binary")
    assert (view.fold, view.seed) == (0, 0) and view.task == "binary"
    assert [p[0] for p in view.panels] == ["Individual, S1", "MDiCo, S1", "Individual, S2", "MDiCo, S2"]
    assert tsne.tsne_for(SimpleNamespace(store=ResultsStore(tmp_path / "empty"), configs_where=page.configs_where),
                         "toy_binary") is None


def test_a_rerun_of_the_archived_runs_is_said_to_reproduce_them_and_not_drawn_twice():
    runs = {m: SimpleNamespace(run_id=f"{m}-id", fold=0, seed=0) for m in ("individual", "mdico")}
    feat = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    archived = tsne.TsneView(runs, [], "binary", None, features={"mdico/feat/S1": feat.astype(np.float16)})
    same = tsne.TsneView(runs, [], "binary", None, features={"mdico/feat/S1": feat})
    words, redraw = tsne.same_runs(archived, same)
    assert "reproduced" in words and "exactly" in words and not redraw
    moved = tsne.TsneView(runs, [], "binary", None, features={"mdico/feat/S1": feat + 0.5})
    words, redraw = tsne.same_runs(archived, moved)
    assert "differ" in words and redraw
    other = {m: SimpleNamespace(run_id=f"{m}-other", fold=0, seed=0) for m in runs}
    assert tsne.same_runs(archived, tsne.TsneView(other, [], "binary", None)) is None
    assert tsne.same_runs(None, same) is None
