"""Bar charts and loss curves (reporting/plots.py) on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdico_core.reporting import paper, plots

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


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
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [paper.TERM_NAMES["main"],
                                                                            paper.TERM_NAMES["mod"]]
    with pytest.raises(ValueError):
        plots.plot_loss_curves({})


def test_plot_grouped_orientation_and_reference():
    agg = pd.DataFrame({"x": list("abcdef"), "hue": "ours", "facet": "S1", "mean": np.arange(6.0),
                        "std": 0.5})
    fig = plots.plot_grouped(agg, "x", "hue", "facet", reference={("S1", "a"): 3.0})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list("abcdef")  # horizontal: > 4 categories
    assert "paper" in [t.get_text() for t in ax.get_legend().get_texts()]
    fig2 = plots.plot_grouped(agg.iloc[:2], "x", "hue", "facet")
    assert [t.get_text() for t in fig2.axes[0].get_xticklabels()] == ["a", "b"]
    with pytest.raises(ValueError):
        plots.plot_grouped(agg.iloc[:0], "x", "hue", "facet")


def test_plot_versus_paper_draws_the_paper_ticks():
    cmp = pd.DataFrame({"method": ["individual", "mdico"], "paper_method": ["Individual", "MDiCo"],
                        "variant": "default", "view": "S1", "mean": [70.0, 72.0], "std": [1.0, 1.0],
                        "paper": [71.5, 73.5]})
    fig = plots.plot_versus_paper(cmp, "f1")
    assert "paper" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    empty = plots.plot_versus_paper(cmp.iloc[:0])
    assert empty.axes[0].texts[0].get_text() == "no finished runs to plot"
