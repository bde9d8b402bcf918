"""Serial, local-process and Dask executors give identical records."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mdico_core.experiments import ResultsStore, RunConfig, sweep, train_config
from mdico_core.experiments.executors import _task

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
