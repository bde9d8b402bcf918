"""Average ranks across the methods of one benchmark: Friedman test, Nemenyi critical difference, CD diagram.

Following Demšar (2006, "Statistical comparisons of classifiers over multiple data sets", JMLR 7),
the methods are ranked within each block (1 = best, ties share the mean rank) and compared by
their average ranks: Friedman's test asks whether the ranks differ at all; two methods differ by
Nemenyi's post-hoc test when their average ranks are more than the critical difference
CD = q_alpha sqrt(k (k + 1) / (6 N)) apart (k methods, N blocks, q_alpha the studentized range
quantile / sqrt 2).

Here a block is one (fold, seed) run of one benchmark, not an independent data set. Runs of one
seed share most of their training rows, and the same rows come back as test rows under every
seed, so the blocks are positively correlated: the effective N is smaller than the number of
runs, Friedman's p is too small and the CD too narrow. The diagram is therefore approximate: read
it as a description of how consistently the methods order across runs on this benchmark, not as
evidence that one method ranks better in general, and not as a test of one pair (a gap just over
the CD is not a finding; the corrected t-test of `stats_table.results_table` is the test for a
pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.analyses.stats_table import PAIR_KEYS, method_label
from mdico_core.reporting.core import stats
from mdico_core.reporting.core.compare import select_metric
from mdico_core.reporting.figures.plots import figure_size, styled


@dataclass(frozen=True)
class RankTest:
    """Friedman + Nemenyi over blocks of one benchmark (see the module's caveat on overlapping folds)."""

    ranks: pd.Series
    """average rank per method, best (lowest) first"""
    n_blocks: int
    """complete (fold, seed) blocks ranked"""
    statistic: float
    """Friedman chi-square (tie-corrected)"""
    p_value: float
    cd: float
    """Nemenyi critical difference of average ranks at `alpha`"""
    alpha: float
    label: str = ""
    """what was ranked, e.g. "lfmc, L8, r2" """

    def cliques(self) -> list[list[str]]:
        """Maximal runs of methods (in rank order) whose average ranks lie within one CD: the bars of the diagram."""
        names, r = list(self.ranks.index), self.ranks.to_numpy()
        groups: list[list[str]] = []
        for i in range(len(r)):
            j = i
            while j + 1 < len(r) and r[j + 1] - r[i] <= self.cd:
                j += 1
            if j > i and not (groups and names.index(groups[-1][-1]) >= j):
                groups.append(names[i:j + 1])
        return groups


def friedman_nemenyi(scores: pd.DataFrame, higher_is_better: bool = True, alpha: float = stats.ALPHA,
                     label: str = "") -> RankTest:
    """Average ranks, Friedman test and Nemenyi CD of `scores` (rows: blocks, columns: methods).

    Raises ``ValueError`` for fewer than 3 methods (compare two with the paired tests), fewer
    than ``stats.MIN_PAIRS`` blocks, or a missing score.
    """
    from scipy.stats import friedmanchisquare, rankdata, studentized_range

    n, k = scores.shape
    if k < 3:
        raise ValueError(f"a rank test needs at least 3 methods, got {k}; compare two with stats.corrected_ttest")
    if n < stats.MIN_PAIRS:
        raise ValueError(f"a rank test needs at least {stats.MIN_PAIRS} complete (fold, seed) blocks, got {n}")
    x = scores.to_numpy(dtype=float)
    if not np.isfinite(x).all():
        raise ValueError("scores contain NaN: keep only blocks in which every method has a score")
    ranks = rankdata(-x if higher_is_better else x, axis=1)  # (N, k), 1 = best
    average = pd.Series(ranks.mean(axis=0), index=scores.columns, name="average rank").sort_values(kind="stable")
    statistic, p = friedmanchisquare(*x.T)
    q = studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    cd = float(q * np.sqrt(k * (k + 1) / (6.0 * n)))
    return RankTest(average, n, float(statistic), float(p), cd, alpha, label)


def rank_blocks(runs: pd.DataFrame, view: str, metric: str | None = None) -> pd.DataFrame:
    """Scores of `view` as blocks x methods: rows (fold, seed), columns method labels (``"MDiCo"``,
    ``"MDiCo (no_cont)"``; the encoder / protocol added where they vary). Blocks in which a method
    has no score (a failed run) are dropped."""
    d = select_metric(runs, metric)
    if d["dataset"].nunique() != 1 or d["metric"].nunique() != 1:
        raise ValueError("rank_blocks takes the runs of one benchmark and one metric; select them first")
    d = d[d["view"].astype(str) == view]
    if d.empty:
        raise ValueError(f"no runs with view {view!r}; views here: {sorted(map(str, runs['view'].dropna().unique()))}")
    extra = [c for c in ("encoder", "protocol") if d[c].nunique() > 1]
    label = [method_label(m, v) + "".join(f", {r[c]}" for c in extra)
             for (m, v), (_, r) in zip(zip(d["method"], d["variant"]), d.iterrows())]
    wide = d.assign(label=label).pivot_table(index=PAIR_KEYS, columns="label", values="value", aggfunc="first")
    return wide.dropna(axis=0, how="any")


def rank_test(runs: pd.DataFrame, view: str, metric: str | None = None, alpha: float = stats.ALPHA) -> RankTest:
    """`friedman_nemenyi` over the (fold, seed) blocks of `view` in the runs of one benchmark."""
    blocks = rank_blocks(runs, view, metric)
    m = str(select_metric(runs, metric)["metric"].iloc[0])
    label = f"{runs['dataset'].iloc[0]}, {view}, {m}"
    return friedman_nemenyi(blocks, stats.HIGHER_IS_BETTER.get(m, True), alpha, label)


@styled
def plot_cd_diagram(result: RankTest, width: float | None = None, fontsize: float = 10.0) -> Any:
    """The critical-difference diagram of `result`: the rank axis on top (1 = best, left), each method
    linked to its average rank, thick bars joining methods within one CD, the CD drawn above.

    `width` in inches (None: the book's column, `plots.figure_size`, shown 1:1 by ``format.show``);
    text at `fontsize` pt (>= 9). The test behind it is stated by `rank_caption`, to print under
    the figure.
    """
    import matplotlib.pyplot as plt

    ranks = result.ranks
    k = len(ranks)
    names = [f"{name} ({r:.2f})" for name, r in ranks.items()]
    left_n = (k + 1) // 2
    cliques = result.cliques()
    step, bar_step = 0.27, 0.16  # inches between name rows and between clique bars
    top, first_row = 0.75, -(0.22 + bar_step * len(cliques) + 0.12)
    bottom = first_row - step * (left_n - 1) - 0.3
    height = top - bottom
    width = width if width is not None else figure_size(height)[0]
    fig = plt.figure(figsize=(width, height))
    margin = min(0.42, (max(map(len, names)) * 0.075 * fontsize / 10 + 0.35) / width)
    ax = fig.add_axes((margin, 0.0, 1 - 2 * margin, 1.0))
    lo, hi = 1.0, float(max(k, 2))
    ax.set_xlim(lo, hi)
    ax.set_ylim(bottom, top)  # y in inches, so spacing does not depend on k
    for side in ("left", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.spines["top"].set_position(("data", 0.0))
    ax.xaxis.tick_top()
    ax.set_xticks(np.arange(1, k + 1))
    ax.tick_params(axis="x", labelsize=max(fontsize - 0.5, 9.0), direction="out")
    ax.set_yticks([])
    for j, group in enumerate(cliques):
        y = -0.22 - bar_step * j
        ax.plot([ranks[group[0]], ranks[group[-1]]], [y, y], color="black", lw=3.5, solid_capstyle="round")
    for i, (name, r) in enumerate(zip(names, ranks.to_numpy())):
        on_left = i < left_n
        row = i if on_left else k - 1 - i  # the worst method on the right sits on the top row
        y = first_row - step * row
        end = lo - 0.02 * (hi - lo) if on_left else hi + 0.02 * (hi - lo)
        ax.plot([r, r, end], [0.0, y, y], color="0.25", lw=1.0, clip_on=False)
        ax.text(end + (-0.01 if on_left else 0.01) * (hi - lo), y, name, ha="right" if on_left else "left",
                va="center", fontsize=fontsize, clip_on=False)
    cd_y = 0.48
    ax.plot([lo, lo + result.cd], [cd_y, cd_y], color="black", lw=1.5, clip_on=False)
    for x in (lo, lo + result.cd):
        ax.plot([x, x], [cd_y - 0.05, cd_y + 0.05], color="black", lw=1.5, clip_on=False)
    ax.text(lo + result.cd / 2, cd_y + 0.08, f"CD = {result.cd:.2f}", ha="center", va="bottom", fontsize=fontsize,
            clip_on=False)
    return fig


def rank_caption(result: RankTest, blocks: str = "(fold, seed) runs",
                 dependence: str = "the runs share training rows", pair_test: str = "the results table") -> str:
    """The caption of a CD diagram: what was ranked (`blocks`), the tests, and why they are approximate
    (`dependence`: what the blocks share); `pair_test` names where the corrected t-test of one pair is."""
    p = "< 0.001" if result.p_value < 1e-3 else f"= {result.p_value:.3f}"
    return (f"Average rank of each method ({result.label}; 1 = best) over N = {result.n_blocks} {blocks}. "
            f"Friedman test p {p}; methods joined by a bar differ by less than the Nemenyi critical difference "
            f"(CD = {result.cd:.2f}, α = {result.alpha:g}). The blocks are not independent ({dependence}), so the "
            "test is approximate and too confident: read the diagram as how consistently the methods order; for "
            f"one pair, see the corrected t-test in {pair_test}.")
