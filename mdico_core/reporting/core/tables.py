"""The book's tables: a comparison (``compare.compare_with_paper``) laid out as each page shows it.

Tables 2-5 as rows of methods (`comparison_display`), Tables 6 and 7 as rows of variants or
feature spaces with a column group per view (`wide_by_view`), the released code's differences
(`released_differences`) and Table A1 from the encoder classes
(`encoder_parameters`). Inputs are plain DataFrames; outputs are DataFrames of formatted cells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.core import paper

# compare_with_paper and to_markdown: `mdico table` (cli/tables.py) still imports them from here
from mdico_core.reporting.core.compare import compare_with_paper  # noqa: F401
from mdico_core.reporting.core.format import fmt_mean_std, fmt_p, fmt_value, metric_digits, to_markdown  # noqa: F401

PLOT_COLUMNS = ["row", "method", "view", "mean", "std", "paper", "n"]


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
        "ours (mean ± std)": [o if not np.isfinite(m) else fmt_mean_std(m, sd, digits, n=int(n))
                              for o, m, sd, n in zip(cmp["ours"].fillna(""), pd.to_numeric(cmp["mean"]),
                                                     pd.to_numeric(cmp["std"]), cmp["n"].fillna(0))],
        "paper": [fmt_value(v, digits) for v in pd.to_numeric(cmp["paper"], errors="coerce")],
        "ours − paper": [fmt_value(v, digits, signed=True) for v in pd.to_numeric(cmp["diff"], errors="coerce")],
        "p vs Individual": [fmt_p(v, int(n)) for v, n in zip(pd.to_numeric(cmp.get("p_vs_individual"), errors="coerce"),
                                                             cmp["n"].fillna(0))],
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
    return {"ours": fmt_mean_std(r["mean"], r["std"], digits, n=int(r["n"])), "paper": fmt_value(r["paper"], digits),
            "diff": fmt_value(r["diff"], digits, True), "p": fmt_p(r["p_vs_individual"], int(r["n"])), "n": str(int(r["n"]))}


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
                v = fmt_mean_std(r["mean"], r["std"], digits, n=int(r["n"]))
            elif c == "paper":
                v = fmt_value(v, digits)
            elif c == "p_vs_individual":
                v = fmt_p(v, int(r["n"]))
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
                        "paper": r.paper, "n": getattr(r, "n", np.nan)})
    return pd.DataFrame(out, columns=PLOT_COLUMNS)


def mode_rows(cmp: pd.DataFrame) -> pd.DataFrame:
    """MDiCo's views per modality as plot rows: ``row`` in both / shared / specific."""
    out = []
    for r in cmp.itertuples():
        if not isinstance(r.view, str) or not np.isfinite(r.mean):
            continue
        m, _, mode = r.view.partition(":")
        out.append({"row": mode or "both", "method": "ours", "view": m, "mean": r.mean, "std": r.std,
                    "paper": r.paper, "n": getattr(r, "n", np.nan)})
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
# Each difference of the authors' released code from the paper (reference/released_code_facts.md),
# by the (variant, protocol) that measures it alone; "released" twice is the released code as a whole.
RELEASED_DIFFERENCES: dict[tuple[str, str], str] = {
    ("default", "paper"): "the paper's model and protocol (the reference)",
    ("rel_tau", "paper"): "InfoNCE temperature 0.1 (paper: 0.07)",
    ("rel_contrastive", "paper"): "SimCLR NT-Xent over both modalities, summed over ordered modality pairs",
    ("rel_disc_shared", "paper"): "second modality discriminator on the shared features (paper: the unused ones)",
    ("rel_halves", "paper"): "auxiliary and modality-discriminant losses halved once more",
    ("rel_norm", "paper"): "LayerNorm on every encoder's 128-d embedding (the released LFMC config)",
    ("rel_raw_target", "paper"): "prediction in raw LFMC units with the normalised MSE (the released LFMC loss)",
    ("released", "paper"): "every model difference above together (variant `released`)",
    ("default", "released_validation"): "early stopping and checkpoint on the test fold",
    ("default", "released_statistics"): "z-score statistics over all rows, test folds included",
    ("default", "released"): "both protocol differences (protocol `released`)",
    ("released", "released"): "the released code as a whole: its model and its protocol",
}
# Not measured on LFMC: it has no image modality.
IMAGE_WEIGHTS_NOTE = ("the released code starts the aerial ResNet-50 from ImageNet weights (TreeSatAI only): "
                      "`--image-weights PATH`, a local, checksum-verified file, never downloaded; not part of "
                      "the LFMC study, which has no image modality")


