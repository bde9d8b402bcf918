"""The book's tables: a comparison (``compare.compare_with_paper``) laid out as each page shows it.

Tables 2-5 as rows of methods (`comparison_display`), Tables 6 and 7 as rows of variants or
feature spaces with a column group per view (`wide_by_view`), the encoder study (`encoder_gains`),
the released-code settings (`released_table`) and Table A1 from the encoder classes
(`encoder_parameters`). Inputs are plain DataFrames; outputs are DataFrames of formatted cells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting import paper

# compare_with_paper and to_markdown: `mdico table` (cli/tables.py) still imports them from here
from mdico_core.reporting.compare import compare_with_paper  # noqa: F401
from mdico_core.reporting.format import fmt_mean_std, fmt_p, fmt_value, metric_digits, to_markdown  # noqa: F401

PLOT_COLUMNS = ["row", "method", "view", "mean", "std", "paper"]


# ---------------------------------------------------------------------------------- Tables 2-5
def comparison_display(cmp: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """`compare_with_paper` output as a readable table: method, view, n, ours, paper, diff, p."""
    cols = ["method", "view", "n", "ours (mean ± std)", "paper", "ours − paper", "p vs Individual", "note"]
    if cmp.empty:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame({
        "method": [
            (f"{pm} ({paper.VARIANT_NAMES.get(v, v)})" if v not in ("default", None) and isinstance(v, str) else pm)
            for pm, v in zip(cmp["paper_method"], cmp["variant"])],
        "view": cmp["view"].fillna("").astype(str),
        "n": cmp["n"].fillna(0).astype(int),
        "ours (mean ± std)": [o if not np.isfinite(m) else fmt_mean_std(m, sd, digits)
                              for o, m, sd in zip(cmp["ours"].fillna(""), pd.to_numeric(cmp["mean"]),
                                                  pd.to_numeric(cmp["std"]))],
        "paper": [fmt_value(v, digits) for v in pd.to_numeric(cmp["paper"], errors="coerce")],
        "ours − paper": [fmt_value(v, digits, signed=True) for v in pd.to_numeric(cmp["diff"], errors="coerce")],
        "p vs Individual": [fmt_p(v) for v in pd.to_numeric(cmp.get("p_vs_individual"), errors="coerce")],
        "note": cmp["note"].fillna("").astype(str),
    }, columns=cols)


def cell_summary(cmp: pd.DataFrame, method: str, view: str, digits: int = 1) -> dict[str, str]:
    """Formatted ours / paper / diff / p / n of one (method, default variant, view) row, "n/a" when absent."""
    none = {"ours": "n/a", "paper": "n/a", "diff": "n/a", "p": "n/a", "n": "0"}
    if cmp.empty or "method" not in cmp:
        return none
    hit = cmp[(cmp["method"] == method) & (cmp["variant"] == "default") & (cmp["view"] == view)]
    if hit.empty or not np.isfinite(hit.iloc[0]["mean"]):
        return none
    r = hit.iloc[0]
    return {"ours": fmt_mean_std(r["mean"], r["std"], digits), "paper": fmt_value(r["paper"], digits),
            "diff": fmt_value(r["diff"], digits, True), "p": fmt_p(r["p_vs_individual"]), "n": str(int(r["n"]))}


def paper_cell(benchmark: str, paper_method: str, view: str, digits: int = 1) -> str:
    """The paper's main-table value of `paper_method` for our `view` of `benchmark`, formatted; "n/a" when none."""
    value, _ = paper.paper_value(benchmark, paper_method, "default", view.split(":")[0])
    return fmt_value(value, digits) if np.isfinite(value) else "n/a"


# ---------------------------------------------------------------------------------- Tables 6 and 7
def ablation_rows() -> dict[tuple[str, str], str]:
    """(method, variant) -> Table 6 row name, in the table's order."""
    return {("individual", "default"): "Individual", **{("mdico", v): n for v, n in paper.ABLATION_ROWS.items()}}


def split_mode(view: str) -> tuple[str, str]:
    """``"S1:shared"`` -> ``("S1", ": shared features only")``; ``"S1"`` -> ``("S1", "")``."""
    m, _, mode = view.partition(":")
    return m, (f": {mode} features only" if mode else "")


