"""Statistics for cross-validation: hand-computed examples, slow re-computations, the n rule, the archive."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mdico_core.reporting.analyses.concordance import check_cell, concordance, concordance_verdict, interval
from mdico_core.reporting.analyses.ranks import friedman_nemenyi, rank_blocks, rank_caption, rank_test
from mdico_core.reporting.analyses.stats_table import (
    Cell,
    default_reference,
    format_results,
    results_caption,
    results_table,
)
from mdico_core.reporting.core import format as fmt
from mdico_core.reporting.core import stats

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------------------- corrected t-test
def test_corrected_ttest_hand_computed():
    # d = 1..6 (k r = 6 runs), n_test/n_train = 1/2: mean 3.5, s² = 17.5/5 = 3.5,
    # var = (1/6 + 1/2) * 3.5 = 7/3, t = 3.5 / sqrt(7/3) = 2.2913, 5 df: two-sided p = 0.0705
    # (t table: the 5 % critical value at 5 df is 2.571 > 2.29, the 10 % one 2.015 < 2.29).
    res = stats.corrected_ttest([1, 2, 3, 4, 5, 6], test_train_ratio=0.5)
    assert (res.n, res.df, res.mean_diff) == (6, 5, 3.5)
    assert res.t == pytest.approx(2.29128784747792, rel=1e-12)
    assert res.p == pytest.approx(0.0705357651873136, rel=1e-9)


@pytest.mark.parametrize("ratio", [1 / 9, 1 / (9 * 0.9), 0.25])
def test_corrected_ttest_is_the_naive_t_rescaled(ratio):
    # the naive one-sample t-test has variance s²/n; the correction multiplies it by (1 + n ratio)
    d = RNG.normal(0.02, 0.05, size=50)
    naive = sps.ttest_1samp(d, 0.0)
    res = stats.corrected_ttest(d, ratio)
    assert res.t == pytest.approx(naive.statistic / np.sqrt(1 + len(d) * ratio), rel=1e-12)
    assert res.p > naive.pvalue
    assert res.p == pytest.approx(2 * sps.t.sf(abs(res.t), 49), rel=1e-12)


def test_corrected_ttest_degenerate_and_bad_input():
    assert stats.corrected_ttest(np.zeros(10), 0.1).p == 1.0
    const = stats.corrected_ttest(np.full(10, 0.25), 0.1)  # exactly representable: s = 0
    assert const.p == 0.0 and const.t == np.inf
    with pytest.raises(ValueError, match="positive"):
        stats.corrected_ttest([1.0, 2.0, 3.0], 0.0)
    with pytest.raises(ValueError, match="NaN"):
        stats.corrected_ttest([1.0, np.nan, 3.0], 0.1)
    with pytest.raises(ValueError, match="at least 2"):
        stats.corrected_ttest([1.0], 0.1)


# ---------------------------------------------------------------------------------- Holm
def _holm_slow(p: list[float]) -> list[float]:
    """Holm's definition written out: the i-th smallest p times (m - i + 1), never below the one before, capped at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_holm_worked_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.holm([0.5, 0.6, 0.9]), [1.0, 1.0, 1.0])  # capped at 1
    out = stats.holm([np.nan, 0.01, 0.02])  # an untested row is not counted: m = 2
    assert np.isnan(out[0]) and out[1:] == pytest.approx([0.02, 0.02])


def test_holm_against_definition_and_monotone():
    for m in (1, 2, 7, 24):
        p = RNG.uniform(0, 0.2, size=m)
        adj = stats.holm(p)
        np.testing.assert_allclose(adj, _holm_slow(list(p)))
        assert (adj >= p).all() and (adj <= 1).all()
        order = np.argsort(p)
        assert (np.diff(adj[order]) >= 0).all()  # the order of the raw p is kept
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm([0.5, 1.5])


