"""The thread-count study (reporting/analyses/threads.py): hand-made runs against slow re-computations, an archive
round trip with two stores (1 and 2 threads), and the reproducibility page that shows it."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from mdico_core.experiments.records import tidy_frame
from mdico_core.reporting.analyses import concordance
from mdico_core.reporting.analyses import threads as th
from mdico_core.reporting.analyses.stats_table import results_table
from mdico_core.reporting.core import format as fmt
from mdico_core.reporting.core import stats

matplotlib.use("Agg")
FOLDS, VIEWS = range(10), ("S1", "L8")
BASE = {("individual", "S1"): 0.40, ("individual", "L8"): 0.30, ("mdico", "S1"): 0.40, ("mdico", "L8"): 0.36}


def _row(method, view, fold, seed, value, threads=1, best=5, epochs=10, **extra):
    return {"run_id": f"{method}-{fold}-{seed}", "dataset": "lfmc", "method": method, "variant": "default",
            "encoder": "tempcnn", "protocol": "paper", "settings": "common", "monitor": "total", "fold": fold,
            "n_folds": 10, "seed": seed, "view": view, "metric": "r2", "value": value, "epochs_run": epochs,
            "best_epoch": best, "status": "done", "task": "regression", "profile": "paper", "n_train": 2088,
            "n_test": 258, "torch_threads": threads, **extra}


def _archive(seeds=(0, 1, 2, 3, 4), noise=0.05, seed=0) -> pd.DataFrame:
    """Individual and MDiCo on S1 and L8, 10 folds x `seeds`, 1 thread; MDiCo also scores a shared view."""
    rng, rows = np.random.default_rng(seed), []
    for s in seeds:
        for f in FOLDS:
            for (m, v), base in BASE.items():
                rows.append(_row(m, v, f, s, base + 0.02 * np.sin(f) + noise * rng.standard_normal()))
            rows.append(_row("mdico", "S1:shared", f, s, 0.0))
    return tidy_frame(rows)


def _other(archive: pd.DataFrame, shift=None, jitter=0.01, seed=1) -> pd.DataFrame:
    """Seed 0's runs of `archive` again at 2 threads: each score moved by `jitter` noise (+ `shift` per
    (method, view)); the best epoch of every third fold one later; fold 9's runs missing."""
    rng = np.random.default_rng(seed)
    d = archive[(archive["seed"] == 0) & (archive["fold"] != 9)].copy()
    d["value"] = d["value"] + jitter * rng.standard_normal(len(d))
    for (m, v), amount in (shift or {}).items():
        d.loc[(d["method"] == m) & (d["view"] == v), "value"] += amount
    d.loc[d["fold"] % 3 == 0, "best_epoch"] += 1
    d["torch_threads"] = 2
    d.loc[(d["fold"] == 4) & (d["view"] == "S1"), "value"] = archive.loc[
        (archive["seed"] == 0) & (archive["fold"] == 4) & (archive["view"] == "S1"), "value"].to_numpy()
    return d.reset_index(drop=True)


# ---------------------------------------------------------------------------------- pure functions
def test_paired_runs_match_run_ids_and_single_views():
    a = _archive()
    b = _other(a)
    pairs = th.paired_runs(a, b)
    assert list(pairs.columns) == th.PAIRS
    assert len(pairs) == 2 * 2 * 9 and set(pairs["view"]) == set(VIEWS)  # fold 9 missing; no shared view
    assert set(pairs["threads_a"]) == {1} and set(pairs["threads_b"]) == {2}
    for r in pairs.itertuples():
        va = a[(a["run_id"] == r.run_id) & (a["view"] == r.view)]["value"].item()
        vb = b[(b["run_id"] == r.run_id) & (b["view"] == r.view)]["value"].item()
        assert (r.value_a, r.value_b, r.diff) == (va, vb, pytest.approx(vb - va))
        assert r.identical == (va == vb) and r.same_best_epoch == (r.fold % 3 != 0)
    assert pairs["identical"].sum() == 2  # fold 4's S1 scores were kept bit for bit
    assert th.threads_label(pairs["threads_b"]) == "2 threads" and th.threads_label([1]) == "1 thread"
    assert th.threads_label([1, 2]) == "1 or 2 threads" and th.threads_label([None]) == "threads not recorded"
    assert th.threads_adjective([2]) == "2-thread"
    assert th.paired_runs(a.iloc[:0], b).empty


