"""The results table of one benchmark: every row tested against its reference, as `stats` prescribes.

`results_table` takes the tidy frame of ``ResultsStore.collect`` (or an archive read with
``archive.read_runs``) and gives per (method, variant, encoder, protocol, view): n, mean, std,
the difference to its reference over matched (fold, seed) runs, the corrected t-test and its
Holm-adjusted p over the table's comparisons, the Bayesian probabilities and the Wilcoxon p.
`format_results` and `results_caption` turn it into what a page prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from mdico_core.reporting.core import stats
from mdico_core.reporting.core.compare import in_paper_order, paper_name, select_metric
from mdico_core.reporting.core.format import fmt_interval, fmt_mean_std, fmt_p, fmt_prob, metric_digits

PAIR_KEYS = ["fold", "seed"]
_NO_RUNS = " (no runs)"


class Cell(NamedTuple):
    """One row of a results table (its runs differ only by fold and seed)."""

    method: str
    variant: str
    encoder: str
    protocol: str
    view: str


CELL = list(Cell._fields)


def default_reference(cell: Cell, baseline: str = "individual") -> Cell | None:
    """What `cell` is compared with: a variant of a method with the method's default (an MDiCo
    ablation with the full MDiCo, same view); a default method with `baseline`'s default on the
    same modality (``"S1:shared"`` with ``"S1"``), encoder and protocol; the baseline with nothing."""
    if cell.variant != "default":
        return cell._replace(variant="default")
    if cell.method == baseline:
        return None
    return cell._replace(method=baseline, view=cell.view.split(":")[0])


def method_label(method: str, variant: str = "default") -> str:
    """``"MDiCo (no_cont)"``: the paper's name of `method`, with the variant unless default."""
    return paper_name(method) + ("" if variant == "default" else f" ({variant})")


def cell_label(cell: Cell) -> str:
    """``"MDiCo (no_cont), S1"``: `method_label` and the view."""
    return f"{method_label(cell.method, cell.variant)}, {cell.view}"


def _values(d: pd.DataFrame) -> pd.Series:
    """Scores indexed by (fold, seed); a duplicate pair is an error (two sweeps mixed)."""
    dup = d.duplicated(PAIR_KEYS, keep=False)
    if dup.any():
        r = d[dup].iloc[0]
        raise ValueError(f"two runs of {r['method']}/{r['variant']}/{r['encoder']}/{r['protocol']} view {r['view']} "
                         f"for fold {r['fold']}, seed {r['seed']}: the frame mixes sweeps (different n_folds or "
                         "profiles?); select one with df[df['profile'] == ...]")
    return d.set_index(PAIR_KEYS)["value"].astype(float)


