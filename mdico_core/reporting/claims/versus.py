"""Your method against an archive: your runs paired with every archived method on the same splits.

The archives hold every method of the paper at its protocol, run by run. A method of your own
(``methods.external``) trained with ``mdico run`` on the archive's dataset and profile pairs with those
runs on (fold, seed), and is then tested like every row of the book: the corrected t-test, Holm within a
table, the Bayesian probabilities, the corrected 95% interval, and the findings page's verdict rule on
"your method improves on MDiCo" (and on Individual).

Pairing is strict (`pair_with_archive`): a run of yours pairs with the archive's run of the same
(fold, seed) only when both were trained on the same split: the same protocol, number of folds and
split seed, and the same training, validation and test sizes. Anything else is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mdico_core.reporting.analyses.stats_table import Cell, results_table
from mdico_core.reporting.core import stats
from mdico_core.reporting.core.compare import single_views

if TYPE_CHECKING:
    from mdico_core.experiments.store import ResultsStore

SPLIT_KEYS = ["protocol", "n_folds", "split_seed", "folds_by", "n_train", "n_val", "n_test"]
"""What must be equal for two runs of one (fold, seed) to have seen the same split."""


class PairingError(ValueError):
    """Your runs cannot be paired with the archive's; the message says which runs and why."""


def _split_of(runs: pd.DataFrame) -> pd.DataFrame:
    per = runs.drop_duplicates("run_id")
    cols = [c for c in SPLIT_KEYS if c in per]
    # A missing value (no split seed: the split came from `seed`) is a value of its own, "(none)":
    # pandas 3's astype(str) keeps NaN, which nunique() would not count, and two splits would pair.
    table = per.set_index(["fold", "seed"])[cols]
    table = table.astype(object).where(table.notna(), "(none)").astype(str)
    return table.groupby(level=[0, 1]).agg(lambda v: v.iloc[0] if v.nunique(dropna=False) == 1 else "(mixed)")


def runs_in_store(store: ResultsStore, dataset: str, profile: str, methods: Sequence[str]) -> pd.DataFrame:
    """Your runs of `methods` on `dataset` at `profile`, as `store` holds them (empty when it holds none):
    the archive to compare with fixes the dataset and the profile, so only runs at its protocol are read."""
    mine = store.collect(dataset)
    if mine.empty:
        return mine
    return mine[mine["method"].isin(list(methods)) & (mine["profile"] == profile)]


def pair_with_archive(archive_runs: pd.DataFrame, yours: pd.DataFrame, settings: str = "common",
                      ) -> tuple[pd.DataFrame, list[str]]:
    """The archive's runs (in `settings`) and yours in one frame, and notes on what could not be paired.

    Raises `PairingError` when your runs are of another dataset or profile, or when a (fold, seed) of
    yours was trained on another split than the archive's (different protocol, folds, split seed or
    sizes)."""
    from mdico_core.experiments.settings import select_settings

    arch = select_settings(archive_runs, settings)
    arch = arch[(arch["status"] == "done") & arch["metric"].notna()]
    mine = yours[(yours["status"] == "done") & yours["metric"].notna()]
    if mine.empty:
        raise PairingError("none of your runs is finished; train them with `mdico run --dataset <the archive's> "
                           "--methods <yours> --profile paper`")
    for key in ("dataset", "profile"):
        a, b = set(arch[key].dropna()), set(mine[key].dropna())
        if b - a:
            raise PairingError(f"your runs are of {key} {sorted(b)}, the archive's of {sorted(a)}: train yours with "
                               f"the archive's {key}")
    ref = _split_of(arch)
    notes, absent = [], []
    # each method of yours on its own: two of yours on two splits are two refusals, never one "(mixed)" split
    for method, runs in mine.groupby("method", sort=True):
        got = _split_of(runs)
        for fs, row in got.iterrows():
            if fs not in ref.index:
                absent.append(fs)
                continue
            differ = [k for k in got.columns if k in ref.columns and row[k] != ref.loc[fs, k]]
            if differ:
                k = differ[0]
                raise PairingError(f"fold {fs[0]}, seed {fs[1]}: your {method} run was trained on another split than "
                                   f"the archive's ({k} {row[k]} here, {ref.loc[fs, k]} in the archive); train it as "
                                   f"the archive's runs were (`mdico archive list` gives their commands; no "
                                   "--split-seed unless they have one)")
    absent = sorted(set(absent))
    got = _split_of(mine)
    if absent:
        notes.append(f"{len(absent)} (fold, seed) pairs of yours are not in the archive ({_pairs_words(absent)}): a "
                     "partial archive, or seeds it does not define; left out")
    missing = sorted(set(ref.index) - set(got.index))
    if missing:
        notes.append(f"{len(missing)} (fold, seed) pairs of the archive have no run of yours (e.g. fold "
                     f"{missing[0][0]}, seed {missing[0][1]}): train them to test on every pair")
    kept = mine.set_index(["fold", "seed"]).index.isin(ref.index)
    return pd.concat([arch, mine[kept]], ignore_index=True), notes


