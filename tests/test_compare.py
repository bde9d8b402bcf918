"""reporting/core/compare.py: aggregate / paired_test / compare_with_paper against hand computations on a handmade frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from mdico_core.reporting.core.compare import (
    aggregate,
    compare,
    compare_with_paper,
    paired_test,
    paper_column,
)
from mdico_core.reporting.core.paper import VIEWS, paper_table

RNG = np.random.default_rng(0)
IND = {(f, s): RNG.uniform(0.2, 0.3) for f in range(3) for s in range(2)}
MDI = {(f, s): RNG.uniform(0.2, 0.3) for f in range(3) for s in range(2)}


def _frame(dataset: str = "lfmc") -> pd.DataFrame:
    rows = []
    for (f, s), v in IND.items():
        rows.append(("individual", "default", "S1", f, s, v))
        rows.append(("individual", "default", "L8", f, s, v + 0.2))
    for (f, s), v in MDI.items():
        rows.append(("mdico", "default", "S1", f, s, v))
        rows.append(("mdico", "default", "S1:shared", f, s, v - 0.05))
    df = pd.DataFrame(rows, columns=["method", "variant", "view", "fold", "seed", "value"])
    df = df.assign(dataset=dataset, encoder="tempcnn", protocol="paper", metric="r2", task="regression",
                   status="done", run_id="x")
    extra = df.assign(metric="rmse", value=df["value"] * 10)  # another metric, ignored by default
    return pd.concat([extra, df]).sample(frac=1, random_state=1).reset_index(drop=True)  # any row order


def test_aggregate_by_hand():
    agg = aggregate(_frame())
    assert set(agg["metric"]) == {"r2"}  # the primary metric of a regression task
    row = agg[(agg["method"] == "individual") & (agg["view"] == "S1")].iloc[0]
    vals = np.array(list(IND.values()))
    assert row["mean"] == pytest.approx(vals.mean())
    assert row["std"] == pytest.approx(np.sqrt(((vals - vals.mean()) ** 2).sum() / (len(vals) - 1)))
    assert row["n"] == 6
    rmse = aggregate(_frame(), metric="rmse")
    assert set(rmse["metric"]) == {"rmse"} and len(rmse) == len(agg)


def test_paired_test_by_hand():
    pt = paired_test(_frame())
    assert set(pt["method"]) == {"mdico"}  # the baseline is not tested against itself
    keys = sorted(IND)
    ind = np.array([IND[k] for k in keys])
    mdi = np.array([MDI[k] for k in keys])
    row = pt[pt["view"] == "S1"].iloc[0]
    assert row["n_pairs"] == 6
    assert row["mean_diff"] == pytest.approx((mdi - ind).mean())
    assert row["p_value"] == pytest.approx(wilcoxon(mdi, ind).pvalue)
    shared = pt[pt["view"] == "S1:shared"].iloc[0]  # compared with Individual's S1
    assert shared["p_value"] == pytest.approx(wilcoxon(mdi - 0.05, ind).pvalue)


def test_paired_test_edge_cases():
    df = _frame()
    same = df[df["method"] == "individual"].assign(method="copy")
    pt = paired_test(pd.concat([df, same]))
    assert (pt[pt["method"] == "copy"]["p_value"] == 1.0).all()
    only = paired_test(df[df["method"] == "mdico"])
    assert (only["n_pairs"] == 0).all() and only["p_value"].isna().all()


def test_compare_with_paper_lfmc():
    df = _frame()
    nr = pd.DataFrame([{"dataset": "lfmc", "method": "anysat", "variant": "default", "encoder": "tempcnn",
                        "protocol": "paper", "fold": 0, "seed": 0, "view": None, "metric": None,
                        "value": np.nan, "task": "regression", "status": "not_reproduced",
                        "message": "pretrained weights absent", "run_id": "y"}])
    table = compare_with_paper(pd.concat([df, nr], ignore_index=True), "lfmc", include_missing=False)
    ind = table[(table["method"] == "individual") & (table["view"] == "S1")].iloc[0]
    assert ind["paper"] == pytest.approx(0.242) and ind["paper_column"] == "sentinel1"
    assert ind["diff"] == pytest.approx(np.mean(list(IND.values())) - 0.242)
    assert ind["ours"] == f"{ind['mean']:.3f} ± {ind['std']:.3f}"
    assert table[(table["method"] == "individual") & (table["view"] == "L8")].iloc[0]["paper"] == pytest.approx(0.432)
    mdi = table[(table["method"] == "mdico") & (table["view"] == "S1")].iloc[0]
    assert mdi["paper"] == pytest.approx(0.248) and mdi["p_vs_individual"] == pytest.approx(
        wilcoxon([MDI[k] for k in sorted(MDI)], [IND[k] for k in sorted(IND)]).pvalue)
    shared = table[table["view"] == "S1:shared"].iloc[0]
    assert shared["paper"] == pytest.approx(0.226) and "Table 7" in shared["source"]  # shared features only
    anysat = table[table["method"] == "anysat"].iloc[0]
    assert anysat["ours"] == "not reproduced" and "pretrained weights absent" in anysat["note"]
    full = compare_with_paper(df, "lfmc")
    assert "ESensI" in set(full.loc[full["note"] == "not run", "paper_method"])


def test_stand_in_is_labelled():
    df = _frame("algae_blooms").replace({"L8": "S2"}).assign(metric="f1_weighted", task="multiclass")
    table = compare_with_paper(df, "algae_blooms", include_missing=False)
    ind = table[(table["method"] == "individual") & (table["view"] == "S2")].iloc[0]
    assert ind["paper"] == pytest.approx(72.2)  # CropH-m, Table 3
    assert (table["note"] == "stand-in for croph_m").all()


def test_views_map_to_the_paper_columns():
    assert set(VIEWS["lfmc"].values()) <= set(paper_table("lfmc").columns)
    assert paper_column("lfmc", "L8") == "landsat8" and paper_column("lfmc", "S1:shared") == "sentinel1"
    assert paper_column("presto_lfmc", "S2") == "landsat8"  # the stand-in's optical view plays LFMC's L8
    assert paper_column("toy_regression", "S1") == ""  # synthetic data has no paper column


def test_page_comparison_relabels_stand_ins_and_never_compares_synthetic_data():
    df = _frame("toy_regression")
    syn = compare(df, "toy_regression", "lfmc", "synthetic")
    assert syn["paper"].isna().all() and (syn["note"] == "synthetic (toy_regression), no paper value").all()
    real = compare(_frame(), "lfmc", "lfmc", "real")
    assert real[(real["method"] == "individual") & (real["view"] == "S1")]["paper"].iloc[0] == pytest.approx(0.242)
