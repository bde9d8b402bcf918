"""Ours beside the paper: aggregates over folds x seeds, paired tests, the paper's number for each cell.

Every function takes the tidy frame of `ResultsStore.collect` (one row per run, view and metric).

Matching our rows to the paper's cells:

- method -> the paper's row by the method's ``paper_name`` (``"mdico"`` -> ``"MDiCo"``);
- view -> the paper's column (``paper.VIEWS``: ``"S1"`` -> ``"sentinel1"``);
- MDiCo's Table 6 variants (CropHarvest) and its Table 7 views (``"S1:shared"``,
  ``"S1:specific"``) -> the rows of those tables;
- a stand-in dataset (its registry entry's ``stand_in_for``) is compared with the table of the
  benchmark it stands in for, its views renamed by the entry's ``views_as``, and every row says
  so: the numbers are context, not a reproduction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mdico_core.data.availability import benchmark_of, entry_of
from mdico_core.metrics import PRIMARY
from mdico_core.reporting.core import paper
from mdico_core.reporting.core.format import fmt_mean_std, metric_digits

GROUP = ["dataset", "method", "variant", "encoder", "protocol", "view", "metric"]
# a cell of an archive = a cell of a re-run: also the same settings, monitor and training modalities
RERUN_KEYS = [*GROUP, "settings", "monitor", "modalities"]
COLUMNS = ["method", "paper_method", "variant", "encoder", "protocol", "view", "metric", "paper_column", "n",
           "mean", "std", "ours", "paper", "diff", "p_vs_individual", "source", "note"]



# ---------------------------------------------------------------------------------- statistics
def select_metric(df: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    """Completed rows of `metric`, or of each row's primary metric (``PRIMARY[task]``) when None."""
    d = df[df["status"].fillna("done").eq("done") & df["metric"].notna()] if "status" in df else df
    if metric is not None:
        return d[d["metric"] == metric]
    if "task" in d and d["task"].notna().all():
        primary = d["task"].map(PRIMARY)
    else:  # no task column: F1 where the dataset has it, else R²
        has_f1 = d.groupby("dataset")["metric"].transform(lambda s: (s == "f1_weighted").any())
        primary = np.where(has_f1, "f1_weighted", "r2")
    return d[d["metric"] == primary]


def aggregate(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Mean, std (ddof=1) and n over folds x seeds per (dataset, method, variant, encoder, protocol, view).

    `metric` None takes each dataset's primary metric ("f1_weighted" for classification, "r2").
    """
    d = select_metric(df, metric)
    return d.groupby(GROUP, dropna=False, sort=True)["value"].agg(
        mean="mean", std=lambda s: s.std(ddof=1), n="count").reset_index()


def paired_test(df: pd.DataFrame, baseline: str = "individual", metric: str | None = None) -> pd.DataFrame:
    """Wilcoxon signed-rank test of each method against `baseline` over matched (fold, seed).

    A view is matched with the baseline's view of the same modality (``"S1:shared"`` with
    ``"S1"``), same dataset, encoder and protocol; the baseline's default variant is the
    reference. Returns one row per (dataset, method, variant, encoder, protocol, view, metric):
    n_pairs, mean_diff (method - baseline) and p_value (two-sided; 1.0 when every difference is 0,
    NaN without pairs).
    """
    from scipy.stats import wilcoxon

    d = select_metric(df, metric).copy()
    d["modality"] = d["view"].astype(str).str.split(":").str[0]
    base = d[(d["method"] == baseline) & (d["variant"] == "default")]
    keys = ["dataset", "encoder", "protocol", "metric", "modality", "fold", "seed"]
    base = base[[*keys, "value"]].rename(columns={"value": "baseline"})
    others = d[~((d["method"] == baseline) & (d["variant"] == "default"))]
    merged = others.merge(base, on=keys, how="left")
    rows = []
    for key, g in merged.groupby(GROUP, dropna=False, sort=True):
        g = g.dropna(subset=["baseline"])
        diff = (g["value"] - g["baseline"]).to_numpy(dtype=float)
        if len(diff) == 0:
            p = np.nan
        elif np.all(diff == 0):
            p = 1.0
        else:
            p = float(wilcoxon(g["value"].to_numpy(float), g["baseline"].to_numpy(float)).pvalue)
        rows.append({**dict(zip(GROUP, key)), "n_pairs": len(diff),
                     "mean_diff": float(diff.mean()) if len(diff) else np.nan, "p_value": p})
    return pd.DataFrame(rows, columns=[*GROUP, "n_pairs", "mean_diff", "p_value"])


def single_views(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of single-modality views only (drops MDiCo's ``"S1:shared"``-style views)."""
    return df[~df["view"].astype(str).str.contains(":")] if len(df) else df


