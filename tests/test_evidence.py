"""What the pages print as evidence (reporting/analyses/evidence.py, fidelity.py) and a page built from a fake archive."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mdico_core.reporting.analyses import evidence as ev
from mdico_core.reporting.analyses import fidelity as fid
from mdico_core.reporting.analyses.stats_table import Cell
from mdico_core.reporting.core import stats


def _runs(cells: dict, folds: int = 10, seeds=(0,), dataset: str = "lfmc", metric: str = "r2", spread: float = 0.01,
          **extra) -> pd.DataFrame:
    """Tidy runs: `cells` maps (method, variant, protocol, settings, monitor, view) -> mean; noise per run."""
    rng, rows = np.random.default_rng(3), []
    for (method, variant, protocol, settings, monitor, view), mean in cells.items():
        for seed in seeds:
            for fold in range(folds):
                rows.append({"run_id": f"{method}{variant}{protocol}{settings}{monitor}{fold}{seed}", "dataset": dataset,
                             "method": method, "variant": variant, "encoder": "tempcnn", "protocol": protocol,
                             "settings": settings, "monitor": monitor, "fold": fold, "seed": seed, "n_folds": 10,
                             "view": view, "metric": metric, "value": mean + spread * rng.standard_normal(),
                             "status": "done", "task": "regression", "best_epoch": 5, **extra})
    return pd.DataFrame(rows)


def _cell(method="mdico", variant="default", protocol="paper", settings="common", monitor="total", view="L8"):
    return (method, variant, protocol, settings, monitor, view)


# ---------------------------------------------------------------------------------- references
def test_references_of_the_pages():
    c = Cell("mdico", "default", "tempcnn", "paper", "S1")
    assert ev.main_reference(c) == c._replace(method="individual")
    assert ev.main_reference(c._replace(method="inputfu", view="fusion")) is None
    assert ev.feature_space_reference(c._replace(view="S1:specific")) == c._replace(view="S1:shared")
    assert ev.feature_space_reference(c._replace(view="S1:shared")) == c
    assert ev.feature_space_reference(c) is None
    paper_mdico = c
    assert ev.released_reference(c) == c._replace(method="individual")  # the anchor: MDiCo's gain
    assert ev.released_reference(c._replace(variant="rel_tau")) == paper_mdico
    assert ev.released_reference(c._replace(protocol="released_validation")) == paper_mdico
    assert ev.released_reference(c._replace(variant="released", protocol="released")) == paper_mdico
    ind = c._replace(method="individual")
    assert ev.released_reference(ind) is None and ev.released_reference(ind._replace(protocol="released")) == ind


def test_sentence_and_tally_take_their_words_from_the_test():
    runs = _runs({_cell("individual"): 0.40, _cell(): 0.45, _cell(variant="no_cont"): 0.449})
    table = ev.tested(runs)
    words = ev.sentence(table, "mdico", "L8")
    assert words.startswith("0.44") and "(n = 10), +0.05" in words and "against Individual, L8: significantly higher" in words
    assert "P(better) = 1.00" in words
    assert "no detectable difference" in ev.sentence(table, "mdico", "L8", "no_cont")
    assert ev.sentence(table, "mdico", "S1") == "n/a"
    assert ev.tally(table) == "1 significantly higher, 1 with no detectable difference"
    few = ev.tested(_runs({_cell("individual"): 0.40, _cell(): 0.45}, folds=3))
    assert ev.sentence(few, "mdico", "L8").endswith("not tested (n = 3, fewer than 5 paired runs)")
    assert "±" not in ev.sentence(few, "mdico", "L8")
    assert ev.tally(few) == "1 not tested (fewer than 5 paired runs)"


def test_gain_table_tests_the_change_of_the_gain_run_by_run():
    runs = _runs({_cell("individual"): 0.40, _cell(): 0.45, _cell("individual", monitor="task"): 0.40,
                  _cell(monitor="task"): 0.41})
    t = ev.gain_table(runs, "monitor", ["total", "task"])
    assert list(t["factor"]) == ["total", "task"] and (t["n"] == 10).all()
    wide = runs.pivot_table(index=["fold", "seed"], columns=["monitor", "method"], values="value")
    g_total = wide[("total", "mdico")] - wide[("total", "individual")]
    g_task = wide[("task", "mdico")] - wide[("task", "individual")]
    assert t["gain"].tolist() == pytest.approx([g_total.mean(), g_task.mean()])
    change = (g_task - g_total).to_numpy()
    assert t["change"].iloc[1] == pytest.approx(change.mean())
    ratio = stats.split_ratio(runs)
    raw = [stats.corrected_ttest(g_total.to_numpy(), ratio).p, stats.corrected_ttest(g_task.to_numpy(), ratio).p,
           stats.corrected_ttest(change, ratio).p]
    holm = stats.holm(raw)  # one family: the gains and the change
    assert t["p_gain"].tolist() == pytest.approx(holm[:2]) and t["p_change"].iloc[1] == pytest.approx(holm[2])
    assert t["verdict_change"].iloc[1].startswith("significantly lower") and t["verdict_change"].iloc[0] == ""
    shown = ev.format_gains(t, "monitor")
    assert shown["MDiCo − Individual"].iloc[0].startswith("+0.05") and shown["p of the change (corrected t, Holm)"][0] == ""
    few = ev.format_gains(ev.gain_table(runs[runs["fold"] < 3], "monitor", ["total", "task"]), "monitor")
    assert set(few["p (corrected t, Holm)"]) == {"n = 3"}


# ---------------------------------------------------------------------------------- the paper vs the settings
def _paper_cmp(runs: pd.DataFrame, paper_values: dict) -> pd.DataFrame:
    """A ``compare_with_paper``-like frame of `runs` with the paper's `paper_values` (method, view) -> value."""
    from mdico_core.reporting.core.compare import aggregate, paper_name

    agg = aggregate(runs)
    agg["paper_method"] = agg["method"].map(paper_name)
    agg["paper"] = [paper_values.get((m, v), np.nan) for m, v in zip(agg["method"], agg["view"])]
    agg["diff"] = agg["mean"] - agg["paper"]
    return agg