def results_table(runs: pd.DataFrame, metric: str | None = None,
                  reference: Callable[[Cell], Cell | None] = default_reference,
                  test_train_ratio: float | None = None, rope: float | None = None,
                  alpha: float = stats.ALPHA) -> pd.DataFrame:
    """Per (method, variant, encoder, protocol, view) of one benchmark, its evidence against a reference.

    Args:
        runs: tidy runs of one dataset (``ResultsStore.collect`` columns, ``n_train``/``n_test`` optional).
        metric: the metric; None takes the dataset's primary one (weighted F1, R²).
        reference: maps a row to the row it is tested against (`default_reference`: Individual for
            methods, the method's default for its variants), or None for no test.
        test_train_ratio: n_test / n_train; None reads it from the runs (`stats.split_ratio`).
        rope: the Bayesian ROPE; None takes ``stats.ROPE[metric]``.
        alpha: level of the verdicts.

    Columns: the cell, ``paper_method``, ``metric``, ``n``, ``mean``, ``std`` (NaN below
    ``stats.MIN_PAIRS`` runs), ``reference`` (its label), ``n_pairs``, ``diff`` (mean of row -
    reference over matched runs), ``t``, ``p_corrected``, ``p_holm`` (Holm over the ``holm_m``
    rows with a test: the family is this table), ``p_better``/``p_equiv``/``p_worse`` (Bayesian,
    "better" in the metric's direction), ``rope``, ``p_wilcoxon`` (no overlap correction) and
    ``verdict`` (words from `stats.verdict` on the Holm p). Tests need ``MIN_PAIRS`` matched runs.
    """
    d = select_metric(runs, metric)
    datasets = d["dataset"].dropna().unique()
    if len(datasets) != 1:
        raise ValueError(f"results_table takes the runs of one benchmark, got {len(datasets)} datasets "
                         f"({', '.join(map(str, datasets))}); select one with df[df['dataset'] == ...]")
    metrics = d["metric"].unique()
    if len(metrics) != 1:
        raise ValueError(f"results_table takes one metric, got {list(metrics)}; pass metric=")
    metric = str(metrics[0])
    width = stats.rope_for(metric, rope)
    sign = 1.0 if stats.HIGHER_IS_BETTER.get(metric, True) else -1.0
    d = d.assign(view=d["view"].astype(str))
    groups = {Cell(*k): g for k, g in d.groupby(CELL, sort=False)}
    rows = []
    for cell, g in groups.items():
        vals = _values(g)
        n = len(vals)
        row = {"dataset": datasets[0], **cell._asdict(), "paper_method": paper_name(cell.method), "metric": metric,
               "n": n, "mean": vals.mean(), "std": vals.std(ddof=1) if n >= stats.MIN_PAIRS else np.nan,
               "reference": "", "n_pairs": 0, "diff": np.nan, "t": np.nan, "p_corrected": np.nan,
               "p_better": np.nan, "p_equiv": np.nan, "p_worse": np.nan, "rope": width, "p_wilcoxon": np.nan,
               "ci_lo": np.nan, "ci_hi": np.nan, "mde": np.nan}
        ref = reference(cell)
        if ref is not None and ref in groups:
            pairs = pd.concat([vals, _values(groups[ref])], axis=1, join="inner", keys=["x", "ref"])
            diff = (pairs["x"] - pairs["ref"]).to_numpy()
            row.update(reference=cell_label(ref), n_pairs=len(diff), diff=diff.mean() if len(diff) else np.nan)
            if len(diff) >= stats.MIN_PAIRS:
                ratio = test_train_ratio if test_train_ratio is not None else stats.split_ratio(g)
                t = stats.corrected_ttest(diff, ratio)
                est = stats.estimate(diff, ratio)  # the interval of the same corrected variance
                lower, equiv, higher = stats.bayes_correlated(diff, ratio, width)
                row.update(t=t.t, p_corrected=t.p, ci_lo=est.lo, ci_hi=est.hi, mde=stats.mde(est.se, est.df), p_equiv=equiv, p_wilcoxon=stats.wilcoxon_p(diff),
                           p_better=higher if sign > 0 else lower, p_worse=lower if sign > 0 else higher)
        elif ref is not None:
            row["reference"] = cell_label(ref) + _NO_RUNS
        rows.append(row)
    out = pd.DataFrame(rows)
    out["p_holm"] = stats.holm(out["p_corrected"].to_numpy(dtype=float))
    out["holm_m"] = int(out["p_corrected"].notna().sum())
    out["verdict"] = [("" if not r.reference else f"not tested (no runs of {r.reference[:-len(_NO_RUNS)]})"
                       if r.reference.endswith(_NO_RUNS) else stats.verdict(r.diff, r.p_holm, r.n_pairs, alpha))
                      for r in out.itertuples()]
    cols = ["dataset", *CELL, "paper_method", "metric", "n", "mean", "std", "reference", "n_pairs", "diff", "ci_lo",
            "ci_hi", "mde", "t",
            "p_corrected", "p_holm", "holm_m", "p_better", "p_equiv", "p_worse", "rope", "p_wilcoxon", "verdict"]
    return in_paper_order(out[cols])


