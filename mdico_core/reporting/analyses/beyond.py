"""Beyond the paper: every method at six views, and does one view gain from more views at training?

The paper names two limits of its evaluation: (i) two modalities at the training stage, (ii) Earth
observation data only. The page "Beyond the paper" (``notebooks/10_beyond.ipynb``) answers both
with archived sweeps (``experiments.archives``: ``mfeat_methods``, ``mfeat_views``,
``presto_modalities``). Its logic is here, as functions of tidy runs (``ResultsStore.collect`` /
``archive.read_runs`` frames):

- `training_views`: each run's training views (its ``modalities``, or every modality of the data);
- `views_at_training`: each view's score by the number of views the model was trained on, the
  baseline (Individual: each view on its own) as the one-view point;
- `views_tests`: per view, corrected t-tests (Holm over the table) of two training views against
  one, all against two (the mean over the pairs) and all against the best pair;
- `plot_views_at_training`, `format_views_tests`: the page's figure and table of that study;
- `wide_methods`: a ``stats_table.results_table`` as methods x views, each cell marked by its test;
- `rank_over_views`, `ranks_by_view`: Friedman / Nemenyi ranks over (view, fold, seed) blocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.analyses.ranks import RankTest, friedman_nemenyi
from mdico_core.reporting.analyses.stats_table import PAIR_KEYS, method_label
from mdico_core.reporting.core import format as fmt
from mdico_core.reporting.core import stats
from mdico_core.reporting.core.compare import paper_name, select_metric, single_views

FUSION = "fusion"  # = methods.FUSION, the view of the all-modality fusion references
CURVE = ["dataset", "view", "method", "n_views", "trained_on", "partners", "fold", "seed", "value", "metric"]
TWO_VS_ONE, ALL_VS_TWO, ALL_VS_BEST = "2 vs 1", "all vs 2", "all vs best 2"


def runs_on(pages: Iterable[Any], dataset: str) -> pd.DataFrame:
    """The runs on `dataset` of every page (``ResultsPage``: archives, the live store) in `pages`, each
    (run, view, metric) once."""
    frames = [f[f["dataset"] == dataset] for f in (p.frame() for p in pages if p is not None) if len(f)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).drop_duplicates(["run_id", "view", "metric"], ignore_index=True)


def primary_runs(archives: Iterable[Any], live: Any, dataset: str) -> tuple[pd.DataFrame, list]:
    """The runs a section of the page shows for `dataset`, and the pages they come from: those of the
    archives (``ArchivedPage``) that hold `dataset`, else your re-run's (`live`, a ``ResultsPage``)."""
    held = [a for a in archives if a is not None and dataset in {r.dataset for r in a.datasets.values()}]
    sources = held or [live]
    runs = runs_on(sources, dataset)
    return runs, sources if len(runs) else []


def training_views(runs: pd.DataFrame) -> pd.Series:
    """Each row's training views, a sorted tuple: its ``modalities`` where the run trained on a subset,
    else every modality of its dataset (the single views that runs without a subset are scored on)."""
    mods = runs["modalities"] if "modalities" in runs else pd.Series(None, index=runs.index, dtype=object)
    view = runs["view"].astype(str)
    full = runs[mods.isna() & ~view.str.contains(":") & (view != FUSION)]
    every = full.groupby("dataset")["view"].agg(lambda v: tuple(sorted(set(map(str, v))))).to_dict()
    return pd.Series([tuple(sorted(m.split(","))) if isinstance(m, str) and m else every.get(d, ())
                      for m, d in zip(mods, runs["dataset"])], index=runs.index, dtype=object)


