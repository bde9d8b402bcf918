"""Statistics that fit cross-validation, and the reporting policy that goes with them.

Our runs are r repetitions (seeds) of k-fold cross-validation: any two runs of one seed share
(k - 2)/(k - 1) of their training rows, so their scores are correlated and the plain paired tests
(t, Wilcoxon) that treat the k r differences as independent are far too confident. The tests here:

- `corrected_ttest`: the corrected repeated k-fold CV t-test (Nadeau & Bengio 2003, "Inference for
  the generalization error", Machine Learning 52; Bouckaert & Frank 2004, "Evaluating the
  replicability of significance tests", PAKDD). The variance of the mean difference is inflated
  by n_test / n_train to account for overlapping training sets; t has k r - 1 degrees of freedom.
- `holm`: Holm's step-down correction across the comparisons of one table.
- `bayes_correlated`: the Bayesian correlated t-test (Corani & Benavoli 2015) with a region of
  practical equivalence (`ROPE`), through the ``baycomp`` package, on the same corrected variance.
- `wilcoxon_p`: the signed-rank test, kept as a secondary column only: it does not correct for
  the overlap and overstates the evidence.

The policy, as code: no p-value and no std from fewer than `MIN_PAIRS` runs (``format.fmt_p``,
``format.fmt_mean_std`` print "n = 1" instead), and prose takes its words from the test
(`verdict`), never from a hard-coded claim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

MIN_PAIRS = 5
"""Fewest paired runs from which a p-value or a std is printed."""

ALPHA = 0.05

ROPE: dict[str, float] = {"r2": 0.01, "f1_weighted": 0.5, "f1_macro": 0.5, "f1_micro": 0.5, "accuracy": 0.5}
"""Region of practical equivalence per metric, in the metric's units (F1 and accuracy in %).

