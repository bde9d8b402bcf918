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

from mdico_core.reporting import stats
from mdico_core.reporting.compare import GROUP, select_metric

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
