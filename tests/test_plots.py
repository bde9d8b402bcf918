"""Bar charts and loss curves (reporting/figures/plots.py) on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdico_core.reporting.core import format as fmt
from mdico_core.reporting.core import paper
from mdico_core.reporting.figures import plots

pytestmark = pytest.mark.usefixtures("figures")  # headless, each figure closed after its test


def test_mean_history_averages_runs_that_reached_each_epoch():
    h1 = pd.DataFrame({"epoch": [1, 2, 3], "train/main": [3.0, 2.0, 1.0], "train/cont": [5.0, 4.0, 3.0],
                       "train/total": [8.0, 6.0, 4.0], "val/main": [9.0, 9.0, 9.0]})
    h2 = pd.DataFrame({"epoch": [1, 2], "train/main": [1.0, 0.0], "train/cont": [7.0, 6.0],
                       "train/total": [8.0, 6.0], "val/main": [1.0, 1.0]})
    out = plots.mean_history([h1, h2], "train")
    assert set(out["term"]) == {"main", "cont"}  # total is not a term
    main = out[out["term"] == "main"].set_index("epoch")
    assert main.loc[1, "mean"] == pytest.approx(2.0) and main.loc[1, "n"] == 2
    assert main.loc[3, "mean"] == pytest.approx(1.0) and main.loc[3, "n"] == 1
    assert main.loc[1, "std"] == pytest.approx(np.std([3.0, 1.0], ddof=1))
    val = plots.mean_history([h1, h2], "val")
    assert val[val["epoch"] == 1]["mean"].iloc[0] == pytest.approx(5.0)
    assert plots.mean_history([], "train").empty
    assert plots.highest_term(out) == "cont" and plots.highest_term(plots.mean_history([])) is None


def test_plot_loss_curves_one_panel_per_curve():
    h = pd.DataFrame({"epoch": [1, 2], "train/main": [1.0, 0.5], "train/mod": [0.7, 0.1]})
    fig = plots.plot_loss_curves({"a": plots.mean_history([h]), "b": plots.mean_history([h])})
    assert sum(ax.has_data() for ax in fig.axes) == 2
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [paper.TERM_NAMES["main"], paper.TERM_NAMES["mod"]]
    with pytest.raises(ValueError):
        plots.plot_loss_curves({})


def test_plot_grouped_orientation_and_reference():
    agg = pd.DataFrame({"x": list("abcdef"), "hue": "ours", "facet": "S1", "mean": np.arange(6.0),
                        "std": 0.5})
    fig = plots.plot_grouped(agg, "x", "hue", "facet", reference={("S1", "a"): 3.0})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list("abcdef")  # horizontal: > 4 categories
    assert "paper" in [t.get_text() for t in fig.legends[0].get_texts()]
    fig2 = plots.plot_grouped(agg.iloc[:2], "x", "hue", "facet")
    assert [t.get_text() for t in fig2.axes[0].get_xticklabels()] == ["a", "b"]
    with pytest.raises(ValueError):
        plots.plot_grouped(agg.iloc[:0], "x", "hue", "facet")


def test_plot_versus_paper_draws_the_paper_ticks():
    cmp = pd.DataFrame({"method": ["individual", "mdico"], "paper_method": ["Individual", "MDiCo"],
                        "variant": "default", "view": "S1", "mean": [70.0, 72.0], "std": [1.0, 1.0],
                        "paper": [71.5, 73.5]})
    fig = plots.plot_versus_paper(cmp, "f1_weighted")
    assert "paper" in [t.get_text() for t in fig.legends[0].get_texts()]
    stand_in = plots.plot_versus_paper(cmp, "f1_weighted", show_paper=False)  # other data: no paper ticks
    assert not stand_in.legends or "paper" not in [t.get_text() for t in stand_in.legends[0].get_texts()]
    empty = plots.plot_versus_paper(cmp.iloc[:0])
    assert empty.axes[0].texts[0].get_text() == "no finished runs to plot"


# ---------------------------------------------------------------------------------- readable as shown
def _figures():
    """One figure of every kind the book draws, from small frames."""
    from mdico_core.reporting.figures import maps, tsne

    rng = np.random.default_rng(0)
    rows = ["MDiCo", "w/o modality loss", "w/o auxiliary loss", "w/o contrastive loss", "w/o unused features"]
    agg = pd.DataFrame({"row": rows * 2, "method": "ours", "view": ["S1"] * 5 + ["S2"] * 5,
                        "mean": rng.uniform(60, 80, 10), "std": 1.0})
    ref = {(v, r): 70.0 for v in ("S1", "S2") for r in rows}
    h = pd.DataFrame({"epoch": [1, 2], "train/main": [1.0, 0.5], "train/cont": [2.0, 1.5]})
    lat, lon, truth = rng.uniform(30, 45, 30), rng.uniform(-120, -100, 30), rng.uniform(50, 150, 30)
    panels = [(f"{m}, S1", rng.normal(size=(20, 2)), rng.uniform(0, 1, 20)) for m in ("Individual", "MDiCo")]
    return {
        "grouped (horizontal)": plots.plot_grouped(agg, "row", "method", "view", ylabel="f1_weighted", reference=ref),
        "grouped (vertical)": plots.plot_grouped(agg[agg["row"].isin(rows[:3])], "row", "method", "view",
                                                 ylabel="r2", reference=ref),
        "loss curves": plots.plot_loss_curves({"a": plots.mean_history([h]), "b": plots.mean_history([h]),
                                               "c": plots.mean_history([h])}),
        "map": maps.plot_prediction_map(lat, lon, truth, {"Individual": truth + 5, "MDiCo": truth - 1}, "regression",
                                        title="t", target_label="live fuel moisture content (%)"),
        "t-SNE": tsne.plot_tsne(panels, "regression", colour_label="live fuel moisture content (%)"),
        "placeholder": plots.placeholder_figure("nothing"),
    }


@pytest.mark.parametrize("kind", ["grouped (horizontal)", "grouped (vertical)", "loss curves", "map", "t-SNE",
                                  "placeholder"])
def test_every_figure_is_drawn_at_the_column_width_with_readable_text(kind):
    """Drawn at the width the page shows it (`format.show` shows it 1:1), every text >= 9 pt."""
    from matplotlib.text import Text

    fig = _figures()[kind]
    assert round(fig.get_figwidth() * fmt.CSS_DPI) == fmt.FIGURE_PX
    fig.canvas.draw()  # ticks are made at draw time
    texts = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < fmt.MIN_FONT_PT]
    assert texts and not small, small
    for ax in fig.axes:  # axis labels are words, never a metric's column name
        assert ax.get_xlabel() not in ("r2", "f1_weighted") and ax.get_ylabel() not in ("r2", "f1_weighted")


def test_the_paper_is_a_red_diamond_in_a_legend_outside_the_panels():
    fig = _figures()["grouped (horizontal)"]
    paper_lines = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_label() == "paper"]
    assert paper_lines and all(ln.get_marker() == "D" and ln.get_color() == "#d62728" for ln in paper_lines)
    assert [ax.get_legend() for ax in fig.axes] == [None] * len(fig.axes)  # no legend over the data
    assert {"paper", plots.OURS} <= {t.get_text() for t in fig.legends[0].get_texts()}
    fig.canvas.draw()
    legend_box = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        assert not legend_box.overlaps(ax.get_window_extent())
    assert fig.axes[0].get_xlabel() == "weighted F1 (%)"
    assert _figures()["grouped (vertical)"].axes[0].get_ylabel() == "R²"


def test_colour_bars_have_labels():
    for kind in ("map", "t-SNE"):
        fig = _figures()[kind]
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert bars and all(b.get_xlabel() or b.get_ylabel() for b in bars), kind


def test_show_displays_the_figure_at_its_drawn_width(monkeypatch):
    """The PNG is 2x the CSS size and the image says its CSS width: no tight-bbox crop, no downscaling."""
    pytest.importorskip("IPython")
    from IPython import display as ipd
    from PIL import Image as PILImage

    shown = []
    monkeypatch.setattr(ipd, "display", lambda obj, **kw: shown.append(obj))
    fmt.show(_figures()["map"])
    img = shown[0]
    assert img.width == fmt.FIGURE_PX
    import io

    assert PILImage.open(io.BytesIO(img.data)).size[0] == fmt.FIGURE_PX * fmt.PNG_SCALE


def test_differences_figure_names_its_metric_in_words():
    """The difference figure's axis says "R²", as the prose does, not the metric's code name "r2"."""
    tests = pd.DataFrame({"view": ["S1", "L8"], "paper_method": ["MDiCo", "MDiCo"], "method": ["mdico", "mdico"],
                          "diff": [0.01, 0.02], "ci_lo": [-0.01, 0.0], "ci_hi": [0.03, 0.04], "n_pairs": [10, 10]})
    fig = plots.plot_differences(tests, "lfmc", "r2")
    labels = {ax.get_xlabel() for ax in fig.axes}
    assert labels == {f"{fmt.metric_label('r2')} minus Individual's (same view)"} and "R²" in labels.pop()


def test_captions_in_numbers_say_what_a_grouped_figure_shows():
    agg = pd.DataFrame({"view": ["S1"] * 3 + ["L8"] * 3, "row": ["MDiCo", "w/o a", "w/o b"] * 2,
                        "mean": [0.20, 0.15, 0.25, 0.40, 0.30, 0.35], "n": 10})
    assert plots.levels_caption(agg, "row", "MDiCo", digits=2) == (
        "S1: MDiCo 0.20, the others 0.15 to 0.25 (1 of 2 below); L8: MDiCo 0.40, the others 0.30 to 0.35 "
        "(2 of 2 below) (10 runs each)")
    enc = pd.DataFrame({"view": ["S1"] * 4, "encoder": ["MLP", "MLP", "LSTM", "LSTM"],
                        "method": ["MDiCo", "Individual"] * 2, "mean": [0.3, 0.2, 0.1, 0.2]})
    assert plots.wins_caption(enc, "encoder", "method", "MDiCo", "Individual", noun="encoders") == (
        "S1: MDiCo above Individual for 1 of 2 encoders")
    assert plots.levels_caption(agg, "row", "absent") == ""