# ---------------------------------------------------------------------------------- Bayesian
def test_bayes_probabilities_sum_to_one_and_move_the_right_way():
    pytest.importorskip("baycomp")
    d = RNG.normal(0.0, 0.05, size=50)
    probs = [stats.bayes_correlated(d + shift, 1 / 9, rope=0.01) for shift in (-0.05, 0.0, 0.02, 0.05, 0.1)]
    for lower, equiv, higher in probs:
        assert lower + equiv + higher == pytest.approx(1.0)
        assert min(lower, equiv, higher) >= 0
    highers = [p[2] for p in probs]
    assert highers == sorted(highers) and highers[-1] > 0.9 and probs[0][0] > 0.9
    assert stats.bayes_correlated(np.zeros(50), 1 / 9, rope=0.01) == (0.0, 1.0, 0.0)  # identical scores
    with pytest.raises(ValueError, match="rope"):
        stats.bayes_correlated(d, 1 / 9, rope=0.0)


def test_bayes_matches_baycomp_correlated_ttest():
    baycomp = pytest.importorskip("baycomp")
    # baycomp's own test corrects with n_test/n_train = 1/(k - 1): the same numbers for that ratio
    k, r = 10, 5
    x = RNG.normal(0.35, 0.08, size=k * r)
    y = x + RNG.normal(0.01, 0.03, size=k * r)
    ours = stats.bayes_correlated(y - x, 1 / (k - 1), rope=0.01)
    theirs = baycomp.CorrelatedTTest.probs(x, y, rope=0.01, runs=r)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)


# ---------------------------------------------------------------------------------- policy
def test_no_p_or_std_below_five_runs():
    assert fmt.fmt_p(0.01, n=1) == "n = 1" and fmt.fmt_p(0.01, n=4) == "n = 4"
    assert fmt.fmt_p(0.01, n=5) == "0.010" and fmt.fmt_p(1e-5) == "<0.001" and fmt.fmt_p(np.nan) == "–"
    assert fmt.fmt_mean_std(61.23, 2.0, n=1) == "61.2 (n = 1)"
    assert fmt.fmt_mean_std(61.23, 2.04, n=5) == "61.2 ± 2.0"
    assert fmt.fmt_prob(0.456, n=3) == "n = 3" and fmt.fmt_prob(0.456, n=10) == "0.46"


def test_verdict_words_follow_the_test():
    assert stats.verdict(0.03, 0.004, 50) == "significantly higher (corrected t-test, Holm p = 0.004)"
    assert stats.verdict(-0.03, 1e-5, 50) == "significantly lower (corrected t-test, Holm p < 0.001)"
    assert stats.verdict(0.03, 0.2, 50) == "no detectable difference (corrected t-test, Holm p = 0.200)"
    assert stats.verdict(0.03, 0.001, 1).startswith("not tested (n = 1")
    assert stats.verdict(0.03, np.nan, 10) == "not tested"


def test_split_ratio_from_columns_or_protocol():
    runs = pd.DataFrame({"run_id": ["a", "b"], "n_folds": [10, 10], "protocol": ["paper", "paper"]})
    assert stats.split_ratio(runs) == pytest.approx(258 / 2088, rel=2e-3)  # LFMC's fold 0: 258 test, 2088 train
    assert stats.split_ratio(runs.assign(protocol="released")) == pytest.approx(1 / 9)
    assert stats.split_ratio(runs.assign(n_train=[200, 100], n_test=[20, 20])) == pytest.approx(0.15)
    with pytest.raises(ValueError, match="test_train_ratio"):
        stats.split_ratio(runs.assign(protocol=["paper", "released"]))
    with pytest.raises(ValueError, match="no ROPE|region of practical"):
        stats.rope_for("rmse")


