"""Archived sweeps: export to CSV and back, the page built from one, and the archive the book ships."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from mdico_core.cli import main
from mdico_core.experiments import ResultsStore, RunConfig, train_config
from mdico_core.experiments.archives import ARCHIVES
from mdico_core.reporting.book.archive import REPO_ROOT, archived_page, export_runs, read_runs
from mdico_core.reporting.core.compare import compare_with_paper

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


# ---------------------------------------------------------------------------------- archive definitions
def _clean(monkeypatch) -> None:
    """Runs of this process are recorded as made at a clean commit (the worktree under test may be dirty)."""
    import mdico_core.experiments.runner as runner

    monkeypatch.setattr(runner, "code_version", lambda: {"package_version": "0", "git_commit": "c" * 40,
                                                         "git_dirty": False})


def _toy_archive(seeds=(0, 1, 2, 3, 4), **companion):
    """A small archive at the smoke profile on synthetic data: 3 methods x 2 settings x 5 seeds."""
    from mdico_core.experiments.archives import Archive, Companion, Part

    methods = ("individual", "mdico", "embracenet")
    return Archive("toy", "a toy archive", "toy_regression",
                   (Part(methods, seeds=seeds), Part(methods, settings="original", seeds=seeds)),
                   Companion(**companion), profile="smoke")


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory):
    """The runs of `_toy_archive`, trained once at the smoke profile, as made at a clean commit."""
    from mdico_core.experiments import sweep

    store = ResultsStore(tmp_path_factory.mktemp("toy") / "store")
    with pytest.MonkeyPatch.context() as mp:
        _clean(mp)
        sweep(_toy_archive().configs(), store=store, progress=False, profile="smoke")
    return store


def test_a_run_that_failed_twice_is_held_as_its_outcome(tmp_path, toy_store, monkeypatch, capsys):
    """A crashed run is missing (the export is partial). `mdico archive confirm-failures` re-runs each
    crashed run once: one that fails again the same way is an outcome, which the export holds (no
    longer partial, named in the manifest) and the pages explain; one that now succeeds is done; one
    that fails differently is left to the next sweep. The table keeps the method's mean over the
    other runs and says why one is absent."""
    import shutil

    from mdico_core import _util
    from mdico_core.experiments import archives, runner
    from mdico_core.experiments.archive_io import ArchiveError, export_archive

    store = ResultsStore(tmp_path / "store")
    shutil.copytree(toy_store.root, store.root, dirs_exist_ok=True)
    toy = _toy_archive()
    monkeypatch.setitem(archives.ARCHIVES, "toy", toy)
    original = [c for c in toy.configs() if c.method == "embracenet" and c.settings == "original"]
    diverges, flaky, other = original[:3]
    for cfg, message in ((diverges, "ValueError: Input contains NaN."), (flaky, "OSError: disk hiccup"),
                         (other, "RuntimeError: first")):
        store.record_path(cfg).unlink()
        store.save_failure(cfg, message, "Traceback ...")
    assert {c.run_id for c in archives.status(toy, store)["failed"]} == {diverges.run_id, flaky.run_id, other.run_id}
    with pytest.raises(ArchiveError, match="3 failed"):
        export_archive(toy, store, folder=tmp_path / "out")

    real = runner.execute

    def execute(cfg, **kw):  # the diverging run fails the same way again, `other` another way, `flaky` not at all
        if cfg.run_id == diverges.run_id:
            raise ValueError("Input contains NaN.")
        if cfg.run_id == other.run_id:
            raise RuntimeError("second")
        return real(cfg, **kw)

    _clean(monkeypatch)
    monkeypatch.setattr(runner, "execute", execute)
    monkeypatch.setattr(_util, "git_state", lambda root=None: ("c" * 40, False))
    assert main(["archive", "confirm-failures", "toy", "--results", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert f"{diverges.run_id} ({diverges.label()}): failed twice (ValueError: Input contains NaN.)" in out
    assert f"{flaky.run_id} ({flaky.label()}): done" in out
    assert f"{other.run_id} ({other.label()}): failed differently (RuntimeError: second)" in out
    state = archives.status(toy, store)
    assert [c.run_id for c in state["failed_twice"]] == [diverges.run_id]
    assert [c.run_id for c in state["failed"]] == [other.run_id]
    kept = store.get(diverges)
    assert kept["provenance"]["git_commit"] == "c" * 40 and kept["n_test"] > 0 and len(kept["attempts"]) == 2
    assert export_archive(toy, store, partial=True, folder=tmp_path / "out")["missing_run_ids"] == [other.run_id]

    monkeypatch.setattr(runner, "execute", real)
    assert main(["archive", "run", "toy", "--results", str(store.root), "--quiet"]) == 0  # the next sweep retries it
    assert "1 run(s) done" in capsys.readouterr().out
    info = export_archive(toy, store, folder=tmp_path / "out")
    assert not info["partial"] and info["runs_exported"] == info["runs_defined"] == len(toy.configs())
    assert info["failed_runs"] == {diverges.run_id: "ValueError: Input contains NaN."}
    runs = read_runs(tmp_path / "out" / "toy.csv")
    table = compare_with_paper(runs[runs["settings"] == "original"], "toy_regression")
    emb = table[table["method"] == "embracenet"]
    assert (emb["n"] == len(original) - 1).all()
    assert emb["note"].str.contains("1 run failed twice the same way \\(ValueError: Input contains NaN.\\)").all()
    assert not table.loc[table["method"] != "embracenet", "note"].str.contains("failed").any()
    banner = archived_page(tmp_path / "out" / "toy.csv").banner()  # the page says why a cell has a run fewer
    assert (f"1 run failed twice the same way from the archive's commit** (EmbraceNet (original settings), fold "
            f"{diverges.fold}, seed {diverges.seed}: `ValueError: Input contains NaN.`). It is held") in banner
    assert main(["archive", "confirm-failures", "toy", "--results", str(store.root)]) == 0
    assert "no crashed run" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(ARCHIVES))
def test_archive_parts_are_exactly_what_their_mdico_run_commands_train(name, monkeypatch, tmp_path):
    """Each part's `mdico run` command (README, `mdico archive list`) builds the part's configs, run id for run id."""
    import shlex

    from mdico_core.experiments import executors

    class Captured(Exception):
        pass

    def capture(configs, **kwargs):
        raise Captured([c.run_id for c in configs])

    monkeypatch.setattr(executors, "sweep", capture)
    archive = ARCHIVES[name]
    for part, cmd in zip(archive.parts, archive.commands()):
        assert cmd.startswith(f"mdico run --dataset {archive.dataset} ") and "--profile paper" in cmd
        with pytest.raises(Captured) as got:
            main([*shlex.split(cmd)[1:], "--results", str(tmp_path)])
        assert got.value.args[0] == [c.run_id for c in part.configs(archive.dataset)], cmd
    assert len(archive.run_ids()) == len(archive.configs())


def test_archive_definitions_cover_the_studies():
    from mdico_core.experiments.archives import get_archive

    main_ids = ARCHIVES["lfmc_paper"].run_ids()
    assert len(main_ids) == (13 + 9) * 10 * 5  # 4 methods have one recipe for both settings
    for name, extra in (("lfmc_ablation", 7 * 10), ("lfmc_encoders", 4 * 2 * 10), ("lfmc_released", 14 * 10)):
        ids = ARCHIVES[name].run_ids()
        refs = ids & main_ids  # the references are the main sweep's own runs: Individual and MDiCo, seed 0
        assert len(refs) == 2 * 10 and len(ids) == extra + len(refs), name
    rel = ARCHIVES["lfmc_released"].configs()
    assert {(c.method, c.variant, c.protocol, c.train.monitor, c.split_seed) for c in rel if c.variant == "released"} \
        == {("mdico", "released", "paper", "total", None), ("mdico", "released", "released", "total", None)}
    assert {c.train.monitor for c in rel} == {"total", "task"}
    with pytest.raises(ValueError, match="valid archives: lfmc_paper"):
        get_archive("nope")


def _captured_run_ids(monkeypatch, tmp_path, commands: list[str]) -> list[str]:
    """The run ids ``mdico run`` plans for each of `commands` (nothing is trained), in order."""
    import shlex

    from mdico_core.experiments import executors

    class Captured(Exception):
        pass

    def capture(configs, **kwargs):
        raise Captured([c.run_id for c in configs])

    monkeypatch.setattr(executors, "sweep", capture)
    ids = []
    for cmd in commands:
        with pytest.raises(Captured) as got:
            main([*shlex.split(cmd), "--results", str(tmp_path)])
        ids += got.value.args[0]
    return ids


def test_beyond_archives_are_the_runs_of_their_sweep_stages(monkeypatch, tmp_path):
    """``mfeat_methods``, ``mfeat_views`` and ``presto_modalities`` hold exactly the runs of the sweep stages
    ``mfeat``, ``mfeat_pairs`` and ``presto``, written here as the sweep script writes them (its loops)."""
    from mdico_core.data import get_dataset_entry
    from mdico_core.data.mfeat import VIEWS
    from mdico_core.experiments.archives import MFEAT_VIEWS, PRESTO_MODALITIES

    assert MFEAT_VIEWS == tuple(VIEWS) and set(PRESTO_MODALITIES) == set(get_dataset_entry("presto_lfmc").shapes)
    run = "run --profile paper --quiet"
    views = "fou fac kar pix zer mor".split()
    stages = {
        "mfeat_methods": [f"{run} --dataset mfeat --methods all --encoders mlp --seeds 0,1,2"],
        "mfeat_views": [f"{run} --dataset mfeat --methods mdico --encoders mlp --modalities {a},{b} --seeds 0,1,2"
                        for a in views for b in views if a < b],
        "presto_modalities": [f"{run} --dataset presto_lfmc --methods individual,mdico --seeds 0,1,2"]
        + [f"{run} --dataset presto_lfmc --methods mdico --modalities {m} --seeds 0,1,2"
           for m in ("S1,S2", "S1,ERA5_SRTM", "S2,ERA5_SRTM")],
    }
    sizes = {"mfeat_methods": 13 * 30, "mfeat_views": 15 * 30, "presto_modalities": (2 + 3) * 30}
    for name, commands in stages.items():
        ids = _captured_run_ids(monkeypatch, tmp_path, commands)
        assert len(ids) == len(set(ids)) == sizes[name] and set(ids) == ARCHIVES[name].run_ids(), name
    pairs = {c.modalities for c in ARCHIVES["mfeat_views"].configs()}
    assert len(pairs) == 15 and all(len(p) == 2 and set(p) <= set(VIEWS) for p in pairs)
    assert {c.modalities for c in ARCHIVES["mfeat_methods"].configs()} == {None}  # all six views
    assert {c.encoder for c in ARCHIVES["mfeat_methods"].configs() + ARCHIVES["mfeat_views"].configs()} == {"mlp"}
    presto = ARCHIVES["presto_modalities"].configs()
    assert {(c.method, c.modalities) for c in presto} == {
        ("individual", None), ("mdico", None), ("mdico", ("S1", "S2")), ("mdico", ("ERA5_SRTM", "S1")),
        ("mdico", ("ERA5_SRTM", "S2"))}
    assert {(c.fold, c.seed) for c in presto} == {(f, s) for f in range(10) for s in (0, 1, 2)}


def test_export_archive_round_trip_with_its_companion_data(tmp_path, toy_store):
    import json

    import numpy as np

    from mdico_core.experiments.archive_io import ArchiveError, CompanionData, export_archive
    from mdico_core.reporting.book.archive import ArchivedRun

    store, out = toy_store, tmp_path / "out"
    with pytest.raises(ArchiveError, match=r"none of the 20 runs.*mdico archive run toy"):
        export_archive(_toy_archive(), ResultsStore(tmp_path / "empty"), folder=out)
    bigger = _toy_archive(seeds=(0, 1, 2, 3, 4, 5))  # a sixth seed the store lacks
    with pytest.raises(ArchiveError, match=r"4 of 24 runs of archive 'toy' are not in .*4 pending.*--partial"):
        export_archive(bigger, store, folder=out)
    assert not out.exists()  # refused: nothing written
    part = export_archive(bigger, store, partial=True, folder=out)
    assert part["partial"] and part["runs_exported"] == 20 and len(part["missing_run_ids"]) == 4
    toy = _toy_archive(histories=({"method": "mdico"},), features=({"method": "mdico", "seed": 0},),
                       predictions=({"method": "individual", "settings": "common"},))
    cfgs = toy.configs()
    assert len(cfgs) == 3 * 5 + 5  # EmbraceNet has its own original recipe
    info = export_archive(toy, store, folder=out)
    assert not info["partial"] and info["runs_exported"] == info["runs_defined"] == 20
    assert info["commits"] == {"c" * 40: 20} and info["train_time_h"] > 0 and info["wall_time_h"] > 0
    assert info["companion_runs"] == {"histories": 5, "predictions": 5, "features": 1}
    assert json.loads((out / "toy.json").read_text()) == info
    import hashlib

    for f, digest in info["files"].items():
        assert hashlib.sha256((out / f).read_bytes()).hexdigest() == digest
    # the CSV is the store's frame of exactly these runs
    back = read_runs(out / "toy.csv")
    ours = store.collect("toy_regression")
    pd.testing.assert_frame_equal(_sorted(ours[ours["run_id"].isin(toy.run_ids())]), _sorted(back), check_exact=True)
    # the companion data back as the store gives it
    comp = CompanionData(out / "toy.npz")
    for c in cfgs:
        kinds = [k for k in ("histories", "features", "predictions") if c in toy.companion_runs(k)]
        assert comp.has(c) == bool(kinds) and comp.has_features(c) == ("features" in kinds)
        if "histories" in kinds:
            pd.testing.assert_frame_equal(comp.history(c), store.history(c))
        arrays, stored = comp.arrays(c), store.arrays(c)
        for key, value in arrays.items():
            np.testing.assert_array_equal(value, stored[key].astype(value.dtype), err_msg=key)
        if "features" in kinds:
            assert {k for k in arrays if k.startswith("feat/")} == {k for k in stored if k.startswith("feat/")}
            assert all(arrays[k].dtype == np.float16 for k in arrays if k.startswith("feat/"))
        if "predictions" in kinds:
            assert {k for k in arrays if k.startswith("pred/")} == {k for k in stored if k.startswith("pred/")}
    assert comp.history("nope").empty and comp.arrays("nope") == {}
    # the page reads its runs and companion data from beside the CSV
    pg = archived_page(out / "toy.csv")
    assert sorted(c.run_id for c in pg.configs) == sorted(toy.run_ids()) and isinstance(pg.configs[0], ArchivedRun)
    mdico = pg.configs_where(method="mdico", seed=0)
    assert len(mdico) == 1 and pg.store.has_features(mdico[0]) and not pg.store.history(mdico[0]).empty
    assert "1 min of wall time" in pg.banner() and "1 min of training in all" in pg.banner()  # a toy sweep: seconds


def test_durations_below_a_tenth_of_an_hour_are_minutes():
    from mdico_core.reporting.book.archive import _duration

    assert [_duration(h) for h in (3.64, 0.1, 0.0999, 0.05, 0.0)] == ["3.6 h", "0.1 h", "6 min", "3 min", "1 min"]


def test_export_refuses_runs_of_a_dirty_working_tree(tmp_path, toy_store):
    import shutil

    from mdico_core.experiments.archive_io import ArchiveError, export_archive

    toy = _toy_archive()
    shutil.copytree(toy_store.root, tmp_path / "store")
    store = ResultsStore(tmp_path / "store")
    victim = toy.configs()[3]
    rec = store.get(victim)
    rec["provenance"]["git_dirty"] = True
    store.save(rec)
    for partial in (False, True):  # never, whatever the options
        with pytest.raises(ArchiveError, match=rf"1 run\(s\) of archive 'toy' were made in a dirty.*{victim.run_id}"):
            export_archive(toy, store, partial=partial, folder=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_archive_list_status_run_and_export(tmp_path, monkeypatch, capsys, toy_store):
    from mdico_core.experiments import archives

    toy = _toy_archive()
    monkeypatch.setitem(archives.ARCHIVES, "toy", toy)
    res, empty = str(toy_store.root), str(tmp_path / "empty")
    assert main(["archive", "list"]) == 0
    listed = capsys.readouterr().out
    assert "lfmc_paper: " in listed and "1100 runs on lfmc" in listed and "mdico run --dataset lfmc --methods all" in listed
    assert main(["archive", "status", "toy", "--results", empty]) == 0
    assert "done 0, not_reproduced 0, failed 0, running 0, pending 20 (of 20)" in capsys.readouterr().out
    assert main(["archive", "export", "toy", "--results", empty, "--out-dir", str(tmp_path / "o")]) == 1
    assert "none of the 20 runs" in capsys.readouterr().err
    from mdico_core import _util

    monkeypatch.setattr(_util, "git_state", lambda root=None: ("c" * 40, True))
    assert main(["archive", "run", "toy", "--results", res, "--quiet"]) == 1  # never from a dirty checkout
    assert "is modified: commit or stash" in capsys.readouterr().err
    monkeypatch.setattr(_util, "git_state", lambda root=None: ("c" * 40, False))
    assert main(["archive", "run", "toy", "--results", res, "--quiet"]) == 0  # all there: trains nothing
    assert "0 run(s) done, 20 already in the store" in capsys.readouterr().out
    assert main(["archive", "status", "toy", "--results", res]) == 0
    assert "done 20" in capsys.readouterr().out
    assert main(["archive", "export", "toy", "--results", res, "--out-dir", str(tmp_path / "o")]) == 0
    assert "wrote archive toy: 20 of 20 runs" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"toy.csv", "toy.npz", "toy.json"}
    with pytest.raises(SystemExit) as exc:
        main(["archive", "status", "nope"])
    assert exc.value.code == 2 and "unknown archive 'nope'" in capsys.readouterr().err


def test_an_archive_at_another_thread_count_refuses_its_counterparts_runs(tmp_path, monkeypatch, capsys, toy_store):
    """The same run ids at 2 threads: the 1-thread store holds the counterpart's runs, which neither
    `mdico archive run` (it would skip them as done) nor the export takes; `status` names them."""
    from dataclasses import replace

    from mdico_core import _util
    from mdico_core.experiments import archives

    twin = replace(_toy_archive(), name="toy_threads2", threads=2, counterpart="toy")
    monkeypatch.setitem(archives.ARCHIVES, "toy_threads2", twin)
    monkeypatch.setattr(_util, "git_state", lambda root=None: ("c" * 40, False))
    res = str(toy_store.root)
    assert twin.commands()[0].endswith("--threads 2 --executor serial --seeds 0,1,2,3,4")
    assert main(["archive", "list"]) == 0
    assert "2 torch threads per run; the same run ids at 1 thread are archive toy" in capsys.readouterr().out
    assert main(["archive", "status", "toy_threads2", "--results", res]) == 0
    out = capsys.readouterr().out
    assert "done 0, not_reproduced 0, failed 0, running 0, pending 0, other_threads 20 (of 20)" in out
    assert "made with 1 torch thread(s), not the archive's 2 (the same run ids as archive 'toy')" in out
    assert main(["archive", "run", "toy_threads2", "--results", res, "--quiet"]) == 1
    assert "train this archive into a store of its own" in capsys.readouterr().err
    assert main(["archive", "run", "toy_threads2", "--results", res, "--threads", "3"]) == 1
    assert "defined at 2 torch threads per run" in capsys.readouterr().err
    assert main(["archive", "export", "toy_threads2", "--results", res, "--out-dir", str(tmp_path / "o")]) == 1
    assert "store of its own" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert archives.status(_toy_archive(), toy_store)["other_threads"] == []  # an archive without `threads`


def test_the_thread_study_archive_is_the_sweep_stage_threads(monkeypatch, tmp_path):
    """``lfmc_threads2`` holds exactly the runs of the sweep stage ``threads`` (written here as the sweep script
    runs it, into a store of its own): Individual and MDiCo of ``lfmc_paper``, seed 0, at 2 threads."""
    two = ARCHIVES["lfmc_threads2"]
    stage = "run --profile paper --executor serial --threads 2 --quiet --dataset lfmc --methods individual,mdico --seeds 0"
    ids = _captured_run_ids(monkeypatch, tmp_path, [stage])
    assert len(ids) == len(set(ids)) == 20 and set(ids) == two.run_ids()
    assert two.threads == 2 and two.counterpart == "lfmc_paper" and two.run_ids() < ARCHIVES["lfmc_paper"].run_ids()
    assert "--threads 2" in two.commands()[0] and "lfmc_paper" in two.notes
    assert all(a.threads is None for n, a in ARCHIVES.items() if n != "lfmc_threads2")


# ---------------------------------------------------------------------------------- the shipped archives
@pytest.mark.parametrize("name", list(ARCHIVES))
def test_shipped_archive_holds_exactly_the_runs_of_its_definition(name):
    """Exactly the runs of the archive's definition (`experiments.archives`), each once, at clean commits;
    a partial export holds them less the runs its manifest names as missing (and says it is partial).

    Run ids are content hashes of the run configs (budget included), so matching them checks that
    the archive holds the paper profile's runs of its `mdico run` commands and nothing else.
    """
    import hashlib
    import json

    from mdico_core.experiments.archive_io import CompanionData
    from mdico_core.experiments.profile import dataset_modalities

    archive = ARCHIVES[name]
    if not archive.csv_path.is_file():
        pytest.skip(f"archive {name} is not exported yet: `mdico archive run {name}`, then "
                    f"`mdico archive export {name} --results <store>` (data/archived_runs/README.md)")
    shipped = read_runs(archive.csv_path)
    runs = shipped.drop_duplicates("run_id")
    assert not shipped.duplicated(["run_id", "view", "metric"]).any()
    assert archive.manifest_path.is_file(), f"{name}: no manifest; re-export with `mdico archive export {name}`"
    manifest = json.loads(archive.manifest_path.read_text())
    # a partial export (`--partial`) holds the definition's runs less those its manifest lists as missing
    missing = set(manifest["missing_run_ids"])
    assert manifest["partial"] == bool(missing) and manifest["runs_defined"] == len(archive.run_ids())
    assert missing <= archive.run_ids() and manifest["runs_exported"] == len(runs)
    assert set(runs["run_id"]) == archive.run_ids() - missing, \
        f"{len(set(runs['run_id']) - archive.run_ids())} runs not in the definition, " \
        f"{len(archive.run_ids() - missing - set(runs['run_id']))} of the definition missing and not said so: " \
        f"re-export with `mdico archive export {name}`"
    assert set(runs["profile"]) == {archive.profile} and runs["git_commit"].notna().all()
    if archive.threads is not None:  # the thread count is in no run id: the records must say it
        assert set(runs["torch_threads"]) == {archive.threads}, f"{name}: runs of another thread count"
    assert not runs["git_dirty"].astype(bool).any()
    assert set(runs.loc[runs["method"] == "anysat", "status"]) <= {"not_reproduced"}
    # a run that failed twice the same way is held as that outcome, named with its message in the manifest
    assert set(runs.loc[runs["method"] != "anysat", "status"]) <= {"done", "failed"}
    failed = runs[runs["status"] == "failed"].set_index("run_id")["message"]
    assert failed.to_dict() == manifest.get("failed_runs", {}), f"{name}: failed runs and manifest disagree"
    prof = archive.configs()[0].train
    every = dataset_modalities(archive.dataset)
    trained = runs.set_index("run_id")["modalities"].map(lambda m: m.split(",") if isinstance(m, str) else every)
    # Individual's M models are M stages of up to max_epochs each
    done_runs = runs[runs["status"] == "done"]
    assert (done_runs["epochs_run"].to_numpy() <= trained[done_runs["run_id"]].map(len).to_numpy() * prof.max_epochs).all()
    done = shipped[shipped["status"] == "done"]
    assert done["value"].notna().all()
    views = done.groupby("run_id")["view"].agg(frozenset)
    # fusion references are scored on all their modalities at once; the others on each modality alone
    assert all(set(trained[r]) <= v or v == {"fusion"} for r, v in views.items()), views.value_counts()
    for f, digest in manifest["files"].items():
        assert hashlib.sha256((archive.csv_path.parent / f).read_bytes()).hexdigest() == digest, \
            f"{f} changed after the export: re-export with `mdico archive export {name}`"
    kept = {c.run_id for k in ("histories", "features", "predictions") for c in archive.companion_runs(k)}
    assert set(CompanionData(archive.companion_path).run_ids()) == kept & set(runs.loc[runs["status"] == "done", "run_id"])


@pytest.mark.parametrize("name", list(ARCHIVES))
def test_shipped_archive_was_made_by_commits_of_this_repository(name):
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)

    archive = ARCHIVES[name]
    if not archive.csv_path.is_file():
        pytest.skip(f"archive {name} is not exported yet")
    try:
        if git("rev-parse", "--is-shallow-repository").stdout.strip() != "false":
            pytest.skip("not a full git clone: older commits are not here")
    except FileNotFoundError:
        pytest.skip("git is not installed")
    for commit in read_runs(archive.csv_path)["git_commit"].dropna().unique():
        assert git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0, \
            f"{commit} is not a commit in this branch's history"


# ------------------------------------------------------------------------ archives verified on read, and grown
def _copy_archive(name: str, folder) -> None:
    import shutil

    for suffix in (".csv", ".npz", ".json"):
        shutil.copy(ARCHIVES[name].path(suffix), folder / f"{name}{suffix}")


def test_reexport_from_an_empty_store_keeps_the_archive_byte_for_byte(tmp_path):
    """An archive grows across stores: the runs its export holds and a (new, empty) store lacks are kept
    as archived, rows, companion arrays and manifest alike; nothing is re-trained or lost."""
    from mdico_core.experiments.archive_io import export_archive

    name = "lfmc_paper"  # partial, with companion data: the archive the protocol sweep grows
    _copy_archive(name, tmp_path)
    before = {s: (tmp_path / f"{name}{s}").read_bytes() for s in (".csv", ".npz", ".json")}
    export_archive(name, ResultsStore(tmp_path / "empty_store"), partial=True, folder=tmp_path)
    after = {s: (tmp_path / f"{name}{s}").read_bytes() for s in (".csv", ".npz", ".json")}
    assert after == before


def test_a_damaged_archive_is_refused_naming_the_file_and_the_fix(tmp_path, capsys):
    from mdico_core.experiments.archive_io import ArchiveError, verify_archive

    name = "lfmc_ablation"
    _copy_archive(name, tmp_path)
    csv = tmp_path / f"{name}.csv"
    assert verify_archive(ARCHIVES[name], tmp_path)["runs_exported"] == 90
    csv.write_bytes(csv.read_bytes()[: csv.stat().st_size // 2])  # cut in half
    # outside the repository, the fix is an export (or a copy), not `git checkout`
    with pytest.raises(ArchiveError, match=rf"{name}.csv does not match its manifest.*export it again"):
        read_runs(csv)
    assert main(["table", "lfmc", "--archive", str(csv)]) != 0
    assert "does not match its manifest" in capsys.readouterr().err
    (tmp_path / f"{name}.npz").unlink()
    csv.write_bytes(ARCHIVES[name].csv_path.read_bytes())
    with pytest.raises(ArchiveError, match=rf"{name}.npz is missing"):
        read_runs(csv)


def test_a_csv_of_ones_own_is_checked_for_consistency(tmp_path):
    df = read_runs("lfmc_ablation")
    own = tmp_path / "mine.csv"
    first = df["run_id"].iloc[0]
    df[~((df["run_id"] == first) & (df["view"] == "L8"))].to_csv(own, index=False)  # one run lost a view
    with pytest.raises(ValueError, match="fewer \\(view, metric\\) rows than other runs of their cell"):
        read_runs(own)
    pd.concat([df, df.head(3)]).to_csv(own, index=False)  # rows repeated
    with pytest.raises(ValueError, match="repeated \\(run, view, metric\\) rows"):
        read_runs(own)
    df.to_csv(own, index=False)
    assert len(read_runs(own)) == len(df)


def test_archive_run_skips_what_the_export_holds(tmp_path, monkeypatch, capsys):
    from mdico_core.experiments import executors

    seen = []
    monkeypatch.setattr(executors, "sweep", lambda cfgs, **k: seen.append(cfgs) or executors.SweepReport())
    monkeypatch.setattr("mdico_core._util.git_state", lambda: ("abc", False))
    assert main(["archive", "run", "lfmc_paper", "--results", str(tmp_path)]) == 0
    held = set(read_runs("lfmc_paper")["run_id"])
    (cfgs,) = seen
    assert len(cfgs) == 1100 - len(held) and not held & {c.run_id for c in cfgs}
    assert f"{len(held)} of them already in the exported archive" in capsys.readouterr().out


def test_the_site_archive_names_its_grouping_in_runs_commands_and_manifest():
    """lfmc_sites: every run folds by site, its command says so, and so does its manifest; the paper's
    archive (random-row folds) does not, and its manifest has no such key."""
    from mdico_core.experiments.archive_io import manifest

    sites = ARCHIVES["lfmc_sites"]
    assert {c.folds_by for c in sites.configs()} == {"site"}
    assert all("--folds-by site" in cmd for cmd in sites.commands())
    assert len(sites.configs()) == 7 * 10 * 5
    assert manifest(sites, [], sites.configs(), {})["folds_by"] == ["site"]
    assert "folds_by" not in manifest(ARCHIVES["lfmc_encoders"], [], [], {})
    assert not any(c.folds_by for c in ARCHIVES["lfmc_paper"].configs())


# ------------------------------------------------------------------------ an archive is verified or refused
def _archive_folder(monkeypatch, tmp_path, name: str = "lfmc_ablation"):
    """A copy of archive `name` in `tmp_path`, which reads take for the shipped folder (``data/archived_runs``)."""
    from mdico_core.experiments import archive_files

    _copy_archive(name, tmp_path)
    monkeypatch.setattr(archive_files, "ARCHIVE_DIR", tmp_path)
    return tmp_path / f"{name}.csv", tmp_path / f"{name}.json"


def test_a_shipped_archive_without_its_manifest_is_refused(tmp_path, monkeypatch):
    """Issue 40, 1: deleting the manifest and changing a number must not pass."""
    from mdico_core.experiments.archive_io import ArchiveError

    csv, meta = _archive_folder(monkeypatch, tmp_path)
    meta.unlink()
    csv.write_text(csv.read_text().replace("0.1", "0.2", 1))
    with pytest.raises(ArchiveError, match=r"lfmc_ablation.csv has no manifest \(lfmc_ablation.json is missing\)"):
        read_runs(csv)


def test_a_manifest_that_does_not_list_the_csv_is_refused(tmp_path, monkeypatch):
    """Issue 40, 2: a manifest keeping only the companion file's entry does not vouch for the CSV."""
    import json

    from mdico_core.experiments.archive_io import ArchiveError

    csv, meta = _archive_folder(monkeypatch, tmp_path)
    info = json.loads(meta.read_text())
    del info["files"]["lfmc_ablation.csv"]
    meta.write_text(json.dumps(info))
    with pytest.raises(ArchiveError, match=r"does not list lfmc_ablation.csv in its files"):
        read_runs(csv)