def wide_by_view(cmp: pd.DataFrame, row_names: Mapping[tuple[str, str], str], columns: Sequence[str] = (
        "ours", "paper", "p_vs_individual"), digits: int = 1,
        view_label: Callable[[str], tuple[str, str]] | None = None) -> pd.DataFrame:
    """Rows ``row_names[(method, variant)]``, columns (view, ours | paper | p): Tables 6 and 7's layout.

    `view_label` maps a view to the (column group, row suffix) it belongs to (e.g. `split_mode`);
    default: the view is the column group and views with a mode (``"S1:shared"``) are left out.
    Rows not in `row_names` are dropped.
    """
    recs = []
    for _, r in cmp.iterrows():
        name = row_names.get((r["method"], r["variant"]))
        if name is None or not isinstance(r["view"], str) or (view_label is None and ":" in r["view"]):
            continue
        group, suffix = view_label(r["view"]) if view_label else (r["view"], "")
        for c in columns:
            v = r.get(c)
            if c == "ours":
                v = fmt_mean_std(r["mean"], r["std"], digits)
            elif c == "paper":
                v = fmt_value(v, digits)
            elif c == "p_vs_individual":
                v = fmt_p(v)
            elif c == "diff":
                v = fmt_value(v, digits, True)
            recs.append({"row": name + suffix, "group": group, "what": {"p_vs_individual": "p vs Ind."}.get(c, c),
                         "value": v})
    if not recs:
        return pd.DataFrame()
    long = pd.DataFrame(recs)
    wide = long.pivot_table(index="row", columns=["group", "what"], values="value", aggfunc="first", sort=False)
    rank = {name: i for i, name in enumerate(row_names.values())}  # the table's own row order
    order = sorted(dict.fromkeys(long["row"]), key=lambda r: next(
        (i for name, i in rank.items() if r == name or r.startswith(name + ":")), len(rank)))
    wide = wide.reindex(index=order)
    wide = wide.reindex(columns=pd.MultiIndex.from_product([list(dict.fromkeys(long["group"])),
                                                            list(dict.fromkeys(long["what"]))]))
    wide.index.name = None
    return wide.fillna("")


def aggregate_rows(cmp: pd.DataFrame, rows: Mapping[tuple[str, str], str]) -> pd.DataFrame:
    """Plot rows of `cmp` (single-modality views): ``row, method ("ours"), view, mean, std, paper``."""
    out = []
    for (m, v), name in rows.items():
        sub = cmp[(cmp["method"] == m) & (cmp["variant"] == v) & cmp["view"].notna()]
        for r in sub.itertuples():
            if ":" in str(r.view) or not np.isfinite(r.mean):
                continue
            out.append({"row": name, "method": "ours", "view": r.view, "mean": r.mean, "std": r.std,
                        "paper": r.paper})
    return pd.DataFrame(out, columns=PLOT_COLUMNS)


def mode_rows(cmp: pd.DataFrame) -> pd.DataFrame:
    """MDiCo's views per modality as plot rows: ``row`` in both / shared / specific."""
    out = []
    for r in cmp.itertuples():
        if not isinstance(r.view, str) or not np.isfinite(r.mean):
            continue
        m, _, mode = r.view.partition(":")
        out.append({"row": mode or "both", "method": "ours", "view": m, "mean": r.mean, "std": r.std,
                    "paper": r.paper})
    return pd.DataFrame(out, columns=PLOT_COLUMNS)


def shared_vs_specific(cmp: pd.DataFrame) -> dict[str, int]:
    """How many modalities have specific-only above shared-only (and the reverse)."""
    out = {"specific": 0, "shared": 0}
    for _, g in mode_rows(cmp).groupby("view"):
        s = g.set_index("row")["mean"]
        if {"shared", "specific"} <= set(s.index):
            out["specific" if s["specific"] > s["shared"] else "shared"] += 1
    return out