def _slow_spread(runs: pd.DataFrame, method: str, view: str) -> tuple[float, float, float]:
    """(pooled fold std, RMS of seed-pair differences on one fold, std over every run), by plain loops."""
    g = runs[(runs["method"] == method) & (runs["view"] == view)]
    value = {(int(r.fold), int(r.seed)): float(r.value) for r in g.itertuples()}
    seeds = sorted({s for _, s in value})
    variances = [np.var([value[(f, s)] for f in FOLDS], ddof=1) for s in seeds]
    diffs = [value[(f, s)] - value[(f, t)] for f in FOLDS for i, s in enumerate(seeds) for t in seeds[i + 1:]]
    return (float(np.sqrt(np.mean(variances))), float(np.sqrt(np.mean(np.square(diffs)))),
            float(np.std(list(value.values()), ddof=1)))


def test_spread_matches_a_slow_recomputation_and_the_concordance_interval():
    a = _archive()
    sp = th.spread(a)
    assert len(sp) == 4 and set(sp["n_runs"]) == {50} and set(sp["n_seed_pairs"]) == {10 * 10}
    for r in sp.itertuples():
        fold_std, seed_rms, std = _slow_spread(a, r.method, r.view)
        assert (r.fold_std, r.seed_rms, r.std) == (pytest.approx(fold_std), pytest.approx(seed_rms), pytest.approx(std))
        values = a[(a["method"] == r.method) & (a["view"] == r.view)]["value"]
        mean, low, high = concordance.interval(values)
        assert (r.low, r.high) == (low, high) and r.half_width == pytest.approx(concordance.WIDTH * std)
        assert mean == pytest.approx(values.mean())
    one_seed = th.spread(a[a["seed"] == 0])
    assert set(one_seed["n_seed_pairs"]) == {0} and one_seed["seed_rms"].isna().all()
    assert one_seed["fold_std"].notna().all()


def test_thread_summary_sets_each_difference_beside_the_spreads():
    a = _archive()
    b = _other(a, shift={("mdico", "L8"): 1.0})  # far outside the archive's spread
    pairs = th.paired_runs(a, b)
    summary = th.thread_summary(pairs, a).set_index(["method", "view"])
    assert len(summary) == 4 and set(summary["n"]) == {9}
    for (m, v), r in summary.iterrows():
        d = pairs[(pairs["method"] == m) & (pairs["view"] == v)]
        assert r["rms_diff"] == pytest.approx(np.sqrt(np.mean(d["diff"] ** 2)))
        assert r["max_abs_diff"] == pytest.approx(d["diff"].abs().max())
        assert r["rms_vs_seeds"] == pytest.approx(r["rms_diff"] / r["seed_rms"])
        check = concordance.check_cell(a[(a["method"] == m) & (a["view"] == v)]["value"], d["value_b"])
        assert (r["agrees"], r["mark"]) == (check["agrees"], check["mark"])
        assert r["inside"] == d["value_b"].between(r["low"], r["high"]).sum()
        assert r["inside_a"] == d["value_a"].between(r["low"], r["high"]).sum()
    assert summary.loc[("mdico", "L8"), "mark"] == "✗" and summary.loc[("mdico", "L8"), "inside"] == 0
    assert (summary.drop(("mdico", "L8"))["mark"] == "✓").all()
    assert summary.loc[("mdico", "S1"), "identical"] == 1 and summary.loc[("mdico", "S1"), "same_best_epoch"] == 6


def test_conclusions_compare_the_tested_table_on_the_same_runs():
    a = _archive(noise=0.01)
    same = th.conclusions(a, _other(a, jitter=0.0005))
    assert len(same) == 2 and same["same"].all() and set(same["holm_m"]) == {2}
    ids = set(_other(a)["run_id"])
    direct = results_table(a[a["run_id"].isin(ids) & ~a["view"].str.contains(":")])
    direct = direct[direct["method"] == "mdico"].set_index("view")
    for r in same.itertuples():  # the 1-thread side is results_table on the shared runs
        assert r.n_pairs == 9 and r.diff_a == pytest.approx(direct.loc[r.view, "diff"])
        assert r.verdict_a == direct.loc[r.view, "verdict"]
    assert same.set_index("view").loc["L8", "verdict_a"].startswith("significantly higher")
    flipped = th.conclusions(a, _other(a, shift={("mdico", "L8"): -0.06}, jitter=0.0005)).set_index("view")
    assert not flipped.loc["L8", "same"] and flipped.loc["S1", "same"]
    assert flipped.loc["L8", "verdict_b"].startswith(("no detectable", "significantly lower"))
    shown = th.format_conclusions(flipped.reset_index(), "1 thread", "2 threads")
    assert list(shown["same"]) == ["yes", "NO"] or list(shown["same"]) == ["NO", "yes"]
    assert set(shown["vs"]) == {"Individual"} and "significantly higher" in set(shown["1 thread"])


