"""Paper-vs-reproduction tables: aggregates over folds x seeds, Wilcoxon tests, the paper's numbers.

Every function takes the tidy frame of `ResultsStore.collect` (one row per run, view and
metric). The paper's tables are the CSV files of ``data/paper_tables`` (F1 in %, R² as a
fraction, like our metrics).

Matching our rows to the paper's cells:

- method -> the paper's row by the method's ``paper_name`` (``"mdico"`` -> ``"MDiCo"``);
- view -> the paper's column through `VIEW_TO_PAPER` (``"S1"`` -> ``"sentinel1"``);
- MDiCo's Table 6 variants (CropHarvest) and its Table 7 views (``"S1:shared"``,
  ``"S1:specific"``) -> the rows of those tables;
- a stand-in dataset (``algae_blooms`` for CropH-m, ``presto_lfmc`` for LFMC) is compared with
  the table of the benchmark it stands in for, and every row says so: the numbers are context,
  not a reproduction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mdico_core.metrics import PRIMARY

GROUP = ["dataset", "method", "variant", "encoder", "protocol", "view", "metric"]

_OPTICAL = {"S2": "sentinel2", "fusion": "fusion", "S1": "sentinel1"}
VIEW_TO_PAPER: dict[str, dict[str, str]] = {
    "lfmc": {"S1": "sentinel1", "L8": "landsat8", "fusion": "fusion"},
    "croph_b": dict(_OPTICAL),
    "croph_m": dict(_OPTICAL),
    "tsaits": {"aerial": "aerial", "S2": "sentinel2", "fusion": "fusion"},
    # stand-ins: the paper has no such columns; the closest ones are used, labelled as stand-ins.
    "algae_blooms": dict(_OPTICAL),
    "presto_lfmc": {"S1": "sentinel1", "S2": "landsat8", "fusion": "fusion"},
}

# dataset -> (paper dataset key, main table file); stand-ins point at their benchmark.
PAPER_DATASET = {
    "croph_b": "croph_b", "croph_m": "croph_m", "tsaits": "tsaits", "lfmc": "lfmc",
    "algae_blooms": "croph_m", "presto_lfmc": "lfmc",
}
_MAIN_TABLE = {"croph_b": "table2_croph_b", "croph_m": "table3_croph_m", "tsaits": "table4_tsaits",
               "lfmc": "table5_lfmc"}
_TABLE_ALIASES = {
    "table2": "table2_croph_b", "table3": "table3_croph_m", "table4": "table4_tsaits", "table5": "table5_lfmc",
    "table6": "table6_ablation", "ablation": "table6_ablation", "table7": "table7_shared_specific",
    "shared_specific": "table7_shared_specific", "tablea1": "tableA1_params_thousands",
    "params": "tableA1_params_thousands",
}
# MDiCo variant -> row of Table 6 (CropHarvest ablations).
ABLATION_ROWS = {
    "default": "MDiCo", "no_mod": "w/o modality loss", "no_aux": "w/o auxiliary loss",
    "no_cont": "w/o contrastive loss", "no_unused": "w/o unused features", "unpaired": "unpaired data",
    "shared_encoders": "shared encoders", "weighted": "weighted loss",
}
# MDiCo inference mode -> row of Table 7.
MODE_ROWS = {"shared": "shared features only", "specific": "specific features only"}


def paper_tables_dir() -> Path:
    """Folder of the paper's CSV tables: beside the package if shipped, else the repo's data/paper_tables."""
    here = Path(__file__).resolve()
    candidates = [here.parent / "paper_tables", here.parents[2] / "data" / "paper_tables",
                  Path.cwd() / "data" / "paper_tables"]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        "the paper's tables (data/paper_tables/*.csv) were not found; run from a checkout of the repository")


def paper_table(name: str) -> pd.DataFrame:
    """A paper table by dataset ("lfmc", or a stand-in) or table name ("table5", "ablation", "table7_shared_specific")."""
    key = name.lower()
    folder = paper_tables_dir()
    stem = _MAIN_TABLE.get(PAPER_DATASET.get(key, ""), _TABLE_ALIASES.get(key, name))
    path = folder / f"{stem}.csv"
    if not path.is_file():
        valid = sorted({p.stem for p in folder.glob("*.csv")} | set(_TABLE_ALIASES) | set(PAPER_DATASET))
        raise ValueError(f"unknown paper table {name!r}; valid names: {', '.join(valid)}")
    return pd.read_csv(path)


# ---------------------------------------------------------------------------------- statistics
def _select(df: pd.DataFrame, metric: str | None) -> pd.DataFrame:
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
    d = _select(df, metric)
    out = d.groupby(GROUP, dropna=False, sort=True)["value"].agg(mean="mean", std=lambda s: s.std(ddof=1),
                                                                  n="count").reset_index()
    return out


def paired_test(df: pd.DataFrame, baseline: str = "individual", metric: str | None = None) -> pd.DataFrame:
    """Wilcoxon signed-rank test of each method against `baseline` over matched (fold, seed).

    A view is matched with the baseline's view of the same modality (``"S1:shared"`` with
    ``"S1"``), same dataset, encoder and protocol; the baseline's default variant is the
    reference. Returns one row per (dataset, method, variant, encoder, protocol, view, metric):
    n_pairs, mean_diff (method - baseline) and p_value (two-sided; 1.0 when every difference is 0,
    NaN without pairs).
    """
    from scipy.stats import wilcoxon

    d = _select(df, metric).copy()
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


# ---------------------------------------------------------------------------------- the paper
def _paper_name(method: str) -> str:
    from mdico_core.methods import METHODS

    cls = METHODS.get(method)
    return cls.paper_name if cls is not None and cls.paper_name else method


def _lookup(table: pd.DataFrame, key_col: str, row: str, col: str) -> float:
    hit = table[table[key_col].astype(str).str.lower() == row.lower()]
    if hit.empty or col not in table:
        return np.nan
    return pd.to_numeric(hit.iloc[0][col], errors="coerce")


def _paper_value(dataset: str, method: str, variant: str, view: str) -> tuple[float, str]:
    """(paper number, where it comes from) for one of our cells; NaN when the paper has none."""
    pds = PAPER_DATASET.get(dataset)
    if pds is None:
        return np.nan, ""
    modality, _, mode = view.partition(":")
    col = VIEW_TO_PAPER.get(dataset, {}).get(modality)
    if col is None:
        return np.nan, ""
    pname = _paper_name(method)
    stand_in = "" if pds == dataset else f" (stand-in for {pds})"
    # Table 6 / 7 columns are "<dataset>_<s1|s2|aerial|l8>".
    short = {"sentinel1": "s1", "sentinel2": "s2", "landsat8": "l8", "aerial": "aerial"}.get(col)
    if mode:
        if method != "mdico" or variant != "default" or mode not in MODE_ROWS or short is None:
            return np.nan, ""
        return _lookup(paper_table("table7"), "variant", MODE_ROWS[mode], f"{pds}_{short}"), "Table 7" + stand_in
    if variant != "default":
        if method == "mdico" and variant in ABLATION_ROWS and pds in ("croph_b", "croph_m") and short:
            return _lookup(paper_table("table6"), "variant", ABLATION_ROWS[variant], f"{pds}_{short}"), \
                "Table 6" + stand_in
        if method == "mdico" and variant == "released":  # the same model as the paper's, per its authors
            main = paper_table(pds)
            return _lookup(main, "method", pname, col), f"{_MAIN_TABLE[pds]}{stand_in}, MDiCo row"
        return np.nan, ""
    return _lookup(paper_table(pds), "method", pname, col), _MAIN_TABLE[pds] + stand_in


def compare_with_paper(df: pd.DataFrame, dataset: str, metric: str | None = None,
                       baseline: str = "individual", include_missing: bool = True) -> pd.DataFrame:
    """Our mean ± std next to the paper's value, per method x variant x view of `dataset`.

    Columns: method, paper_method, variant, encoder, protocol, view, paper_column, n, mean, std,
    ours ("mean ± std", or the mean alone for one run), paper, diff (ours - paper), p_vs_individual (Wilcoxon over matched
    fold x seed), source (paper table) and note ("not reproduced: ..." for such methods, "stand-in"
    for a stand-in dataset). With `include_missing`, the paper's methods we have not run get a row
    with the paper's numbers and the note "not run".
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
    pds = PAPER_DATASET.get(dataset)
    stand_in = pds is not None and pds != dataset
    rows = []
    for _, r in agg.iterrows():
        paper, source = _paper_value(dataset, r["method"], r["variant"], str(r["view"]))
        col = VIEW_TO_PAPER.get(dataset, {}).get(str(r["view"]).split(":")[0], "")
        decimals = 1 if str(r["metric"]).startswith(("f1", "accuracy")) else 3  # % as in the paper, else 3
        # One run has no spread: print its value alone rather than a misleading "± 0".
        ours = (f"{r['mean']:.{decimals}f} ± {r['std']:.{decimals}f}" if pd.notna(r["std"])
                else f"{r['mean']:.{decimals}f}")
        rows.append({
            "method": r["method"], "paper_method": _paper_name(r["method"]), "variant": r["variant"],
            "encoder": r["encoder"], "protocol": r["protocol"], "view": r["view"], "metric": r["metric"],
            "paper_column": col, "n": int(r["n"]), "mean": r["mean"], "std": r["std"],
            "ours": ours, "paper": paper,
            "diff": r["mean"] - paper if pd.notna(paper) else np.nan,
            "p_vs_individual": r["p_value"], "source": source,
            "note": f"stand-in for {pds}" if stand_in else "",
        })
    # Not-reproduced methods: one row each, saying so.
    if "status" in d:
        nr = d[d["status"] == "not_reproduced"].drop_duplicates(["method", "variant", "encoder", "protocol"])
        for _, r in nr.iterrows():
            rows.append({"method": r["method"], "paper_method": _paper_name(r["method"]), "variant": r["variant"],
                         "encoder": r["encoder"], "protocol": r["protocol"], "view": None, "metric": None,
                         "paper_column": "", "n": 0, "mean": np.nan, "std": np.nan, "ours": "not reproduced",
                         "paper": np.nan, "diff": np.nan, "p_vs_individual": np.nan, "source": "",
                         "note": f"not reproduced: {r['message']}"})
    out = pd.DataFrame(rows, columns=["method", "paper_method", "variant", "encoder", "protocol", "view",
                                      "metric", "paper_column", "n", "mean", "std", "ours", "paper", "diff",
                                      "p_vs_individual", "source", "note"])
    if include_missing and pds is not None:
        out = pd.concat([out, _not_run_rows(dataset, pds, out, stand_in)], ignore_index=True)
    return _in_paper_order(out)


