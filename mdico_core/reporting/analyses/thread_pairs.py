"""How much the machine moves a result, measured: the same runs at two thread counts, compared run by run.

The same run (same id, code and seed) reproduces itself bit for bit on one machine with one thread
count; another thread count sums in another order, and training can amplify those last bits into
another epoch and another score. Archive ``lfmc_threads2`` holds Individual and MDiCo on LFMC
(paper profile, 10 folds, seed 0) made with 2 torch threads; its `counterpart`, ``lfmc_paper``, the
same run ids made with 1 (each record's provenance says its ``torch_threads``). From the two as tidy
frames (``archive.read_runs``): `paired_runs` (each run's score under both, and the difference),
`spread` (fold to fold, seed to seed, and the interval of the concordance check of a reader's
re-run), `thread_summary` (the differences beside those spreads) and `conclusions` (MDiCo against
Individual, corrected t-test with Holm, under each thread count: does the verdict change?).
``reporting.analyses.threads`` shows them on the reproducibility page.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.analyses import concordance
from mdico_core.reporting.analyses.stats_table import results_table
from mdico_core.reporting.core.compare import GROUP, select_metric, single_views

CELL = [k for k in GROUP if k != "metric"]
PAIRS = [*GROUP, "fold", "seed", "run_id", "threads_a", "threads_b", "value_a", "value_b", "diff", "identical",
         "best_epoch_a", "best_epoch_b", "same_best_epoch", "epochs_run_a", "epochs_run_b"]


def _scores(runs: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    d = single_views(select_metric(runs, metric)) if len(runs) else runs
    return d[d["value"].notna()] if len(d) else d


def threads_label(values: Any) -> str:
    """The thread count of a set of runs in words: "1 thread", "2 threads", "1 or 2 threads", "threads not recorded"."""
    found = sorted({int(v) for v in pd.Series(values).dropna()})
    if not found:
        return "threads not recorded"
    return f"{' or '.join(map(str, found))} thread{'s' * (found != [1])}"


def threads_adjective(values: Any) -> str:
    """`threads_label` before a noun: "2-thread", "1- or 2-thread", "unrecorded-thread"."""
    found = sorted({int(v) for v in pd.Series(values).dropna()})
    return "- or ".join(map(str, found)) + "-thread" if found else "unrecorded-thread"


def paired_runs(a: pd.DataFrame, b: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The runs both tidy frames hold (same run id), per single view: each side's score (``value_a``,
    ``value_b``), best epoch and epochs run, its thread count (``threads_a``/``_b``, from ``torch_threads``),
    ``diff`` = b - a, ``identical`` (bit for bit) and ``same_best_epoch``. `metric` None: the dataset's
    primary one. Columns `PAIRS`; raises ``ValueError`` for frames of several metrics."""
    sa = _scores(a, metric)
    if sa.empty:
        return pd.DataFrame(columns=PAIRS)
    if sa["metric"].nunique() != 1:
        raise ValueError(f"paired_runs takes one metric, got {sorted(sa['metric'].unique())}; pass metric=")
    sb = _scores(b, str(sa["metric"].iloc[0]))
    side = ["run_id", "view", "metric", "value", "best_epoch", "epochs_run", "torch_threads"]
    m = sa.reindex(columns=[*GROUP, "fold", "seed", *side[3:], "run_id"]).merge(
        sb.reindex(columns=side), on=["run_id", "view", "metric"], suffixes=("_a", "_b"))
    m = m.rename(columns={"torch_threads_a": "threads_a", "torch_threads_b": "threads_b"})
    m["diff"] = m["value_b"].astype(float) - m["value_a"].astype(float)
    m["identical"] = m["value_a"].astype(float).to_numpy() == m["value_b"].astype(float).to_numpy()
    m["same_best_epoch"] = (m["best_epoch_a"] == m["best_epoch_b"]).fillna(False).astype(bool)
    return m[PAIRS].sort_values(["method", "view", "seed", "fold"], kind="stable", ignore_index=True)


def _seed_pair_diffs(g: pd.DataFrame) -> np.ndarray:
    """Differences between runs of one fold under two seeds, every pair of seeds, every fold."""
    wide = g.pivot_table(index="fold", columns="seed", values="value", aggfunc="first")
    seeds = list(wide.columns)
    d = [wide[s] - wide[t] for i, s in enumerate(seeds) for t in seeds[i + 1:]]
    return pd.concat(d).dropna().to_numpy(dtype=float) if d else np.array([])


def spread(runs: pd.DataFrame, metric: str | None = None, width: float = concordance.WIDTH) -> pd.DataFrame:
    """Per cell of `runs` (tidy, one dataset): the spreads a thread difference is read against.

    Columns: the cell (``GROUP``), ``n_runs``, ``seeds``, ``fold_std`` (std over folds within a seed,
    pooled over seeds: the square root of the mean per-seed variance; ``n_fold`` values), ``seed_rms``
    (root mean square of the difference between two seeds' runs of one fold, over every fold and pair
    of seeds; ``n_seed_pairs``), ``std`` (over every (fold, seed) run), ``low``, ``high`` and
    ``half_width`` (the concordance interval, mean ± `width` std; NaN below ``stats.MIN_PAIRS`` runs).
    """
    d = _scores(runs, metric)
    cols = [*GROUP, "n_runs", "seeds", "n_fold", "fold_std", "n_seed_pairs", "seed_rms", "std", "low", "high",
            "half_width"]
    rows = []
    for key, g in (d.groupby(GROUP, sort=False, dropna=False) if len(d) else []):
        g = g.drop_duplicates(["fold", "seed"])
        per_seed = [s["value"].astype(float) for _, s in g.groupby("seed") if len(s) >= 2]
        fold_std = float(np.sqrt(np.mean([s.var(ddof=1) for s in per_seed]))) if per_seed else np.nan
        pairs = _seed_pair_diffs(g)
        _, low, high = concordance.interval(g["value"], width)
        rows.append({**dict(zip(GROUP, key)), "n_runs": len(g), "seeds": int(g["seed"].nunique()),
                     "n_fold": sum(len(s) for s in per_seed), "fold_std": fold_std, "n_seed_pairs": len(pairs),
                     "seed_rms": float(np.sqrt(np.mean(pairs ** 2))) if len(pairs) else np.nan,
                     "std": float(g["value"].astype(float).std(ddof=1)) if len(g) > 1 else np.nan,
                     "low": low, "high": high, "half_width": (high - low) / 2})
    return pd.DataFrame(rows, columns=cols)


