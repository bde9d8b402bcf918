"""What replicates: the paper's testable claims, each tested on the archives, with one verdict rule.

The claims are data (`CLAIMS`): an id, the paper's words and where they are, and the comparisons
that test them here. A `Comparison` names two cells of one archive (a method, variant, encoder,
protocol and view each) whose runs pair on (fold, seed), the paper's own difference where the paper
prints one, the direction the paper claims, and what the data is: the paper's benchmark, a stand-in
of it, another of the paper's benchmarks than the claim's table, or data beyond the paper.

`ledger` tests every comparison and reads its verdict off two axes that cannot overlap:

- **Direction** (`DIRECTIONS`), from the claim's family-adjusted interval: a difference in the
  paper's direction is detected (the interval excludes 0 on the claimed side), a reversal is
  detected, the difference is practically nil (the interval lies inside ±ROPE), or nothing is.
- **Size** (`SIZES`), only where the paper prints its own value: the paper's value is consistent
  with ours, or ruled out (ours smaller or larger). The paper's value is itself a mean of runs like
  ours, printed without a spread and rounded: its standard error is taken as ours (so the two means
  differ by more than crit x sqrt(2) x se) and its rounding is an interval. A size that is ruled
  out only when the paper's value is treated as exact is *borderline*.

`WORDS` maps every (direction, size) pair to a verdict (the short word tallied and coloured) and
its words; the page, the terminal and the headline take theirs from it, and a test walks every cell.

**One family per claim, on both axes.** Every tested comparison of a claim belongs to one family of
m tests, and everything that decides is adjusted for it: the interval is at level 1 - alpha/m
(Bonferroni), the p-value is m p (so it is below alpha exactly when that interval excludes 0), the
MDE and the power are at alpha/m. Bonferroni rather than Holm so that a verdict never contradicts
the interval printed beside it.

**A failed run counts.** A run that failed twice the same way (``failed_runs`` of the manifest)
enters its method's comparisons with `FAILED_SCORE` (R² 0: the score of a constant prediction at
the test mean, a model that learned nothing); the ledger gives each verdict as it would be with the
run dropped instead (``verdict_if_dropped``).

**Two questions.** Q2, which the verdict answers: would the difference hold on a new dataset of
this kind? The Nadeau-Bengio corrected variance, (1/n + n_test/n_train) s², a heuristic derived for
random splits (an approximation; LFMC's random folds share sites between test and training). Q1:
on the data as collected, averaged over training seeds and partitions, which scores higher? The
per-seed means over the folds (one value per repeat of the cross-validation), a t interval on
them (``q1_*``; where the archive has at least `stats.MIN_PAIRS` repeats).

On data that is not the paper's benchmark (a stand-in, another benchmark, data beyond the paper) the
same rule says "holds" / "fails": a stand-in never replicates a claim. A claim about a level (the
paper's number itself) has a size axis only: "consistent", "borderline", "lower here", "higher here".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.claims.verdicts import (  # noqa: F401 (the rule, re-exported: findings.WORDS, findings.verdict)
    DIRECTIONS,
    LEVEL_VERDICTS,
    LEVEL_WORDS,
    OTHER_DATA_VERDICTS,
    PAPER_UNIT,
    SIZES,
    VERDICTS,
    WORDS,
    direction_of,
    level_verdict,
    paper_unit,
    size_of,
    verdict,
)
from mdico_core.reporting.core import stats
from mdico_core.reporting.core.compare import metric_of
from mdico_core.reporting.core.paper_claims import (  # noqa: F401 (the claims, re-exported: findings.CLAIMS)
    CLAIMS,
    CONTEXTS,
    Claim,
    Comparison,
    Side,
    archives_used,
    get_claim,
)

POWER = 0.8
"""The power at which the minimum detectable effect is stated."""

FAILED_SCORE = {"r2": 0.0}
"""The score a run that failed twice the same way enters its comparisons with, per metric: R² 0, a
constant prediction at the test mean (a model that learned nothing). A metric without one drops the run."""

# ---------------------------------------------------------------------------------- the ledger
@dataclass
class _Archives:
    """Archives read once (verified against their manifests on read) and their manifests."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def _read(self, name: str) -> pd.DataFrame:
        if name not in self.frames:
            from mdico_core.reporting.book.archive import read_runs

            self.frames[name] = read_runs(name)
        return self.frames[name]

    def runs(self, name: str) -> pd.DataFrame:
        """The scored rows of archive `name`'s done runs."""
        df = self._read(name)
        return df[(df["status"] == "done") & df["metric"].notna()]

    def failed(self, name: str) -> pd.DataFrame:
        """One row per run of archive `name` that failed twice the same way (held as its outcome)."""
        df = self._read(name)
        return df[df["status"] == "failed"].drop_duplicates("run_id")

    def feature_runs(self, name: str) -> pd.DataFrame:
        """The feature measures of archive `name`'s runs with stored features (``feature_measures.as_runs``)."""
        key = f"{name}:features"
        if key not in self.frames:
            from mdico_core.reporting.book.archive import archived_page
            from mdico_core.reporting.figures.feature_measures import as_runs

            self.frames[key] = as_runs(archived_page(name))
        return self.frames[key]