# ---------------------------------------------------------------------------------- the paper's cells
def paper_name(method: str) -> str:
    """The method's name in the paper (its class's ``paper_name``), or `method` itself."""
    from mdico_core.methods import METHODS

    cls = METHODS.get(method)
    return cls.paper_name if cls is not None and cls.paper_name else method


def benchmark_modality(dataset: str, view: str) -> str:
    """The benchmark's modality name of `dataset`'s modality (a stand-in may name it otherwise)."""
    entry = entry_of(dataset)
    return entry.views_as.get(view, view) if entry is not None else view


def paper_column(dataset: str, view: str) -> str:
    """The paper's column our `view` of `dataset` is compared with (``""`` when none)."""
    bench = benchmark_of(dataset)
    if bench is None:
        return ""
    return paper.VIEWS[bench].get(benchmark_modality(dataset, str(view).split(":")[0]), "")


# What a regression target is, per paper benchmark (a colour bar's label names it).
TARGET_LABELS = {"lfmc": "live fuel moisture content (%)"}


def target_label(dataset: str) -> str:
    """The words for a registry dataset's regression target (its benchmark's), else ``"target value"``."""
    return TARGET_LABELS.get(benchmark_of(dataset) or dataset, "target value")


def metric_of(dataset: str) -> tuple[str, int]:
    """(primary metric, decimals) of a paper benchmark or registry dataset."""
    from mdico_core.data import get_dataset_entry

    task = paper.TASKS.get(dataset)
    if task is None:
        try:
            task = get_dataset_entry(dataset).task
        except ValueError:
            task = ""
    metric = PRIMARY.get(task or "multiclass", "f1_weighted")
    return metric, metric_digits(metric)


def compare_with_paper(df: pd.DataFrame, dataset: str, metric: str | None = None,
                       baseline: str = "individual", include_missing: bool = True) -> pd.DataFrame:
    """Our mean ± std next to the paper's value, per method x variant x view of `dataset`.

    Columns (`COLUMNS`): method, paper_method, variant, encoder, protocol, view, metric,
    paper_column, n, mean, std, ours ("mean ± std"; "mean (n = 3)" below ``stats.MIN_PAIRS`` runs), paper, diff
    (ours - paper), p_vs_individual (Wilcoxon over matched fold x seed), source (paper table) and
    note ("not reproduced: ..." for such methods, "stand-in for ..." on a stand-in). With
    `include_missing`, the paper's methods we have not run get a row with the paper's numbers and
    the note "not run".
    """
    d = df[df["dataset"] == dataset]
    if "modalities" in d:  # runs trained on a subset of the modalities are not the paper's setting
        d = d[d["modalities"].isna()]
    agg = aggregate(d, metric)
    tests = paired_test(d, baseline=baseline, metric=metric)
    keys = ["method", "variant", "encoder", "protocol", "view", "metric"]
    if not tests.empty:
        agg = agg.merge(tests[[*keys, "p_value"]], on=keys, how="left")
    else:
        agg["p_value"] = np.nan
    bench = benchmark_of(dataset)
    note = f"stand-in for {bench}" if bench is not None and bench != dataset else ""
    suffix = f" (stand-in for {bench})" if note else ""
    failed = d[d["status"] == "failed"].drop_duplicates("run_id") if "status" in d else d.iloc[:0]
    failed_words = {k: f"{len(g)} run{'s' if len(g) > 1 else ''} failed twice the same way "
                       f"({'; '.join(sorted(set(g['message'].astype(str))))})"
                       ", held as that outcome: the mean and the test are over the other runs"
                    for k, g in failed.groupby(["method", "variant", "encoder", "protocol"])}
    rows = []
    for _, r in agg.iterrows():
        modality, _, mode = str(r["view"]).partition(":")
        pname = paper_name(r["method"])
        value, source = (paper.paper_value(bench, pname, r["variant"], benchmark_modality(dataset, modality), mode)
                         if bench is not None else (np.nan, ""))
        digits = metric_digits(r["metric"])
        rows.append({
            "method": r["method"], "paper_method": pname, "variant": r["variant"], "encoder": r["encoder"],
            "protocol": r["protocol"], "view": r["view"], "metric": r["metric"],
            "paper_column": paper_column(dataset, r["view"]), "n": int(r["n"]), "mean": r["mean"], "std": r["std"],
            "ours": fmt_mean_std(r["mean"], r["std"], digits, n=int(r["n"])), "paper": value,
            "diff": r["mean"] - value if pd.notna(value) else np.nan,
            "p_vs_individual": r["p_value"], "source": source + suffix if source else "",
            "note": "; ".join(filter(None, [note, failed_words.get((r["method"], r["variant"], r["encoder"],
                                                                    r["protocol"]))])),
        })
    if "status" in d:  # not-reproduced methods: one row each, saying so
        nr = d[d["status"] == "not_reproduced"].drop_duplicates(["method", "variant", "encoder", "protocol"])
        for _, r in nr.iterrows():
            rows.append({"method": r["method"], "paper_method": paper_name(r["method"]), "variant": r["variant"],
                         "encoder": r["encoder"], "protocol": r["protocol"], "view": None, "metric": None,
                         "paper_column": "", "n": 0, "mean": np.nan, "std": np.nan, "ours": "not reproduced",
                         "paper": np.nan, "diff": np.nan, "p_vs_individual": np.nan, "source": "",
                         "note": f"not reproduced: {r['message']}"})
    out = pd.DataFrame(rows, columns=COLUMNS)
    if include_missing and bench is not None:
        out = pd.concat([out, _not_run_rows(dataset, bench, out, suffix)], ignore_index=True)
    return in_paper_order(out)