# ---------------------------------------------------------------------------------- results table
def _runs(n_folds: int = 5, seeds: tuple[int, ...] = (0, 1), dataset: str = "lfmc") -> pd.DataFrame:
    """Individual, MDiCo (+0.03) and MDiCo w/o contrastive loss (-0.02 from MDiCo), noisy, per fold x seed."""
    rows = []
    for fold, seed in itertools.product(range(n_folds), seeds):
        base = 0.3 + 0.05 * RNG.standard_normal()
        for method, variant, shift in (("individual", "default", 0.0), ("mdico", "default", 0.03),
                                       ("mdico", "no_cont", 0.01)):
            value = base + shift + 0.01 * RNG.standard_normal()
            rows.append({"run_id": f"{method}-{variant}-{fold}-{seed}", "method": method, "variant": variant,
                         "fold": fold, "seed": seed, "view": "S1", "value": value})
    df = pd.DataFrame(rows).assign(dataset=dataset, encoder="tempcnn", protocol="paper", metric="r2",
                                   task="regression", status="done", n_folds=10)
    return pd.concat([df, df.assign(metric="rmse", value=30 - 10 * df["value"])], ignore_index=True)


def test_results_table_by_hand():
    pytest.importorskip("baycomp")
    df = _runs()
    table = results_table(df, test_train_ratio=0.125)
    assert set(table["metric"]) == {"r2"} and len(table) == 3
    r2 = df[df["metric"] == "r2"].set_index(["method", "variant", "fold", "seed"])["value"]
    ind, mdi, cont = (r2.xs((m, v), level=[0, 1]).sort_index()
                      for m, v in (("individual", "default"), ("mdico", "default"), ("mdico", "no_cont")))
    row = table[(table["method"] == "mdico") & (table["variant"] == "default")].iloc[0]
    assert row["reference"] == "Individual, S1" and row["n_pairs"] == 10
    assert row["diff"] == pytest.approx((mdi - ind).mean())
    assert row["p_corrected"] == pytest.approx(stats.corrected_ttest(mdi - ind, 0.125).p)
    assert row["std"] == pytest.approx(mdi.std(ddof=1))
    lower, equiv, higher = stats.bayes_correlated((mdi - ind).to_numpy(), 0.125, 0.01)
    assert (row["p_better"], row["p_equiv"], row["p_worse"]) == pytest.approx((higher, equiv, lower))
    var = table[table["variant"] == "no_cont"].iloc[0]
    assert var["reference"] == "MDiCo, S1"  # an ablation against the full model
    assert var["p_corrected"] == pytest.approx(stats.corrected_ttest(cont - mdi, 0.125).p)
    assert (table["holm_m"] == 2).all()
    np.testing.assert_allclose(table["p_holm"].dropna(), stats.holm(table["p_corrected"].dropna()))
    ref = table[table["method"] == "individual"].iloc[0]
    assert ref["reference"] == "" and np.isnan(ref["p_corrected"]) and ref["verdict"] == ""
    assert row["verdict"].startswith(("significantly", "no detectable"))
    rmse = results_table(df, metric="rmse", test_train_ratio=0.125, rope=0.5)  # lower is better
    row = rmse[(rmse["method"] == "mdico") & (rmse["variant"] == "default")].iloc[0]
    assert row["p_better"] > row["p_worse"]


def test_table_with_one_run_prints_no_p_and_no_std():
    pytest.importorskip("baycomp")
    table = results_table(_runs(n_folds=1, seeds=(0,)))
    assert table["std"].isna().all() and table["p_corrected"].isna().all() and table["p_holm"].isna().all()
    shown = format_results(table)
    # nothing tested: no columns of "n = 1" cells, one line in the caption instead
    assert not [c for c in shown.columns if c.startswith(("p (", "P(", "Wilcoxon"))]
    assert "Nothing is tested here" in results_caption(table) and "the most is 1" in results_caption(table)
    assert all("±" not in c for c in shown["mean ± std"])
    mdico = shown[shown["method"] == "MDiCo"].iloc[0]
    assert mdico["mean ± std"].endswith("(n = 1)") and mdico["Δ [95% CI]"].count("[") == 0  # no interval from 1 run
    assert table.loc[table["method"] == "mdico", "verdict"].iloc[0].startswith("not tested (n = 1")