# The same runs in a few words, for a figure's axis (the long words above crush its panels to a sliver).
RELEASED_SHORT: dict[tuple[str, str], str] = {
    ("default", "paper"): "paper (reference)", ("rel_tau", "paper"): "τ = 0.1", ("rel_contrastive", "paper"): "NT-Xent",
    ("rel_disc_shared", "paper"): "disc. on shared", ("rel_halves", "paper"): "losses halved",
    ("rel_norm", "paper"): "LayerNorm", ("rel_raw_target", "paper"): "raw target",
    ("released", "paper"): "all model diffs", ("default", "released_validation"): "stop on test fold",
    ("default", "released_statistics"): "stats on all rows", ("default", "released"): "both protocol diffs",
    ("released", "released"): "released code",
}


def released_short(variant: str, protocol: str) -> str:
    """`released_label` in a few words (`RELEASED_SHORT`), for a figure's axis."""
    return RELEASED_SHORT.get((variant, protocol), f"{variant}, {protocol}")


def released_single_differences() -> list[tuple[str, str]]:
    """The (variant, protocol) of each difference of the released code measured alone: each model difference
    (a ``rel_`` variant on the paper's protocol) and each protocol difference (a ``released_`` protocol)."""
    return [(v, p) for v, p in RELEASED_DIFFERENCES
            if (v.startswith("rel_") and p == "paper") or (v == "default" and p.startswith("released_"))]


def released_label(variant: str, protocol: str) -> str:
    """What the (variant, protocol) of a released-code run changes, in words (`RELEASED_DIFFERENCES`)."""
    return RELEASED_DIFFERENCES.get((variant, protocol), f"variant {variant}, protocol {protocol}")


def released_differences() -> pd.DataFrame:
    """The differences of the released code, one row each: its label in the figures, variant, protocol, what it
    changes."""
    rows = [{"label": released_short(v, p), "variant": v, "protocol": p, "changes": text}
            for (v, p), text in RELEASED_DIFFERENCES.items()]
    rows.append({"label": "", "variant": "(image weights)", "protocol": "", "changes": IMAGE_WEIGHTS_NOTE})
    return pd.DataFrame(rows)


def stand_in_display(cmp: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """A stand-in's comparison with the paper, in the terms that carry over from one dataset to another:
    each method's gap to Individual on the same view, and its rank among the methods there, ours beside the
    paper's. The absolute values are of different data and are not compared (no "ours − paper")."""
    c = cmp[(cmp["variant"] == "default") & cmp["view"].notna()].copy()
    c = c[~c["view"].astype(str).str.contains(":") & (c["view"] != "fusion")]
    if c.empty:
        return pd.DataFrame(columns=["method", "view", "gap to Individual (ours)", "(paper)", "rank (ours)",
                                     "(paper)"])
    rows = []
    for view, g in c.groupby("view", sort=False):
        ind = g[g["method"] == "individual"]
        ours_ind = float(ind["mean"].iloc[0]) if len(ind) else np.nan
        paper_ind = float(ind["paper"].iloc[0]) if len(ind) else np.nan
        mean, pap = pd.to_numeric(g["mean"]), pd.to_numeric(g["paper"], errors="coerce")
        our_rank = mean.rank(ascending=False, method="min")
        paper_rank = pap.rank(ascending=False, method="min")
        for i, r in enumerate(g.itertuples()):
            rows.append({"method": r.paper_method, "view": view,
                         "gap to Individual (ours)": fmt_value(r.mean - ours_ind, digits, signed=True),
                         "gap (paper)": fmt_value(r.paper - paper_ind, digits, signed=True),
                         "rank (ours)": "" if not np.isfinite(our_rank.iloc[i]) else f"{int(our_rank.iloc[i])} of {mean.notna().sum()}",
                         "rank (paper)": "" if not np.isfinite(paper_rank.iloc[i]) else f"{int(paper_rank.iloc[i])} of {pap.notna().sum()}"})
    return pd.DataFrame(rows)
