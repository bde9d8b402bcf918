"""The one decimal rule and the number, table and notebook formatting helpers (reporting/format.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdico_core.reporting import format as fmt


def test_formatting_helpers():
    assert fmt.fmt_mean_std(73.456, 1.234, 1) == "73.5 ± 1.2"
    assert fmt.fmt_mean_std(0.2481, np.nan, 3) == "0.248"  # one run: no std
    assert fmt.fmt_mean_std(np.nan, 1.0) == "–"
    assert fmt.fmt_value(-3.14159, 1, signed=True) == "-3.1"
    assert fmt.fmt_value(2.0, 1, signed=True) == "+2.0"
    assert fmt.fmt_p(0.0004) == "<0.001" and fmt.fmt_p(0.04321) == "0.043" and fmt.fmt_p(np.nan) == "–"


@pytest.mark.parametrize(("metric", "digits"), [("r2", 3), ("f1_weighted", 1), ("f1_macro", 1), ("accuracy", 1),
                                                ("rmse", 1), ("mae", 1), (None, 1)])
def test_one_decimal_rule_per_metric(metric, digits):
    assert fmt.metric_digits(metric) == digits


def test_the_comparison_table_and_the_figures_print_a_metric_alike():
    """`compare_with_paper` (tables, `mdico table`) and the page helpers use the same decimals."""
    from mdico_core.reporting.compare import compare_with_paper
    from mdico_core.reporting.tables import cell_summary

    rows = [{"dataset": "lfmc", "method": "individual", "variant": "default", "encoder": "tempcnn",
             "protocol": "paper", "view": "S1", "metric": "rmse", "fold": f, "seed": 0, "value": v,
             "task": "regression", "status": "done", "run_id": str(f)} for f, v in enumerate([21.234, 23.456])]
    cmp = compare_with_paper(pd.DataFrame(rows), "lfmc", metric="rmse", include_missing=False)
    # two runs: no std (the n rule), the same in the table and on the page
    assert cmp["ours"].iloc[0] == "22.3 (n = 2)"
    assert cell_summary(cmp, "individual", "S1", fmt.metric_digits("rmse"))["ours"] == "22.3 (n = 2)"


def test_glued_text_renders_verbatim(monkeypatch):
    myst_nb = pytest.importorskip("myst_nb")
    from IPython.lib.pretty import pretty
    from myst_nb.core.variables import format_plain_text

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display=True: glued.update({key: value}))
    for text in ("1.000", "+0.050", "73.5 ± 1.2", "n/a"):
        fmt.glue_text("k", text)
        assert format_plain_text(pretty(glued["k"]), "s") == text  # what {glue:text}`k` shows
    assert format_plain_text("1.000", "s") == "1.0"  # why numbers are not glued as numbers


def test_table_formats_floats_and_hides_nan():
    html = fmt.table(pd.DataFrame({"a": [0.242, np.nan], "b": ["x", None]}), "cap").to_html()
    assert "0.242" in html and "0.242000" not in html and "nan" not in html.lower() and "cap" in html


def test_to_markdown():
    md = fmt.to_markdown(pd.DataFrame({"a": [1.23456, np.nan], "b": ["x|y", None]}))
    assert md.splitlines() == ["| a | b |", "|---|---|", "| 1.23 | x\\|y |", "|  |  |"]
