"""What replicates at a glance (reporting/glance.py): the forest plot's rows, panels and caption, on a small
hand-made ledger."""

from __future__ import annotations

import pandas as pd
import pytest

from mdico_core.reporting import glance

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _ledger() -> pd.DataFrame:
    rows = [("C1", "LFMC, S1", "paper", "r2", 0.01, "inconclusive"),
            ("C1", "LFMC, L8", "paper", "r2", 0.02, "replicated"),
            ("C1", "CropH-b stand-in, S1", "stand-in", "f1_weighted", 1.5, "inconclusive"),
            ("C3", "LFMC, S1: EmbraceNet", "paper", "r2", -0.03, "contradicted"),
            ("C3", "LFMC, L8: EmbraceNet", "paper", "r2", -0.01, "not tested"),
            ("C8", "LFMC, S1: neighbour score", "other", "neighbour_score", 0.002, "inconclusive"),
            ("L1", "LFMC, S1: MDiCo", "paper", "r2", 0.6, "consistent")]
    t = pd.DataFrame(rows, columns=["claim", "place", "context", "metric", "mean", "verdict"])
    return t.assign(lo=t["mean"] - 0.01, hi=t["mean"] + 0.01, paper=[0.01, 0.02, None, -0.02, None, None, 0.6],
                    ref_short="Individual", level=t["claim"] == "L1")


def test_forest_rows_filter_by_claim_and_data():
    t = _ledger()
    assert list(glance.forest_rows(t)["place"]) == ["LFMC, S1", "LFMC, L8", "LFMC, S1: EmbraceNet"]
    assert list(glance.forest_rows(t, ["C3"])["claim"]) == ["C3"]  # untested and level rows never drawn
    assert list(glance.forest_rows(t, ["C8"], ("paper", "other"))["metric"]) == ["neighbour_score"]
    assert glance.forest_rows(t, ["C8"]).empty


def test_a_page_forest_draws_one_panel_per_metric_with_the_metric_in_words():
    t = _ledger()
    fig = glance.plot_forest(t, contexts=("paper", "other"))
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert len(labels) == 2 and labels[0].startswith("difference in R²") and "k-NN score" in labels[1]
    assert [len(ax.get_yticklabels()) for ax in fig.axes] == [3, 1]
    one = glance.plot_forest(t, claims=["C1"])
    assert len(one.axes) == 1 and [x.get_text() for x in one.axes[0].get_yticklabels()] == [
        "C1  S1 − Individual", "C1  L8 − Individual"]


def test_forest_caption_counts_the_rows_and_their_verdicts():
    rows = glance.forest_rows(_ledger())
    assert glance.forest_caption(rows).startswith("The 3 comparisons of claims C1, C3: ")
    assert "(1 replicated, 1 inconclusive, 1 contradicted)" in glance.forest_caption(rows)


def test_a_page_without_claims_shows_no_forest():
    assert glance.show_page_forest("01_data_overview").empty
