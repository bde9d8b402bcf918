"""Serial, local-process and Dask executors give identical records."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mdico_core.experiments import ResultsStore, RunConfig, sweep, train_config
from mdico_core.experiments.executors import EXECUTORS, _task

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)  # the workers run one thread each; so does the serial reference


def _configs() -> list[RunConfig]:
    train = train_config({"max_epochs": 2, "max_steps_per_epoch": 3, "batch_size": 32, "patience": 0})
    return [RunConfig("toy_multiclass", "individual", seed=1, train=train, save_features=False),
            RunConfig("toy_multiclass", "mdico", seed=0, fold=1, train=train, save_features=False)]


def _metrics(store: ResultsStore) -> dict:
    return {r["run_id"]: (r["metrics"], r["history"]) for r in store.records()}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    store = ResultsStore(tmp_path_factory.mktemp("serial"))
    report = sweep(_configs(), store, executor="serial", progress=False)
    assert (report.done, report.skipped, report.failed) == (2, 0, 0)
    return _metrics(store)


@pytest.mark.slow
def test_processes_match_serial(serial, tmp_path, monkeypatch):
    # A user dataset registered through the environment must be found by the (spawned) workers.
    user = tmp_path / "data" / "my_env_data"
    user.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(user / "A.npy", rng.standard_normal((40, 3, 2)).astype(np.float32))
    np.save(user / "B.npy", rng.standard_normal((40, 3, 4)).astype(np.float32))
    np.save(user / "target.npy", rng.standard_normal(40).astype(np.float32))
    (user / "dataset.yaml").write_text("task: regression\n")
    monkeypatch.setenv("MDICO_DATASETS", str(user))
    mine = RunConfig("my_env_data", "individual", n_folds=5, train=_configs()[0].train)

    store = ResultsStore(tmp_path / "results")
    cfgs = _configs()
    report = sweep(cfgs + cfgs[:1] + [mine], store, executor="processes", workers=2, progress=False,
                   profile="smoke")
    assert (report.done, report.failed) == (3, 0), store.failures()  # the duplicate is run once
    assert sorted(store.get(mine)["metrics"]) == ["A", "B"]
    assert {k: v for k, v in _metrics(store).items() if k != mine.run_id} == serial
    assert {r["provenance"]["profile"] for r in store.records()} == {"smoke"}


@pytest.mark.slow
def test_dask_local_cluster_matches_serial(serial, tmp_path):
    pytest.importorskip("distributed")
    store = ResultsStore(tmp_path)
    cfgs = _configs()
    sweep(cfgs[:1], store, progress=False)  # one already done: skipped by the cluster
    report = sweep(cfgs, store, executor="dask", workers=2, progress=False)
    assert (report.done, report.skipped, report.failed) == (1, 1, 0)
    assert _metrics(store) == serial


def test_unknown_executor(tmp_path):
    with pytest.raises(ValueError, match="valid executors: serial, processes, dask"):
        sweep(_configs(), ResultsStore(tmp_path), executor="threads")


def test_worker_reports_unregistered_dataset(tmp_path):
    # _task is what a process or Dask worker runs; in-process here to keep the test fast.
    cfg = RunConfig("my_parent_only_data", "individual")
    run_id, status, msg = _task(cfg.to_dict(), str(tmp_path), "", None)
    assert (run_id, status) == (cfg.run_id, "failed")
    assert "valid datasets" in msg and "MDICO_DATASETS" in msg
    assert ResultsStore(tmp_path).failures()[0]["message"] == msg


def test_cli_defaults_give_identical_records_on_every_executor(tmp_path):
    """`mdico run` with its defaults gives the same records on each executor, even where this process
    may use several threads (set here explicitly, so the test means the same on any machine)."""
    pytest.importorskip("distributed")
    from mdico_core.cli import main

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    runs = {}
    try:
        for executor in EXECUTORS:
            root = tmp_path / executor
            argv = ["run", "--dataset", "toy_regression", "--methods", "mdico", "--profile", "smoke",
                    "--executor", executor, "--quiet", "--results", str(root)]
            assert main(argv + ([] if executor == "serial" else ["--workers", "1"])) == 0
            store = ResultsStore(root)
            runs[executor] = {r["run_id"]: (r["metrics"], r["history"], store.arrays(r["run_id"]))
                              for r in store.records()}
            assert {r["provenance"]["torch_threads"] for r in store.records()} == {1}
        assert torch.get_num_threads() == 2  # the serial sweep gave this process its threads back
    finally:
        torch.set_num_threads(previous)
    serial = runs["serial"]
    assert len(serial) == 1
    for executor in ("processes", "dask"):
        assert runs[executor].keys() == serial.keys()
        for run_id, (metrics, history, arrays) in runs[executor].items():
            assert (metrics, history) == serial[run_id][:2], executor
            assert arrays.keys() == serial[run_id][2].keys()
            for k, v in arrays.items():
                np.testing.assert_array_equal(v, serial[run_id][2][k])


# ---------------------------------------------------------------------------------- killed processes
SWEEP_SCRIPT = textwrap.dedent("""
    import sys
    from mdico_core.experiments import ResultsStore, RunConfig, SweepStopped, sweep, train_config

    if __name__ == "__main__":
        root, epochs, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        train = train_config({"max_epochs": epochs, "batch_size": 32, "patience": 0})
        cfgs = [RunConfig("toy_regression", "individual", seed=s, train=train, save_features=False)
                for s in range(n)]
        try:
            report = sweep(cfgs, ResultsStore(root), executor="processes", workers=2, progress=False)
        except SweepStopped as err:
            print(err.report, flush=True)
            print(err, file=sys.stderr, flush=True)
            sys.exit(1)
        print(report, flush=True)
