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
    assert lines[0] == "| method | variant | view | n | ours | paper | diff | p vs Individual | note |"
    body = {(c[1], c[3]): c for c in ([x.strip() for x in line.split("|")] for line in lines[2:])}
    assert set(body) == {("Individual", "S1"), ("Individual", "S2"), ("MDiCo", "S1"), ("MDiCo", "S2"),
                         ("MDiCo", "S1:shared"), ("MDiCo", "S1:specific"), ("MDiCo", "S2:shared"),
                         ("MDiCo", "S2:specific")}
    df = ResultsStore(tmp_path).collect()
    vals = df[(df.method == "individual") & (df.view == "S1") & (df.metric == "r2")]["value"]
    ind = body[("Individual", "S1")]
    assert ind[4] == "2" and ind[5] == f"{vals.mean():.3f} ± {vals.std(ddof=1):.3f}"
    assert re.fullmatch(r"0\.5|1", body[("MDiCo", "S1")][8])  # exact Wilcoxon p with 2 pairs

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
    assert "0.250 ± 0.071" in s1 and "0.242" in s1 and "0.008" in s1
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
    pytest.importorskip("mdico_core.data.info")
    assert main(["data", "info", "toy_binary"]) == 0
    assert "binary" in capsys.readouterr().out


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