def format_results(table: pd.DataFrame, digits: int | None = None) -> pd.DataFrame:
    """`results_table` as a page prints it: no std or p below ``stats.MIN_PAIRS`` runs ("n = 1"),
    the Holm column headed by its family size, Wilcoxon labelled as uncorrected."""
    if table.empty:
        return pd.DataFrame()
    dg = digits if digits is not None else metric_digits(table["metric"].iloc[0])
    m = int(table["holm_m"].iloc[0])
    rows = []
    for r in table.itertuples():
        tested, k = bool(r.reference), (None if r.reference.endswith(_NO_RUNS) else r.n_pairs)
        rows.append({
            "method": method_label(r.method, r.variant), "view": r.view, "n": r.n,
            "mean ± std": fmt_mean_std(r.mean, r.std, dg, n=r.n), "vs": r.reference or "(reference)",
            # the difference with the corrected 95% interval of the test beside it (an interval with every difference)
            "Δ [95% CI]": fmt_interval(r.diff, r.ci_lo, r.ci_hi, dg),
            f"p (Holm, {m} tests)": fmt_p(r.p_holm, k) if tested else "",
            "P(better)": fmt_prob(r.p_better, k) if tested else "",
            "P(equiv.)": fmt_prob(r.p_equiv, k) if tested else "",
            # P(worse) is the rest, 1 - P(better) - P(equiv.): said in the caption, not given a column
            "Wilcoxon p (uncorrected)": fmt_p(r.p_wilcoxon, k) if tested else "",
        })
    out = pd.DataFrame(rows)
    if m == 0:  # nothing is tested (every cell below MIN_PAIRS runs): the caption says so in one line
        out = out.drop(columns=[c for c in out.columns if c.startswith(("p (", "P(", "Wilcoxon"))])
    # the protocol and encoder, where the table varies them (released code, encoder study), are said in the
    # method's cell ("MDiCo, released"), not in columns of their own: the tables have columns enough
    for col in ("protocol", "encoder"):
        if table[col].nunique() > 1:
            out["method"] = [f"{label}, {v}" for label, v in zip(out["method"], table[col].astype(str))]
    return out


def results_caption(table: pd.DataFrame) -> str:
    """What the table's tests are, its family and ROPE, and the n rule, for the caption under it."""
    if table.empty:
        return "No runs."
    metric, rope, m = table["metric"].iloc[0], table["rope"].iloc[0], int(table["holm_m"].iloc[0])
    if m == 0:
        most = int(table["n_pairs"].max()) if len(table) else 0
        return (f"Each row against its reference (\"vs\") over runs matched on (fold, seed); Δ: the mean difference. "
                f"Nothing is tested here: no comparison has {stats.MIN_PAIRS} paired runs (the most is {most}), "
                f"and no std or p is given from fewer (\"n = …\").")
    return (f"Each row against its reference (\"vs\") over runs matched on (fold, seed). Δ [95% CI]: the mean "
            f"difference and its interval from the corrected repeated k-fold cross-validated t-test (Nadeau & "
            f"Bengio 2003), which accounts for overlapping training sets; p (Holm): that test's p adjusted by "
            f"Holm's method over the {m} comparisons of this table. P(better / equiv.): Bayesian correlated t-test, region of "
            f"practical equivalence ±{rope:g} {metric}; P(worse) is the rest. Wilcoxon p treats the runs as independent and overstates the evidence: shown "
            f"for reference only. No std or p is given from fewer than {stats.MIN_PAIRS} runs (\"n = …\"). This "
            f"table's family of {m} is not a claim's: What replicates tests a comparison in its claim's family "
            f"(Bonferroni, interval at 1 − 0.05/m), so the same comparison shows a wider interval and another p "
            f"there; its sign (row − reference) is the same.")
