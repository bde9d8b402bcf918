"""Does a reader's re-run agree with the archived paper-protocol runs? One check per table cell.

The interval of a cell is where single runs of the archived protocol land: the archive's mean ±
`WIDTH` (2) standard deviations (ddof = 1) of its per-(fold, seed) run values, about 95 % of runs
for roughly normal scores. A cell agrees (✓) when the re-run's mean lies inside it.

Why this interval: a re-run at the quick profile is typically one or a few runs, on a smaller
training budget, and it is meant to answer "did the numbers come back on my machine", not "are
the means equal". So it is asked the one question its size allows: does it look like one more
run of the archive? The interval does not narrow with more re-run runs (the budget differs, so
a tighter test of equal means would flag the budget, not a fault); it does catch what matters,
a broken method or data pipeline, whose scores fall far outside the spread of 50 real runs.
A quantile interval was not used because its 2.5 % / 97.5 % ends rest on the one or two
extreme runs of 50. No interval is drawn from fewer than ``stats.MIN_PAIRS`` archived runs (the
cell is then "–", not checked), as no std is printed from fewer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mdico_core.reporting.core import stats
from mdico_core.reporting.core.compare import GROUP, select_metric

WIDTH = 2.0
"""Half-width of the interval in archive standard deviations."""

AGREE, DISAGREE, UNCHECKED = "✓", "✗", "–"

_BOUNDS = {"r2": (-np.inf, 1.0), "rmse": (0.0, np.inf), "mae": (0.0, np.inf)}
_PERCENT = (0.0, 100.0)  # F1 and accuracy, in percent


def metric_bounds(metric: str | None) -> tuple[float, float]:
    """The values `metric` can take: an interval of runs is cut there (an F1 does not reach 100.3)."""
    m = str(metric)
    return _BOUNDS.get(m, _PERCENT if m.startswith("f1") or m == "accuracy" else (-np.inf, np.inf))


def interval(archive_values: ArrayLike, width: float = WIDTH,
             bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[float, float, float]:
    """(mean, low, high) of the archived runs: mean ∓ `width` std (ddof 1), cut to the metric's
    `bounds` (`metric_bounds`); NaN bounds below ``stats.MIN_PAIRS`` runs."""
    a = np.asarray(archive_values, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return np.nan, np.nan, np.nan
    mean = float(a.mean())
    if len(a) < stats.MIN_PAIRS:
        return mean, np.nan, np.nan
    half = width * float(a.std(ddof=1))
    return mean, max(mean - half, bounds[0]), min(mean + half, bounds[1])


def check_cell(archive_values: ArrayLike, rerun_values: ArrayLike, width: float = WIDTH,
               bounds: tuple[float, float] = (-np.inf, np.inf)) -> dict:
    """The check of one cell: ``n_archive``, ``archive_mean``, ``low``, ``high``, ``n_rerun``,
    ``rerun_mean``, ``agrees`` (True / False, None when not checkable) and ``mark`` (✓ / ✗ / –)."""
    a = np.asarray(archive_values, dtype=float)
    r = np.asarray(rerun_values, dtype=float)
    a, r = a[np.isfinite(a)], r[np.isfinite(r)]
    mean, low, high = interval(a, width, bounds)
    rerun_mean = float(r.mean()) if len(r) else np.nan
    agrees = None if not (np.isfinite(low) and np.isfinite(rerun_mean)) else bool(low <= rerun_mean <= high)
    mark = UNCHECKED if agrees is None else (AGREE if agrees else DISAGREE)
    return {"n_archive": len(a), "archive_mean": mean, "low": low, "high": high, "n_rerun": len(r),
            "rerun_mean": rerun_mean, "agrees": agrees, "mark": mark}


def _keyed(d: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`d` with its key columns as text, so that a missing value (None or NaN) matches a missing value."""
    return d.assign(**{k: d[k].astype(object).where(d[k].notna(), "").astype(str) for k in keys})


def concordance(archive: pd.DataFrame, rerun: pd.DataFrame, metric: str | None = None,
                keys: Sequence[str] = GROUP, width: float = WIDTH) -> pd.DataFrame:
    """`check_cell` for every cell of the re-run (tidy ``ResultsStore.collect`` frames, e.g. an archive
    read with ``archive.read_runs`` and the reader's store), matched on `keys` (dataset, method,
    variant, encoder, protocol, view, metric). A re-run cell the archive lacks is "–".

    `metric` None takes each dataset's primary metric. Returns `keys` + the `check_cell` columns.
    """
    keys = list(keys)
    for name, d in (("archive", archive), ("rerun", rerun)):
        missing = [k for k in keys if k not in d]
        if missing:
            raise ValueError(f"the {name} frame lacks the column(s) {', '.join(missing)}: pass tidy runs "
                             "(ResultsStore.collect or archive.read_runs)")
    a, r = _keyed(select_metric(archive, metric), keys), _keyed(select_metric(rerun, metric), keys)
    archived = {k: g["value"] for k, g in a.groupby(keys, dropna=False, sort=False)}
    rows = []
    for k, g in r.groupby(keys, dropna=False, sort=True):
        k = k if isinstance(k, tuple) else (k,)
        key = dict(zip(keys, k))
        rows.append({**key, **check_cell(archived.get(k, []), g["value"], width, metric_bounds(key.get("metric")))})
    cols = [*keys, "n_archive", "archive_mean", "low", "high", "n_rerun", "rerun_mean", "agrees", "mark"]
    return pd.DataFrame(rows, columns=cols)


