"""The book's table layouts (reporting/core/tables.py) on small handmade frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mdico_core.reporting.core import tables as tb
from mdico_core.reporting.core.format import fmt_mean_std


def _cmp() -> pd.DataFrame:
    rows = [("individual", "Individual", "default", "S1", 70.0, 1.0, 71.5, None),
            ("mdico", "MDiCo", "default", "S1", 72.0, np.nan, 73.5, 0.04),
            ("mdico", "MDiCo", "no_cont", "S1", 69.0, 2.0, 70.4, 0.5),
            ("mdico", "MDiCo", "default", "S1:shared", 60.0, 1.0, 71.7, 0.01),
            ("mdico", "MDiCo", "default", "S1:specific", 65.0, 1.0, 71.5, 0.02)]
    df = pd.DataFrame(rows, columns=["method", "paper_method", "variant", "view", "mean", "std", "paper",
                                     "p_vs_individual"])
    df["n"] = 5
    df["ours"] = [fmt_mean_std(m, s, n=5) for m, s in zip(df["mean"], df["std"])]
    df["diff"] = df["mean"] - df["paper"]
    df["note"] = ""
    df["metric"] = "f1_weighted"
    return df


def test_comparison_display_formats_rows():
    out = tb.comparison_display(_cmp(), 1)
    first = out.iloc[1]
    assert first["method"] == "MDiCo" and first["ours (mean ± std)"] == "72.0"
    assert first["ours − paper"] == "-1.5" and first["p vs Individual"] == "0.040"
    assert out.iloc[2]["method"] == "MDiCo (w/o contrastive loss)"
    assert tb.comparison_display(_cmp().iloc[:0]).empty
    few = tb.comparison_display(_cmp().assign(n=3), 1).iloc[2]  # no std and no p from fewer than 5 runs
    assert few["ours (mean ± std)"] == "69.0 (n = 3)" and few["p vs Individual"] == "n = 3"


def test_cell_summary_and_paper_cell():
    assert tb.cell_summary(_cmp(), "mdico", "S1") == {"ours": "72.0", "paper": "73.5", "diff": "-1.5",
                                                      "p": "0.040", "n": "5"}
    assert tb.cell_summary(_cmp(), "mdico", "S2")["ours"] == "n/a"
    assert tb.paper_cell("lfmc", "MDiCo", "L8", 3) == "0.467"
    assert tb.paper_cell("lfmc", "MDiCo", "nope", 3) == "n/a"


def test_wide_by_view_layouts():
    wide = tb.wide_by_view(_cmp(), tb.ablation_rows(), digits=1)
    assert list(wide.index) == ["Individual", "MDiCo", "w/o contrastive loss"]
    assert list(wide.columns.get_level_values(0).unique()) == ["S1"]  # Table 6: no shared/specific views
    assert wide.loc["w/o contrastive loss", ("S1", "ours")] == "69.0 ± 2.0"
    few = tb.wide_by_view(_cmp().assign(n=1), tb.ablation_rows(), digits=1)
    assert few.loc["w/o contrastive loss", ("S1", "ours")] == "69.0 (n = 1)"
    assert few.loc["w/o contrastive loss", ("S1", "p vs Ind.")] == "n = 1"
    assert wide.loc["MDiCo", ("S1", "paper")] == "73.5"
    t7 = tb.wide_by_view(_cmp(), {("mdico", "default"): "MDiCo"}, view_label=tb.split_mode)
    assert list(t7.index) == ["MDiCo", "MDiCo: shared features only", "MDiCo: specific features only"]
    assert tb.shared_vs_specific(_cmp()) == {"specific": 1, "shared": 0}
    rows = tb.mode_rows(_cmp()[_cmp()["method"] == "mdico"])
    assert set(rows["row"]) == {"both", "shared", "specific"}


def test_released_differences_name_every_run_of_the_released_study():
    from mdico_core.experiments.archives import ARCHIVES

    runs = {(c.variant, c.protocol) for c in ARCHIVES["lfmc_released"].configs() if c.method == "mdico"}
    assert runs <= set(tb.RELEASED_DIFFERENCES)  # every MDiCo run of the study says what it changes
    assert tb.released_label("rel_tau", "paper") == "InfoNCE temperature 0.1 (paper: 0.07)"
    assert tb.released_label("x", "y") == "variant x, protocol y"
    table = tb.released_differences()
    assert len(table) == len(tb.RELEASED_DIFFERENCES) + 1 and "image-weights" in table["changes"].iloc[-1]


def test_encoder_parameters_match_the_encoder_classes():
    from mdico_core.encoders import build_encoder

    long = tb.encoder_parameters(encoders=("mlp", "lstm"))
    assert set(long["column"]) == {"croph_s1", "croph_s2", "lfmc_s1", "lfmc_l8"}  # no TSAITS for these
    row = long[(long["encoder"] == "MLP") & (long["column"] == "lfmc_s1")].iloc[0]
    assert row["ours_k"] == round(tb.count_parameters(build_encoder("mlp", (4, 3))) / 1000)
    assert row["paper_k"] == 35
    assert abs(long["diff_pct"]).max() < 10
    wide = tb.wide_parameters(long)
    assert list(wide.index) == ["MLP", "LSTM"] and wide.loc["MLP", "lfmc_s1"].endswith("(35)")


def test_the_released_code_differences_counted_in_the_claim_are_those_page_09_measures():
    """R1 says in how many places the released code differs: each model variant and protocol measured alone."""
    from mdico_core.methods import get_method
    from mdico_core.options import PROTOCOLS
    from mdico_core.reporting.core.paper_claims import CLAIMS
    from mdico_core.reporting.core.tables import released_single_differences

    single = released_single_differences()
    variants = [v for v in get_method("mdico").variants if v.startswith("rel_")]
    protocols = [p for p in PROTOCOLS if p.startswith("released_")]
    assert sorted(single) == sorted([(v, "paper") for v in variants] + [("default", p) for p in protocols])
    r1 = next(c for c in CLAIMS if c.id == "R1")
    assert f"differs from the paper in {len(single)} places" in r1.quote


def test_released_short_labels_are_short_and_one_per_run():
    """Page 09's figure labels its axis with a few words per run (the long ones crushed its panels), and the
    table of differences gives the label beside what it means."""
    assert set(tb.RELEASED_SHORT) == set(tb.RELEASED_DIFFERENCES)
    assert len(set(tb.RELEASED_SHORT.values())) == len(tb.RELEASED_SHORT)
    assert max(len(v) for v in tb.RELEASED_SHORT.values()) <= 20
    table = tb.released_differences()
    assert list(table["label"][:-1]) == list(tb.RELEASED_SHORT.values()) and tb.released_short("x", "y") == "x, y"