# ---------------------------------------------------------------------------------- encoders
def encoder_gains(agg: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, view and encoder: Individual and MDiCo mean ± std, MDiCo − Individual and its p."""
    cols = ["dataset", "view", "encoder", "Individual", "MDiCo", "MDiCo − Individual", "p", "pairs"]
    if agg.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for key, g in agg[agg["variant"] == "default"].groupby(["dataset", "view", "encoder"], sort=False):
        by = g.set_index("method")
        if not {"individual", "mdico"} <= set(by.index):
            continue
        d = metric_digits(str(g["metric"].iloc[0]))
        t = tests[(tests["method"] == "mdico") & (tests["variant"] == "default")] if len(tests) else tests
        t = t[(t["dataset"] == key[0]) & (t["view"] == key[1]) & (t["encoder"] == key[2])] if len(t) else t
        rows.append({
            "dataset": key[0], "view": key[1], "encoder": paper.ENCODER_NAMES.get(key[2], key[2]),
            "Individual": fmt_mean_std(by.loc["individual", "mean"], by.loc["individual", "std"], d),
            "MDiCo": fmt_mean_std(by.loc["mdico", "mean"], by.loc["mdico", "std"], d),
            "MDiCo − Individual": round(float(by.loc["mdico", "mean"] - by.loc["individual", "mean"]), d),
            "p": fmt_p(t["p_value"].iloc[0]) if len(t) else "–",
            "pairs": int(t["n_pairs"].iloc[0]) if len(t) else 0,
        })
    return pd.DataFrame(rows, columns=cols)


def count_parameters(module: Any) -> int:
    """Learnable parameters of a torch module."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def encoder_parameters(encoders: Sequence[str] = ("resnet50", *paper.ENCODERS),
                       shapes: Mapping[str, tuple[int, ...]] = paper.TABLE_A1_SHAPES,
                       table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table A1: learnable parameters (thousands) of each encoder built here, beside the paper's.

    A cell is computed where the paper gives a value or where the paper's encoder study ran
    (temporal encoders on the CropHarvest and LFMC series); image columns use ResNet-50 only.

    Returns one row per (encoder, column): ``encoder, column, ours_k, paper_k, diff_pct``.
    """
    from mdico_core.encoders import IMAGE_ENCODERS, build_encoder

    table = paper.paper_table("tableA1") if table is None else table
    by_name = {str(r["encoder"]).lower().replace("-", ""): r for _, r in table.iterrows()}
    rows = []
    for enc in encoders:
        prow = by_name.get(enc.replace("-", ""))
        for col, shape in shapes.items():
            is_image = len(shape) == 3
            pval = float(prow[col]) if prow is not None and col in prow and pd.notna(prow[col]) else np.nan
            studied = col.startswith(("croph", "lfmc")) and not is_image and enc not in IMAGE_ENCODERS
            if (enc in IMAGE_ENCODERS) != is_image or not (studied or np.isfinite(pval)):
                continue
            ours = count_parameters(build_encoder(enc, shape)) / 1000
            rows.append({"encoder": paper.ENCODER_NAMES.get(enc, enc), "column": col, "ours_k": round(ours),
                         "paper_k": pval, "diff_pct": 100 * (ours - pval) / pval if np.isfinite(pval) else np.nan})
    return pd.DataFrame(rows)


def wide_parameters(long: pd.DataFrame) -> pd.DataFrame:
    """`encoder_parameters` as Table A1's layout, each cell ``"ours (paper)"`` in thousands."""
    cell = long.apply(lambda r: f"{r.ours_k:,.0f}" + (f" ({r.paper_k:,.0f})" if np.isfinite(r.paper_k) else ""),
                      axis=1)
    out = long.assign(cell=cell).pivot(index="encoder", columns="column", values="cell")
    order = [e for e in paper.ENCODER_NAMES.values() if e in out.index]
    cols = [c for c in paper.TABLE_A1_SHAPES if c in out.columns]
    return out.loc[order, cols].fillna("")


# ---------------------------------------------------------------------------------- released vs paper
SETTINGS = {
    ("default", "paper"): "paper model, paper protocol",
    ("default", "released"): "paper model, released protocol",
    ("released", "paper"): "released model, paper protocol",
    ("released", "released"): "released code (model + protocol)",
}


def setting_label(row: Mapping[str, Any]) -> str:
    """The `SETTINGS` label of an aggregate row (variant, protocol)."""
    return SETTINGS.get((row["variant"], row["protocol"]), f"{row['variant']} / {row['protocol']}")


def released_table(agg: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """Released-vs-paper settings side by side: mean ± std, n, change vs the default, p vs Individual."""
    cols = ["dataset", "view", "method", "setting", "n", "mean ± std", "vs default", "p vs Individual"]
    if agg.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for r in agg.itertuples():
        d = metric_digits(r.metric)
        ref = agg[(agg["dataset"] == r.dataset) & (agg["view"] == r.view) & (agg["method"] == r.method)
                  & (agg["variant"] == "default") & (agg["protocol"] == "paper")]
        t = tests[(tests["dataset"] == r.dataset) & (tests["view"] == r.view) & (tests["method"] == r.method)
                  & (tests["variant"] == r.variant) & (tests["protocol"] == r.protocol)] if len(tests) else tests
        rows.append({
            "dataset": r.dataset, "view": r.view, "method": paper.METHOD_NAMES.get(r.method, r.method),
            "setting": setting_label(r._asdict()), "n": int(r.n), "mean ± std": fmt_mean_std(r.mean, r.std, d),
            "vs default": fmt_value(r.mean - ref["mean"].iloc[0], d, True) if len(ref) else "–",
            "p vs Individual": fmt_p(t["p_value"].iloc[0]) if len(t) else "–",
        })
    order = {v: i for i, v in enumerate(SETTINGS.values())}
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["dataset", "view", "method", "setting"], key=lambda s: s.map(order).fillna(-1)
                           if s.name == "setting" else s, ignore_index=True)


def released_gap(agg: pd.DataFrame, setting: tuple[str, str, str], reference: tuple[str, str, str]) -> str:
    """Mean of (method, variant, protocol) `setting` minus `reference` on the first view, formatted."""
    if agg.empty:
        return "n/a"

    def pick(m: str, v: str, p: str) -> pd.DataFrame:
        return agg[(agg["method"] == m) & (agg["variant"] == v) & (agg["protocol"] == p)]

    a, b = pick(*setting), pick(*reference)
    if a.empty or b.empty:
        return "n/a"
    row = a.iloc[0]
    ref = b[(b["dataset"] == row["dataset"]) & (b["view"] == row["view"])]
    if ref.empty:
        return "n/a"
    d = metric_digits(row["metric"])
    return f"{fmt_value(row['mean'] - ref['mean'].iloc[0], d, True)} ({row['metric']}, {row['view']} on {row['dataset']})"