def full_set(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs trained on every modality of their dataset (no ``modalities`` subset)."""
    return runs[runs["modalities"].isna()] if "modalities" in runs else runs


def views_at_training(runs: pd.DataFrame, method: str = "mdico", baseline: str = "individual",
                      metric: str | None = None) -> pd.DataFrame:
    """Each single-view score of `method` (default variant) with the number of views it was trained on,
    and `baseline`'s scores as the one-view point (Individual trains each view on its own).

    `runs`: tidy runs of one dataset, `method` trained on several subsets of its modalities
    (``RunConfig.modalities``). Returns one row per (view, training set, fold, seed), columns
    `CURVE`: ``n_views`` (1 for the baseline), ``trained_on`` (``"fou+kar"``; the baseline: the
    view), ``partners`` (the other training views, ``""`` for the baseline). A baseline run within
    several training sets is one model per view: the score from the largest set is kept.

    Raises ``ValueError`` for runs of several datasets, or two scores of one cell (mixed sweeps).
    """
    d = single_views(select_metric(runs, metric)) if len(runs) else runs
    if len(d):
        d = d[(d["variant"] == "default") & d["method"].isin([method, baseline]) & (d["view"].astype(str) != FUSION)]
    if d.empty:
        return pd.DataFrame(columns=CURVE)
    if d["dataset"].nunique() != 1:
        raise ValueError(f"views_at_training takes the runs of one dataset, got {sorted(d['dataset'].unique())}")
    trained = training_views(d)
    view = d["view"].astype(str)
    base = (d["method"] == baseline).to_numpy()
    out = pd.DataFrame({
        "dataset": d["dataset"].to_numpy(), "view": view.to_numpy(), "method": d["method"].to_numpy(),
        "n_views": np.where(base, 1, trained.map(len).to_numpy()).astype(int),
        "trained_on": np.where(base, view, trained.map("+".join)),
        "partners": ["" if b else "+".join(m for m in t if m != v) for b, t, v in zip(base, trained, view)],
        "fold": d["fold"].to_numpy(), "seed": d["seed"].to_numpy(), "value": d["value"].astype(float).to_numpy(),
        "metric": d["metric"].to_numpy(), "_size": trained.map(len).to_numpy()})
    is_base = out["method"] == baseline
    kept = out[is_base].sort_values("_size", kind="stable").drop_duplicates(["view", "fold", "seed"], keep="last")
    out = pd.concat([out[~is_base], kept]).drop(columns="_size")
    dup = out.duplicated(["view", "trained_on", "fold", "seed"], keep=False)
    if dup.any():
        r = out[dup].iloc[0]
        raise ValueError(f"two runs of {r['method']} trained on {r['trained_on']}, view {r['view']}, fold {r['fold']}, "
                         f"seed {r['seed']}: the frame mixes sweeps; select one profile")
    return out.sort_values(["view", "n_views", "trained_on", "seed", "fold"], kind="stable", ignore_index=True)[CURVE]


def _series(g: pd.DataFrame) -> pd.Series:
    return g.set_index(PAIR_KEYS)["value"].astype(float)


def _comparisons(g: pd.DataFrame, n_all: int, higher: bool, method: str,
                 baseline: str) -> tuple[list[tuple[str, str, pd.Series, str, pd.Series]], int]:
    """The (comparison, x label, x, reference label, reference) of one view's curve rows, and the pairs present."""
    view = g["view"].iloc[0]
    one = _series(g[g["n_views"] == 1])
    wide = g[g["n_views"] == 2].pivot_table(index=PAIR_KEYS, columns="partners", values="value", aggfunc="first")
    complete = wide.dropna(axis=0, how="any")  # a run holds every pair, so each mean is over the same partners
    out = []
    mean_label = f"{method} on {view} + one other (mean of {wide.shape[1]} pair{'s' * (wide.shape[1] != 1)})"
    if len(complete):
        pairs = complete.mean(axis=1)
        out.append((TWO_VS_ONE, mean_label, pairs, f"{baseline} ({view} alone)", one))
    if n_all > 2:
        full = _series(g[g["n_views"] == n_all])
        if len(complete) and len(full):
            out.append((ALL_VS_TWO, f"{method} on all {n_all}", full, mean_label, complete.mean(axis=1)))
            means = complete.mean(axis=0)
            best = str(means.idxmax() if higher else means.idxmin())
            out.append((ALL_VS_BEST, f"{method} on all {n_all}", full, f"{method} on {view} + {best} (best pair)",
                        complete[best]))
    return out, wide.shape[1]


def views_tests(curve: pd.DataFrame, test_train_ratio: float, rope: float | None = None,
                alpha: float = stats.ALPHA) -> pd.DataFrame:
    """Per view of a `views_at_training` frame, three paired comparisons over matched (fold, seed) runs:

    - ``"2 vs 1"``: the mean over the pairs that hold the view (the method trained on it and one
      other) against the baseline (the view alone): does one more training view help?
    - ``"all vs 2"``: the method on all views against that mean over the pairs: do the others help more?
    - ``"all vs best 2"``: the method on all views against the pair with the best mean. The pair is
      chosen after seeing the runs, so a difference in its favour is overstated, one against it
      understated.

    The mean over the pairs enters a (fold, seed) run only where that run has every pair of the
    view present in `curve`; "all views" are every view `curve` holds (the baseline scores each).
    Each is the corrected repeated-CV t-test (`stats.corrected_ttest`, `test_train_ratio` = n_test /
    n_train), Holm-adjusted over the table, with the Bayesian probabilities (`rope` None:
    ``stats.ROPE[metric]``) and the verdict (`stats.verdict`).

    Columns: dataset, view, metric, comparison, x, reference, pairs (present), possible (pairs a view
    can have: all views - 1), n_pairs, mean_x, mean_ref, diff, t, p_corrected, p_holm, holm_m,
    p_better, p_equiv, p_worse, rope, verdict.
    """
    cols = ["dataset", "view", "metric", "comparison", "x", "reference", "pairs", "possible", "n_pairs", "mean_x",
            "mean_ref", "diff", "t", "p_corrected", "p_holm", "holm_m", "p_better", "p_equiv", "p_worse", "rope",
            "verdict"]
    if curve.empty:
        return pd.DataFrame(columns=cols)
    metric = str(curve["metric"].iloc[0])
    width, higher = stats.rope_for(metric, rope), stats.HIGHER_IS_BETTER.get(metric, True)
    n_all = curve["view"].nunique()  # every view of the data is in the curve (the baseline scores each)
    def name(rows: pd.Series, default: str) -> str:
        return paper_name(str(curve.loc[rows, "method"].iloc[0])) if rows.any() else default

    method, baseline = name(curve["n_views"] > 1, "the method"), name(curve["n_views"] == 1, "the baseline")
    rows = []
    for view, g in curve.groupby("view", sort=False):
        comparisons, present = _comparisons(g, n_all, higher, method, baseline)
        for name, xl, x, rl, ref in comparisons:
            both = pd.concat([x, ref], axis=1, join="inner", keys=["x", "ref"]).dropna()
            diff = (both["x"] - both["ref"]).to_numpy()
            row = {"dataset": g["dataset"].iloc[0], "view": view, "metric": metric, "comparison": name, "x": xl,
                   "reference": rl, "pairs": present, "possible": n_all - 1, "n_pairs": len(diff),
                   "mean_x": both["x"].mean(), "mean_ref": both["ref"].mean(),
                   "diff": diff.mean() if len(diff) else np.nan, "t": np.nan, "p_corrected": np.nan,
                   "p_better": np.nan, "p_equiv": np.nan, "p_worse": np.nan, "rope": width}
            if len(diff) >= stats.MIN_PAIRS:
                t = stats.corrected_ttest(diff, test_train_ratio)
                lower, equiv, upper = stats.bayes_correlated(diff, test_train_ratio, width)
                row.update(t=t.t, p_corrected=t.p, p_equiv=equiv, p_better=upper if higher else lower,
                           p_worse=lower if higher else upper)
            rows.append(row)
    out = pd.DataFrame(rows, columns=[c for c in cols if c not in ("p_holm", "holm_m", "verdict")])
    out["p_holm"] = stats.holm(out["p_corrected"].to_numpy(dtype=float))
    out["holm_m"] = int(out["p_corrected"].notna().sum())
    out["verdict"] = [stats.verdict(r.diff, r.p_holm, r.n_pairs, alpha) for r in out.itertuples()]
    return out[cols]


def format_views_tests(t: pd.DataFrame) -> pd.DataFrame:
    """`views_tests` as the page prints it (no p below ``stats.MIN_PAIRS`` runs)."""
    if t.empty:
        return pd.DataFrame()
    d = fmt.metric_digits(str(t["metric"].iloc[0]))
    m = int(t["holm_m"].iloc[0])
    # every x is "<method> on ...": the method goes to the header, so the rows stay one line at a book column
    method = str(t["x"].iloc[0]).split(" on ")[0]
    short = [s.removeprefix(f"{method} on ") for s in t["x"]]
    ref = [s.removeprefix(f"{method} on ") for s in t["reference"]]
    return pd.DataFrame({
        "view": t["view"], f"{method} trained on": short, "vs": ref,
        "pairs": [f"{p} of {q}" for p, q in zip(t["pairs"], t["possible"])], "n": t["n_pairs"],
        "mean": [fmt.fmt_value(v, d) for v in t["mean_x"]], "vs mean": [fmt.fmt_value(v, d) for v in t["mean_ref"]],
        "Δ": [fmt.fmt_value(v, d, True) for v in t["diff"]],
        "p (corrected t)": [fmt.fmt_p(p, n) for p, n in zip(t["p_corrected"], t["n_pairs"])],
        f"p (Holm, {m} tests)": [fmt.fmt_p(p, n) for p, n in zip(t["p_holm"], t["n_pairs"])],
        "P(better)": [fmt.fmt_prob(p, n) for p, n in zip(t["p_better"], t["n_pairs"])],
        "P(equiv.)": [fmt.fmt_prob(p, n) for p, n in zip(t["p_equiv"], t["n_pairs"])],
    }).drop(columns=[f"p (Holm, {m} tests)"] if m == 0 else [])  # nothing tested: the caption says why


def views_caption(t: pd.DataFrame) -> str:
    """What the tests of `views_tests` are, for the caption under its table."""
    if t.empty:
        return "No runs."
    if int(t["holm_m"].iloc[0]) == 0:  # "Holm over the 0 tests" says nothing: say why nothing is tested
        return (f"Per view, over runs matched on (fold, seed). Nothing is tested here: no comparison has "
                f"{stats.MIN_PAIRS} paired runs (the most is {int(t['n_pairs'].max())}), and no p is given from fewer.")
    return (f"Per view, over runs matched on (fold, seed): the corrected repeated k-fold CV t-test (Nadeau & Bengio "
            f"2003), Holm-adjusted over the {int(t['holm_m'].iloc[0])} tests of this table; P(better / equiv.): "
            f"Bayesian correlated t-test, ROPE ±{t['rope'].iloc[0]:g} {t['metric'].iloc[0]}. The mean over pairs "
            "enters a run only where that run holds every pair of the view (\"pairs\": those present of those "
            "possible). The best pair is chosen after seeing the runs, which favours it. No p from fewer than "
            f"{stats.MIN_PAIRS} runs.")


def plot_views_at_training(curve: pd.DataFrame, ylabel: str = "", xlabel: str = "views at training", ncols: int = 3,
                           width: float = 6.8) -> Any:
    """One panel per view: its score against the number of training views, the baseline at 1 view.

    The black line joins the means of each level (the pairs: the mean over pairs, per run), with
    ± 1 std over runs where at least ``stats.MIN_PAIRS`` runs; grey dots are the pairs' own means,
    labelled with the partner view. `width` in inches (a book column is 6.8).
    """
    import matplotlib.pyplot as plt

    views = list(dict.fromkeys(curve["view"]))
    if not views:
        raise ValueError("plot_views_at_training: no runs to plot")
    levels = sorted(curve["n_views"].unique())
    pos = {n: i for i, n in enumerate(levels)}
    ncols = min(ncols, len(views))
    nrows = int(np.ceil(len(views) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 2.6 * nrows + 0.3), squeeze=False)
    for ax, view in zip(axes.flat, views):
        g = curve[curve["view"] == view]
        means, stds, pairs = [], [], pd.Series(dtype=float)
        for n in levels:
            level = g[g["n_views"] == n]
            per_run = level.groupby(PAIR_KEYS)["value"].mean()  # the pairs: mean over the partners, per run
            means.append(per_run.mean() if len(per_run) else np.nan)
            stds.append(per_run.std(ddof=1) if len(per_run) >= stats.MIN_PAIRS else 0.0)
            if n == 2:
                pairs = level.groupby("partners")["value"].mean().sort_values()
                ax.plot([pos[n] + 0.12] * len(pairs), pairs.to_numpy(), "o", color="0.6", ms=3.5, zorder=1)
        ok = np.isfinite(means)
        ax.errorbar(np.arange(len(levels))[ok], np.asarray(means)[ok], yerr=np.asarray(stds)[ok], color="black",
                    marker="o", ms=4, capsize=2, lw=1.2, zorder=2)
        if len(pairs):
            _label_partners(ax, pairs, pos[2] + 0.12)
        ax.set_xticks(range(len(levels)), [("1\n(alone)" if n == 1 else str(n)) for n in levels], fontsize=9)
        ax.set_xlim(-0.4, len(levels) - 0.4)
        ax.set_title(str(view), fontsize=10)
        ax.tick_params(axis="y", labelsize=9)
    for ax in list(axes.flat)[len(views):]:
        ax.axis("off")
    fig.supxlabel(xlabel, fontsize=10)
    if ylabel:
        fig.supylabel(ylabel, fontsize=10)
    fig.tight_layout()
    return fig


def _label_partners(ax: Any, pairs: pd.Series, x: float) -> None:
    """Label each grey pair dot (`pairs`: partner -> mean, ascending) with its partner, the labels pushed
    apart to one line of text each, since the pairs' means often lie closer than a line of text."""
    lo, hi = ax.get_ylim()
    gap = 0.11 * (hi - lo)  # one 8.5-pt line in a 2.6-inch panel
    ys: list[float] = []
    for value in pairs.to_numpy():
        ys.append(value if not ys else max(value, ys[-1] + gap))
    ys = list(np.asarray(ys) - max(0.0, ys[-1] - (hi - gap / 2)))  # keep the top label inside the panel
    for (partner, value), y in zip(pairs.items(), ys):
        ax.annotate(str(partner), (x, value), xytext=(x + 0.2, y), textcoords="data", fontsize=8.5, color="0.3",
                    va="center", arrowprops={"arrowstyle": "-", "color": "0.7", "lw": 0.5})


# ---------------------------------------------------------------------------------- every method, every view
def wide_methods(table: pd.DataFrame) -> pd.DataFrame:
    """A ``stats_table.results_table`` as methods (rows, its order) x views: "mean ± std" (no std from
    fewer than ``stats.MIN_PAIRS`` runs), marked ▲ / ▼ where the Holm-adjusted test against the row's
    reference says significantly higher / lower."""
    if table.empty:
        return pd.DataFrame()
    d = fmt.metric_digits(str(table["metric"].iloc[0]))
    views = [v for v in dict.fromkeys(table["view"].astype(str)) if v != FUSION]
    views += [FUSION] if (table["view"] == FUSION).any() else []
    cells: dict[str, dict[str, str]] = {}
    for r in table.itertuples():
        mark = {"significantly higher": " ▲", "significantly lower": " ▼"}.get(" ".join(str(r.verdict).split()[:2]), "")
        cells.setdefault(method_label(r.method, r.variant), {})[str(r.view)] = \
            fmt.fmt_mean_std(r.mean, r.std, d, n=int(r.n)) + mark
    return pd.DataFrame([{"method": m, **{v: row.get(v, "") for v in views}} for m, row in cells.items()])


def _scores(runs: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    """Single-view scores (no fusion view) of one dataset's runs, labelled by method."""
    d = single_views(select_metric(runs, metric)) if len(runs) else runs
    d = d[d["view"].astype(str) != FUSION] if len(d) else d
    if d.empty:
        raise ValueError("no single-view scores to rank")
    if d["dataset"].nunique() != 1 or d["metric"].nunique() != 1:
        raise ValueError("ranks take the runs of one dataset and one metric; select them first")
    return d.assign(label=[method_label(m, v) for m, v in zip(d["method"], d["variant"])],
                    view=d["view"].astype(str))


def rank_over_views(runs: pd.DataFrame, metric: str | None = None, alpha: float = stats.ALPHA) -> RankTest:
    """``ranks.friedman_nemenyi`` of the methods over blocks (view, fold, seed): how consistently they order
    across every view and run. Blocks in which a method has no score are dropped. The blocks of one run
    share its model as well as its training rows, so the test is more approximate than per view."""
    d = _scores(runs, metric)
    wide = d.pivot_table(index=["view", *PAIR_KEYS], columns="label", values="value", aggfunc="first").dropna()
    m = str(d["metric"].iloc[0])
    label = f"{d['dataset'].iloc[0]}, blocks: {d['view'].nunique()} views x (fold, seed), {m}"
    return friedman_nemenyi(wide, stats.HIGHER_IS_BETTER.get(m, True), alpha, label)


def show_rank_over_views(runs: pd.DataFrame, label: str, metric: str | None = None) -> bool:
    """Display the CD diagram of `rank_over_views` with its caption, or the reason there is none."""
    from mdico_core.reporting.analyses.ranks import plot_cd_diagram, rank_caption

    try:
        result = rank_over_views(runs, metric)
    except ValueError as err:
        fmt.show_markdown(f"*No critical-difference diagram for {label}: {err}.*")
        return False
    fmt.show(plot_cd_diagram(result), rank_caption(
        result, blocks="blocks, one per view of each (fold, seed) run",
        dependence="the views of one run share its model, the runs share training rows",
        pair_test="the table above, per view"))
    return True


def ranks_by_view(runs: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Average rank (1 = best) of each method per view (columns in alphabetical order, as results tables
    order views), over that view's complete (fold, seed) blocks, methods in order of their mean rank;
    ``N`` the blocks per view as the last row."""
    from scipy.stats import rankdata

    d = _scores(runs, metric)
    higher = stats.HIGHER_IS_BETTER.get(str(d["metric"].iloc[0]), True)
    out, blocks = {}, {}
    for view, g in d.groupby("view", sort=False):
        wide = g.pivot_table(index=PAIR_KEYS, columns="label", values="value", aggfunc="first").dropna()
        if wide.shape[1] < 2 or wide.empty:
            continue
        ranks = rankdata(-wide.to_numpy() if higher else wide.to_numpy(), axis=1)
        out[view] = pd.Series(ranks.mean(axis=0), index=wide.columns)
        blocks[view] = len(wide)
    table = pd.DataFrame(out)[sorted(out)]
    table = table.loc[table.mean(axis=1).sort_values(kind="stable").index]
    shown = table.map(lambda v: "" if not np.isfinite(v) else f"{v:.2f}").reset_index(names="method")
    return pd.concat([shown, pd.DataFrame([{"method": "N (runs)", **{v: str(n) for v, n in blocks.items()}}])],
                     ignore_index=True)
