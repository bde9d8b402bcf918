"""Fast unit tests of the book's helpers (reporting/figures.py, reporting/plan.py) on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdico_core.reporting import figures as fg
from mdico_core.reporting import plan

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


# ---------------------------------------------------------------------------------- formatting
def test_formatting_helpers():
    assert fg.fmt_mean_std(73.456, 1.234, 1) == "73.5 ± 1.2"
    assert fg.fmt_mean_std(0.2481, np.nan, 3) == "0.248"  # one run: no std
    assert fg.fmt_mean_std(np.nan, 1.0) == "–"
    assert fg.fmt_value(-3.14159, 1, signed=True) == "-3.1"
    assert fg.fmt_value(2.0, 1, signed=True) == "+2.0"
    assert fg.fmt_p(0.0004) == "<0.001" and fg.fmt_p(0.04321) == "0.043" and fg.fmt_p(np.nan) == "–"
    assert fg.metric_digits("r2") == 3 and fg.metric_digits("f1_weighted") == 1


def test_glued_text_renders_verbatim(monkeypatch):
    myst_nb = pytest.importorskip("myst_nb")
    from IPython.lib.pretty import pretty
    from myst_nb.core.variables import format_plain_text

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display=True: glued.update({key: value}))
    for text in ("1.000", "+0.050", "73.5 ± 1.2", "n/a"):
        fg.glue_text("k", text)
        assert format_plain_text(pretty(glued["k"]), "s") == text  # what {glue:text}`k` shows
    assert format_plain_text("1.000", "s") == "1.0"  # why numbers are not glued as numbers


def test_table_formats_floats_and_hides_nan():
    html = fg.table(pd.DataFrame({"a": [0.242, np.nan], "b": ["x", None]}), "cap").to_html()
    assert "0.242" in html and "0.242000" not in html and "nan" not in html.lower() and "cap" in html


# ---------------------------------------------------------------------------------- provenance
def _record(commit: str, dirty: bool = False) -> dict:
    return {"provenance": {"git_commit": commit, "git_dirty": dirty, "device": "cpu"}}


def test_provenance_banner_states_everything():
    text = fg.provenance_banner(
        "quick", {"croph_b": ("algae_blooms", "stand-in"), "lfmc": ("lfmc", "real")}, [0, 1, 2], [0],
        records=[_record("aaaaaaaaaaaa1111"), _record("bbbbbbbbbbbb", dirty=True)], n_folds=10,
        code_version="aaaaaaaaaaaa")
    assert "`quick`" in text and "folds 0, 1, 2 of 10" in text and "seeds 0" in text
    assert "2 runs shown" in text and "code version `aaaaaaaaaaaa`" in text
    assert "`bbbbbbbbbbbb+dirty`" in text  # runs made with another version are named
    assert "STAND-IN" in text and "croph_b = `algae_blooms`" in text and "`lfmc`, real data" in text
    assert all(line.startswith(">") for line in text.splitlines())


def test_provenance_banner_without_stand_in_has_no_warning():
    text = fg.provenance_banner("paper", {"lfmc": ("lfmc", "real")}, None, None, code_version="x")
    assert "not the paper's benchmark" not in text and "the profile's" in text


def test_record_versions_are_distinct_and_ordered():
    recs = [_record("c1"), _record("c1"), {"provenance": {}}, _record("c2", True)]
    assert fg.record_versions(recs) == ["c1", "c2+dirty"]


# ---------------------------------------------------------------------------------- histories
def test_mean_history_averages_runs_that_reached_each_epoch():
    h1 = pd.DataFrame({"epoch": [1, 2, 3], "train/main": [3.0, 2.0, 1.0], "train/cont": [5.0, 4.0, 3.0],
                       "train/total": [8.0, 6.0, 4.0], "val/main": [9.0, 9.0, 9.0]})
    h2 = pd.DataFrame({"epoch": [1, 2], "train/main": [1.0, 0.0], "train/cont": [7.0, 6.0],
                       "train/total": [8.0, 6.0], "val/main": [1.0, 1.0]})
    out = fg.mean_history([h1, h2], "train")
    assert set(out["term"]) == {"main", "cont"}  # total is not a term
    main = out[out["term"] == "main"].set_index("epoch")
    assert main.loc[1, "mean"] == pytest.approx(2.0) and main.loc[1, "n"] == 2
    assert main.loc[3, "mean"] == pytest.approx(1.0) and main.loc[3, "n"] == 1
    assert main.loc[1, "std"] == pytest.approx(np.std([3.0, 1.0], ddof=1))
    val = fg.mean_history([h1, h2], "val")
    assert val[val["epoch"] == 1]["mean"].iloc[0] == pytest.approx(5.0)
    assert fg.mean_history([], "train").empty


def test_plot_loss_curves_one_panel_per_curve():
    h = pd.DataFrame({"epoch": [1, 2], "train/main": [1.0, 0.5], "train/mod": [0.7, 0.1]})
    fig = fg.plot_loss_curves({"a": fg.mean_history([h]), "b": fg.mean_history([h])})
    assert sum(ax.has_data() for ax in fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [fg.TERM_NAMES["main"],
                                                                            fg.TERM_NAMES["mod"]]
    with pytest.raises(ValueError):
        fg.plot_loss_curves({})


# ---------------------------------------------------------------------------------- predictions
def test_gather_predictions_averages_seeds_classification():
    run0 = {"test_idx": np.array([0, 2]), "y_true": np.array([1, 0]),
            "pred/S1": np.array([[0.2, 0.8], [0.6, 0.4]], dtype=np.float32)}
    run1 = {"test_idx": np.array([2, 0]), "y_true": np.array([0, 1]),
            "pred/S1": np.array([[1.0, 0.0], [0.4, 0.6]], dtype=np.float32)}
    other = {"test_idx": np.array([5]), "y_true": np.array([1]), "pred/S2": np.array([[0.0, 1.0]])}
    df = fg.gather_predictions([run0, run1, other], "S1")
    assert df["idx"].tolist() == [0, 2]
    np.testing.assert_allclose(df["pred"].iloc[0], [0.3, 0.7], atol=1e-6)
    np.testing.assert_allclose(df["pred"].iloc[1], [0.8, 0.2], atol=1e-6)
    truth, pred = fg.point_values(df, "multiclass")
    assert truth.tolist() == [1, 0] and pred.tolist() == [1, 0]
    assert fg.gather_predictions([other], "S1").empty


def test_gather_predictions_regression_and_multilabel():
    reg = fg.gather_predictions([{"test_idx": np.array([3, 1]), "y_true": np.array([10.0, 20.0]),
                                  "pred/L8": np.array([12.0, 18.0])}], "L8")
    truth, pred = fg.point_values(reg, "regression")
    assert truth.tolist() == [20.0, 10.0] and pred.tolist() == [18.0, 12.0]
    ml = fg.gather_predictions([{"test_idx": np.array([0]), "y_true": np.array([[1, 0, 1]]),
                                 "pred/S2": np.array([[0.9, 0.6, 0.1]])}], "S2")
    t, p = fg.point_values(ml, "multilabel")
    assert t.tolist() == [2] and p.tolist() == [2]


def test_site_means_groups_by_coordinates():
    out = fg.site_means(np.array([1.0, 1.0, 2.0]), np.array([5.0, 5.0, 6.0]), {"err": np.array([1.0, 3.0, -2.0])})
    assert out.set_index("lat").loc[1.0, "err"] == pytest.approx(2.0)
    assert out.set_index("lat").loc[1.0, "n"] == 2 and len(out) == 2


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_plot_prediction_map_panels(task):
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(30, 45, 40), rng.uniform(-120, -100, 40)
    truth = rng.uniform(50, 150, 40) if task == "regression" else rng.integers(0, 3, 40)
    preds = {"Individual": truth + 5 if task == "regression" else truth,
             "MDiCo": truth - 1 if task == "regression" else (truth + 1) % 3}
    fig = fg.plot_prediction_map(lat, lon, truth, preds, task, ["a", "b", "c"], title="t")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "ground truth" and len(titles) == 3
    if task == "multiclass":
        assert "Individual (100.0% correct)" in titles and "MDiCo (0.0% correct)" in titles
    else:
        assert "MAE 5.0" in titles[1]


# ---------------------------------------------------------------------------------- t-SNE
def test_tsne_is_seeded_and_checks_input():
    pytest.importorskip("openTSNE")
    x = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    a, b = fg.tsne_2d(x, seed=3), fg.tsne_2d(x, seed=3)
    assert a.shape == (30, 2)
    np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="N >= 5"):
        fg.tsne_2d(x[:3])


def test_tsne_panels_and_plot():
    pytest.importorskip("openTSNE")
    rng = np.random.default_rng(1)
    arrays = {"y_true": rng.integers(0, 2, 20), "feat/S1": rng.normal(size=(20, 4)).astype(np.float16)}
    panels = fg.tsne_panels({"Individual": arrays, "MDiCo": arrays}, ["S1", "S2"], "multiclass")
    assert [p[0] for p in panels] == ["Individual, S1", "MDiCo, S1"]  # S2 has no features
    fig = fg.plot_tsne(panels, "multiclass", ["no", "yes"])
    assert len(fig.legends) == 1
    assert fg.colour_labels(np.array([[0, 1], [0, 0]]), "multilabel").tolist() == [1, -1]


# ---------------------------------------------------------------------------------- tables
def _cmp() -> pd.DataFrame:
    rows = [("individual", "Individual", "default", "S1", 70.0, 1.0, 71.5, None),
            ("mdico", "MDiCo", "default", "S1", 72.0, np.nan, 73.5, 0.04),
            ("mdico", "MDiCo", "no_cont", "S1", 69.0, 2.0, 70.4, 0.5),
            ("mdico", "MDiCo", "default", "S1:shared", 60.0, 1.0, 71.7, 0.01),
            ("mdico", "MDiCo", "default", "S1:specific", 65.0, 1.0, 71.5, 0.02)]
    df = pd.DataFrame(rows, columns=["method", "paper_method", "variant", "view", "mean", "std", "paper",
                                     "p_vs_individual"])
    df["n"] = 3
    df["ours"] = [fg.fmt_mean_std(m, s) for m, s in zip(df["mean"], df["std"])]
    df["diff"] = df["mean"] - df["paper"]
    df["note"] = ""
    df["metric"] = "f1_weighted"
    return df


def test_comparison_display_formats_rows():
    out = fg.comparison_display(_cmp(), 1)
    first = out.iloc[1]
    assert first["method"] == "MDiCo" and first["ours (mean ± std)"] == "72.0"
    assert first["ours − paper"] == "-1.5" and first["p vs Individual"] == "0.040"
    assert out.iloc[2]["method"] == "MDiCo (w/o contrastive loss)"
    assert fg.comparison_display(_cmp().iloc[:0]).empty


def test_wide_by_view_layouts():
    wide = fg.wide_by_view(_cmp(), fg.ablation_rows(), digits=1)
    assert list(wide.index) == ["Individual", "MDiCo", "w/o contrastive loss"]
    assert list(wide.columns.get_level_values(0).unique()) == ["S1"]  # Table 6: no shared/specific views
    assert wide.loc["w/o contrastive loss", ("S1", "ours")] == "69.0 ± 2.0"
    assert wide.loc["MDiCo", ("S1", "paper")] == "73.5"
    t7 = fg.wide_by_view(_cmp(), {("mdico", "default"): "MDiCo"}, view_label=fg.split_mode)
    assert list(t7.index) == ["MDiCo", "MDiCo: shared features only", "MDiCo: specific features only"]
    assert fg.shared_vs_specific(_cmp()) == {"specific": 1, "shared": 0}
    rows = fg.mode_rows(_cmp()[_cmp()["method"] == "mdico"])
    assert set(rows["row"]) == {"both", "shared", "specific"}


def test_plot_grouped_orientation_and_reference():
    agg = pd.DataFrame({"x": list("abcdef"), "hue": "ours", "facet": "S1", "mean": np.arange(6.0),
                        "std": 0.5})
    fig = fg.plot_grouped(agg, "x", "hue", "facet", reference={("S1", "a"): 3.0})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list("abcdef")  # horizontal: > 4 categories
    assert "paper" in [t.get_text() for t in ax.get_legend().get_texts()]
    fig2 = fg.plot_grouped(agg.iloc[:2], "x", "hue", "facet")
    assert [t.get_text() for t in fig2.axes[0].get_xticklabels()] == ["a", "b"]
    with pytest.raises(ValueError):
        fg.plot_grouped(agg.iloc[:0], "x", "hue", "facet")


def _agg() -> pd.DataFrame:
    rows = []
    for method, variant, protocol, mean in [("individual", "default", "paper", 0.40),
                                            ("mdico", "default", "paper", 0.45),
                                            ("mdico", "default", "released", 0.48),
                                            ("mdico", "released", "released", 0.50)]:
        rows.append({"dataset": "lfmc", "method": method, "variant": variant, "encoder": "tempcnn",
                     "protocol": protocol, "view": "L8", "metric": "r2", "mean": mean, "std": 0.01, "n": 3})
    return pd.DataFrame(rows)


def test_released_table_and_gap():
    tests = pd.DataFrame([{"dataset": "lfmc", "method": "mdico", "variant": "default", "protocol": "paper",
                           "view": "L8", "p_value": 0.25, "n_pairs": 3}])
    out = fg.released_table(_agg(), tests)
    assert list(out["setting"][out["method"] == "MDiCo"]) == [
        "paper model, paper protocol", "paper model, released protocol", "released code (model + protocol)"]
    row = out[(out["method"] == "MDiCo") & (out["setting"] == "released code (model + protocol)")].iloc[0]
    assert row["vs default"] == "+0.050"
    assert out[(out["method"] == "MDiCo") & (out["setting"] == "paper model, paper protocol")].iloc[0][
        "p vs Individual"] == "0.250"
    assert fg.released_gap(_agg(), ("mdico", "default", "released"), ("mdico", "default", "paper")).startswith(
        "+0.030")
    assert fg.released_gap(_agg().iloc[:0], ("a", "b", "c"), ("a", "b", "c")) == "n/a"


def test_encoder_gains():
    agg = pd.concat([_agg().iloc[:2].assign(encoder="mlp"), _agg().iloc[:2]], ignore_index=True)
    tests = pd.DataFrame([{"dataset": "lfmc", "method": "mdico", "variant": "default", "encoder": "mlp",
                           "view": "L8", "p_value": 0.5, "n_pairs": 3}])
    out = fg.encoder_gains(agg, tests)
    assert list(out["encoder"]) == ["MLP", "TempCNN"]
    assert out["MDiCo − Individual"].tolist() == pytest.approx([0.05, 0.05])
    assert out["p"].tolist() == ["0.500", "–"]


# ---------------------------------------------------------------------------------- Table A1
def test_encoder_parameters_match_the_encoder_classes():
    from mdico_core.encoders import build_encoder

    long = fg.encoder_parameters(encoders=("mlp", "lstm"))
    assert set(long["column"]) == {"croph_s1", "croph_s2", "lfmc_s1", "lfmc_l8"}  # no TSAITS for these
    row = long[(long["encoder"] == "MLP") & (long["column"] == "lfmc_s1")].iloc[0]
    assert row["ours_k"] == round(fg.count_parameters(build_encoder("mlp", (4, 3))) / 1000)
    assert row["paper_k"] == 35
    assert abs(long["diff_pct"]).max() < 10
    wide = fg.wide_parameters(long)
    assert list(wide.index) == ["MLP", "LSTM"] and wide.loc["MLP", "lfmc_s1"].endswith("(35)")


def test_paper_helpers():
    assert fg.paper_ablation_drop("croph_b", "s1", "w/o contrastive loss") == pytest.approx(70.4 - 73.5)
    assert fg.paper_cell("lfmc", "MDiCo", "L8", 3) == "0.467"
    assert fg.paper_cell("lfmc", "MDiCo", "nope", 3) == "n/a"
    assert fg.metric_of("lfmc") == ("r2", 3) and fg.metric_of("croph_b") == ("f1_weighted", 1)
    assert fg.paper_views("tsaits") == ["aerial", "S2"]
    with pytest.raises(ValueError, match="valid"):
        fg.paper_csv("table99")


# ---------------------------------------------------------------------------------- plan
def test_parse_helpers():
    assert plan.parse_ints("5, 6") == (5, 6) and plan.parse_ints([1]) == (1,) and plan.parse_ints(None) is None
    assert plan.parse_names("croph_b,lfmc") == ("croph_b", "lfmc") and plan.parse_names("") is None
    with pytest.raises(ValueError, match="comma-separated"):
        plan.parse_ints("a,b")


def test_resolve_dataset_rule(monkeypatch):
    present = {"lfmc", "algae_blooms", "toy_multilabel", "toy_binary"}
    monkeypatch.setattr(plan, "dataset_available", lambda name: name in present)
    assert plan.resolve_dataset("lfmc") == ("lfmc", "real")
    assert plan.resolve_dataset("croph_b") == ("algae_blooms", "stand-in")
    assert plan.resolve_dataset("croph_m") == ("algae_blooms", "stand-in")
    assert plan.resolve_dataset("tsaits") == ("toy_multilabel", "synthetic")
    assert plan.resolve_dataset("tsaits", allow_synthetic=False) == ("tsaits", "absent")
    assert plan.resolve_dataset("algae_blooms") == ("algae_blooms", "stand-in")
    assert plan.resolve_dataset("toy_binary") == ("toy_binary", "synthetic")
    present.discard("algae_blooms")
    assert plan.resolve_dataset("croph_m", allow_synthetic=False) == ("croph_m", "absent")
    with pytest.raises(ValueError, match="unknown dataset"):
        plan.resolve_dataset("nope")


@pytest.fixture
def toy_world(monkeypatch):
    """Only the synthetic datasets exist: every benchmark resolves to synthetic data at smoke."""
    monkeypatch.setattr(plan, "dataset_available", lambda name: name.startswith("toy_"))


def test_configs_per_notebook(toy_world):
    assert plan.configs("01_data_overview", "smoke") == []
    main = plan.configs("02_main_results", "smoke", "lfmc")
    from mdico_core.experiments import load_profile

    assert {c.dataset for c in main} == {"toy_regression"}
    assert {c.method for c in main} == {"individual", "mdico", *load_profile("smoke").methods}
    abl = plan.configs("03_ablation", "smoke")
    assert {c.variant for c in abl if c.method == "mdico"} == set(plan.ABLATION_VARIANTS)
    enc = plan.configs("05_encoders", "smoke")
    assert {c.encoder for c in enc} == set(plan.ENCODERS)
    rel = plan.configs("09_released_vs_paper", "smoke")
    assert {(c.method, c.variant, c.protocol) for c in rel} == {
        ("individual", "default", "paper"), ("individual", "default", "released"),
        ("mdico", "default", "paper"), ("mdico", "released", "paper"),
        ("mdico", "default", "released"), ("mdico", "released", "released")}
    assert plan.configs("04_shared_specific", "smoke", "lfmc")[0].dataset == "toy_regression"  # page override
    with pytest.raises(ValueError, match="valid notebooks"):
        plan.configs("99_nope", "smoke")


def test_configs_seeds_folds_and_dedup(toy_world):
    cfgs = plan.configs("02_main_results", "smoke", "croph_b", seeds=(5, 6), folds=(1,))
    assert {(c.seed, c.fold) for c in cfgs} == {(5, 1), (6, 1)}
    allc = plan.all_configs("smoke")
    ids = [c.run_id for c in allc]
    assert len(ids) == len(set(ids))
    # every page's runs are in the book's sweep, so no page trains anything after it
    for nb in plan.NOTEBOOKS:
        assert {c.run_id for c in plan.configs(nb, "smoke")} <= set(ids)


def test_quick_plan_is_smaller_than_paper(monkeypatch):
    monkeypatch.setattr(plan, "dataset_available", lambda name: name in ("lfmc", "algae_blooms"))
    quick = plan.all_configs("quick")
    assert {c.dataset for c in quick} == {"lfmc", "algae_blooms"}  # TreeSatAI absent: no synthetic stand-in
    assert 0 < len(quick) < len(plan.all_configs("paper"))
    assert plan.book_plan("quick").encoder_datasets == ("lfmc",)
    assert not plan.book_plan("quick").synthetic_fallback


def test_book_plan_override_from_profile():
    from dataclasses import replace

    from mdico_core.experiments import load_profile

    class WithBook:  # a profile carrying a ``book:`` mapping, as a yaml may one day
        def __init__(self, book):
            self._p, self.book = load_profile("smoke"), book

        def __getattr__(self, k):
            return getattr(self._p, k)

    assert plan.book_plan(WithBook({"encoders": ["mlp"]})) == replace(plan.BOOK_PLANS["smoke"], encoders=("mlp",))
    with pytest.raises(ValueError, match="unknown book plan field"):
        plan.book_plan(WithBook({"nope": 1}))


def test_page_reads_only_its_runs(toy_world, tmp_path):
    pg = plan.page("07_loss_curves", "smoke", results_dir=str(tmp_path), run=False)
    assert pg.report is None and pg.records() == [] and pg.frame().empty and pg.failures().empty
    assert set(pg.datasets) == set(plan.book_plan("smoke").loss_datasets)
    assert "Profile `smoke`" in pg.banner()


def test_page_targets_merge_benchmarks_sharing_a_stand_in(monkeypatch, tmp_path):
    monkeypatch.setattr(plan, "dataset_available", lambda name: name in ("lfmc", "algae_blooms"))
    pg = plan.page("06_tsne", "quick", results_dir=str(tmp_path), run=False)
    assert pg.targets() == [("TSAITS", "tsaits", "absent"), ("CropH-b / CropH-m", "algae_blooms", "stand-in"),
                            ("LFMC", "lfmc", "real")]
    assert {c.dataset for c in pg.configs} == {"algae_blooms", "lfmc"}


def test_page_lists_its_failed_runs(toy_world, tmp_path):
    from mdico_core.experiments import ResultsStore

    pg = plan.page("07_loss_curves", "smoke", results_dir=str(tmp_path), run=False)
    ResultsStore(tmp_path).save_failure(pg.configs[0], "RuntimeError: boom")
    fails = pg.failures()
    assert fails["message"].tolist() == ["RuntimeError: boom"]
    assert fails["run"].iloc[0].startswith(f"{pg.configs[0].dataset} mdico tempcnn paper fold 0 seed 0")


def test_paper_facts_in_the_prose_come_from_the_paper_tables():
    from mdico_core.reporting.tables import paper_table

    t = paper_table("table7").set_index("variant")
    slow = [c for c in t.columns if t.loc["shared features only", c] > t.loc["specific features only", c]]
    assert slow == ["croph_b_s1", "croph_m_s1", "lfmc_l8"]
    assert fg.paper_shared_wins() == "CropH-b S1, CropH-m S1, LFMC L8"
    t6 = paper_table("table6").set_index("variant")
    assert fg.paper_ablation_drop("croph_m", "s1", "w/o contrastive loss") == pytest.approx(
        t6.loc["w/o contrastive loss", "croph_m_s1"] - t6.loc["MDiCo", "croph_m_s1"])
    assert np.isnan(fg.paper_ablation_drop("lfmc", "l8", "w/o contrastive loss"))  # not ablated in the paper