def test_results_table_refuses_mixed_input():
    df = _runs()
    with pytest.raises(ValueError, match="one benchmark"):
        results_table(pd.concat([df, _runs(dataset="croph_b")]))
    with pytest.raises(ValueError, match="mixes sweeps"):
        results_table(pd.concat([df, df[df["method"] == "individual"]]), test_train_ratio=0.1)
    assert default_reference(Cell("mdico", "default", "tempcnn", "paper", "S1:shared")).view == "S1"
    assert default_reference(Cell("individual", "default", "tempcnn", "paper", "S1")) is None


# ---------------------------------------------------------------------------------- ranks
def test_friedman_nemenyi_by_hand():
    # 10 blocks, 4 methods, no ties: A always best, then B, C, D except two blocks where C beats B
    blocks = [[0.9, 0.8, 0.7, 0.6]] * 8 + [[0.9, 0.7, 0.8, 0.6]] * 2
    res = friedman_nemenyi(pd.DataFrame(blocks, columns=list("ABCD")))
    assert res.ranks.to_dict() == pytest.approx({"A": 1.0, "B": 2.2, "C": 2.8, "D": 4.0})
    # chi² = 12 N / (k (k+1)) * sum(R_j²) - 3 N (k+1) with mean ranks R_j
    chi2 = 12 * 10 / (4 * 5) * (1 + 2.2**2 + 2.8**2 + 16) - 3 * 10 * 5
    assert res.statistic == pytest.approx(chi2) and res.p_value == pytest.approx(sps.chi2.sf(chi2, 3))
    assert res.cd == pytest.approx(2.569 * np.sqrt(4 * 5 / 60), abs=1e-3)  # Demšar's q_0.05 for k = 4
    assert res.cliques() == [["A", "B"], ["B", "C"], ["C", "D"]]
    low = friedman_nemenyi(pd.DataFrame(blocks, columns=list("ABCD")), higher_is_better=False)
    assert low.ranks.index[0] == "D"
    with pytest.raises(ValueError, match="3 methods"):
        friedman_nemenyi(pd.DataFrame(blocks, columns=list("ABCD"))[["A", "B"]])
    with pytest.raises(ValueError, match="blocks"):
        friedman_nemenyi(pd.DataFrame(blocks[:4], columns=list("ABCD")))


def test_rank_blocks_drop_incomplete_blocks_and_diagram_is_readable():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from mdico_core.reporting.analyses.ranks import plot_cd_diagram

    df = _runs(n_folds=5, seeds=(0, 1, 2))
    df = df[~((df["method"] == "individual") & (df["fold"] == 0) & (df["seed"] == 0))]  # a failed run
    blocks = rank_blocks(df, "S1")
    assert blocks.shape == (14, 3) and set(blocks.columns) == {"Individual", "MDiCo", "MDiCo (no_cont)"}
    res = rank_test(df, "S1")
    assert res.n_blocks == 14 and res.ranks.index[0] == "MDiCo" and "14 (fold, seed) runs" in rank_caption(res)
    fig = plot_cd_diagram(res)
    from mdico_core.reporting.core.format import CSS_DPI, FIGURE_PX

    assert fig.get_size_inches()[0] == pytest.approx(FIGURE_PX / CSS_DPI)  # the column's width, shown 1:1
    ax = fig.axes[0]
    assert all(t.get_fontsize() >= 9 for t in ax.get_xticklabels())
    texts = [t.get_text() for t in ax.texts]
    assert all(any(t.startswith(name + " (") for t in texts) for name in res.ranks.index)
    assert all(t.get_fontsize() >= 9 for t in ax.texts)
    matplotlib.pyplot.close(fig)