@pytest.mark.parametrize("change, phrase", [
    ({"runs_exported": 80, "partial": True}, "runs_exported 80 but the CSV holds 90 runs"),
    ({"partial": True}, "partial True but 0 missing run id"),
    ({"failed_runs": {"0123456789abcdef": "ValueError"}}, "1 failed run(s) but the CSV holds 0"),
    ({"commits": {"f" * 40: 90}}, "commits {'" + "f" * 40),
])
def test_a_manifest_whose_counts_disagree_with_its_csv_is_refused(tmp_path, monkeypatch, change, phrase):
    """Issue 40, 3: the counts a page prints from the manifest are the CSV's."""
    import json

    from mdico_core.experiments.archive_io import ArchiveError

    csv, meta = _archive_folder(monkeypatch, tmp_path)
    meta.write_text(json.dumps({**json.loads(meta.read_text()), **change}))
    with pytest.raises(ArchiveError, match="disagrees with lfmc_ablation.csv") as err:
        read_runs(csv)
    assert phrase in str(err.value)


def test_a_csv_of_ones_own_without_a_manifest_is_read_as_unverified(tmp_path, capsys):
    """Issue 40, 9: a CSV given by path with no manifest is read, saying so, in the terminal and on the page."""
    from mdico_core.experiments.archive_files import UnverifiedArchiveWarning

    own = tmp_path / "mine.csv"
    read_runs("lfmc_ablation").to_csv(own, index=False)
    with pytest.warns(UnverifiedArchiveWarning, match="unverified: no manifest"):
        assert read_runs(own).attrs["unverified"].startswith("unverified: no manifest")
    assert "unverified" not in read_runs("lfmc_ablation").attrs
    assert main(["table", "lfmc", "--archive", str(own)]) == 0
    assert "warning: unverified: no manifest" in capsys.readouterr().err
    with pytest.warns(UnverifiedArchiveWarning):
        assert "Unverified: no manifest" in archived_page(own, "lfmc").banner()


