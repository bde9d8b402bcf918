"""The t-SNE page's measures: the vectorised ones against slow, obvious re-computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from mdico_core.reporting.figures import feature_measures as fm
from mdico_core.reporting.figures.feature_measures import neighbour_score, pair_retrieval, paired_tests


def _slow_knn(x, y, task, k):
    preds = []
    for i in range(len(x)):
        d = [(float(np.sum((x[i] - x[j]) ** 2)), j) for j in range(len(x)) if j != i]
        nn = [j for _, j in sorted(d)[:k]]
        if task == "regression":
            preds.append(np.mean([y[j] for j in nn]))
        else:
            votes = {}
            for j in nn:
                votes[int(y[j])] = votes.get(int(y[j]), 0) + 1
            best = max(votes.values())
            preds.append(min(c for c, v in votes.items() if v == best))
    preds = np.array(preds)
    if task == "regression":
        return 1 - np.sum((y - preds) ** 2) / np.sum((y - y.mean()) ** 2)
    return float(np.mean(preds == y))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_neighbour_score_matches_a_slow_loop(task):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    y = {"binary": (x[:, 0] > 0).astype(int), "multiclass": rng.integers(0, 4, 60),
         "regression": x[:, 1] + 0.3 * rng.normal(size=60)}[task]
    assert neighbour_score(x, y, task, k=5) == pytest.approx(_slow_knn(x, y, task, 5), abs=1e-9)


def test_neighbour_score_sees_separated_classes_and_noise():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 30)
    apart = rng.normal(size=(90, 4)) * 0.1 + np.eye(4)[y] * 10
    assert neighbour_score(apart, y, "multiclass") == 1.0
    assert neighbour_score(rng.normal(size=(90, 4)), y, "multiclass") < 0.6
    labels = np.stack([y == 0, y != 0], 1).astype(int)
    assert neighbour_score(apart, labels, "multilabel") == 1.0


def test_pair_retrieval_is_one_for_aligned_spaces_and_chance_for_unrelated_ones():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(200, 16))
    assert pair_retrieval(a, 3 * a + 0.01 * rng.normal(size=a.shape)) == 1.0
    assert pair_retrieval(a, rng.normal(size=a.shape)) < 0.05
    with pytest.raises(ValueError, match="one shape"):
        pair_retrieval(a, a[:, :8])


def test_the_tests_follow_the_policy():
    import pandas as pd

    rng = np.random.default_rng(3)
    rows = [{"measure": "m", "view": v, "individual": b, "mdico": b + gain + 0.01 * rng.normal()}
            for v, gain, n in (("S1", 0.2, 10), ("L8", 0.0, 10), ("S2", 0.2, 3)) for b in rng.uniform(0, 1, n)]
    out = paired_tests(pd.DataFrame(rows), test_train_ratio=0.12).set_index("view")
    assert out.loc["S1", "p (Holm)"] < 0.05 and out.loc["S1", "lo"] > 0
    assert out.loc["L8", "lo"] < 0 < out.loc["L8", "hi"] and out.loc["L8", "mde"] > 0
    assert np.isnan(out.loc["S2", "p"]) and out.loc["S2", "n"] == 3  # no p from fewer than 5 pairs


def test_the_findings_ledger_tests_the_feature_measures_as_the_tsne_page_does():
    """Claim C8 (the t-SNE figures' claim) in the findings ledger: the same paired runs, differences, corrected
    intervals and p values as the t-SNE page's own table of the measures on archive lfmc_paper."""
    from mdico_core.data import get_dataset_entry
    from mdico_core.reporting.book.archive import archived_page
    from mdico_core.reporting.claims import findings
    from mdico_core.reporting.core import paper_claims, stats

    page = archived_page("lfmc_paper")
    entry = get_dataset_entry("lfmc")
    measured = fm.measure(page, "lfmc", list(entry.shapes), entry.task)
    ids = {i for pair in measured["run_ids"] for i in pair}
    runs = page.frame()
    tested = fm.paired_tests(measured, stats.split_ratio(runs[runs["run_id"].isin(ids)])).set_index("view")
    ledger = findings.ledger([paper_claims.get_claim("C8")])
    assert len(ledger) == len(tested) == 3 and (ledger["n"] >= stats.MIN_PAIRS).all()
    for row in ledger.itertuples():
        view = row.x.rsplit(", ", 1)[1]  # "MDiCo, S1" -> "S1"; "MDiCo, S1↔L8" -> "S1↔L8"
        page_row = tested.loc[view]
        assert row.n == page_row["n"], view
        assert np.allclose([row.mean, row.p], [page_row["Δ"], page_row["p"]]), view
        # the page's interval is at 95% (its table's family); the ledger's at its claim's family level, the same se
        half_page, half_ledger = page_row["hi"] - page_row["Δ"], row.hi - row.mean
        crit = st.t.ppf(0.975, row.n - 1), st.t.ppf(1 - (1 - row.family_level) / 2, row.n - 1)
        assert np.isclose(half_page / crit[0], half_ledger / crit[1]), view


def test_held_pairs_says_which_runs_keep_features(monkeypatch):
    """The t-SNE page's words for what an archive keeps come from its runs, seed by seed, folds as a span."""
    from types import SimpleNamespace

    from mdico_core.reporting.figures import feature_measures as fm_

    def pair(seed, fold):
        return {m: SimpleNamespace(seed=seed, fold=fold) for m in fm_.METHODS}

    held = [pair(0, 0), *(pair(3, f) for f in range(10))]
    monkeypatch.setattr(fm_, "paired_feature_runs", lambda page, registry: held)
    assert fm_.held_pairs(None, "lfmc") == "11 paired runs (seed 0: fold 0; seed 3: folds 0–9)"
    monkeypatch.setattr(fm_, "paired_feature_runs", lambda page, registry: [])
    assert fm_.held_pairs(None, "lfmc") == "no paired run"