def test_sentences_and_tables_say_what_moved_and_fit_the_column():
    a = _archive()
    b = _other(a)
    pairs = th.paired_runs(a, b)
    summary, table = th.thread_summary(pairs, a), th.conclusions(a, b)
    words = th.study_sentences(pairs, summary, table)
    rms = np.sqrt(np.mean(pairs["diff"] ** 2))
    assert f"2 threads instead of 1 thread changed R² by {rms:.4f}" in words["moved"]
    assert "2 of 36 scores are equal bit for bit, and 24 of 36 were scored at the same best epoch" in words["moved"]
    assert "% of the RMS difference between two seeds' runs of one fold" in words["spread"]
    assert "mean ± 2 std over its (fold, seed) runs" in words["check"] and "agree with the 1-thread archive on 4 of 4" \
        in words["check"]
    assert "the same under both thread counts in 2 of 2 rows." in words["conclusion"]
    one_seed = th.study_sentences(pairs, th.thread_summary(pairs, a[a["seed"] == 0]), table)
    assert "No seed-to-seed spread yet" in one_seed["spread"]
    moved, against = th.format_summary(summary)
    for frame in (moved, against, th.format_conclusions(table, "1 thread", "2 threads"), th.format_pairs(pairs)):
        assert not fmt.table(frame).interactive, frame.columns  # each fits the book's column
    few = th.format_summary(th.thread_summary(pairs, a[(a["seed"] == 0) & (a["fold"] < 3)]))[1]
    assert set(few["fold std"]) == {f"n = {3}"} and set(few["check ±"]) == {"n = 3"}  # no std from < 5 runs
    assert stats.MIN_PAIRS == 5


def test_figure_is_drawn_at_the_column_width_with_readable_text():
    a = _archive()
    pairs = th.paired_runs(a, _other(a))
    fig = th.plot_thread_differences(pairs, th.thread_summary(pairs, a), "2 threads − 1 thread")
    assert round(fig.get_figwidth() * fmt.CSS_DPI) == fmt.FIGURE_PX
    fig.canvas.draw()
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip() and t.get_visible()]
    assert texts and not [t.get_text() for t in texts if t.get_fontsize() < fmt.MIN_FONT_PT]
    assert fig.axes[0].get_xlabel() == "Δ R²" and fig.axes[0].get_legend() is None and fig.legends
    with pytest.raises(ValueError, match="no paired runs"):
        th.plot_thread_differences(pairs.iloc[:0], pd.DataFrame())


def test_open_study_says_what_is_missing_and_how_to_make_it(tmp_path):
    from mdico_core.experiments.archive_io import write_runs_csv

    study, why = th.open_study("lfmc_threads2", reference=str(tmp_path / "nope.csv"))
    if (Path(__file__).resolve().parents[1] / "data" / "archived_runs" / "lfmc_threads2.csv").is_file():
        assert "`nope.csv`" in why or "nope.csv" in why
    else:
        assert study is None and "`lfmc_threads2` is not exported yet" in why
        assert "mdico archive run lfmc_threads2 --results <store>" in why and "store of its own" in why
        assert "--threads 2 --executor serial" in why
    a = _archive()
    write_runs_csv(a, tmp_path / "ref.csv")
    write_runs_csv(_other(a), tmp_path / "two.csv")
    write_runs_csv(_other(a).assign(run_id=lambda d: d["run_id"] + "x"), tmp_path / "other_ids.csv")
    study, why = th.open_study(str(tmp_path / "two.csv"), str(tmp_path / "ref.csv"))
    assert why == "" and len(th.paired_runs(study.reference, study.other)) == 36
    assert set(study.unshipped()) == {"archive file ref.csv", "archive file two.csv"}
    study, why = th.open_study(str(tmp_path / "other_ids.csv"), str(tmp_path / "ref.csv"))
    assert study is None and "holds none of the 18 runs" in why and "Re-export it" in why
    assert th.open_study(str(tmp_path / "two.csv"))[1].startswith("`") and "names no 1-thread counterpart" in \
        th.open_study(str(tmp_path / "two.csv"))[1]
    assert th.open_study(None)[0] is None


# ---------------------------------------------------------------------------------- two stores, two archives
def _clean(mp: pytest.MonkeyPatch) -> None:
    import mdico_core.experiments.runner as runner

    mp.setattr(runner, "code_version", lambda: {"package_version": "0", "git_commit": "c" * 40, "git_dirty": False})


