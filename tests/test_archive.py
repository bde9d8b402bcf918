"""Archived sweeps: export to CSV and back, the page built from one, and the archive the book ships."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from mdico_core.cli import main
from mdico_core.experiments import ResultsStore, RunConfig, train_config
from mdico_core.reporting import book_plan
from mdico_core.reporting.archive import REPO_ROOT, archived_page, export_runs, read_runs
from mdico_core.reporting.compare import compare_with_paper

PROV = {"profile": "paper", "git_commit": "0123456789abcdef0123456789abcdef01234567", "git_dirty": False,
        "device": "cpu (x86_64, 1 threads)", "timestamp": "2026-11-27T10:40:36+00:00"}
# An environment whose text a CSV reader would take for numbers ("12.10" -> 12.1) unless told otherwise.
ENV = {"torch_version": "2.14.1", "numpy_version": "2.10", "python_version": "3.12.3", "cpu_model": "AMD EPYC, 2 GHz",
       "cpu_capability": "AVX512", "blas": "mkl: Intel(R) oneAPI Math Kernel Library Version 2024.2",
       "onednn": "Intel(R) MKL-DNN v3.12.0", "torch_threads": 2, "cuda_device": "NVIDIA H200",
       "cuda_driver": "550.54.15", "cuda_version": "12.10", "cudnn_version": "91002"}


def _fill(store: ResultsStore, dataset: str = "lfmc", seeds=(0, 1), folds=(0, 1, 2)) -> None:
    """Individual and MDiCo runs with values that need all 17 digits (MDiCo's on split seed 10, with
    sizes and a full environment), a not-reproduced AnySat, and a message with a comma and a newline."""
    for method in ("individual", "mdico"):
        for seed in seeds:
            for fold in folds:
                cfg = RunConfig(dataset, method, fold=fold, n_folds=10, seed=seed,
                                train=train_config({"max_epochs": 100}), split_seed=10 if method == "mdico" else None)
                extra = {"n_train": 2088, "n_val": 232, "n_test": 258} if method == "mdico" else {}
                v = 0.1 + 0.01 * fold + 0.003 * seed + (0.02 if method == "mdico" else 0.0) + 1e-9 / 3
                store.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "done", "message": None,
                            "task": "regression", "best_epoch": 4, "epochs_run": 9, "wall_time_s": 12.5 + fold,
                            "metrics": {"S1": {"r2": v, "rmse": 30 - v}, "L8": {"r2": 2 * v, "rmse": 29 - v}},
                            "provenance": {**PROV, **ENV} if method == "mdico" else PROV, **extra})
    cfg = RunConfig(dataset, "anysat", fold=0, n_folds=10, seed=0, train=train_config({"max_epochs": 100}))
    store.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "not_reproduced",
                "message": "needs the pretrained weights, see\nthe docs", "task": "regression", "metrics": {},
                "provenance": PROV})


def _odd_runs(store: ResultsStore) -> None:
    """Runs the round trip must survive: an official split (fold None), no provenance at all."""
    cfg = RunConfig("lfmc", "individual", fold=None, n_folds=10, seed=7, train=train_config({"max_epochs": 100}))
    store.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "done", "message": None,
                "task": "regression", "best_epoch": None, "epochs_run": 3, "wall_time_s": None,
                "metrics": {"S1": {"r2": float("nan"), "rmse": 1e-300}}, "provenance": {}})


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["run_id", "view", "metric"], na_position="first").reset_index(drop=True)


def test_export_then_read_gives_back_the_store_frame_exactly(tmp_path):
    store = ResultsStore(tmp_path / "store")
    _fill(store)
    out = tmp_path / "lfmc_paper.csv"
    written = export_runs("lfmc", out, profile="paper", store=store)
    back = read_runs(out)
    assert len(back) == len(written) == 2 * 2 * 3 * 4 + 1
    ours = _sorted(store.collect("lfmc"))
    # same columns, dtypes and values, floats to the last bit: an archive must equal its store exactly
    pd.testing.assert_frame_equal(ours, _sorted(back), check_exact=True)
    a = compare_with_paper(ours, "lfmc")  # the same row order: a std sums in input order
    b = compare_with_paper(_sorted(back), "lfmc")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert "not reproduced" in set(b["ours"])
    md, ind = back[back["method"] == "mdico"], back[back["method"] == "individual"]
    assert (md["cuda_version"] == "12.10").all() and (md["torch_threads"] == 2).all() and (md["n_test"] == 258).all()
    assert (md["split_seed"] == 10).all() and ind[["split_seed", "n_test", "cpu_model"]].isna().all().all()


def test_an_archive_from_before_the_environment_columns_reads_them_as_missing(tmp_path):
    from mdico_core.experiments.records import COLUMNS

    store = ResultsStore(tmp_path / "store")
    _fill(store)
    new = ["split_seed", "n_train", "n_val", "n_test", *ENV]
    old = export_runs("lfmc", tmp_path / "a.csv", profile="paper", store=store).drop(columns=new)
    old.to_csv(tmp_path / "old.csv", index=False)
    back = read_runs(tmp_path / "old.csv")
    assert list(back.columns) == COLUMNS and back[new].isna().all().all()
    kept = [c for c in COLUMNS if c not in new]
    pd.testing.assert_frame_equal(_sorted(store.collect("lfmc"))[kept], _sorted(back)[kept], check_exact=True)


def test_round_trip_keeps_official_splits_missing_provenance_and_extreme_floats(tmp_path):
    store = ResultsStore(tmp_path / "store")
    _odd_runs(store)
    df = store.collect("lfmc")
    assert df["fold"].isna().all() and (df["profile"] == "").all() and df["git_commit"].isna().all()
    export_runs("lfmc", tmp_path / "odd.csv", profile="", store=store)
    pd.testing.assert_frame_equal(_sorted(df), _sorted(read_runs(tmp_path / "odd.csv")), check_exact=True)


def test_export_refuses_an_empty_export_and_an_interrupted_one_keeps_the_old_file(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "store")
    with pytest.raises(ValueError, match=r"no runs of 'lfmc' under profile 'paper'.*mdico run --dataset lfmc"):
        export_runs("lfmc", tmp_path / "x.csv", profile="paper", store=store)
    assert not list(tmp_path.glob("*.csv"))
    _fill(store)
    with pytest.raises(ValueError, match="under profile 'quick'"):
        export_runs("lfmc", tmp_path / "x.csv", profile="quick", store=store)
    export_runs("lfmc", tmp_path / "x.csv", profile="paper", store=store)
    before = (tmp_path / "x.csv").read_bytes()

    def dies_half_way(self, f, **kwargs):
        f.write("run_id,dataset\n0080356a")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        export_runs("lfmc", tmp_path / "x.csv", profile="paper", store=store)
    assert (tmp_path / "x.csv").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["x.csv"]  # no temporary file left


def test_read_errors_name_the_problem_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no archived runs file.*mdico export"):
        read_runs(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) run_id.*re-export"):
        read_runs(bad)
    store = ResultsStore(tmp_path / "store")
    _fill(store)
    good = export_runs("lfmc", tmp_path / "a.csv", profile="paper", store=store)
    good.assign(seed="three").to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad.csv: column 'seed' holds a non-numeric value.*re-export"):
        read_runs(bad)
    pd.concat([good, good.assign(profile="quick")]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"mixes profile values.*--profile"):
        archived_page(bad)
    _fill(store, dataset="toy_regression", seeds=(0,), folds=(0,))
    both = tmp_path / "both.csv"
    pd.concat([read_runs(tmp_path / "a.csv"), store.collect("toy_regression")]).to_csv(both, index=False)
    with pytest.raises(ValueError, match="holds runs of 2 datasets"):
        archived_page(both)
    with pytest.raises(ValueError, match="holds runs of 'lfmc', not of 'croph_b': pass dataset='lfmc'"):
        archived_page(tmp_path / "a.csv", "croph_b")


def test_archived_page_states_what_was_run(tmp_path):
    store = ResultsStore(tmp_path / "store")
    _fill(store)
    export_runs("lfmc", tmp_path / "a.csv", profile="paper", store=store)
    pg = archived_page(tmp_path / "a.csv", "lfmc")
    assert {b: (r.dataset, r.kind) for b, r in pg.datasets.items()} == {"lfmc": ("lfmc", "real")}
    banner = pg.banner()
    assert "Archived sweep: its runs were not re-trained by this build" in banner
    assert "Profile `paper`; folds 0, 1, 2 of 10; seeds 0, 1; 13 runs shown" in banner
    assert "runs made with `0123456789ab`" in banner
    assert "cpu (x86_64, 1 threads)" in banner and "2026-11-27 10:40 UTC" in banner
    fails = pg.failures()
    assert list(fails["status"]) == ["not_reproduced"] and "pretrained weights" in fails["message"].iloc[0]
    assert pg.summary()["train_hours"] == pytest.approx(2 * 2 * (12.5 + 13.5 + 14.5) / 3600)
    only = pg.banner(method="mdico", seed=1)  # a filtered banner counts only those runs
    assert "seeds 1; 3 runs shown" in only and " 3 runs made" in only


def test_cli_export_and_table_from_the_archive_match_the_store(tmp_path, capsys):
    store = ResultsStore(tmp_path / "store")
    _fill(store)
    res, out = str(tmp_path / "store"), str(tmp_path / "lfmc_paper.csv")
    assert main(["export", "lfmc", "--profile", "paper", "--out", out, "--results", res]) == 0
    assert "wrote 13 runs (49 rows) of 'lfmc'" in capsys.readouterr().out
    assert main(["table", "lfmc", "--results", res, "--markdown"]) == 0
    from_store = capsys.readouterr().out
    assert main(["table", "lfmc", "--archive", out, "--markdown"]) == 0
    assert capsys.readouterr().out == from_store
    assert main(["table", "lfmc", "--archive", str(tmp_path / "nope.csv")]) == 1
    assert "mdico export" in capsys.readouterr().err
    assert main(["export", "croph_b", "--profile", "paper", "--out", str(tmp_path / "c.csv"), "--results", res]) == 1
    assert "no runs of 'croph_b'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["export", "lfmcc", "--profile", "paper", "--out", str(tmp_path / "c.csv"), "--results", res])
    assert exc.value.code == 2 and "unknown dataset 'lfmcc'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # one profile per archive: it must be named
        main(["export", "lfmc", "--out", str(tmp_path / "c.csv"), "--results", res])
    assert exc.value.code == 2 and "--profile" in capsys.readouterr().err
    assert main(["table", "croph_b", "--archive", out]) == 1
    assert "mdico export croph_b" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- the shipped archive
@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    return read_runs(book_plan.ARCHIVED["lfmc"])


def test_shipped_lfmc_archive_is_the_whole_paper_protocol(shipped):
    """Exactly the runs of `mdico run --dataset lfmc --methods all --profile paper` in both settings, each once.

    Run ids are content hashes of the run configs (budget included), so matching them checks that
    the archive holds the paper profile's runs and nothing else.
    """
    from mdico_core.experiments import load_profile

    prof = load_profile("paper")
    runs = shipped.drop_duplicates("run_id")
    assert not shipped.duplicated(["run_id", "view", "metric"]).any()
    # both settings; the 4 methods whose official recipe is the common one have one set of runs
    expected = {c.run_id for settings in ("common", "original") for c in prof.configs("lfmc", "all", settings=settings)}
    assert len(expected) == (13 + 9) * 10 * 5
    assert set(runs["run_id"]) == expected
    assert set(runs["profile"]) == {"paper"} and not runs["git_dirty"].any()
    assert set(runs.loc[runs["method"] == "anysat", "status"]) == {"not_reproduced"}
    assert set(runs.loc[runs["method"] != "anysat", "status"]) == {"done"}
    # Individual's M models are M stages of up to max_epochs each
    assert (runs.loc[runs["status"] == "done", "epochs_run"] <= 2 * prof.train.max_epochs).all()
    done = shipped[shipped["status"] == "done"]
    assert done["value"].notna().all()
    views = done.groupby("run_id")["view"].agg(frozenset)
    # fusion references are scored on both modalities; the others on each modality alone
    assert all({"L8", "S1"} <= v or v == {"fusion"} for v in views), views.value_counts()


def test_shipped_archive_was_made_by_commits_of_this_repository(shipped):
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)

    try:
        if git("rev-parse", "--is-shallow-repository").stdout.strip() != "false":
            pytest.skip("not a full git clone: older commits are not here")
    except FileNotFoundError:
        pytest.skip("git is not installed")
    for commit in shipped["git_commit"].dropna().unique():
        assert git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0, \
            f"{commit} is not a commit in this branch's history"
