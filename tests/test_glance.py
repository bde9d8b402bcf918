"""What replicates at a glance (reporting/claims/glance.py): the forest plot's rows, panels and caption, on a small
hand-made ledger."""

from __future__ import annotations

import pandas as pd
import pytest

from mdico_core.reporting.claims import glance

pytestmark = pytest.mark.usefixtures("figures")  # headless, each figure closed after its test


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


def _full_ledger() -> pd.DataFrame:
    t = _ledger()
    return t.assign(direction=1, q1_mean=t["mean"], q1_lo=t["lo"], q1_hi=t["hi"], q1_verdict="inconclusive",
                    mde=0.05, power_paper=0.06, runs_to_decide=40, ref_archive=None, note="", words=t["verdict"], n=10, n_failed=0,
                    p_adj=0.5, family_m=0, family_level=float("nan"), archive="lfmc_paper", verdict_if_dropped=None)


def test_the_ledger_rows_read_plainly():
    """No nested parentheses after the place, the power said in full, and no "the 0 tested comparisons"."""
    from mdico_core.reporting.claims import findings_text as ft

    shown = ft.format_ledger(_full_ledger())
    assert shown["where"].iloc[0] == "LFMC, S1, against Individual" and "(vs" not in " ".join(shown["where"])
    assert shown["power"].iloc[0] == "MDE 0.050; 6% power at the paper's value"
    assert "0 tested" not in ft._family_words(_full_ledger()) and "none has" in ft._family_words(_full_ledger())


def test_claims_in_html_show_code_as_code_not_backticks():
    from mdico_core.reporting.claims import findings_text as ft
    from mdico_core.reporting.claims.findings import CLAIMS

    claim = next(c for c in CLAIMS if any("`" in u for u in c.untestable))
    html = ft.claim_html(claim, _full_ledger().assign(claim=claim.id))
    assert "`" not in html and "<code>" in html
    assert ft._escaped("run `mdico data fetch` <now>") == "run <code>mdico data fetch</code> &lt;now&gt;"
