"""What the t-SNE figures claim, measured on the features themselves (Fig. 4, A3, A4).

t-SNE keeps neighbourhoods, so the figures' claim ("MDiCo's classes group more tightly") is a claim
about neighbourhoods in the feature space, and that is what is measured here, on every run whose
test-set features are stored (not on the 2-D embedding, which depends on t-SNE's own randomness):

- **neighbour score**: each test sample's target predicted from its k nearest other test samples
  (Euclidean, as t-SNE's input): accuracy for classes, micro-F1 for labels, R² for a regression
  target. Higher: samples with the same target sit together.
- **pair retrieval** (the shared space's claim, modality invariance): how often a sample's nearest
  neighbour (cosine, as InfoNCE compares them) among the other modality's features of the same test
  samples is its own pair, averaged over both directions; chance is 1/N. MDiCo's shared features
  against Individual's encoder outputs, which nothing aligns.

Each (fold, seed) with both methods' features is one paired run; the differences get the corrected
t-test, Holm within the table, the corrected interval and, where nothing is detected, the minimum
detectable effect, like every other comparison of the book.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.core import stats
from mdico_core.reporting.figures.tsne import (  # the two feature spaces the figures compare
    METHODS,
    all_paired_runs,
)

K_NEIGHBOURS = 10


def neighbour_score(features: np.ndarray, y: np.ndarray, task: str, k: int = K_NEIGHBOURS) -> float:
    """Leave-one-out k-NN prediction of `y` from ``(N, D)`` `features`: accuracy (binary, multiclass),
    micro-F1 (multilabel, a label is predicted when most neighbours have it) or R² (regression)."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or len(x) != len(y) or len(x) <= k:
        raise ValueError(f"neighbour_score needs (N, D) features and N targets with N > k = {k}, got "
                         f"{x.shape} and {y.shape}")
    sq = (x * x).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * x @ x.T  # (N, N) squared distances
    np.fill_diagonal(d2, np.inf)  # a sample is not its own neighbour
    nn = np.argsort(d2, axis=1, kind="stable")[:, :k]  # (N, k)
    if task == "regression":
        pred = y.astype(float)[nn].mean(1)
        sst = float(((y - y.mean()) ** 2).sum())
        return float(1.0 - ((y - pred) ** 2).sum() / sst) if sst > 0 else float("nan")
    if task == "multilabel":
        from sklearn.metrics import f1_score

        pred = (y[nn].mean(1) > 0.5).astype(int)  # (N, L)
        return float(f1_score(y.astype(int), pred, average="micro", zero_division=0))
    labels = y.astype(int)
    votes = np.stack([np.bincount(row, minlength=labels.max() + 1) for row in labels[nn]])
    return float((votes.argmax(1) == labels).mean())  # ties: the smallest class


def pair_retrieval(a: np.ndarray, b: np.ndarray) -> float:
    """Top-1 cross-modal retrieval of ``(N, D)`` features `a` and `b` of the same N samples (row i of
    each is sample i): the fraction of samples whose most cosine-similar row of the other modality is
    its own, averaged over a→b and b→a. Chance is 1/N."""
    a, b = (np.asarray(v, dtype=np.float64) for v in (a, b))
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"pair_retrieval needs two (N, D) arrays of one shape, got {a.shape} and {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    sim = a @ b.T  # (N, N)
    own = np.arange(len(a))
    return float(((sim.argmax(1) == own).mean() + (sim.argmax(0) == own).mean()) / 2)


def paired_feature_runs(page: Any, registry: str) -> list[dict[str, Any]]:
    """Every (fold, seed) of `registry` with stored features for both `METHODS` (default variant), as
    ``tsne.all_paired_runs`` finds them: ``[{method: config}]`` in seed, fold order."""
    has = getattr(page.store, "has_features", page.store.has)  # a results store keeps every run's features
    configs = [c for c in page.configs_where(dataset=registry) if getattr(c, "variant", "default") == "default"]
    pairs = all_paired_runs(configs, has, METHODS)
    return sorted(pairs, key=lambda p: (p["mdico"].seed, -1 if p["mdico"].fold is None else p["mdico"].fold))


def held_pairs(page: Any, registry: str) -> str:
    """The paired runs of `registry` whose features `page` holds, in words read from its store (never typed:
    an archive keeps what its definition names): ``"11 paired runs (seed 0: fold 0; seed 3: folds 0–9)"``."""
    from mdico_core.reporting.core.format import span

    pairs = [(p["mdico"].seed, p["mdico"].fold) for p in paired_feature_runs(page, registry)]
    if not pairs:
        return "no paired run"
    by_seed = {s: [f for t, f in pairs if t == s] for s in dict.fromkeys(s for s, _ in pairs)}
    where = "; ".join(f"seed {s}: " + ("official split" if folds == [None] else
                                       f"fold{'s' if len(folds) > 1 else ''} {span(folds)}")
                      for s, folds in by_seed.items())
    return f"{len(pairs)} paired run{'s' if len(pairs) > 1 else ''} ({where})"