def test_deviations_give_the_reason_the_runs_support():
    paper = {("individual", "L8"): 0.43, ("embracenet", "L8"): 0.08, ("shaspec", "L8"): 0.19, ("dml", "L8"): 0.42,
             ("decur", "L8"): 0.42, ("fmoddrop", "L8"): 0.28}
    original = _runs({_cell("individual"): 0.43, _cell("embracenet", settings="original"): 0.42,  # no collapse
                      _cell("shaspec", settings="original"): 0.35, _cell("dml", settings="original"): 0.42,
                      _cell("decur", settings="original"): 0.10,  # collapses here only
                      _cell("fmoddrop", settings="original"): 0.36})
    common = _runs({_cell("individual"): 0.43, _cell("embracenet"): 0.41, _cell("shaspec"): 0.19,  # as the paper
                    _cell("dml"): 0.42, _cell("decur"): 0.40, _cell("fmoddrop"): 0.37})
    original.loc[original["method"] == "decur", "best_epoch"] = 1
    cmps = {"original": _paper_cmp(original, paper), "common": _paper_cmp(common, paper)}
    devs = fid.deviations(cmps, {"original": original, "common": common}).set_index("method")
    assert "DML" not in devs.index  # the paper's value lies within our spread: as reported
    assert devs.loc["EmbraceNet", "reason"].startswith("no drop")
    assert "-0.350 vs Individual" in devs.loc["EmbraceNet", "what"]
    assert devs.loc["ShaSpec", "reason"].startswith("settings: under the `common` settings it scores 0.19")
    assert devs.loc["DeCUR", "reason"].startswith("drop here") and "median epoch 1 (Individual: 5)" in devs.loc[
        "DeCUR", "reason"]
    assert devs.loc["FModDrop", "reason"].startswith("gap differs")
    # a table that moved as a whole: Individual off its paper value by as much as the method
    shifted = _runs({_cell("individual"): 0.53, _cell("fmoddrop", settings="original"): 0.38})
    cmps = {"original": _paper_cmp(shifted, paper)}
    devs = fid.deviations(cmps, {"original": shifted})
    assert devs["reason"].iloc[0].startswith("table shift")
    close = fid.closeness({"original": _paper_cmp(original, paper), "common": _paper_cmp(common, paper)})
    assert close.set_index("settings")["cells"].tolist() == [5, 5]
    assert close.set_index("settings").loc["common", "paper_inside"] > close.set_index("settings").loc[
        "original", "paper_inside"]
    prose = fid.settings_prose({"original": _paper_cmp(original, paper), "common": _paper_cmp(common, paper)})
    assert "`original` settings, this page's primary comparison" in prose
    assert "nearer to the `common` settings, although its text describes the `original` ones" in prose
    side = fid.side_by_side({"original": _paper_cmp(original, paper), "common": _paper_cmp(common, paper)})
    row = side.set_index("method").loc["EmbraceNet"]
    assert row["paper"] == "0.080" and row["original − paper"].startswith("+0.3") and row["common (mean ± std)"].endswith(
        "(10)")


# ---------------------------------------------------------------------------------- the re-run check
def _live(frame: pd.DataFrame, missing=()):
    return SimpleNamespace(frame=lambda: frame, missing=lambda: list(missing), profile=SimpleNamespace(name="quick"),
                           store=SimpleNamespace(root="results"), fill_command=lambda: "mdico book --only x")


