"""The one decimal rule and the number, table and notebook formatting helpers (reporting/core/format.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdico_core.reporting.core import format as fmt


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
    from mdico_core.reporting.core.compare import compare_with_paper
    from mdico_core.reporting.core.tables import cell_summary

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


# ---------------------------------------------------------------------------------- tables that fit the column
def test_long_cell_texts_become_numbered_notes_below_the_table():
    note = "not reproduced: AnySat needs its pretrained weights; download them and pass weights_path=..."
    df = pd.DataFrame({"method": ["AnySat", "AnySat", "MDiCo"], "note": [note, note, "stand-in"]})
    t = fmt.table(df, "cap")
    assert t.frame["note"].tolist() == ["[1]", "[1]", "stand-in"] and t.notes == [note]  # one note per text
    html = t.to_html()
    assert html.index("cap") < html.index("[1]") < html.index("<ol") and "AnySat needs" in html
    assert not t.interactive and str(t).splitlines()[-1] == f"[1] {note}"


def test_a_table_estimated_wider_than_the_column_becomes_an_offline_interactive_table(monkeypatch):
    pytest.importorskip("itables")
    narrow = fmt.table(pd.DataFrame({"method": ["MDiCo"], "ours": ["73.5 ± 1.2"], "p": ["0.043"]}))
    assert not narrow.interactive and fmt.estimated_width(narrow.frame) < 300
    wide_df = pd.DataFrame({f"column number {i}": ["73.5 ± 1.2 (n=3)"] for i in range(12)})
    assert fmt.estimated_width(wide_df) > fmt.COLUMN_PX
    monkeypatch.setattr(fmt, "_ITABLES_LOADED", False)
    first, second = fmt.table(wide_df, "wide").to_html(), fmt.table(wide_df, "wide").to_html()
    assert fmt.table(wide_df).interactive
    # offline: the DataTables code is embedded once per notebook, never fetched from a CDN
    assert "_itables_" in first and len(first) > 100_000 and len(second) < len(first) / 10
    assert "unpkg.com" not in first + second and "scrollX" in second
    table_id = fmt.table(wide_df, "wide")._table_id()
    assert table_id in first and table_id in second  # the same table keeps its id from build to build


def test_a_wrapping_column_counts_its_longest_word_and_a_number_column_its_longest_cell():
    df = pd.DataFrame({"dataset": ["lfmc"], "methods": ["individual, mdico, inputfu, embracenet"],
                       "ours": ["73.5 ± 1.2 (n = 3)"]})
    width = fmt.estimated_width(fmt.table(df).frame)
    assert width == pytest.approx((len("dataset") + len("individual,") + len("73.5 ± 1.2 (n = 3)")) * fmt.CHAR_PX
                                  + 3 * fmt.CELL_PX)
    html = fmt.table(df).to_html()
    assert "td.col1" in html and "overflow-wrap: break-word" in html and "white-space: nowrap" in html


def test_metric_labels_are_words():
    assert fmt.metric_label("f1_weighted") == "weighted F1 (%)" and fmt.metric_label("r2") == "R²"
    assert fmt.metric_label("loss") == "loss" and fmt.metric_label(None) == ""


def test_show_box_is_a_visible_admonition(monkeypatch):
    shown = []
    monkeypatch.setattr(fmt, "show_markdown", shown.append)
    fmt.show_box("Figure A1: not regenerated", "Run `mdico book`.")
    assert shown[0].startswith('<div class="admonition warning">') and "Figure A1" in shown[0]
    assert "Run `mdico book`." in shown[0] and shown[0].rstrip().endswith("</div>")


def test_a_column_with_one_value_is_said_once_in_the_caption():
    df = pd.DataFrame({"method": ["Individual", "MDiCo"], "ours": ["0.2", "0.3"], "note": "stand-in (x) for y",
                       "empty": ["", ""]})
    t = fmt.table(df, "Ours beside the paper")
    assert list(t.frame.columns) == ["method", "ours"]
    assert t.caption == "Ours beside the paper (note: stand-in (x) for y)."
    one_row = fmt.table(df.iloc[:1])
    assert list(one_row.frame.columns) == ["method", "ours", "note", "empty"]  # one row: nothing to fold


def test_a_column_without_any_value_is_named_once():
    df = pd.DataFrame({"method": ["Individual", "MDiCo"], "paper": ["–", "–"], "p": ["–", "–"]})
    t = fmt.table(df, "Ours")
    assert list(t.frame.columns) == ["method"] and t.caption == "Ours (no paper or p here)."


def test_failures_are_one_line_each_and_nothing_without_any(monkeypatch):
    import pandas as pd

    from mdico_core.reporting.core import format as fmt

    shown: list[str] = []
    monkeypatch.setattr(fmt, "show_markdown", shown.append)
    empty = pd.DataFrame(columns=["run", "status", "message"])
    fmt.show_failures(empty, empty)
    assert shown == []
    fails = pd.DataFrame({"run": ["mfeat anysat mlp paper folds 0–9 × seeds 0–2, 30 runs"], "status": ["not_reproduced"],
                          "message": ["needs the pretrained weights"]})
    fmt.show_failures(empty, fails)
    assert shown == ["**Runs that failed or could not be reproduced**\n\n"
                     "- `mfeat anysat mlp paper folds 0–9 × seeds 0–2, 30 runs` (not reproduced): needs the pretrained weights"]


def test_a_long_caption_of_a_narrow_table_goes_above_it():
    """A <caption> is as wide as its table: a long one over two narrow columns becomes a paragraph above."""
    narrow = pd.DataFrame({"row": ["a", "b"], "n": [1, 2]})
    long = "What 2 threads instead of 1 changed, per method and view, with the spread of seeds and folds beside it"
    assert fmt.caption_squeezed(narrow, long) and not fmt.caption_squeezed(narrow, "Two rows")
    shown = fmt.table(narrow, long).to_html()
    assert '<p class="mdico-table-caption"' in shown and "<caption>" not in shown and long in shown
    assert "<caption>Two rows</caption>" in fmt.table(narrow, "Two rows").to_html()