def concordance_verdict(checks: pd.DataFrame) -> str:
    """One line: "your re-run agrees with the archived results on 22 of 24 cells" (plus the cells
    that could not be checked, and which cells disagree)."""
    checked = checks[checks["agrees"].notna()]
    agree = int(checked["agrees"].astype(bool).sum())
    text = f"your re-run agrees with the archived results on {agree} of {len(checked)} cells"
    unchecked = len(checks) - len(checked)
    if unchecked:
        text += (f" ({unchecked} more not checked: no archived cell, or fewer than {stats.MIN_PAIRS} "
                 "archived runs)")
    off = checked[~checked["agrees"].astype(bool)]
    if len(off):
        names = [" ".join(str(v) for v in (row.get("method"), row.get("variant"), row.get("view"))
                          if v is not None and str(v) not in ("default", "nan"))
                 for row in off.to_dict("records")]
        text += f"; outside the archive's interval: {', '.join(names)}"
    return text


# ---------------------------------------------------------------------------------- run by run
SAME_CPU_TOLERANCE = 1e-6
"""Runs re-made on the CPU kind that made them (the same code, data, seed, one torch thread) come back
bitwise equal (measured: ``benchmarks/results/cross_cpu.csv``, every same-kind difference 0); this only
absorbs the shortest float repr of the CSV."""
CROSS_CPU_TOLERANCE = {"r2": 0.15}
"""How far one run may move between the two CPU kinds the archives ran on (AMD EPYC, Intel Xeon) and still
be the same run, per metric: the largest difference measured there (0.116 R², Individual S1, one run of
``benchmarks/cross_cpu.py``), rounded up. Float arithmetic differs in its last digits across kinds and
training amplifies it into another early-stopping epoch, so across kinds one run is a weak check; a test
holds this constant above every measured difference. A metric without a measurement (F1, accuracy, in %)
takes `CROSS_CPU_TOLERANCE_PERCENT`."""
CROSS_CPU_TOLERANCE_PERCENT = 15.0
"""The same for F1 and accuracy (%), until a classification archive is measured across CPU kinds."""


def rerun_tolerance(metric: str, same_cpu: bool) -> float:
    """How far a re-run may lie from its archived twin: `SAME_CPU_TOLERANCE` on the CPU kind that made it, else
    the measured `CROSS_CPU_TOLERANCE` of `metric`."""
    if same_cpu:
        return SAME_CPU_TOLERANCE
    return CROSS_CPU_TOLERANCE.get(metric, CROSS_CPU_TOLERANCE_PERCENT)


def check_runs(archive: pd.DataFrame, rerun: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Each re-run against the archived run of the same run id (the same configuration, split, budget and
    seed), view by view: ``archived``, ``rerun``, ``abs_diff``, ``same_cpu`` (both made on one CPU model),
    ``tolerance`` (`rerun_tolerance`), ``agrees`` and ``mark``. A re-run with no archived twin is left out."""
    a, r = select_metric(archive, metric), select_metric(rerun, metric)
    keys = ["run_id", "view", "metric"]
    cpu = "cpu_model" if "cpu_model" in a and "cpu_model" in r else None
    left = r[[*keys, "method", "variant", "fold", "seed", "value", *([cpu] if cpu else [])]]
    both = left.merge(a[[*keys, "value", *([cpu] if cpu else [])]], on=keys, suffixes=("_rerun", "_archived"))
    both = both.rename(columns={"value_rerun": "rerun", "value_archived": "archived"})
    both["abs_diff"] = (both["rerun"] - both["archived"]).abs()
    both["same_cpu"] = (both[f"{cpu}_rerun"].astype(str) == both[f"{cpu}_archived"].astype(str)) if cpu else False
    both["tolerance"] = [rerun_tolerance(m, bool(s)) for m, s in zip(both["metric"], both["same_cpu"])]
    both["agrees"] = both["abs_diff"] <= both["tolerance"]
    both["mark"] = np.where(both["agrees"], AGREE, DISAGREE)
    return both.reset_index(drop=True)


def runs_verdict(checks: pd.DataFrame) -> str:
    """One line: "your re-run matches its archived twin run by run on 6 of 6 (run, view) pairs ..."."""
    if checks.empty:
        return "none of your runs has an archived twin (the same run id) to compare with"
    agree = int(checks["agrees"].sum())
    worst = checks.loc[checks["abs_diff"].idxmax()]
    same = int(checks["same_cpu"].sum())
    text = (f"your re-run matches its archived twin run by run on {agree} of {len(checks)} (run, view) pairs "
            f"({same} on the CPU kind that made them, exactly; {len(checks) - same} on another kind, within the "
            f"largest cross-CPU difference measured); the largest difference here is {worst['abs_diff']:.4f}")
    off = checks[~checks["agrees"]]
    if len(off):
        text += "; off: " + ", ".join(f"{r.method} fold {r.fold} seed {r.seed} {r.view}" for r in off.itertuples())
    return text
