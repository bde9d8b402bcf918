"""Prediction maps (reporting/figures/maps.py): gathering predictions, aligning samples, joining coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdico_core.reporting.figures import maps

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def test_gather_predictions_averages_seeds_classification():
    run0 = {"test_idx": np.array([0, 2]), "y_true": np.array([1, 0]),
            "pred/S1": np.array([[0.2, 0.8], [0.6, 0.4]], dtype=np.float32)}
    run1 = {"test_idx": np.array([2, 0]), "y_true": np.array([0, 1]),
            "pred/S1": np.array([[1.0, 0.0], [0.4, 0.6]], dtype=np.float32)}
    other = {"test_idx": np.array([5]), "y_true": np.array([1]), "pred/S2": np.array([[0.0, 1.0]])}
    df = maps.gather_predictions([run0, run1, other], "S1")
    assert df["idx"].tolist() == [0, 2]
    np.testing.assert_allclose(df["pred"].iloc[0], [0.3, 0.7], atol=1e-6)
    np.testing.assert_allclose(df["pred"].iloc[1], [0.8, 0.2], atol=1e-6)
    truth, pred = maps.point_values(df, "multiclass")
    assert truth.tolist() == [1, 0] and pred.tolist() == [1, 0]
    assert maps.gather_predictions([other], "S1").empty


def test_gather_predictions_regression_and_multilabel():
    reg = maps.gather_predictions([{"test_idx": np.array([3, 1]), "y_true": np.array([10.0, 20.0]),
                                    "pred/L8": np.array([12.0, 18.0])}], "L8")
    truth, pred = maps.point_values(reg, "regression")
    assert truth.tolist() == [20.0, 10.0] and pred.tolist() == [18.0, 12.0]
    ml = maps.gather_predictions([{"test_idx": np.array([0]), "y_true": np.array([[1, 0, 1]]),
                                   "pred/S2": np.array([[0.9, 0.6, 0.1]])}], "S2")
    t, p = maps.point_values(ml, "multilabel")
    assert t.tolist() == [2] and p.tolist() == [2]


def _run(idx, truth, pred, view="L8"):
    return {"test_idx": np.array(idx), "y_true": np.array(truth, dtype=float), f"pred/{view}": np.array(pred, float)}


def test_map_views_keep_the_samples_every_method_predicted_and_join_their_coordinates():
    meta = pd.DataFrame({"lat": [40.0, 41.0, 42.0, 43.0], "lon": [-100.0, -101.0, -102.0, -103.0]})
    truth = [10.0, 11.0, 12.0, 13.0]
    arrays = {
        # Individual finished folds holding samples 0, 1, 3; MDiCo 1, 2, 3 (and a second seed of 3)
        "Individual": [_run([0, 1], truth[:2], [9.0, 12.0]), _run([3], [13.0], [14.0])],
        "MDiCo": [_run([3, 1, 2], [13.0, 11.0, 12.0], [13.0, 11.5, 12.0]), _run([3], [13.0], [15.0])],
    }
    (view,) = maps.map_views(arrays, ["L8", "S1"], "regression", meta)  # nobody predicted from S1
    assert view.view == "L8" and view.idx.tolist() == [1, 3]
    assert view.lat.tolist() == [41.0, 43.0] and view.lon.tolist() == [-101.0, -103.0]
    assert view.truth.tolist() == [11.0, 13.0]
    assert view.preds["Individual"].tolist() == [12.0, 14.0]
    assert view.preds["MDiCo"].tolist() == [11.5, 14.0]  # sample 3 averaged over its two seeds
    with pytest.raises(ValueError, match="no coordinates"):
        maps.map_views(arrays, ["L8"], "regression", meta.rename(columns={"lat": "y"}))


def test_align_predictions_classification():
    a = pd.DataFrame({"idx": [0, 1], "y_true": [1, 0], "pred": [np.array([0.1, 0.9]), np.array([0.8, 0.2])]})
    b = pd.DataFrame({"idx": [1], "y_true": [0], "pred": [np.array([0.3, 0.7])]})
    idx, truth, preds = maps.align_predictions({"A": a, "B": b}, "binary")
    assert idx.tolist() == [1] and truth.tolist() == [0]
    assert {k: v.tolist() for k, v in preds.items()} == {"A": [0], "B": [1]}


def test_site_means_groups_by_coordinates():
    out = maps.site_means(np.array([1.0, 1.0, 2.0]), np.array([5.0, 5.0, 6.0]), {"err": np.array([1.0, 3.0, -2.0])})
    assert out.set_index("lat").loc[1.0, "err"] == pytest.approx(2.0)
    assert out.set_index("lat").loc[1.0, "n"] == 2 and len(out) == 2


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_plot_prediction_map_panels(task):
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(30, 45, 40), rng.uniform(-120, -100, 40)
    truth = rng.uniform(50, 150, 40) if task == "regression" else rng.integers(0, 3, 40)
    preds = {"Individual": truth + 5 if task == "regression" else truth,
             "MDiCo": truth - 1 if task == "regression" else (truth + 1) % 3}
    fig = maps.plot_prediction_map(lat, lon, truth, preds, task, ["a", "b", "c"], title="t")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "ground truth" and len(titles) == 3
    if task == "multiclass":
        assert "Individual\n(100.0% correct)" in titles and "MDiCo\n(0.0% correct)" in titles
    else:
        assert "MAE 5.0" in titles[1]


def test_map_summary_states_the_numbers_the_map_draws():
    """A map's caption ends with its numbers, not "look for regions": MAE per method and the sites each wins,
    or the share correct and the samples only one method gets right."""
    lat, lon = np.array([1.0, 1.0, 2.0, 3.0]), np.array([0.0, 0.0, 5.0, 6.0])
    truth = np.array([10.0, 20.0, 30.0, 40.0])
    preds = {"Individual": truth + np.array([2.0, 2.0, 1.0, 3.0]), "MDiCo": truth + np.array([1.0, 1.0, 3.0, 1.0])}
    view = maps.MapView("S1", np.arange(4), lat, lon, truth, preds)
    assert maps.map_summary(view, "regression") == ("MAE 2.0 (Individual) against 1.5 (MDiCo); MDiCo's mean "
                                                    "absolute error is the smaller at 2 of 3 sites, Individual's at 1")
    labels = np.array([0, 1, 1, 0])
    view = maps.MapView("S2", np.arange(4), lat, lon, labels,
                        {"Individual": np.array([0, 1, 0, 1]), "MDiCo": np.array([0, 1, 1, 1])})
    assert maps.map_summary(view, "binary") == ("Individual 50.0%, MDiCo 75.0% of the predictions correct; MDiCo alone is right on 1 "
                                                "of the 4 samples, Individual alone on 0")