def _in_settings(df: pd.DataFrame, settings: str) -> pd.DataFrame:
    """The runs of one comparison: the settings' runs, each method at its own recipe's early-stopping monitor
    (``experiments.settings.select_settings``; the ``--monitor task`` runs are another study)."""
    from mdico_core.experiments.settings import select_settings

    return select_settings(df, settings)


def _of_side(df: pd.DataFrame, side: Side, settings: str) -> pd.Series:
    df = _in_settings(df, settings)
    mods = df["modalities"].fillna("").astype(str).map(lambda s: ",".join(sorted(m for m in s.split(",") if m)))
    return ((df["method"] == side.method) & (df["variant"] == side.variant) & (df["encoder"] == side.encoder)
            & (df["protocol"] == side.protocol) & (mods == (side.modalities or ""))).reindex(df.index)


def _cell(df: pd.DataFrame, side: Side, settings: str, metric: str, failed: pd.DataFrame | None = None) -> pd.DataFrame:
    """The runs of one side, one row per (fold, seed); with `failed`, its runs that failed twice enter
    with `FAILED_SCORE` (flagged ``failed``)."""
    d = _in_settings(df, settings)
    d = d[_of_side(d, side, settings) & (d["view"].astype(str) == side.view) & (d["metric"] == metric)]
    d = d.assign(failed=False)
    if failed is not None and len(failed) and metric in FAILED_SCORE:
        f = _in_settings(failed, settings)
        f = f[_of_side(f, side, settings)]
        if len(f):
            d = pd.concat([d, f.assign(view=side.view, metric=metric, value=FAILED_SCORE[metric], failed=True)],
                          ignore_index=True)
    return d