def test_the_restore_hint_outside_the_repository_is_no_git_command(tmp_path):
    """Issue 40, 9: `git checkout` cannot restore a file outside the repository."""
    from mdico_core.experiments.archive_files import restore_hint

    outside = restore_hint(ARCHIVES["lfmc_paper"], tmp_path)
    assert "git checkout" not in outside and f"--out-dir {tmp_path.resolve()}" in outside
    inside = restore_hint(ARCHIVES["lfmc_paper"], None, "lfmc_paper.json")
    assert "`git checkout -- data/archived_runs/lfmc_paper.json` from the repository root" in inside


@pytest.mark.parametrize("name", [n for n, a in ARCHIVES.items() if a.manifest_path.is_file()])
def test_shipped_archives_agree_with_the_checksums_file(name):
    """Every archive with a manifest: its files, its manifest's checksums and the manifest itself are those of
    ``data/archived_runs/SHA256SUMS`` (`mdico archive export` rewrites the archive's lines), so a change to an
    archive shows in review even when its manifest was changed to match."""
    import hashlib
    import json

    from mdico_core.experiments.archive_files import read_sums

    a = ARCHIVES[name]
    sums = read_sums()
    info = json.loads(a.manifest_path.read_text())
    expected = {**info["files"], a.manifest_path.name: hashlib.sha256(a.manifest_path.read_bytes()).hexdigest()}
    for f, digest in expected.items():
        assert sums.get(f) == digest, f"{f}: SHA256SUMS says {sums.get(f)}, the manifest {digest}: re-export with " \
                                      f"`mdico archive export {name}`, which rewrites both"
        assert hashlib.sha256((a.csv_path.parent / f).read_bytes()).hexdigest() == digest, f"{f} changed"
    assert {f.split(".")[0] for f in sums} <= set(ARCHIVES), "SHA256SUMS names a file of no archive"


def test_export_rewrites_its_archive_lines_in_the_checksums_file(tmp_path, toy_store):
    import hashlib

    from mdico_core.experiments.archive_files import SUMS, read_sums
    from mdico_core.experiments.archive_io import export_archive, verify_archive

    (tmp_path / SUMS).write_text("ab" * 32 + "  other.csv\n" + "cd" * 32 + "  toy.csv\n")
    info = export_archive(_toy_archive(), toy_store, folder=tmp_path)
    sums = read_sums(tmp_path)
    assert sums["other.csv"] == "ab" * 32  # other archives' lines are kept
    assert sums["toy.csv"] == info["files"]["toy.csv"] and sums["toy.npz"] == info["files"]["toy.npz"]
    assert sums["toy.json"] == hashlib.sha256((tmp_path / "toy.json").read_bytes()).hexdigest()
    assert verify_archive(_toy_archive(), tmp_path)["runs_exported"] == 20
