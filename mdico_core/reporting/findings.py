"""What replicates: the paper's testable claims, each tested on the archives, with one verdict rule.

The claims are data (`CLAIMS`): an id, the paper's words and where they are, and the comparisons
that test them here. A `Comparison` names two cells of one archive (a method, variant, encoder,
protocol and view each) whose runs pair on (fold, seed), the paper's own difference where the paper
prints one, the direction the paper claims, and what the data is: the paper's benchmark, a stand-in
of it, another of the paper's benchmarks than the claim's table, or data beyond the paper.

`ledger` tests every comparison with the statistics of `stats` (the corrected t-test, Holm within
a claim, the Bayesian correlated t-test with the metric's ROPE), gives the corrected 95% interval,
the minimum detectable effect at 80% power (at the test's level and at Holm's strictest level), the
power to detect the paper's own difference, and a `verdict` from one rule:

- *replicated*: the Holm-adjusted test is significant in the paper's direction;
- *contradicted*: it is significant the other way, or the interval excludes the paper's value;
- *equivalent*: P(|difference| < ROPE) >= 0.95 (the difference is practically nil);
- *inconclusive*: none of these (the interval holds both 0 and the paper's value): the MDE and the
  runs that would decide it are given;
- *not tested*: fewer than ``stats.MIN_PAIRS`` paired runs; *not testable here*: no data.

On data that is not the paper's benchmark (a stand-in, another benchmark, data beyond the paper) the
same rule gives "holds" / "fails" / "equivalent" / "inconclusive", with where it was tested: a
stand-in never replicates a claim. A claim about a level (the paper's number itself) compares the
paper's value with our corrected interval for the mean: "consistent", "higher here" or "lower here".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting import stats
from mdico_core.reporting.compare import metric_of
from mdico_core.reporting.paper_claims import (  # noqa: F401 (the claims, re-exported: findings.CLAIMS)
    BEST_OTHER,
    CLAIMS,
    CONTEXTS,
    Claim,
    Comparison,
    Side,
    archives_used,
    get_claim,
)

EQUIVALENT_PROB = 0.95
"""P(equivalent) from which a difference is called practically nil (the Bayesian test's ROPE)."""
POWER = 0.8
"""The power at which the minimum detectable effect is stated."""

VERDICTS = ("replicated", "contradicted", "equivalent", "inconclusive", "not tested", "not testable here")
OTHER_DATA_VERDICTS = {"replicated": "holds", "contradicted": "fails"}  # the words off the paper's data
LEVEL_VERDICTS = ("consistent", "higher here", "lower here")


# ---------------------------------------------------------------------------------- the rule
def verdict(n: int, lo: float, hi: float, p_holm: float, p_equiv: float, paper_value: float | None,
            direction: int, context: str = "paper", alpha: float = stats.ALPHA) -> str:
    """The verdict of one comparison (see the module docstring): from its paired runs `n`, corrected
    interval [`lo`, `hi`], Holm-adjusted p, Bayesian P(equivalent), the paper's value and claimed sign."""
    if n < stats.MIN_PAIRS:
        return "not tested"
    mean = (lo + hi) / 2
    if p_holm < alpha and mean != 0:
        if direction == 0:
            out = "differs"
        else:
            out = "replicated" if np.sign(mean) == direction else "contradicted"
    elif p_equiv >= EQUIVALENT_PROB:
        out = "equivalent"
    elif paper_value is not None and np.isfinite(paper_value) and not lo <= paper_value <= hi:
        out = "contradicted"
    else:
        out = "inconclusive"
    return out if context == "paper" else OTHER_DATA_VERDICTS.get(out, out)


def level_verdict(n: int, lo: float, hi: float, paper_value: float | None) -> str:
    """A level: is the paper's value inside our corrected interval for the mean."""
    if n < stats.MIN_PAIRS:
        return "not tested"
    if paper_value is None or not np.isfinite(paper_value):
        return "not testable here"
    return "consistent" if lo <= paper_value <= hi else "lower here" if hi < paper_value else "higher here"


# ---------------------------------------------------------------------------------- the ledger
@dataclass
class _Archives:
    """Archives read once (verified against their manifests on read) and their manifests."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def runs(self, name: str) -> pd.DataFrame:
        if name not in self.frames:
            from mdico_core.reporting.archive import read_runs

            df = read_runs(name)
            self.frames[name] = df[(df["status"] == "done") & df["metric"].notna()]
        return self.frames[name]

    def feature_runs(self, name: str) -> pd.DataFrame:
        """The feature measures of archive `name`'s runs with stored features (``feature_measures.as_runs``)."""
        key = f"{name}:features"
        if key not in self.frames:
            from mdico_core.reporting.archive import archived_page
            from mdico_core.reporting.feature_measures import as_runs

            self.frames[key] = as_runs(archived_page(name))
        return self.frames[key]


def _in_settings(df: pd.DataFrame, settings: str) -> pd.DataFrame:
    """The runs of one comparison: the settings' runs, each method at its own recipe's early-stopping monitor
    (``experiments.settings.select_settings``; the ``--monitor task`` runs are another study)."""
    from mdico_core.experiments.settings import select_settings

    return select_settings(df, settings)


def _cell(df: pd.DataFrame, side: Side, settings: str, metric: str) -> pd.DataFrame:
    df = _in_settings(df, settings)
    mods = df["modalities"].fillna("").astype(str).map(lambda s: ",".join(sorted(m for m in s.split(",") if m)))
    sel = ((df["method"] == side.method) & (df["variant"] == side.variant) & (df["encoder"] == side.encoder)
           & (df["protocol"] == side.protocol) & (df["view"].astype(str) == side.view) & (df["metric"] == metric)
           & (mods == (side.modalities or "")))
    return df[sel]


def _best_other_side(df: pd.DataFrame, x: Side, settings: str, metric: str) -> Side | None:
    df = _in_settings(df, settings)
    d = df[(df["view"].astype(str) == x.view) & (df["metric"] == metric) & (df["variant"] == "default")
           & (df["method"] != x.method)]
    if d.empty:
        return None
    means = d.groupby("method")["value"].mean()
    sign = 1 if stats.HIGHER_IS_BETTER.get(metric, True) else -1
    return replace(x, method=str((sign * means).idxmax()))


def _paired(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    pa, pb = a.set_index(["fold", "seed"])["value"], b.set_index(["fold", "seed"])["value"]
    both = pd.concat([pa, pb], axis=1, join="inner", keys=["x", "ref"]).dropna()
    return (both["x"] - both["ref"]).to_numpy(dtype=float)


def test_comparison(cmp: Comparison, archives: _Archives | None = None) -> dict[str, Any]:
    """One comparison's row of the ledger before Holm (``p_holm`` and ``verdict`` are set by `ledger`)."""
    from mdico_core.reporting.feature_measures import FEATURE_METRICS

    archives = archives or _Archives()
    df = archives.feature_runs(cmp.archive) if cmp.metric in FEATURE_METRICS else archives.runs(cmp.archive)
    metric = cmp.metric or metric_of(str(df["dataset"].iloc[0]))[0]
    sign = 1 if stats.HIGHER_IS_BETTER.get(metric, True) else -1
    ref = _best_other_side(df, cmp.x, cmp.settings, metric) if cmp.ref == BEST_OTHER else cmp.ref
    x = _cell(df, cmp.x, cmp.settings, metric)
    row: dict[str, Any] = {
        "place": cmp.place, "archive": cmp.archive, "context": cmp.context, "settings": cmp.settings,
        "metric": metric, "x": cmp.x.label(), "ref": ref.label() if isinstance(ref, Side) else "",
        "ref_short": ref.short() if isinstance(ref, Side) else "",
        "paper": cmp.paper, "direction": cmp.direction, "level": ref is None and cmp.ref is None,
        "n": 0, "mean": np.nan, "lo": np.nan, "hi": np.nan, "p": np.nan, "p_better": np.nan, "p_equiv": np.nan,
        "p_worse": np.nan, "mde": np.nan, "power_paper": np.nan, "runs_to_decide": None, "sd": np.nan,
        "ratio": np.nan, "rope": stats.ROPE.get(metric, np.nan),
    }
    if row["level"]:
        if len(x) >= 2:
            e = stats.estimate(x["value"].to_numpy(dtype=float), stats.split_ratio(x))
            row.update(n=e.n, mean=e.mean, lo=e.lo, hi=e.hi, sd=e.sd, ratio=e.test_train_ratio)
        return row
    if ref is None:
        return row
    r = _cell(df, ref, cmp.settings, metric)
    d = _paired(x, r)
    row["n"] = len(d)
    if len(d) >= stats.MIN_PAIRS:
        ratio = max(stats.split_ratio(x), stats.split_ratio(r))  # across protocols: the larger correction
        e = stats.estimate(d, ratio)
        t = stats.corrected_ttest(d, ratio)
        lower, equiv, higher = stats.bayes_correlated(d, ratio, row["rope"]) if np.isfinite(row["rope"]) else (
            np.nan, np.nan, np.nan)
        row.update(mean=e.mean, lo=e.lo, hi=e.hi, p=t.p, sd=e.sd, ratio=ratio, p_equiv=equiv,
                   p_better=higher if sign > 0 else lower, p_worse=lower if sign > 0 else higher,
                   mde=stats.mde(e.se, e.df, target_power=POWER))
        if cmp.paper is not None and cmp.context == "paper":  # a value on other data is not comparable
            row["power_paper"] = stats.power(cmp.paper, e.se, e.df)
            folds = int(pd.to_numeric(x["n_folds"], errors="coerce").dropna().iloc[0]) if "n_folds" in x else 10
            row["runs_to_decide"] = stats.runs_to_detect(cmp.paper, e.sd, ratio, folds, target_power=POWER)
    return row


def ledger(claims: Sequence[Claim] = CLAIMS, alpha: float = stats.ALPHA) -> pd.DataFrame:
    """Every comparison of `claims`, tested: one row each, with Holm within each claim, the MDE at Holm's
    strictest level (``mde_holm``), and the verdict of `verdict` / `level_verdict`."""
    archives = _Archives()
    rows = []
    for claim in claims:
        part = pd.DataFrame([test_comparison(c, archives) for c in claim.comparisons])
        part.insert(0, "claim", claim.id)
        tested = part["p"].notna()
        part["holm_m"] = int(tested.sum())
        part["p_holm"] = stats.holm(part["p"].to_numpy(dtype=float))
        part["mde_holm"] = [stats.mde(r.sd * np.sqrt(1 / r.n + r.ratio), r.n - 1, alpha / max(1, r.holm_m), POWER)
                            if ok else np.nan for r, ok in zip(part.itertuples(), tested)]
        part["verdict"] = [
            level_verdict(r.n, r.lo, r.hi, r.paper) if r.level else
            verdict(r.n, r.lo, r.hi, r.p_holm, r.p_equiv if np.isfinite(r.p_equiv) else 0.0,
                    r.paper if r.context == "paper" else None, r.direction, r.context, alpha)
            for r in part.itertuples()]
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def summary(table: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> pd.DataFrame:
    """One row per claim: its verdicts counted per kind of data, the places it cannot be tested, its page."""
    out = []
    for c in claims:
        rows = table[table["claim"] == c.id]
        by = []
        for ctx in CONTEXTS:
            part = rows[rows["context"] == ctx]
            if len(part):
                counts = part["verdict"].value_counts()
                by.append(f"{CONTEXT_SHORT[ctx]}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        out.append({"claim": c.id, "what": c.claim, "source": c.source, "verdicts": "; ".join(by),
                    "not testable here": len(c.untestable), "page": c.page})
    return pd.DataFrame(out)


CONTEXT_SHORT = {"paper": "paper's data", "stand-in": "stand-in", "other": "other benchmark", "beyond": "beyond"}


def headline(table: pd.DataFrame) -> dict[str, Any]:
    """The book's headline: MDiCo vs Individual on LFMC (claim C1 on the paper's own data), per view."""
    rows = table[(table["claim"] == "C1") & (table["context"] == "paper")]
    return {r.place.split(", ")[-1]: r._asdict() for r in rows.itertuples()}