def in_paper_order(out: pd.DataFrame) -> pd.DataFrame:
    """Methods in the paper's row order (unknown ones after), default variant first; stable otherwise."""
    rank = {m.lower(): i for i, m in enumerate(paper.ORDER)}
    key = pd.DataFrame({
        "m": [rank.get(str(m).lower(), len(rank)) for m in out["paper_method"]],
        "v": [0 if v in ("default", None) else 1 for v in out["variant"]],
        "view": [str(v) for v in out["view"]],
    }, index=out.index)
    order = key.sort_values(["m", "v", "view"], kind="stable").index
    return out.loc[order].reset_index(drop=True)


def _not_run_rows(dataset: str, bench: str, ours: pd.DataFrame, suffix: str) -> pd.DataFrame:
    table = paper.paper_table(bench)
    done = {str(m).lower() for m in ours["paper_method"]}
    views = {paper_column(dataset, v): v for v in _dataset_views(dataset, bench)}
    rows = []
    for _, r in table.iterrows():
        if str(r["method"]).lower() in done:
            continue
        for col, view in views.items():
            if col and col in table and pd.notna(pd.to_numeric(r[col], errors="coerce")):
                rows.append({"method": "", "paper_method": r["method"], "variant": "default", "view": view,
                             "paper_column": col, "n": 0, "ours": "not run", "paper": float(r[col]),
                             "source": paper.TABLES[bench] + suffix, "note": "not run"})
    return pd.DataFrame(rows)


def _dataset_views(dataset: str, bench: str) -> list[str]:
    """`dataset`'s names of the benchmark's views (a stand-in may name a modality otherwise)."""
    entry = entry_of(dataset)
    back = {v: k for k, v in entry.views_as.items()} if entry is not None else {}
    return [back.get(v, v) for v in paper.VIEWS[bench]]


# ---------------------------------------------------------------------------------- a page's datasets
def compare(df: pd.DataFrame, registry: str, benchmark: str, kind: str, metric: str | None = None) -> pd.DataFrame:
    """`compare_with_paper` of the runs on `registry`, shown on the page of paper `benchmark`.

    `registry` and `kind` are what ran for the benchmark (``data.availability.resolve``).

    A stand-in is compared with the page's benchmark (relabelled, and the note says "stand-in");
    synthetic data is not compared with any paper number (only ours are returned).
    """
    d = df[df["dataset"] == registry]
    if kind == "synthetic":
        name = "synthetic:" + registry
        out = compare_with_paper(d.assign(dataset=name), name, metric, include_missing=False)
        return out.assign(note=f"synthetic ({registry}), no paper value")
    if kind == "stand-in" and benchmark_of(registry) != benchmark:
        out = compare_with_paper(d.assign(dataset=benchmark), benchmark, metric, include_missing=False)
        return out.assign(note=f"stand-in ({registry}) for {benchmark}")
    # the paper's methods we did not run are in the paper's own table, shown on each page
    return compare_with_paper(d, registry, metric, include_missing=False)