def thread_summary(pairs: pd.DataFrame, reference: pd.DataFrame, width: float = concordance.WIDTH) -> pd.DataFrame:
    """Per cell of `paired_runs`: the thread differences beside the spreads of `reference` (the 1-thread
    archive, every seed of it: `spread`), and the concordance check of the runs of the other thread count
    against it.

    Columns: the cell, ``n`` (paired runs), ``identical``, ``same_best_epoch`` (counts), ``mean_diff``,
    ``rms_diff``, ``max_abs_diff``, the `spread` columns, ``rms_vs_seeds`` (rms_diff / seed_rms),
    ``max_vs_half`` (max_abs_diff / half_width), ``inside`` (runs of the other thread count inside the
    interval, each on its own; ``inside_a``: the same runs of the reference) and ``mark`` / ``agrees``
    (``concordance.check_cell``: their mean inside it).
    """
    if pairs.empty:
        return pd.DataFrame()
    metric = str(pairs["metric"].iloc[0])
    spreads = spread(reference, metric, width)
    ref = _scores(reference, metric)
    rows = []
    for key, g in pairs.groupby(GROUP, sort=False, dropna=False):
        cell = dict(zip(GROUP, key))
        s = _in_cell(spreads, cell)
        sp = s.iloc[0].to_dict() if len(s) else {c: np.nan for c in spreads.columns}
        check = concordance.check_cell(_in_cell(ref, cell)["value"], g["value_b"], width)
        d = g["diff"].to_numpy(dtype=float)
        rows.append({**cell, "n": len(g), "identical": int(g["identical"].sum()),
                     "same_best_epoch": int(g["same_best_epoch"].sum()), "mean_diff": float(d.mean()),
                     "rms_diff": float(np.sqrt(np.mean(d ** 2))), "max_abs_diff": float(np.abs(d).max()),
                     **{k: sp[k] for k in spreads.columns if k not in GROUP},
                     "rms_vs_seeds": float(np.sqrt(np.mean(d ** 2))) / sp["seed_rms"] if sp["seed_rms"] else np.nan,
                     "max_vs_half": float(np.abs(d).max()) / sp["half_width"] if sp["half_width"] else np.nan,
                     "inside": _inside(g["value_b"], sp), "inside_a": _inside(g["value_a"], sp), "agrees": check["agrees"],
                     "mark": check["mark"]})
    return pd.DataFrame(rows)


def _in_cell(frame: pd.DataFrame, cell: dict) -> pd.DataFrame:
    """The rows of `frame` whose columns equal each value of `cell`."""
    return frame[np.logical_and.reduce([frame[k].to_numpy() == v for k, v in cell.items()])]


def _inside(values: pd.Series, interval: dict) -> int | None:
    """How many `values` lie within the interval's ``low`` and ``high`` (None without an interval)."""
    if not np.isfinite(interval["low"]):
        return None
    return int(values.astype(float).between(interval["low"], interval["high"]).sum())


def _verdict_kind(verdict: str) -> str:
    """The conclusion of a verdict without its p: "significantly higher", "no detectable difference", ..."""
    return str(verdict).split(" (")[0]


def conclusions(a: pd.DataFrame, b: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The results table's tested rows (``stats_table.results_table``: each method against its reference,
    corrected t-test, Holm over the table) computed on the runs both frames hold, once from each.

    Columns: the cell, ``reference``, ``n_pairs``, ``diff_a``, ``p_holm_a``, ``verdict_a``, ``diff_b``,
    ``p_holm_b``, ``verdict_b``, ``holm_m`` and ``same`` (the same conclusion: higher / lower / no
    detectable difference / not tested, whatever the p).
    """
    ids = set(a["run_id"]) & set(b["run_id"])
    cols = [*CELL, "metric", "reference", "n_pairs", "diff_a", "p_holm_a", "verdict_a", "diff_b", "p_holm_b", "verdict_b",
            "holm_m", "same"]
    sa, sb = (_scores(f[f["run_id"].isin(ids)], metric) for f in (a, b))
    if sa.empty or sb.empty:
        return pd.DataFrame(columns=cols)
    ta, tb = results_table(sa), results_table(sb)
    keep = ["method", "variant", "encoder", "protocol", "view", "diff", "p_holm", "verdict"]
    m = ta[ta["reference"] != ""].merge(tb[keep], on=keep[:5], suffixes=("_a", "_b"))
    m["same"] = [_verdict_kind(x) == _verdict_kind(y) for x, y in zip(m["verdict_a"], m["verdict_b"])]
    return m[cols].reset_index(drop=True)