# Rows of the paper's Tables 2-5: fusion references, Individual, competitors, MDiCo last.
PAPER_ORDER = ("InputFu", "MMGF", "Individual", "EmbraceNet", "ShaSpec", "DeCUR", "DML", "DisCoM-KD", "AnySat",
               "FModDrop", "FCoM-av", "ESensI", "MDiCo")


def _in_paper_order(out: pd.DataFrame) -> pd.DataFrame:
    """Methods in the paper's row order (unknown ones after), default variant first; stable otherwise."""
    rank = {m.lower(): i for i, m in enumerate(PAPER_ORDER)}
    key = pd.DataFrame({
        "m": [rank.get(str(m).lower(), len(rank)) for m in out["paper_method"]],
        "v": [0 if v in ("default", None) else 1 for v in out["variant"]],
        "view": [str(v) for v in out["view"]],
    }, index=out.index)
    order = key.sort_values(["m", "v", "view"], kind="stable").index
    return out.loc[order].reset_index(drop=True)


def _not_run_rows(dataset: str, pds: str, ours: pd.DataFrame, stand_in: bool) -> pd.DataFrame:
    table = paper_table(pds)
    done = {str(m).lower() for m in ours["paper_method"]}
    cols = {v: k for k, v in VIEW_TO_PAPER.get(dataset, {}).items()}
    rows = []
    for _, r in table.iterrows():
        if str(r["method"]).lower() in done:
            continue
        for col, view in cols.items():
            if col in table and pd.notna(pd.to_numeric(r[col], errors="coerce")):
                rows.append({"method": "", "paper_method": r["method"], "variant": "default", "view": view,
                             "paper_column": col, "n": 0, "ours": "not run", "paper": float(r[col]),
                             "source": _MAIN_TABLE[pds] + (f" (stand-in for {pds})" if stand_in else ""),
                             "note": "not run"})
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return ""
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])
