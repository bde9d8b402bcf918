"""Beyond the paper (reporting/analyses/beyond.py): views at training on hand-made runs, and the page from fake archives."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mdico_core.reporting.analyses import beyond as by
from mdico_core.reporting.analyses.stats_table import results_table
from mdico_core.reporting.core import format as fmt
from mdico_core.reporting.core import stats

VIEWS = ("A", "B", "C")
FOLDS, SEEDS = range(5), (0, 1)  # 10 (fold, seed) runs
BASE = {"A": 60.0, "B": 70.0, "C": 80.0}
# the score of view v when trained on a set: its base, + 2 per extra view, + 3 more when C is a partner
TRAINED_ON = {None: 8.0, "A,B": 2.0, "A,C": 5.0, "B,C": 5.0}


def _row(method, modalities, view, fold, seed, value, **extra):
    return {"run_id": f"{method}-{modalities}-{fold}-{seed}", "dataset": "mfeat", "method": method,
            "variant": "default", "encoder": "mlp", "protocol": "paper", "settings": "common", "monitor": "total",
            "fold": fold, "n_folds": 10, "seed": seed, "modalities": modalities, "view": view,
            "metric": "f1_weighted", "value": value, "status": "done", "task": "multiclass", "n_train": 1440,
            "n_test": 200, **extra}


def _runs(noise: float = 0.5) -> pd.DataFrame:
    """Individual and MDiCo on the three views, MDiCo on each pair, InputFu (fusion); MDiCo also scores a
    shared-feature view, which the study ignores."""
    rng, rows = np.random.default_rng(0), []
    for seed in SEEDS:
        for fold in FOLDS:
            for v in VIEWS:
                rows.append(_row("individual", None, v, fold, seed, BASE[v] + noise * rng.standard_normal()))
                rows.append(_row("mdico", None, f"{v}:shared", fold, seed, 0.0))
            rows.append(_row("inputfu", None, "fusion", fold, seed, 90.0))
            for mods, gain in TRAINED_ON.items():
                for v in (VIEWS if mods is None else mods.split(",")):
                    rows.append(_row("mdico", mods, v, fold, seed, BASE[v] + gain + noise * rng.standard_normal()))
    return pd.DataFrame(rows)


def test_training_views_read_modalities_or_every_view_of_the_data():
    runs = _runs()
    sets = by.training_views(runs)
    assert set(sets[runs["modalities"].isna()]) == {VIEWS}
    assert set(sets[runs["modalities"] == "A,C"]) == {("A", "C")}
    assert by.full_set(runs)["modalities"].isna().all() and len(by.full_set(runs)) == runs["modalities"].isna().sum()


def test_views_at_training_levels_partners_and_the_baseline():
    runs = _runs()
    curve = by.views_at_training(runs)
    assert list(curve.columns) == by.CURVE and ":" not in "".join(curve["view"]) and "fusion" not in set(curve["view"])
    a = curve[curve["view"] == "A"]
    assert sorted(set(zip(a["n_views"], a["trained_on"], a["partners"]))) == [
        (1, "A", ""), (2, "A+B", "B"), (2, "A+C", "C"), (3, "A+B+C", "B+C")]
    assert (a.groupby("trained_on").size() == 10).all()
    assert set(curve.loc[curve["n_views"] == 1, "method"]) == {"individual"}
    one = runs[(runs["method"] == "individual") & (runs["view"] == "A") & (runs["fold"] == 3) & (runs["seed"] == 1)]
    assert a[(a["n_views"] == 1) & (a["fold"] == 3) & (a["seed"] == 1)]["value"].item() == one["value"].item()
    # Individual within a subset too (one model per view): the score of its largest training set is kept
    extra = pd.DataFrame([_row("individual", "A,B", "A", 0, 0, -1.0)])
    again = by.views_at_training(pd.concat([runs, extra], ignore_index=True))
    kept = again[(again["n_views"] == 1) & (again["view"] == "A") & (again["fold"] == 0) & (again["seed"] == 0)]
    assert len(kept) == 1 and kept["value"].item() != -1.0
    with pytest.raises(ValueError, match="mixes sweeps"):
        by.views_at_training(pd.concat([runs, runs.assign(run_id=runs["run_id"] + "x")], ignore_index=True))
    with pytest.raises(ValueError, match="one dataset"):
        by.views_at_training(pd.concat([runs, runs.assign(dataset="other")], ignore_index=True))
    assert by.views_at_training(runs.iloc[:0]).empty


def _slow_tests(curve: pd.DataFrame, ratio: float) -> dict[tuple[str, str], tuple[int, float, float]]:
    """(view, comparison) -> (n, mean difference, corrected p), by plain loops over (fold, seed)."""
    out = {}
    for v in VIEWS:
        partners = [w for w in VIEWS if w != v]
        value = {(r.n_views, r.partners, r.fold, r.seed): r.value for r in curve[curve["view"] == v].itertuples()}
        blocks = [(f, s) for s in SEEDS for f in FOLDS if all((2, w, f, s) in value for w in partners)]
        pair_mean = {b: np.mean([value[(2, w, *b)] for w in partners]) for b in blocks}
        best = max(partners, key=lambda w: np.mean([value[(2, w, *b)] for b in blocks]))
        others = "+".join(partners)
        for name, x, ref in ((by.TWO_VS_ONE, pair_mean, {b: value[(1, "", *b)] for b in blocks}),
                             (by.ALL_VS_TWO, {b: value[(3, others, *b)] for b in blocks}, pair_mean),
                             (by.ALL_VS_BEST, {b: value[(3, others, *b)] for b in blocks},
                              {b: value[(2, best, *b)] for b in blocks})):
            d = np.array([x[b] - ref[b] for b in blocks])
            out[(v, name)] = (len(d), d.mean(), stats.corrected_ttest(d, ratio).p)
    return out


def test_views_tests_match_a_slow_recomputation_and_take_their_words_from_holm():
    runs = _runs()
    ratio = stats.split_ratio(runs)
    assert ratio == pytest.approx(200 / 1440)
    curve = by.views_at_training(runs)
    t = by.views_tests(curve, ratio)
    assert len(t) == 9 and set(t["holm_m"]) == {9} and set(t["possible"]) == {2} and set(t["pairs"]) == {2}
    slow = _slow_tests(curve, ratio)
    for r in t.itertuples():
        n, diff, p = slow[(r.view, r.comparison)]
        assert (r.n_pairs, r.diff, r.p_corrected) == (n, pytest.approx(diff), pytest.approx(p)), (r.view, r.comparison)
    assert t["p_holm"].tolist() == pytest.approx(stats.holm(t["p_corrected"].to_numpy()).tolist())
    a = t.set_index(["view", "comparison"])
    # A: pairs +3.5 over Individual, all three +4.5 over the mean of pairs, +3 over its best pair (A + C)
    assert a.loc[("A", by.TWO_VS_ONE), "diff"] == pytest.approx(3.5, abs=0.5)
    assert a.loc[("A", by.ALL_VS_TWO), "verdict"].startswith("significantly higher (corrected t-test, Holm p")
    assert a.loc[("A", by.ALL_VS_BEST), "reference"] == "MDiCo on A + C (best pair)"
    assert a.loc[("A", by.TWO_VS_ONE), "reference"] == "Individual (A alone)"
    assert a.loc[("C", by.ALL_VS_TWO), "x"] == "MDiCo on all 3"
    # a run lacking one of a view's pairs leaves that view's means over pairs (not its baseline test's x alone)
    holed = runs[~((runs["modalities"] == "A,B") & (runs["fold"] == 0) & (runs["seed"] == 0))]
    t2 = by.views_tests(by.views_at_training(holed), ratio).set_index(["view", "comparison"])
    assert t2.loc[("A", by.ALL_VS_TWO), "n_pairs"] == 9 and t2.loc[("C", by.ALL_VS_TWO), "n_pairs"] == 10
    shown = by.format_views_tests(t)
    assert list(shown["pairs"].unique()) == ["2 of 2"] and "p (Holm, 9 tests)" in shown
    # the method moves to the header; the rows keep what differs
    a_rows = shown[shown["view"] == "A"]
    assert a_rows["MDiCo trained on"].tolist() == ["A + one other (mean of 2 pairs)", "all 3", "all 3"]
    assert a_rows["vs"].tolist() == ["Individual (A alone)", "A + one other (mean of 2 pairs)", "A + C (best pair)"]


def test_views_tests_say_not_tested_below_five_runs_and_without_the_full_set():
    runs = _runs()
    few = runs[(runs["seed"] == 0) & (runs["fold"] < 3)]
    t = by.views_tests(by.views_at_training(few), 0.1)
    assert t["verdict"].str.startswith("not tested (n = 3").all() and t["p_corrected"].isna().all()
    assert set(by.format_views_tests(t)["p (corrected t)"]) == {"n = 3"}
    # nothing tested: no "Holm over the 0 tests", no column of them
    assert "p (Holm, 0 tests)" not in by.format_views_tests(t) and "0 tests" not in by.views_caption(t)
    assert "Nothing is tested here" in by.views_caption(t)
    pairs_only = runs[runs["modalities"].notna() | (runs["method"] == "individual")]
    t = by.views_tests(by.views_at_training(pairs_only), 0.1)
    # Individual's runs are on all three views, so the full set is 3; no MDiCo on all three: 2 vs 1 only
    assert set(t["comparison"]) == {by.TWO_VS_ONE} and set(t["possible"]) == {2}
    assert by.views_tests(by.views_at_training(runs.iloc[:0]), 0.1).empty


def test_wide_methods_marks_cells_by_their_holm_test():
    runs = _runs()
    table = results_table(by.full_set(runs[~runs["view"].str.contains(":")]))
    wide = by.wide_methods(table).set_index("method")
    assert list(wide.columns) == ["A", "B", "C", "fusion"]
    mdico_a = table[(table["method"] == "mdico") & (table["view"] == "A")].iloc[0]
    assert wide.loc["MDiCo", "A"] == f"{mdico_a['mean']:.1f} ± {mdico_a['std']:.1f} ▲"  # about 68: +8 over 60
    assert "▲" not in wide.loc["Individual", "A"] and wide.loc["InputFu", "fusion"] == "90.0 ± 0.0"
    assert wide.loc["InputFu", "A"] == ""


def test_ranks_over_views_and_by_view():
    runs = by.full_set(_runs())
    runs = pd.concat([runs, runs[runs["method"] == "individual"].assign(method="dml", value=lambda d: d["value"] - 1)])
    result = by.rank_over_views(runs)
    assert result.n_blocks == 3 * 10 and list(result.ranks.index) == ["MDiCo", "Individual", "DML"]
    assert result.ranks.tolist() == [1.0, 2.0, 3.0] and "blocks: 3 views" in result.label
    per_view = by.ranks_by_view(runs).set_index("method")
    assert per_view.loc["MDiCo"].tolist() == ["1.00"] * 3 and per_view.loc["N (runs)"].tolist() == ["10"] * 3
    from mdico_core.reporting.analyses.ranks import rank_caption

    caption = rank_caption(result, blocks="blocks, one per view of each (fold, seed) run")
    assert "N = 30 blocks, one per view of each (fold, seed) run" in caption
    with pytest.raises(ValueError, match="at least 3 methods"):
        by.rank_over_views(by.full_set(_runs()))


def test_primary_runs_prefer_the_archives_that_hold_the_dataset():
    runs = _runs()
    res = {"mfeat": SimpleNamespace(dataset="mfeat")}
    arch = SimpleNamespace(datasets=res, frame=lambda: runs)
    other = SimpleNamespace(datasets={"lfmc": SimpleNamespace(dataset="presto_lfmc")}, frame=lambda: runs.iloc[:0])
    live = SimpleNamespace(datasets=res, frame=lambda: runs.iloc[:4])
    got, sources = by.primary_runs([other, arch, arch, None], live, "mfeat")
    assert sources == [arch, arch] and len(got) == len(runs)  # one row per (run, view, metric)
    got, sources = by.primary_runs([other], live, "mfeat")
    assert sources == [live] and len(got) == 4
    got, sources = by.primary_runs([], SimpleNamespace(frame=lambda: runs.iloc[:0]), "mfeat")
    assert got.empty and sources == []


def test_views_figure_has_a_panel_per_view():
    import matplotlib

    matplotlib.use("Agg")
    fig = by.plot_views_at_training(by.views_at_training(_runs()), "weighted F1 (%)")
    shown = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in shown] == list(VIEWS)
    assert [t.get_text() for t in shown[0].get_xticklabels()] == ["1\n(alone)", "2", "3"]
    with pytest.raises(ValueError, match="no runs"):
        by.plot_views_at_training(by.views_at_training(_runs().iloc[:0]))


# ---------------------------------------------------------------------------------- the page from fake archives
@pytest.mark.book
@pytest.mark.slow
def test_beyond_page_from_fake_archives_shows_every_section_and_the_rerun_check(tmp_path, monkeypatch, real_data):
    """Smoke sweeps exported as three small archives (mfeat: four methods on all six views and MDiCo on the
    pairs of three; presto_lfmc: its design in full), 5 seeds each, and the book's smoke re-run: the page
    prints every table, figure and verdict, with sentences worded by the tests."""
    nbformat = pytest.importorskip("nbformat")
    pm = pytest.importorskip("papermill")
    pytest.importorskip("baycomp")
    import mdico_core.experiments.runner as runner
    from mdico_core.data import get_dataset_entry
    from mdico_core.experiments import ResultsStore, sweep
    from mdico_core.experiments.archive_io import export_archive
    from mdico_core.experiments.archives import PRESTO_MODALITIES, Archive, Part, _pairs
    from mdico_core.reporting.book import book_plan

    real_data(*get_dataset_entry("mfeat").files, *get_dataset_entry("presto_lfmc").files)
    monkeypatch.setattr(runner, "code_version", lambda: {"package_version": "0", "git_commit": "c" * 40,
                                                         "git_dirty": False})
    seeds = (0, 1, 2, 3, 4)
    fakes = (
        Archive("fake_methods", "fake", "mfeat", (Part(("individual", "mdico", "inputfu", "embracenet"),
                                                       encoders=("mlp",), seeds=seeds),), profile="smoke"),
        Archive("fake_views", "fake", "mfeat", tuple(Part(("mdico",), encoders=("mlp",), seeds=seeds, modalities=p)
                                                     for p in _pairs(("fou", "kar", "mor"))), profile="smoke"),
        Archive("fake_presto", "fake", "presto_lfmc",
                (Part(("individual", "mdico"), seeds=seeds),
                 *(Part(("mdico",), seeds=seeds, modalities=p) for p in _pairs(PRESTO_MODALITIES))), profile="smoke"))
    archive_store, live_store = ResultsStore(tmp_path / "archive_store"), tmp_path / "results"
    for fake in fakes:
        sweep(fake.configs(), store=archive_store, progress=False, profile="smoke")
        export_archive(fake, archive_store, folder=tmp_path)
    sweep(book_plan.configs(book_plan.BEYOND, "smoke"), store=ResultsStore(live_store), progress=False, profile="smoke")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "10.ipynb"
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    archives = ",".join(str(tmp_path / f"{a.name}.csv") for a in fakes)
    pm.execute_notebook(str(notebooks / f"{book_plan.BEYOND}.ipynb"), str(out), cwd=str(notebooks),
                        progress_bar=False, parameters={"profile": "smoke", "results_dir": str(live_store),
                                                        "archive": archives})
    cells = nbformat.read(out, as_version=4).cells
    text = json.dumps(cells)
    for expected in ("mfeat is not Earth observation", "stand-in of the paper's LFMC", "fake_methods.csv",
                     "fake_presto.csv", "STAND-IN", "significantly higher / lower than Individual", "EmbraceNet",
                     "InputFu", "p (Holm, 12 tests)", "Average rank of each method (mfeat, blocks: 6 views",
                     "MDiCo trained on", "fou + one other (mean of 2 pairs)", "2 of 5", "all 6", "fou + ",
                     "(best pair)", "S1 + one other (mean of 2 pairs)", "2 of 2", "all 3",
                     # the smoke re-run repeats the fake archives' own runs: each is checked against its twin
                     "your re-run matches its archived twin run by run on"):
        assert expected in text, expected
    figures = [o for c in cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    # the forest plot of the page's claims (from the shipped archives), the CD diagram, the two views figures
    assert len(figures) == 4
    assert "The claims this page is evidence for" in text
    glued = {o["metadata"]["scrapbook"]["name"]: next(iter(o["data"].values()))
             for c in cells if c.cell_type == "code" for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {})}
    assert glued["mfeat_n"] == "'5'"
    for key in ("mfeat_mdico", "mfeat_all", "views_two", "views_all", "views_best", "presto_mdico", "presto_two",
                "presto_all", "presto_best"):
        words = glued[key]
        assert any(w in words for w in ("significantly", "no detectable difference")), (key, words)


def test_span_words_never_repeats_an_equal_count():
    assert fmt.span_words(pd.Series([50, 50])) == "50" and fmt.span_words(pd.Series([45, 50, 48])) == "45–50"