def measure(page: Any, registry: str, modalities: Sequence[str], task: str) -> pd.DataFrame:
    """One row per paired run, measure and modality: fold, seed, measure, view, Individual, MDiCo.

    The pair-retrieval rows have view "S1↔L8" (the first two modalities): MDiCo's shared features
    against Individual's encoder outputs."""
    rows = []
    for pair in paired_feature_runs(page, registry):
        arrays = {m: page.store.arrays(c) for m, c in pair.items()}
        cfg = pair["mdico"]
        base = {"fold": cfg.fold, "seed": cfg.seed, "run_ids": (pair["individual"].run_id, cfg.run_id)}
        for mod in modalities:
            feats = {m: arrays[m].get(f"feat/{mod}") for m in METHODS}
            if any(f is None for f in feats.values()):
                continue
            rows.append({**base, "measure": f"neighbour score (k = {K_NEIGHBOURS})", "view": mod,
                         **{m: neighbour_score(f, arrays[m]["y_true"], task) for m, f in feats.items()}})
        if len(modalities) >= 2:
            a, b = modalities[:2]
            spaces = {"individual": ("", ""), "mdico": (":shared", ":shared")}
            got = {m: (arrays[m].get(f"feat/{a}{sa}"), arrays[m].get(f"feat/{b}{sb}")) for m, (sa, sb) in spaces.items()}
            if all(x is not None and y is not None for x, y in got.values()):
                rows.append({**base, "measure": "pair retrieval (top-1)", "view": f"{a}↔{b}",
                             **{m: pair_retrieval(x, y) for m, (x, y) in got.items()}})
    return pd.DataFrame(rows, columns=["fold", "seed", "run_ids", "measure", "view", *METHODS])


FEATURE_METRICS = {"neighbour_score": "neighbour score", "pair_retrieval": "pair retrieval"}
"""The measures as the findings ledger names them (its metrics): metric -> the prefix of `measure`'s name."""


def as_runs(page: Any) -> pd.DataFrame:
    """`measure` on every paired run of the archive `page` (one dataset), as metric rows of the runs it was
    measured on: metric ``neighbour_score`` / ``pair_retrieval``, its view, and each run's own columns (method,
    fold, seed, split sizes), so that the findings ledger pairs and tests them like any metric."""
    from mdico_core.data import get_dataset_entry

    runs = page.frame()
    registry = str(runs["dataset"].iloc[0])
    entry = get_dataset_entry(registry)  # modalities and task without loading the data
    measured = measure(page, registry, list(entry.shapes), entry.task)
    first = runs.drop_duplicates("run_id").set_index("run_id")
    rows = []
    for r in measured.itertuples():
        metric = next(k for k, prefix in FEATURE_METRICS.items() if r.measure.startswith(prefix))
        for method, run_id in zip(METHODS, r.run_ids):
            rows.append({**first.loc[run_id].to_dict(), "run_id": run_id, "metric": metric, "view": r.view,
                         "value": getattr(r, method)})
    return pd.DataFrame(rows, columns=[*first.reset_index().columns])


def paired_tests(measured: pd.DataFrame, test_train_ratio: float) -> pd.DataFrame:
    """MDiCo − Individual per (measure, view): n, the two means, Δ with its corrected 95% interval,
    the corrected t-test's p (Holm within the table; none below `stats.MIN_PAIRS` pairs) and, where
    nothing is detected, the minimum detectable effect at 80% power."""
    rows = []
    for (what, view), g in measured.groupby(["measure", "view"], sort=False):
        d = (g["mdico"] - g["individual"]).to_numpy(float)
        row = {"measure": what, "view": view, "n": len(d), "Individual": g["individual"].mean(),
               "MDiCo": g["mdico"].mean(), "Δ": d.mean(), "lo": np.nan, "hi": np.nan, "p": np.nan, "mde": np.nan}
        if len(d) >= stats.MIN_PAIRS:
            est = stats.estimate(d, test_train_ratio)
            row.update(lo=est.lo, hi=est.hi, p=stats.corrected_ttest(d, test_train_ratio).p,
                       mde=stats.mde(est.se, est.df))
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        tested = out["p"].notna()
        out["p (Holm)"] = np.nan
        if tested.any():
            out.loc[tested, "p (Holm)"] = stats.holm(out.loc[tested, "p"].to_numpy())
    return out



def _p(r: pd.Series) -> float | None:
    return None if not np.isfinite(r["p (Holm)"]) else float(r["p (Holm)"])


def format_tests(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """`paired_tests` as the page prints it: Δ with its interval, Holm's p headed by its family size,
    the minimum detectable effect only where nothing is detected, no p below `stats.MIN_PAIRS` pairs."""
    from mdico_core.reporting.core.format import fmt_interval, fmt_p

    m = int(table["p (Holm)"].notna().sum()) if len(table) else 0
    rows = []
    for _, r in table.iterrows():
        p = _p(r)
        rows.append({"measure": r["measure"], "view": r["view"], "n": int(r["n"]),
                     "Individual": f"{r['Individual']:.{digits}f}", "MDiCo": f"{r['MDiCo']:.{digits}f}",
                     "Δ [95% CI]": fmt_interval(r["Δ"], r["lo"], r["hi"], digits),
                     f"p (Holm, {m} tests)": fmt_p(p, int(r["n"])),
                     "MDE (80%)": f"{r['mde']:.{digits}f}" if p is not None and p >= stats.ALPHA else ""})
    out = pd.DataFrame(rows)
    if m == 0:  # nothing tested: one line under the table says so, not a column of "n = 3" cells
        out = out.drop(columns=[f"p (Holm, {m} tests)", "MDE (80%)"])
    return out


def sentences(table: pd.DataFrame, digits: int = 3) -> list[str]:
    """One sentence per row, its words from the test (`stats.verdict`) and, where nothing is detected,
    the smallest difference these runs would detect."""
    from mdico_core.reporting.core.format import fmt_interval

    out = []
    for _, r in table.iterrows():
        p = _p(r)
        text = (f"{r['measure']}, {r['view']}: MDiCo − Individual = {fmt_interval(r['Δ'], r['lo'], r['hi'], digits)}, "
                f"{stats.verdict(r['Δ'], p, int(r['n']))}")
        if p is not None and p >= stats.ALPHA:
            text += f"; these {int(r['n'])} pairs detect a difference of ±{r['mde']:.{digits}f} with 80% power"
        out.append(text + ".")
    return out