# ---------------------------------------------------------------------------------- concordance
def test_concordance_interval_and_marks():
    archive = [0.30, 0.34, 0.38, 0.42, 0.46]  # mean 0.38, std 0.0632 -> [0.2535, 0.5065]
    mean, low, high = interval(archive)
    assert mean == pytest.approx(0.38) and high - mean == pytest.approx(2 * np.std(archive, ddof=1))
    assert check_cell(archive, [0.45, 0.50])["mark"] == "✓"  # re-run mean 0.475
    assert check_cell(archive, [0.52])["mark"] == "✗"
    assert check_cell(archive, [0.2])["agrees"] is False
    assert check_cell(archive[:4], [0.38])["mark"] == "–"  # fewer than 5 archived runs: no interval
    assert check_cell(archive, [])["mark"] == "–"


def test_concordance_table_and_verdict():
    archive = _runs(n_folds=5, seeds=(0, 1))
    rerun = archive[(archive["fold"] == 0) & (archive["seed"] == 0)].copy()
    broken = (rerun["method"] == "mdico") & (rerun["variant"] == "no_cont") & (rerun["metric"] == "r2")
    rerun.loc[broken, "value"] = -0.5  # a broken method
    extra = rerun[rerun["method"] == "individual"].assign(view="L8")  # a cell the archive lacks
    checks = concordance(archive, pd.concat([rerun, extra]))
    assert len(checks) == 4 and set(checks["metric"]) == {"r2"}
    assert checks.set_index(["method", "variant", "view"])["mark"].to_dict() == {
        ("individual", "default", "L8"): "–", ("individual", "default", "S1"): "✓",
        ("mdico", "default", "S1"): "✓", ("mdico", "no_cont", "S1"): "✗"}
    line = concordance_verdict(checks)
    assert line.startswith("your re-run agrees with the archived results on 2 of 3 cells")
    assert "1 more not checked" in line and "mdico no_cont S1" in line


# ---------------------------------------------------------------------------------- the real archive
def test_archived_lfmc_corrected_test_is_more_cautious_than_wilcoxon():
    pytest.importorskip("baycomp")
    from mdico_core.experiments.settings import select_settings
    from mdico_core.reporting.analyses.evidence import main_reference
    from mdico_core.reporting.book.archive import read_runs

    runs = select_settings(read_runs("lfmc_paper"), "common")  # one settings per table: they never pool
    table = results_table(runs[~runs["view"].astype(str).str.contains(":")], reference=main_reference)
    tested = table[table["p_corrected"].notna()]
    done = runs[runs["status"] == "done"]
    held = done.groupby("method")[["fold", "seed"]].apply(lambda g: len(g.drop_duplicates()))
    # every (fold, seed) the archive holds of each method (a partial archive may hold more of some)
    assert held.min() >= 10 and (table["n"].to_numpy() == table["method"].map(held).to_numpy()).all()
    assert table["holm_m"].iloc[0] == len(tested) == 9 * 2  # 8 competitors and MDiCo, 2 views
    mdico = tested[tested["method"] == "mdico"]
    assert set(mdico["view"]) == {"L8", "S1"}
    # the same pairs: the correction for overlapping training sets only ever weakens the evidence,
    # against the uncorrected paired t-test (Wilcoxon is another test: at n = 10 it may go either way)
    from scipy.stats import ttest_1samp

    scores = runs[(runs["status"] == "done") & (runs["metric"] == "r2")]
    ref = scores[scores["method"] == "individual"].set_index(["view", "fold", "seed"])["value"]
    for row in tested.itertuples():
        own = scores[(scores["method"] == row.method) & (scores["view"] == row.view)].set_index(["view", "fold", "seed"])
        d = (own["value"] - ref.reindex(own.index)).dropna()
        assert len(d) == row.n and row.p_corrected > ttest_1samp(d, 0.0).pvalue, row
    assert (tested["p_holm"] >= tested["p_corrected"]).all()