""")


def _start_sweep(tmp_path, epochs: int, n: int):
    """The sweep script in a subprocess (output to files: orphans must not hold a pipe open) and its 2 workers."""
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(script), str(tmp_path / "results"), str(epochs), str(n)]
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err, text=True)
    deadline = time.time() + 120
    while True:
        assert proc.poll() is None, (tmp_path / "err.txt").read_text()
        assert time.time() < deadline, "the sweep's workers did not start in 120 s"
        workers = [p for p in psutil.Process(proc.pid).children()
                   if "spawn_main" in " ".join(p.cmdline()) and "resource_tracker" not in " ".join(p.cmdline())]
        if len(workers) == 2:
            return proc, cmd, env, workers
        time.sleep(0.1)


def test_workers_die_with_the_sweep(tmp_path):
    psutil = pytest.importorskip("psutil")
    proc, *_ = _start_sweep(tmp_path, epochs=60, n=6)
    time.sleep(3)  # the workers have imported torch and are training
    family = psutil.Process(proc.pid).children(recursive=True)
    proc.kill()
    proc.wait(30)
    _, alive = psutil.wait_procs(family, timeout=15)
    for p in alive:
        p.kill()
    assert alive == [], f"{len(alive)} process(es) outlived the sweep"


def test_a_killed_worker_stops_the_sweep_with_a_clear_message_and_it_resumes(tmp_path):
    proc, _, _, workers = _start_sweep(tmp_path, epochs=5, n=4)
    workers[0].kill()
    proc.wait(120)
    err = (tmp_path / "err.txt").read_text()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "a worker process died" in err and "re-run the same command to resume" in err
    lost = int(re.search(r"(\d+) run\(s\) not finished", err)[1])
    assert lost >= 1 and "toy_regression individual" in err
    # re-running resumes (serially here: a second pool would only cost time)
    store = ResultsStore(tmp_path / "results")
    train = train_config({"max_epochs": 5, "batch_size": 32, "patience": 0})
    cfgs = [RunConfig("toy_regression", "individual", seed=s, train=train, save_features=False) for s in range(4)]
    report = sweep(cfgs, store, progress=False)
    assert report.done == lost and report.done + report.skipped == 4 and report.failed == 0