def test_rerun_checks_compare_cells_of_the_same_settings_and_monitor(monkeypatch):
    archive = _runs({_cell("individual"): 0.40, _cell("embracenet"): 0.30, _cell("embracenet", settings="original"): 0.1,
                     _cell(monitor="task"): 0.40, _cell(): 0.45})
    rerun = _runs({_cell("individual"): 0.40, _cell("embracenet"): 0.30, _cell(): 0.10, _cell(monitor="task"): 0.40},
                  folds=3, spread=0.0)
    rerun = pd.concat([rerun, _runs({_cell("individual"): 0.9}, dataset="toy_regression", folds=1)])  # another dataset
    rerun["run_id"] = "quick-" + rerun["run_id"].astype(str)  # another budget: no archived twin, the spread check
    checks = ev.rerun_checks(archive, rerun[rerun["dataset"] == "lfmc"])
    marks = checks.set_index(["method", "settings", "monitor"])["mark"].to_dict()
    assert marks == {("embracenet", "common", "total"): "✓", ("individual", "common", "total"): "✓",
                     ("mdico", "common", "task"): "✓", ("mdico", "common", "total"): "✗"}  # original: not re-run
    shown = []
    monkeypatch.setattr(ev.fmt, "show_markdown", shown.append)
    monkeypatch.setattr(ev, "_display", lambda obj: shown.append(obj))
    line = ev.show_rerun(archive, _live(rerun, missing=[SimpleNamespace(dataset="lfmc")]))
    assert line.startswith("your re-run agrees with the archived results on 3 of 4 cells")
    assert "outside the archive's interval: mdico L8" in line
    assert "12 run(s) of this page's runs on lfmc" in shown[0] and "1 of its runs are not in the store" in shown[0]
    table = ev.format_checks(checks)
    assert list(table["agrees"]) == list(checks["mark"]) and "monitor" in table and "settings" not in table
    assert ev.show_rerun(archive, _live(rerun.iloc[:0])) == ""


# ---------------------------------------------------------------------------------- a page from a fake archive
@pytest.mark.book
@pytest.mark.slow
def test_main_page_from_a_fake_archive_shows_both_settings_and_the_rerun_check(tmp_path, monkeypatch, real_data):
    """A smoke sweep exported as an archive (both settings, 5 seeds) and a smoke re-run: the archived
    main page prints both settings beside the paper, the tested tables, the CD diagrams, the reasons
    for deviations and the concordance verdict."""
    nbformat = pytest.importorskip("nbformat")
    pm = pytest.importorskip("papermill")
    pytest.importorskip("baycomp")
    import mdico_core.experiments.runner as runner
    from mdico_core.data import get_dataset_entry
    from mdico_core.experiments import ResultsStore, sweep
    from mdico_core.experiments.archive_io import export_archive
    from mdico_core.experiments.archives import Archive, Companion, Part
    from mdico_core.reporting.book import book_plan

    real_data(*get_dataset_entry("lfmc").files)
    monkeypatch.setattr(runner, "code_version", lambda: {"package_version": "0", "git_commit": "c" * 40,
                                                         "git_dirty": False})
    methods = ("individual", "mdico", "embracenet", "inputfu")
    fake = Archive("fake_main", "fake", "lfmc", (Part(methods, seeds=(0, 1, 2, 3, 4)),
                                                 Part(methods, settings="original", seeds=(0, 1, 2, 3, 4))),
                   Companion(histories=({"method": "mdico"},)), profile="smoke")
    archive_store, live_store = ResultsStore(tmp_path / "archive_store"), tmp_path / "results"
    sweep(fake.configs(), store=archive_store, progress=False, profile="smoke")
    export_archive(fake, archive_store, folder=tmp_path)
    sweep(book_plan.configs("02_main_results", "smoke", "lfmc"), store=ResultsStore(live_store), progress=False,
          profile="smoke")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "02.ipynb"
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    pm.execute_notebook(str(notebooks / "02_main_results.ipynb"), str(out), cwd=str(notebooks), progress_bar=False,
                        parameters={"profile": "smoke", "dataset": "lfmc", "results_dir": str(live_store),
                                    "archive": str(tmp_path / "fake_main.csv")})
    text = json.dumps(nbformat.read(out, as_version=4).cells)
    for expected in ("both, side by side: `original`", "Both settings beside the paper",
                     "original settings: each method against Individual", "common settings: each method against Individual",
                     "p (Holm, ", "P(better)", "Wilcoxon p (uncorrected)", "Average rank of each method",
                     "MDiCo minus Individual:", "Where ours differs from the paper",
                     # the smoke re-run repeats the fake archive's own runs: each checked against its twin
                     "your re-run matches its archived twin run by run on"):
        assert expected in text, expected
    glued = {o["metadata"]["scrapbook"]["name"]: next(iter(o["data"].values()))
             for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"
             for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {})}
    assert glued["primary"] == "'original'" and "(n = 5)" in glued["headline"] and "against Individual" in glued["headline"]
    assert "n/a" not in glued["headline"] and "Re-run this page:" in text and "-p archive" in text


def test_a_run_interval_stops_at_the_metric_s_bounds():
    """An F1 interval does not reach 100.3, nor an R² one 1.02: the spread is cut at what a run can score."""
    from mdico_core.reporting.analyses import concordance

    f1 = [96.5, 99.9, 100.0, 97.0, 100.0, 99.5]
    mean, lo, hi = concordance.interval(f1, bounds=concordance.metric_bounds("f1_weighted"))
    assert hi == 100.0 and lo < mean < hi
    assert concordance.interval(f1)[2] > 100  # uncut, as the raw rule gives
    assert concordance.metric_bounds("r2") == (-np.inf, 1.0)
    assert concordance.check_cell(f1, [99.0], bounds=(0.0, 100.0))["high"] == 100.0
