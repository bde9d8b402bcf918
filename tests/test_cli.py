"""The `mdico` command: name errors (exit 2), run -> status -> table on a toy store, data commands."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from mdico_core.cli import main
from mdico_core.experiments import ResultsStore, RunConfig

torch.set_num_threads(1)


@pytest.mark.parametrize("argv, valid", [
    (["run", "--dataset", "nope"], "valid datasets: "),
    (["run", "--dataset", "toy_binary", "--methods", "individual,nope"], "valid methods: "),
    (["run", "--dataset", "toy_binary", "--methods", "mdico", "--variants", "nope"], "valid variants: "),
    (["run", "--dataset", "toy_binary", "--encoders", "nope"], "valid encoders: "),
    (["run", "--dataset", "toy_binary", "--profile", "nope"], "valid profiles: paper, quick, smoke"),
    (["run", "--dataset", "toy_binary", "--executor", "nope"], "invalid choice"),
    (["run", "--dataset", "toy_binary", "--seeds", "a,b"], "not an integer"),
    (["status", "--profile", "nope"], "valid profiles"),
])
def test_unknown_names_exit_2(argv, valid, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--results", str(tmp_path)])
    assert exc.value.code == 2
    assert valid in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing ran


@pytest.mark.slow
def test_run_status_table(capsys, tmp_path):
    res = str(tmp_path)
    argv = ["run", "--dataset", "toy_regression", "--methods", "individual,mdico", "--profile", "smoke",
            "--seeds", "0,1", "--quiet", "--results", res]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 run(s), profile 'smoke'" in out and "4 run(s) done, 0 already in the store, 0 failed" in out
    assert main(argv) == 0
    assert "0 run(s) done, 4 already in the store" in capsys.readouterr().out

    assert main(["status", "--profile", "smoke", "--dataset", "toy_regression", "--results", res]) == 0
    out = capsys.readouterr().out
    # pending counts the profile's own grid (its methods x fold 0 x seed 0): all but the 2 just run
    from mdico_core.experiments import load_profile

    grid = len(load_profile("smoke").methods)
    assert f"done: 4, not reproduced: 0, failed: 0, pending (smoke profile, common settings): {grid - 2} of {grid}" in out

    assert main(["table", "toy_regression", "--results", res, "--markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| method | variant | view | n | ours | paper | ours - paper | vs | Δ [95% CI] | p (Holm) | note |"
    body = {(c[1], c[3]): c for c in ([x.strip() for x in line.split("|")] for line in lines[2:] if line.startswith("|"))}
    assert set(body) == {("Individual", "S1"), ("Individual", "S2"), ("MDiCo", "S1"), ("MDiCo", "S2"),
                         ("MDiCo", "S1:shared"), ("MDiCo", "S1:specific"), ("MDiCo", "S2:shared"),
                         ("MDiCo", "S2:specific")}
    df = ResultsStore(tmp_path).collect()
    vals = df[(df.method == "individual") & (df.view == "S1") & (df.metric == "r2")]["value"]
    ind = body[("Individual", "S1")]
    assert ind[4] == "2" and ind[5] == f"{vals.mean():.3f} (n = 2)"  # no std from fewer than 5 runs
    assert body[("MDiCo", "S1")][10] == "n = 2"  # no p from fewer than 5 pairs
    assert "corrected repeated cross-validation t-test" in "\n".join(lines)

    with pytest.raises(SystemExit) as exc:
        main(["table", "toy_regression", "--metric", "nope", "--results", res])
    assert exc.value.code == 2 and "valid metrics: mae, r2, rmse" in capsys.readouterr().err
    assert main(["table", "lfmc", "--results", res]) == 1  # no runs: says how to make them
    assert "mdico run --dataset lfmc" in capsys.readouterr().err


def test_table_against_the_paper_and_failures(capsys, tmp_path):
    store = ResultsStore(tmp_path)
    for seed, value in [(0, 0.30), (1, 0.20)]:
        cfg = RunConfig("lfmc", "individual", seed=seed)
        store.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "done", "task": "regression",
                    "metrics": {"S1": {"r2": value}, "L8": {"r2": 0.4}}, "history": [],
                    "provenance": {"profile": "paper"}}, {"y_true": np.zeros(2)})
    bad = RunConfig("lfmc", "mdico")
    store.save_failure(bad, "RuntimeError: out of memory\nmore lines", "Traceback ...")
    assert main(["table", "lfmc", "--profile", "paper", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    s1 = next(line for line in out.splitlines() if " S1 " in line)
    assert "0.250 (n = 2)" in s1 and "0.242" in s1 and "0.008" in s1
    assert main(["table", "lfmc", "--profile", "quick", "--results", str(tmp_path)]) == 1
    capsys.readouterr()
    assert main(["status", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "done: 2, not reproduced: 0, failed: 1" in out
    assert f"failed {bad.run_id}: lfmc mdico/default fold 0 seed 0: RuntimeError: out of memory" in out


def test_data_commands(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "toy_regression" in out and "lfmc" in out
    with pytest.raises(SystemExit) as exc:
        main(["data", "fetch", "no_such_thing"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["data", "seed", "/no/such/folder"])
    assert exc.value.code == 2
    assert main(["data", "info", "toy_binary"]) == 0
    assert "binary" in capsys.readouterr().out


# ---------------------------------------------------------------------------------- bad input, bad stores
@pytest.mark.parametrize("argv, message", [
    (["--workers", "-1"], "--workers: must be 1 or more"),
    (["--workers", "0"], "--workers: must be 1 or more"),
    (["--threads", "0"], "--threads: must be 1 or more"),
    (["--seeds", ","], "names no value"),
    (["--folds", ","], "names no value"),
    (["--seeds", "-3"], "seeds are integers from 0"),
    (["--seeds", "official"], "seeds are integers from 0"),
    (["--folds", "official"], "'toy_regression' has no official split; give test folds"),
])
def test_bad_run_arguments_exit_2_before_anything_runs(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--dataset", "toy_regression", "--profile", "smoke", "--quiet", *argv, "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    assert len([line for line in err.splitlines() if line.startswith("mdico run: error:")]) == 1
    assert not any(tmp_path.iterdir())  # nothing ran, nothing was recorded


def _no_training(monkeypatch):
    from mdico_core.experiments import runner

    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("a run trained"))


def test_unwritable_store_is_found_before_any_run(capsys, tmp_path, monkeypatch):
    _no_training(monkeypatch)
    (tmp_path / "file").write_text("")
    res = tmp_path / "file" / "results"
    argv = ["run", "--dataset", "toy_regression", "--profile", "smoke", "--quiet", "--results", str(res)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the results store") and "not writable" in err[0], err


def test_a_store_that_stops_accepting_writes_stops_the_sweep(capsys, tmp_path, monkeypatch):
    import errno

    from mdico_core.experiments import store as store_mod

    real = store_mod.atomic_write

    def full_disk(path, write, mode="wb"):
        if path.suffix == ".json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, write, mode)

    monkeypatch.setattr(store_mod, "atomic_write", full_disk)
    argv = ["run", "--dataset", "toy_regression", "--methods", "individual", "--seeds", "0,1,2", "--profile", "smoke",
            "--quiet", "--results", str(tmp_path)]
    assert main(argv) == 1
    cap = capsys.readouterr()
    # the first run trained, could not be saved, and stopped the sweep: the two others never started
    assert "0 run(s) done, 0 already in the store, 1 failed" in cap.out and "2 not finished" in cap.out
    failed = [line for line in cap.out.splitlines() if line.startswith("  failed:")]
    assert len(failed) == 1 and "No space left on device" in failed[0] and "details" not in failed[0]
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and "cannot be written" in err[0] and "re-run the same command to resume" in err[0]


def test_a_crash_that_cannot_be_recorded_is_still_counted_and_printed(capsys, tmp_path, monkeypatch):
    from mdico_core.experiments import runner
    from mdico_core.experiments import store as store_mod

    def crash(*args, **kwargs):
        raise RuntimeError("out of memory")

    real = store_mod.atomic_write

    def no_failures(path, write, mode="wb"):
        if store_mod.FAILED in path.parts:
            raise OSError(30, "Read-only file system", str(path))
        real(path, write, mode)

    monkeypatch.setattr(runner, "execute", crash)
    monkeypatch.setattr(store_mod, "atomic_write", no_failures)
    argv = ["run", "--dataset", "toy_regression", "--methods", "individual", "--profile", "smoke", "--quiet",
            "--results", str(tmp_path)]
    assert main(argv) == 1
    cap = capsys.readouterr()
    assert "1 failed" in cap.out
    line = next(line for line in cap.out.splitlines() if line.startswith("  failed:"))
    assert "RuntimeError: out of memory" in line and "Read-only file system" in line and "details" not in line


def test_status_table_export_survive_and_name_a_corrupt_record(capsys, tmp_path):
    store = ResultsStore(tmp_path)
    cfgs = [RunConfig("lfmc", "individual", seed=s) for s in range(3)]
    for seed, cfg in enumerate(cfgs):
        store.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "done", "task": "regression",
                    "metrics": {"S1": {"r2": 0.1 * seed}, "L8": {"r2": 0.4}}, "history": [],
                    "provenance": {"profile": "paper"}}, {"y_true": np.zeros(2)})
    bad = store.record_path(cfgs[0])
    bad.write_text(bad.read_text()[:40])
    res = ["--results", str(tmp_path)]
    assert main(["table", "lfmc", *res]) == 0
    cap = capsys.readouterr()
    assert str(bad) in cap.err and "re-runs it" in cap.err and " S1 " in cap.out
    assert bad.is_file()  # table only reads: the record is named, and left where it is
    assert main(["status", *res]) == 0
    out = capsys.readouterr().out
    assert "done: 2, not reproduced: 0, failed: 0, unreadable (left in place" in out and str(bad) in out
    assert bad.is_file()
    assert main(["export", "lfmc", "--profile", "paper", "--out", str(tmp_path / "a.csv"), *res]) == 0
    cap = capsys.readouterr()
    assert "wrote 2 runs" in cap.out and "not in the archive" in cap.err and cfgs[0].run_id in cap.err
    assert not bad.is_file()  # export writes: it moves the unreadable record aside for the next sweep
    assert main(["status", *res]) == 0
    out = capsys.readouterr().out
    assert "unreadable (moved aside, re-run by the next `mdico run`): 1" in out and f"unreadable {cfgs[0].run_id}" in out


def test_data_seed_into_a_cache_that_is_a_file(capsys, tmp_path, monkeypatch):
    import shutil

    from mdico_core.data import cache

    name = "lfmc_rao2020/training_features_description.csv"
    try:
        src = cache.fetch(name, download=False)
    except FileNotFoundError:
        pytest.skip(f"{name} is not in the data cache")
    (tmp_path / "src").mkdir()
    shutil.copy(src, tmp_path / "src")
    (tmp_path / "cache").write_text("")
    monkeypatch.setenv("MDICO_DATA_DIR", str(tmp_path / "cache"))
    cache.clear_memo()
    assert main(["data", "seed", str(tmp_path / "src")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0] and "MDICO_DATA_DIR" in err[0], err


def test_methods_lists_both_settings_of_every_method(capsys):
    from mdico_core.methods import METHODS

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in METHODS:
        assert f"{name} (variants:" in out
    assert "= common (the same runs)" in out and "SGD Nesterov momentum 0.9" in out and "probe" in out
    assert "momentum 0.99 -> 0.9" in out  # substitutions are listed


def test_run_original_settings_and_tables_keep_them_apart(capsys, tmp_path):
    res = str(tmp_path)
    argv = ["run", "--dataset", "toy_regression", "--methods", "mdico,shaspec", "--profile", "smoke", "--quiet",
            "--results", res]
    assert main([*argv, "--settings", "original", "--monitor", "task"]) == 0
    assert main(argv) == 0
    capsys.readouterr()
    df = ResultsStore(tmp_path).collect("toy_regression")
    runs = df.drop_duplicates("run_id").set_index(["method", "settings"]).index
    assert sorted(runs) == [("mdico", "common"), ("mdico", "common"), ("shaspec", "common"), ("shaspec", "original")]
    from mdico_core.experiments.settings import select_settings

    for settings, monitor in (("original", "task"), ("common", None)):
        flags = ["--settings", settings] + (["--monitor", monitor] if monitor else [])
        assert main(["table", "toy_regression", *flags, "--results", res, "--markdown"]) == 0
        out = capsys.readouterr().out
        assert "| ShaSpec |" in out and "| MDiCo |" in out
        chosen = select_settings(df, settings, monitor).drop_duplicates("run_id")
        assert set(chosen[chosen.method == "shaspec"]["settings"]) == {settings}
        assert set(chosen["monitor"]) == {monitor or "total"}
        assert chosen.groupby("method").size().to_dict() == {"mdico": 1, "shaspec": 1}  # one run each: no pooling
    # the original comparison at each recipe's own monitor: MDiCo's common runs (its recipe), no ShaSpec yet
    assert main(["table", "toy_regression", "--settings", "original", "--results", res, "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| MDiCo |" in out and "| ShaSpec |" not in out


# ---------------------------------------------------------------------------------- one parser
def test_run_and_book_parse_their_shared_options_alike():
    from mdico_core.cli import build_parser

    parser = build_parser()
    shared = ["--profile", "smoke", "--seeds", "5, 6", "--folds", "0,official", "--executor", "processes",
              "--workers", "2", "--results", "/r"]
    run, book = parser.parse_args(["run", *shared]), parser.parse_args(["book", *shared])
    for name in ("profile", "seeds", "folds", "executor", "workers", "results"):
        assert getattr(run, name) == getattr(book, name), name
    assert (book.seeds, book.folds, book.results) == ([5, 6], [0, None], "/r")


def test_data_fetch_says_per_dataset_what_it_did(real_data, tmp_path, monkeypatch, capsys):
    """`mdico data fetch <dataset> --from <folder>`: one line per dataset (seeded, then verified), and a
    dataset that cannot be had is one FAIL line naming how to get it, with exit 1."""
    from mdico_core.data import cache, get_dataset_entry

    src = tmp_path / "folder"
    src.mkdir()
    for p in real_data(*get_dataset_entry("lfmc").files).values():
        (src / p.name).write_bytes(p.read_bytes())
    monkeypatch.setenv(cache.ENV_DATA_DIR, str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_urls", lambda entry, mirror: ["http://127.0.0.1:9/none"])  # no download works
    cache.clear_memo()
    assert main(["data", "fetch", "lfmc", "--from", str(src)]) == 0
    assert capsys.readouterr().out.strip() == f"ok   lfmc: seeded from {src} (2 file(s))"
    assert main(["data", "fetch", "lfmc"]) == 0
    assert capsys.readouterr().out.strip() == "ok   lfmc: verified in the cache (2 file(s))"
    assert main(["data", "fetch", "lfmc", "algae_blooms"]) == 1
    out, err = capsys.readouterr()
    assert "ok   lfmc" in out and err.startswith("FAIL algae_blooms: could not get 5 of 5 file(s)")
    assert "mdico data fetch" in err  # how to get it


def test_book_hands_its_options_to_build_book(monkeypatch, capsys):
    from mdico_core import bookbuild

    calls = []
    monkeypatch.setattr(bookbuild, "build_book", lambda *a, **k: calls.append((a, k)))
    assert main(["book", "--folds", "official", "--only", "05_encoders,06_tsne", "--results", "/r", "--sweep-only"]) == 0
    (args, kwargs), = calls
    # processes by default, as `make book`: a page's re-run command trains on every core
    assert args[:7] == ("quick", None, [None], "processes", None, False, ["05_encoders", "06_tsne"])
    assert args[7] == "/r" and kwargs == {"build": True, "sweep_only": True, "commit_pages": False}


@pytest.mark.parametrize("argv, message", [
    (["--profile", "nope"], "valid profiles: paper, quick, smoke"),
    (["--only", "99_nope"], "matches no page"),
    (["--results-dir", "/r"], "unrecognized arguments: --results-dir"),
    (["--seeds", "x"], "not an integer"),
    (["--workers", "0"], "must be 1 or more"),
    (["--commit-pages"], "--commit-pages builds book/ itself"),  # beside the test's --book-dir
])
def test_bad_book_arguments_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    from mdico_core.experiments import executors

    monkeypatch.setattr(executors, "sweep", lambda *a, **k: pytest.fail("the book swept"))
    with pytest.raises(SystemExit) as exc:
        main(["book", "--results", str(tmp_path), "--book-dir", str(tmp_path), "--no-build", *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    assert len([line for line in err.splitlines() if re.match(r"mdico( book)?: error: ", line)]) == 1
    assert not any(tmp_path.iterdir())


def test_every_data_subcommand_has_its_handler(capsys):
    from mdico_core.cli import build_parser

    parser = build_parser()
    for sub in ("seed x", "fetch all", "status", "info", "list"):
        args = parser.parse_args(["data", *sub.split()])
        assert args.func.__name__ == f"cmd_{sub.split()[0]}" and args.func.__module__ == "mdico_core.cli.data"
    assert main(["data", "status"]) == 0
    assert "lfmc_rao2020/nfmd_queried_latlon.csv" in capsys.readouterr().out


def test_help_imports_no_torch():
    """`mdico --help` and `mdico data ...` start fast: the choices come from mdico_core.options, without torch."""
    import subprocess
    import sys

    code = ("import sys\nfrom mdico_core.cli import build_parser\nbuild_parser()\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