def _paired(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """x - ref per (fold, seed) both sides ran: columns fold, seed, d, failed (either side's run failed)."""
    cols = ["fold", "seed", "value", "failed"]
    both = a[cols].merge(b[cols], on=["fold", "seed"], suffixes=("_x", "_ref")).dropna(subset=["value_x", "value_ref"])
    return pd.DataFrame({"fold": both["fold"], "seed": both["seed"],
                         "d": (both["value_x"] - both["value_ref"]).astype(float),
                         "failed": both["failed_x"] | both["failed_ref"]})


def test_comparison(cmp: Comparison, archives: _Archives | None = None, failed: str = "count") -> dict[str, Any]:
    """One comparison's unadjusted statistics; `ledger` adds its family's adjustment and the verdict.

    `failed`: "count" (a run that failed twice enters with `FAILED_SCORE`) or "drop" (its pairs are left out).
    """
    from mdico_core.reporting.figures.feature_measures import FEATURE_METRICS

    archives = archives or _Archives()
    df = archives.feature_runs(cmp.archive) if cmp.metric in FEATURE_METRICS else archives.runs(cmp.archive)
    held = None if failed == "drop" or cmp.metric in FEATURE_METRICS else archives.failed(cmp.archive)
    metric = cmp.metric or metric_of(str(df["dataset"].iloc[0]))[0]
    x = _cell(df, cmp.x, cmp.settings, metric, held)
    ref = cmp.ref if isinstance(cmp.ref, Side) else None
    row: dict[str, Any] = {
        "place": cmp.place, "archive": cmp.archive, "context": cmp.context, "settings": cmp.settings,
        "metric": metric, "x": cmp.x.label(), "ref": ref.label() if ref else "", "ref_short": ref.short() if ref else "",
        "paper": cmp.paper, "direction": cmp.direction, "level": ref is None, "note": cmp.note,
        "ref_archive": cmp.ref_archive or "",
        "n": 0, "n_failed": 0, "mean": np.nan, "sd": np.nan, "ratio": np.nan, "p": np.nan, "se": np.nan, "df": 0,
        "rope": stats.ROPE.get(metric, np.nan), "folds": 10, "seed_means": (),
    }
    if "n_folds" in x and x["n_folds"].notna().any():
        row["folds"] = int(pd.to_numeric(x["n_folds"], errors="coerce").dropna().iloc[0])
    if ref is None:  # a level: the paper's number against our mean
        if len(x) >= 2:
            e = stats.estimate(x["value"].to_numpy(dtype=float), stats.split_ratio(x))
            row.update(n=e.n, n_failed=int(x["failed"].sum()), mean=e.mean, sd=e.sd, ratio=e.test_train_ratio,
                       se=e.se, df=e.df, seed_means=tuple(x.groupby("seed")["value"].mean()))
        return row
    if cmp.ref_archive:  # another archive, other splits: two independent samples
        other = archives.runs(cmp.ref_archive)
        r = _cell(other, ref, cmp.settings, metric, None if held is None else archives.failed(cmp.ref_archive))
        return {**row, **_unpaired(x, r)}
    r = _cell(df, ref, cmp.settings, metric, held)
    pairs = _paired(x, r)
    row.update(n=len(pairs), n_failed=int(pairs["failed"].sum()))
    if len(pairs) >= stats.MIN_PAIRS:
        ratio = max(stats.split_ratio(x), stats.split_ratio(r))  # across protocols: the larger correction
        d = pairs["d"].to_numpy(dtype=float)
        sd = float(np.std(d, ddof=1))
        row.update(mean=float(d.mean()), sd=sd, ratio=ratio, se=sd * np.sqrt(1 / len(d) + ratio), df=len(d) - 1,
                   p=stats.corrected_ttest(d, ratio).p, seed_means=tuple(pairs.groupby("seed")["d"].mean()))
    return row


def _unpaired(x: pd.DataFrame, r: pd.DataFrame) -> dict[str, Any]:
    """x - ref of two independent sets of runs (other splits): the difference of the means, its standard error
    the root of the two corrected squared standard errors, df the smaller n - 1 (conservative); Q1 on the
    difference of the per-seed means (the same training seeds, other partitions)."""
    from scipy import stats as st

    n = min(len(x), len(r))
    out: dict[str, Any] = {"n": n, "n_failed": int(x["failed"].sum() + r["failed"].sum())}
    if n < stats.MIN_PAIRS:
        return out
    a, b = (stats.estimate(s["value"].to_numpy(dtype=float), stats.split_ratio(s)) for s in (x, r))
    se = float(np.hypot(a.se, b.se))
    mean = a.mean - b.mean
    seeds = x.groupby("seed")["value"].mean() - r.groupby("seed")["value"].mean()
    out.update(mean=mean, se=se, df=n - 1, sd=float(np.hypot(a.sd, b.sd)), ratio=max(a.test_train_ratio,
               b.test_train_ratio), p=float(2 * st.t.sf(abs(mean / se), n - 1)) if se > 0 else float(mean == 0),
               seed_means=tuple(seeds.dropna()))
    return out


def _adjust(row: dict[str, Any], m: int, alpha: float) -> dict[str, Any]:
    """`row` with its family's adjustment (m tests at level `alpha`) and its verdict."""
    from scipy import stats as st

    a = alpha / max(1, m)
    out = {**row, "family_m": m, "family_level": 1 - a, "lo": np.nan, "hi": np.nan, "se": np.nan, "p_adj": np.nan,
           "mde": np.nan, "power_paper": np.nan, "runs_to_decide": None, "q1_n": len(row["seed_means"]),
           "q1_mean": np.nan, "q1_lo": np.nan, "q1_hi": np.nan, "q1_verdict": "", "direction_axis": "",
           "size_axis": ""}
    n = row["n"]
    if n < stats.MIN_PAIRS or not np.isfinite(row["mean"]):
        out.update(verdict="not tested", words=f"not tested: {n} paired runs, fewer than {stats.MIN_PAIRS}")
        return out
    se, df = float(row["se"]), int(row["df"])
    crit = float(st.t.ppf(1 - a / 2, df))
    out.update(se=se, lo=row["mean"] - crit * se, hi=row["mean"] + crit * se)
    means = np.asarray(row["seed_means"], dtype=float)
    paper = row["paper"] if row["context"] == "paper" else None  # a value on other data is not comparable
    unit = paper_unit(row["metric"])
    if len(means) >= stats.MIN_PAIRS:  # Q1: the repeats of the cross-validation, as collected, the same rule
        q1_se = float(np.std(means, ddof=1) / np.sqrt(len(means)))
        q1_crit = float(st.t.ppf(1 - a / 2, len(means) - 1))
        mean = float(means.mean())
        out.update(q1_mean=mean, q1_lo=mean - q1_crit * q1_se, q1_hi=mean + q1_crit * q1_se)
        if row["level"]:
            out["q1_verdict"] = level_verdict(size_of(mean, q1_se, q1_crit, paper, unit / 2, 0))[0]
        else:
            out["q1_verdict"] = verdict(direction_of(out["q1_lo"], out["q1_hi"], row["direction"], row["rope"]),
                                        size_of(mean, q1_se, q1_crit, paper, unit, row["direction"]),
                                        row["context"])[0]
    if row["level"]:
        size = size_of(row["mean"], se, crit, paper, unit / 2, 0)
        out["size_axis"] = size
        out["verdict"], out["words"] = level_verdict(size)
        return out
    out["p_adj"] = min(1.0, m * row["p"])
    out["mde"] = stats.mde(se, df, a, POWER)
    if paper is not None and np.isfinite(paper):
        out["power_paper"] = stats.power(paper, se, df, a)
        out["runs_to_decide"] = stats.runs_to_detect(paper, row["sd"], row["ratio"], row["folds"], a, POWER)
    out["direction_axis"] = direction_of(out["lo"], out["hi"], row["direction"], row["rope"])
    out["size_axis"] = size_of(row["mean"], se, crit, paper, unit, row["direction"])
    out["verdict"], out["words"] = verdict(out["direction_axis"], out["size_axis"], row["context"])
    return out


def _family(claim: Claim, archives: _Archives, failed: str, alpha: float) -> pd.DataFrame:
    rows = [test_comparison(c, archives, failed) for c in claim.comparisons]
    m = sum(r["n"] >= stats.MIN_PAIRS and np.isfinite(r["mean"]) for r in rows)
    part = pd.DataFrame([_adjust(r, m, alpha) for r in rows])
    part.insert(0, "claim", claim.id)
    return part


def ledger(claims: Sequence[Claim] = CLAIMS, alpha: float = stats.ALPHA) -> pd.DataFrame:
    """Every comparison of `claims`, tested: one row each, adjusted within its claim's family (`_adjust`), with
    the verdict of `WORDS` and, where a run that failed twice enters, the verdict were it dropped instead."""
    archives = _Archives()
    parts = []
    for claim in claims:
        part = _family(claim, archives, "count", alpha)
        part["verdict_if_dropped"] = None
        if (part["n_failed"] > 0).any():
            dropped = _family(claim, archives, "drop", alpha)
            hit = part["n_failed"] > 0
            part.loc[hit, "verdict_if_dropped"] = dropped.loc[hit, "verdict"]
            part.loc[hit, "words_if_dropped"] = dropped.loc[hit, "words"]
            for col in ("mean", "lo", "hi", "n"):
                part.loc[hit, f"{col}_if_dropped"] = dropped.loc[hit, col]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def ledger_key() -> str:
    """What the shipped ledger depends on, hashed: the archives' checksums (``SHA256SUMS``) and the package's
    code. Equal keys give equal ledgers, so a build whose archives and code did not change reads it back."""
    import hashlib

    from mdico_core._util import repo_root
    from mdico_core.experiments.archive_files import SUMS
    from mdico_core.experiments.archives import ARCHIVE_DIR

    sums = ARCHIVE_DIR / SUMS
    h = hashlib.sha256(sums.read_bytes() if sums.is_file() else b"")
    package = repo_root() / "mdico_core"
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:20]


def cached_ledger(cache_dir: str | Path | None = None) -> pd.DataFrame:
    """`ledger` of every claim, read back from `cache_dir` (default ``<results store>/_cache``) when computed
    before from the same archives and code (`ledger_key`), else computed and kept there for the next page.

    The book's pages each show a claim's rows; they share one computation per build instead of one each.
    The archives are verified against their manifests first, as on every read, so a cached ledger is
    never served for an archive that no longer matches its checksums; a cache file that cannot be read
    is computed again.
    """
    from mdico_core._util import atomic_write
    from mdico_core.experiments.archive_files import verify_archive
    from mdico_core.experiments.archives import get_archive
    from mdico_core.experiments.store import default_root

    for name in archives_used(CLAIMS):
        verify_archive(get_archive(name))
    folder = Path(cache_dir) if cache_dir is not None else default_root() / "_cache"
    path = folder / f"ledger-{ledger_key()}.pkl"
    if path.is_file():
        try:
            table = pd.read_pickle(path)
            if isinstance(table, pd.DataFrame) and "verdict" in table:
                return table
        except Exception:  # a torn or foreign file: computed again below
            pass
    table = ledger()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: table.to_pickle(f))
    return table


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