Half an F1 point and 0.01 R² are the smallest differences a reader of the paper's tables acts on:
the paper prints F1 with one decimal and its method-to-method gaps are mostly one point or more;
on LFMC its R² gaps between neighbouring methods are 0.01 to 0.04 (MDiCo vs Individual: +0.006
on S1, +0.035 on L8). Both are also about a tenth of the fold-to-fold spread of one method
(std of R² over the archived LFMC runs 0.06-0.12; of F1 on CropHarvest a few points), so a
difference inside the ROPE is one no single run could reveal. RMSE and MAE are in the target's
units and have no ROPE here: pass one explicitly.
"""

HIGHER_IS_BETTER: dict[str, bool] = {"r2": True, "f1_weighted": True, "f1_macro": True, "f1_micro": True,
                                     "accuracy": True, "rmse": False, "mae": False}

VAL_FRACTION = 0.1
"""Share of the training folds carved out for validation under the paper protocol
(``MultiModalDataset.split_indices``); used only when runs do not carry their split sizes."""


# ---------------------------------------------------------------------------------- the tests
@dataclass(frozen=True)
class CorrectedT:
    """Result of `corrected_ttest` (differences are method - reference)."""

    n: int
    """paired runs (k folds x r repeats)"""
    mean_diff: float
    t: float
    df: int
    """degrees of freedom, n - 1"""
    p: float
    """two-sided p-value"""
    test_train_ratio: float


def _diffs(diff: ArrayLike) -> np.ndarray:
    d = np.asarray(diff, dtype=float)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"need a 1-D array of at least 2 paired differences, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("paired differences contain NaN or inf: drop unmatched or failed runs first")
    return d


def _corrected_var(d: np.ndarray, ratio: float) -> float:
    """Nadeau-Bengio variance of the mean difference: (1/n + n_test/n_train) * sample variance."""
    if not (np.isfinite(ratio) and ratio > 0):
        raise ValueError(f"test_train_ratio must be a positive number (n_test / n_train), got {ratio!r}")
    return (1.0 / len(d) + ratio) * float(np.var(d, ddof=1))


def corrected_ttest(diff: ArrayLike, test_train_ratio: float) -> CorrectedT:
    """Corrected repeated k-fold cross-validated t-test on paired differences.

    Args:
        diff: method - reference, one value per (fold, seed) run of both (k r values).
        test_train_ratio: n_test / n_train of one run (see `split_ratio`).

    The naive variance s²/(k r) becomes (1/(k r) + n_test/n_train) s²; t = mean / sqrt(that),
    with k r - 1 degrees of freedom; p is two-sided. When every difference is equal, t is 0
    (p = 1) for a zero difference and ±inf (p = 0) otherwise.
    """
    from scipy import stats

    d = _diffs(diff)
    mean, var = float(d.mean()), _corrected_var(d, test_train_ratio)
    if var == 0:
        t = 0.0 if mean == 0 else float(np.copysign(np.inf, mean))
    else:
        t = mean / np.sqrt(var)
    p = 1.0 if t == 0 else float(2 * stats.t.sf(abs(t), len(d) - 1))
    return CorrectedT(len(d), mean, float(t), len(d) - 1, p, float(test_train_ratio))


@dataclass(frozen=True)
class Estimate:
    """A mean over cross-validation runs with its corrected uncertainty (`estimate`)."""

    n: int
    mean: float
    sd: float
    """sample std of the values (ddof 1)"""
    se: float
    """corrected standard error: sqrt((1/n + n_test/n_train) sd²), Nadeau-Bengio"""
    df: int
    lo: float
    hi: float
    """the two-sided `level` interval: mean ± t_{df} se"""
    level: float
    test_train_ratio: float


def estimate(values: ArrayLike, test_train_ratio: float, level: float = 1 - ALPHA) -> Estimate:
    """The mean of `values` (paired differences, or one method's scores) with its corrected interval.

    The interval uses the variance of `corrected_ttest` (so it excludes 0 exactly when that test's
    p < 1 - level) and t quantiles with n - 1 degrees of freedom. For one method's scores it is the
    interval of its expected score over training sets drawn like ours: the paper's number can be
    compared with it.
    """
    from scipy import stats

    d = _diffs(values)
    sd = float(np.std(d, ddof=1))
    se = float(np.sqrt(_corrected_var(d, test_train_ratio)))
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1)) * se
    m = float(d.mean())
    return Estimate(len(d), m, sd, se, len(d) - 1, m - half, m + half, level, float(test_train_ratio))


def power(effect: float, se: float, df: int, alpha: float = ALPHA) -> float:
    """Probability that the two-sided corrected t-test at level `alpha` detects a true mean difference
    `effect`, when its standard error is `se` (the noncentral t with noncentrality effect / se)."""
    from scipy import stats

    if se <= 0:
        return 1.0 if effect != 0 else alpha
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = effect / se
    # scipy's noncentral t returns NaN far in a tail; there that tail's probability is 0
    upper, lower = stats.nct.sf(crit, df, nc), stats.nct.cdf(-crit, df, nc)
    return float(np.nan_to_num(upper) + np.nan_to_num(lower))


def mde(se: float, df: int, alpha: float = ALPHA, target_power: float = 0.8) -> float:
    """Minimum detectable effect: the smallest |difference| the two-sided test at `alpha` detects with
    probability `target_power`, (t_{1-alpha/2} + t_{power}) se (df degrees of freedom)."""
    from scipy import stats

    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(target_power, df)) * se)


def runs_to_detect(effect: float, sd: float, test_train_ratio: float, per_repeat: int, alpha: float = ALPHA,
                   target_power: float = 0.8, max_repeats: int = 100) -> int | None:
    """Fewest runs (whole repeats of `per_repeat` folds) whose `mde` reaches |effect| at this spread;
    None when no number of repeats does: the corrected variance keeps sd² n_test/n_train however many
    repeats are run, so effects below about 2.8 sd sqrt(n_test/n_train) cannot be detected by repeating
    the same cross-validation."""
    if not (np.isfinite(effect) and effect != 0 and sd > 0):
        return None
    for r in range(1, max_repeats + 1):
        n = r * per_repeat
        if n >= 2 and mde(sd * np.sqrt(1 / n + test_train_ratio), n - 1, alpha, target_power) <= abs(effect):
            return n
    return None


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order; NaN stays NaN and is not counted.

    With the m finite p sorted ascending, p_(i) becomes max_{j <= i} min(1, (m - j + 1) p_(j)):
    reject where the adjusted p < alpha and the family-wise error rate is at most alpha.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"holm: need a 1-D array of p-values, got shape {p.shape}")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("holm: p-values must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def bayes_correlated(diff: ArrayLike, test_train_ratio: float, rope: float) -> tuple[float, float, float]:
    """Bayesian correlated t-test: (P(diff < -rope), P(|diff| <= rope), P(diff > rope)).

    The posterior of the mean difference is Student t with location mean(diff), scale² the
    corrected variance of `corrected_ttest`, and k r - 1 degrees of freedom (Corani & Benavoli
    2015); ``baycomp`` computes the three probabilities. baycomp's own ``CorrelatedTTest`` fixes
    n_test / n_train at 1/(k - 1); passing ours keeps both views on the same correction.
    """
    try:
        from baycomp.single import Posterior
    except ImportError:
        raise ImportError("the Bayesian correlated t-test needs the baycomp package: "
                          "pip install baycomp, or pip install -e '.[book]'") from None

    if not (np.isfinite(rope) and rope > 0):
        raise ValueError(f"rope must be a positive width in the metric's units, got {rope!r}; see stats.ROPE")
    d = _diffs(diff)
    lower, equiv, higher = Posterior(float(d.mean()), _corrected_var(d, test_train_ratio), len(d) - 1,
                                     rope).probs()
    return float(lower), float(equiv), float(higher)


def wilcoxon_p(diff: ArrayLike) -> float:
    """Two-sided Wilcoxon signed-rank p (1.0 when every difference is 0). Ignores the overlap of
    cross-validation training sets: a secondary column, never the basis of a claim."""
    from scipy.stats import wilcoxon

    d = _diffs(diff)
    return 1.0 if np.all(d == 0) else float(wilcoxon(d).pvalue)


def rope_for(metric: str, rope: float | None = None) -> float:
    """`rope` if given, else ``ROPE[metric]``; a clear error for a metric without one."""
    if rope is not None:
        return float(rope)
    if metric not in ROPE:
        raise ValueError(f"no region of practical equivalence is defined for metric {metric!r} "
                         f"(defined: {', '.join(ROPE)}); pass rope=<width in the metric's units>")
    return ROPE[metric]


def split_ratio(runs: pd.DataFrame) -> float:
    """n_test / n_train of the runs in `runs` (a ``ResultsStore.collect`` frame or part of one).

    From the columns ``n_train`` and ``n_test`` when every run has them (their mean over runs).
    Otherwise derived from ``n_folds`` and ``protocol``: a test fold is 1/k of the rows; the paper
    protocol trains on the other folds minus a `VAL_FRACTION` validation split, so n_test/n_train
    = 1/((k - 1)(1 - VAL_FRACTION)) (0.1235 for k = 10, as LFMC's 258/2088 rows); the released
    protocol validates on the test fold and trains on all other rows: 1/(k - 1).

    n_train counts the rows the model is fitted on, not the validation rows: of the two readings of
    Nadeau and Bengio's n_train for a learner that early-stops on a split of its training folds,
    this one gives the larger correction, so a difference called significant is so under both.
    """
    per_run = runs.drop_duplicates("run_id") if "run_id" in runs else runs
    if per_run.empty:
        raise ValueError("split_ratio: no runs given")
    if {"n_train", "n_test"} <= set(per_run.columns):
        sizes = per_run[["n_train", "n_test"]].apply(pd.to_numeric, errors="coerce")
        if sizes.notna().all().all() and (sizes["n_train"] > 0).all():
            return float((sizes["n_test"] / sizes["n_train"]).mean())
    ks = pd.to_numeric(per_run.get("n_folds", pd.Series(dtype=float)), errors="coerce").dropna().unique()
    protocols = per_run["protocol"].dropna().unique() if "protocol" in per_run else []
    if len(ks) != 1 or len(protocols) != 1 or ks[0] < 2:
        raise ValueError("cannot tell n_test / n_train: the runs carry no n_train/n_test columns and not one "
                         f"n_folds ({list(ks)}) and protocol ({list(protocols)}); pass test_train_ratio= "
                         "explicitly or select runs of one protocol")
    k = int(ks[0])
    on_test = protocols[0] in ("released", "released_validation")  # = experiments.config.VALIDATES_ON_TEST
    return 1.0 / (k - 1) if on_test else 1.0 / ((k - 1) * (1 - VAL_FRACTION))


# ---------------------------------------------------------------------------------- the policy
def verdict(mean_diff: float, p: float | None, n: int, alpha: float = ALPHA,
            test: str = "corrected t-test, Holm") -> str:
    """The words of a glued sentence, from the test: "significantly higher (corrected t-test, Holm
    p = 0.003)", "significantly lower (…)", "no detectable difference (…)", or "not tested (n = 3)"
    below `MIN_PAIRS` paired runs. Higher / lower describe the metric's value, not which is better."""
    if n < MIN_PAIRS:
        return f"not tested (n = {n}, fewer than {MIN_PAIRS} paired runs)"
    if p is None or not np.isfinite(p):
        return "not tested"
    shown = f"{test} p {'< 0.001' if p < 1e-3 else f'= {p:.3f}'}"
    if p < alpha and mean_diff != 0:
        return f"significantly {'higher' if mean_diff > 0 else 'lower'} ({shown})"
    return f"no detectable difference ({shown})"