def _pairs_words(pairs: Sequence[tuple[int, int]]) -> str:
    """``"seed 4: folds 0-9"``-like words for (fold, seed) pairs, seed by seed."""
    by_seed: dict[int, list[int]] = {}
    for fold, seed in sorted(pairs, key=lambda p: (p[1], p[0])):
        by_seed.setdefault(int(seed), []).append(int(fold))
    return "; ".join(f"seed {s}: " + (f"folds {f[0]}-{f[-1]}" if len(f) > 2 and f == list(range(f[0], f[-1] + 1))
                                      else f"fold{'s' if len(f) > 1 else ''} {', '.join(map(str, f))}")
                     for s, f in by_seed.items())


def versus_tables(runs: pd.DataFrame, methods: Sequence[str], metric: str | None = None) -> pd.DataFrame:
    """Each of `methods` against Individual and against MDiCo, per single-modality view: the `results_table`
    columns (Holm across this table's comparisons) and the findings page's verdict on "improves on it"."""
    from mdico_core.reporting.claims.findings import verdict

    d = single_views(runs)
    d = d[~d["view"].astype(str).str.contains(":")]
    out = []
    for ref_method in ("individual", "mdico"):
        def reference(cell: Cell, r: str = ref_method) -> Cell | None:
            return cell._replace(method=r, variant="default") if cell.method in methods else None

        t = results_table(d, metric, reference=reference)
        t = t[t["method"].isin(methods)].copy()
        t["versus"] = ref_method
        out.append(t)
    table = pd.concat(out, ignore_index=True)
    # The direction axis of the findings rule on this table's Holm-adjusted test (no paper value: no size axis)
    def state(r: Any) -> str:
        claimed = 1 if stats.HIGHER_IS_BETTER.get(r.metric, True) else -1
        if int(r.n_pairs) < stats.MIN_PAIRS or not np.isfinite(r.p_holm):
            return ""
        if r.p_holm < stats.ALPHA and r.diff != 0:
            return "as claimed" if np.sign(r.diff) == claimed else "reversed"
        return "nil" if np.isfinite(r.rope) and -r.rope < r.ci_lo and r.ci_hi < r.rope else "not detected"

    table["verdict"] = [verdict(st, "no paper value", "beyond")[0] if st else "not tested"
                        for st in (state(r) for r in table.itertuples())]
    return table


def ranks(runs: pd.DataFrame, methods: Sequence[str], metric: str | None = None) -> pd.DataFrame:
    """Each method's mean per single-modality view over the (fold, seed) pairs `methods` (yours) ran, and its
    rank among all methods there (1 = best): every method is averaged over the same splits."""
    from mdico_core.reporting.core.compare import select_metric

    d = select_metric(single_views(runs), metric)
    pairs = d[d["method"].isin(methods)].set_index(["fold", "seed"]).index.unique()
    d = d[d.set_index(["fold", "seed"]).index.isin(pairs)]
    # single-modality views only: the fusion references (InputFu, MMGF) see every modality at once
    d = d[~d["view"].astype(str).str.contains(":") & (d["view"] != "fusion") & (d["variant"] == "default")]
    sign = -1 if stats.HIGHER_IS_BETTER.get(str(d["metric"].iloc[0]), True) else 1
    m = d.groupby(["view", "method"])["value"].mean().rename("mean").reset_index()
    m["metric"] = d["metric"].iloc[0]
    m["rank"] = m.groupby("view")["mean"].rank(method="min", ascending=sign > 0).astype(int)
    m["of"] = m.groupby("view")["method"].transform("size")
    return m.sort_values(["view", "rank"])


def rank_table(runs: pd.DataFrame, methods: Sequence[str], metric: str | None = None) -> pd.DataFrame:
    """`ranks` as one row per method (yours marked), one column per view: ``"0.452 (3 of 14)"``, the mean over
    the (fold, seed) pairs yours ran and the rank there; sorted by the first view's rank."""
    from mdico_core.reporting.analyses.stats_table import method_label
    from mdico_core.reporting.core.format import metric_digits

    r = ranks(runs, methods, metric)
    dg = metric_digits(str(r["metric"].iloc[0]))
    r["cell"] = [f"{m:.{dg}f} ({k} of {o})" for m, k, o in zip(r["mean"], r["rank"], r["of"])]
    order = r[r["view"] == r["view"].iloc[0]]["method"]
    wide = r.pivot(index="method", columns="view", values="cell").loc[order].reset_index()
    wide["method"] = [f"{m} (yours)" if m in methods else method_label(m) for m in wide["method"]]
    wide.columns.name = None
    return wide


def format_versus(table: pd.DataFrame) -> pd.DataFrame:
    """`versus_tables` as printed: one row per (your method, view, reference)."""
    from mdico_core.reporting.analyses.stats_table import method_label
    from mdico_core.reporting.core.format import fmt_interval, fmt_p, metric_digits

    rows = []
    for r in table.itertuples():
        dg = metric_digits(r.metric)
        rows.append({"method": method_label(r.method, r.variant), "view": r.view, "vs": method_label(r.versus),
                     "n": int(r.n_pairs), "Δ [95% CI]": fmt_interval(r.diff, r.ci_lo, r.ci_hi, dg),
                     "p (Holm)": fmt_p(r.p_holm, int(r.n_pairs)),
                     "P(better)": "" if not np.isfinite(r.p_better) else f"{r.p_better:.2f}",
                     "P(equiv.)": "" if not np.isfinite(r.p_equiv) else f"{r.p_equiv:.2f}",
                     "MDE": "" if not np.isfinite(r.mde) else f"{r.mde:.{dg}f}", "verdict": r.verdict})
    return pd.DataFrame(rows)