@pytest.mark.slow
def test_archive_round_trip_with_two_stores_at_1_and_2_threads(tmp_path, monkeypatch):
    """The same run ids trained into two stores at 1 and 2 threads (``sweep(..., threads=)``), exported as an
    archive and its counterpart: each CSV says its thread count, and the study pairs them run by run."""
    from mdico_core.experiments import ResultsStore, sweep
    from mdico_core.experiments.archive_io import ArchiveError, export_archive
    from mdico_core.experiments.archives import Archive, Part, status
    from mdico_core.reporting.book.archive import read_runs

    _clean(monkeypatch)
    ref_def = Archive("toy_paper", "toy", "toy_regression", (Part(("individual", "mdico"), seeds=(0, 1)),),
                      profile="smoke")
    two_def = Archive("toy_threads2", "toy", "toy_regression", (Part(("individual", "mdico"), seeds=(0,)),),
                      profile="smoke", threads=2, counterpart="toy_paper")
    assert two_def.run_ids() < ref_def.run_ids()
    assert "--threads 2 --executor serial" in two_def.commands()[0] and "--threads" not in ref_def.commands()[0]
    one, two = ResultsStore(tmp_path / "one"), ResultsStore(tmp_path / "two")
    sweep(ref_def.configs(), store=one, progress=False, profile="smoke", threads=1)
    # the 2-thread archive from the 1-thread store: the same run ids, the wrong runs
    assert len(status(two_def, one)["other_threads"]) == 2 and not status(two_def, one)["done"]
    with pytest.raises(ArchiveError, match=r"made with 1 torch thread\(s\), not the archive's 2 .*'toy_paper'.*store of"):
        export_archive(two_def, one, folder=tmp_path / "out")
    sweep(two_def.configs(), store=two, progress=False, profile="smoke", threads=2)
    assert len(status(two_def, two)["done"]) == 2
    out = tmp_path / "out"
    export_archive(ref_def, one, folder=out)
    manifest = export_archive(two_def, two, folder=out)
    assert manifest["torch_threads"] == {"2": 2}
    ref, other = read_runs(out / "toy_paper.csv"), read_runs(out / "toy_threads2.csv")
    assert set(ref["torch_threads"]) == {1} and set(other["torch_threads"]) == {2}
    assert set(other["run_id"]) == two_def.run_ids() and set(other["run_id"]) < set(ref["run_id"])
    study, why = th.open_study(str(out / "toy_threads2.csv"), str(out / "toy_paper.csv"))
    pairs = th.paired_runs(study.reference, study.other)
    assert why == "" and pairs["run_id"].nunique() == 2 and set(pairs["threads_b"]) == {2}
    assert (pairs["value_a"] == ref.set_index(["run_id", "view", "metric"]).loc[
        list(zip(pairs["run_id"], pairs["view"], pairs["metric"])), "value"].to_numpy()).all()


# ---------------------------------------------------------------------------------- the page
@pytest.mark.book
@pytest.mark.slow
def test_reproducibility_page_shows_the_environments_and_the_thread_study(tmp_path, monkeypatch):
    """The page executed with papermill on hand-made archives (1 and 2 threads) and an empty store; then
    without the study's archive, which the page says is not exported, with the commands that make it."""
    nbformat = pytest.importorskip("nbformat")
    pm = pytest.importorskip("papermill")
    pytest.importorskip("baycomp")
    from mdico_core.experiments.archive_io import write_runs_csv

    a = _archive(noise=0.01)
    write_runs_csv(a, tmp_path / "ref.csv")
    write_runs_csv(_other(a, shift={("mdico", "L8"): -0.06}, jitter=0.0005), tmp_path / "two.csv")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"

    def run(**params) -> str:
        out = tmp_path / "repro.ipynb"
        pm.execute_notebook(str(notebooks / "reproducibility.ipynb"), str(out), cwd=str(notebooks),
                            progress_bar=False, parameters={"profile": "smoke", "results_dir": str(tmp_path / "r"),
                                                            **params})
        return json.dumps(nbformat.read(out, as_version=4).cells, ensure_ascii=False)

    text = run(threads_archive=str(tmp_path / "two.csv"), threads_reference=str(tmp_path / "ref.csv"))
    # the shipped archives' runs are shown too: they may differ in more than threads (lfmc_paper's two CPUs)
    for expected in ("Where the runs ran", "archive file ref.csv", "archive file two.csv", "They differ in ",
                     "torch threads (1 / 2)", "1 torch thread;", "2 torch threads;", "2 threads instead of 1 thread "
                     "changed R²", "RMS Δ seeds", "agree with the 1-thread archive on", "it changes for MDiCo on L8",
                     "No run shown here used a GPU", "image/png", "Every paired run"):
        assert expected in text, expected
    text = run(threads_archive=str(tmp_path / "lfmc_threads2.csv"))
    assert "The thread-count study is not shown by this build" in text
    assert "`lfmc_threads2` is not exported yet" in text and "mdico archive run lfmc_threads2 --results" in text
