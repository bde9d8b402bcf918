"""run_one: what a record holds, determinism, not-reproduced methods, crashes, protocols."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mdico_core.data import _LOADED, DATASETS, DatasetEntry, get_dataset_entry, load_dataset
from mdico_core.experiments import ENV_COLUMNS, ResultsStore, RunConfig, execute, run_one, sweep, train_config
from mdico_core.methods import METHODS
from mdico_core.methods.base import Method, NotReproducedError
from mdico_core.metrics import score

torch.set_num_threads(1)
SMOKE = train_config({"max_epochs": 2, "max_steps_per_epoch": 3, "batch_size": 32, "patience": 0})


def test_record_contents(tmp_path):
    st = ResultsStore(tmp_path)
    cfg = RunConfig("toy_multiclass", "mdico", train=SMOKE)
    rec = run_one(cfg, st, profile="smoke")
    assert rec["run_id"] == cfg.run_id and rec["status"] == "done" and rec["config"] == cfg.to_dict()
    views = ["S1", "S2", "S1:shared", "S1:specific", "S2:shared", "S2:specific"]
    assert sorted(rec["metrics"]) == sorted(views)
    assert {"f1_weighted", "f1_macro", "accuracy"} <= set(rec["metrics"]["S1"])
    assert rec["epochs_run"] == 2 and 1 <= rec["best_epoch"] <= 2 and len(rec["history"]) == 2
    assert {"epoch", "train/main", "train/cont", "val/total"} <= set(rec["history"][0])
    assert rec["n_train"] + rec["n_val"] + rec["n_test"] == 256 and rec["n_val"] > 0
    assert rec["wall_time_s"] > 0 and rec["peak_memory_mb"] > 0
    prov = rec["provenance"]
    assert {"package_version", "git_commit", "git_dirty", "data_sha256", "device", "profile", "hostname",
            "timestamp", *ENV_COLUMNS} <= set(prov)
    assert prov["torch_version"] == torch.__version__ and prov["torch_threads"] == torch.get_num_threads()
    assert prov["profile"] == "smoke" and len(prov["data_sha256"]["arrays"]) == 64
    # The stored predictions reproduce the stored metrics.
    arrays = st.arrays(cfg)
    ds = load_dataset("toy_multiclass")
    np.testing.assert_array_equal(arrays["y_true"], ds.target[arrays["test_idx"]])
    for view in views:
        assert arrays[f"pred/{view}"].dtype == np.float32 and arrays[f"feat/{view}"].dtype == np.float16
        assert score("multiclass", arrays["y_true"], arrays[f"pred/{view}"]) == pytest.approx(rec["metrics"][view])
    assert run_one(cfg, st) == rec  # done: returned from the store, not recomputed


def test_same_seed_same_numbers_other_seed_other_numbers():
    cfg = RunConfig("toy_regression", "mdico", train=SMOKE, save_features=False)
    (a, arr_a), (b, arr_b) = execute(cfg), execute(cfg)
    assert a["metrics"] == b["metrics"] and a["history"] == b["history"]
    np.testing.assert_array_equal(arr_a["pred/S1"], arr_b["pred/S1"])
    assert not any(k.startswith("feat/") for k in arr_a)
    c, _ = execute(RunConfig("toy_regression", "mdico", seed=1, train=SMOKE, save_features=False))
    assert c["metrics"] != a["metrics"]


def test_split_seed_fixes_the_rows_and_seed_the_training():
    fixed = RunConfig("toy_regression", "individual", train=SMOKE, save_features=False, split_seed=5)
    (a, arr_a), (b, arr_b) = execute(fixed), execute(RunConfig.from_dict({**fixed.to_dict(), "seed": 1}))
    np.testing.assert_array_equal(arr_a["test_idx"], arr_b["test_idx"])
    assert [a[k] for k in ("n_train", "n_val", "n_test")] == [b[k] for k in ("n_train", "n_val", "n_test")]
    assert a["metrics"] != b["metrics"]  # same rows, other initialisation and batch order
    # the split of split seed 5 is the default split of seed 5
    ds = load_dataset("toy_regression")
    for got, want in zip(ds.split_indices(0, 10, fixed.effective_split_seed), ds.split_indices(0, 10, 5)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(arr_a["test_idx"], ds.split_indices(0, 10, 5)[2])
    assert not np.array_equal(arr_a["test_idx"], ds.split_indices(0, 10, 1)[2])


def test_released_protocol_validates_on_the_test_fold():
    rec, arrays = execute(RunConfig("toy_binary", "individual", protocol="released", train=SMOKE))
    assert rec["n_val"] == rec["n_test"] and rec["n_train"] + rec["n_test"] == 256
    paper, _ = execute(RunConfig("toy_binary", "individual", protocol="paper", train=SMOKE))
    assert paper["n_test"] == rec["n_test"] and paper["n_train"] < rec["n_train"]


class _Absent(Method):
    name = "absent_weights"
    paper_name = "Absent"

    def __init__(self, spec, encoder="tempcnn", **options):
        raise NotReproducedError("pretrained weights are not available offline")


def test_not_reproduced_is_recorded_without_training(tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS, "absent_weights", _Absent)
    st = ResultsStore(tmp_path)
    cfg = RunConfig("toy_binary", "absent_weights", train=SMOKE)
    rec = run_one(cfg, st)
    assert rec["status"] == "not_reproduced" and "pretrained weights" in rec["message"]
    assert rec["metrics"] == {} and rec["history"] == [] and st.has(cfg) and st.arrays(cfg) == {}
    assert st.failures()[0]["status"] == "not_reproduced"


def test_crash_is_recorded_and_retried(tmp_path, monkeypatch):
    name = "toy_flaky"

    def broken():
        raise RuntimeError("cannot read the data")

    monkeypatch.setitem(DATASETS, name, DatasetEntry(name=name, loader=broken, task="binary"))
    st = ResultsStore(tmp_path)
    cfg = RunConfig(name, "individual", train=SMOKE)
    with pytest.raises(RuntimeError, match="cannot read"):
        run_one(cfg, st)
    fail = st.failures()
    assert len(fail) == 1 and fail[0]["status"] == "failed" and "cannot read" in fail[0]["message"]
    assert "Traceback" in fail[0]["traceback"] and not st.has(cfg)
    report = sweep([cfg], st, progress=False)
    assert (report.done, report.failed, report.failed_ids) == (0, 1, [cfg.run_id])

    from mdico_core.data.synthetic import make_synthetic

    monkeypatch.setitem(DATASETS, name, DatasetEntry(name=name, loader=lambda: make_synthetic("binary"),
                                                     task="binary"))
    try:
        report = sweep([cfg], st, progress=False)
    finally:
        _LOADED.pop(name, None)
    assert (report.done, report.failed) == (1, 0) and st.has(cfg) and st.failures() == []


def test_lfmc_smoke_run_when_cached(tmp_path, real_data):
    real_data(*get_dataset_entry("lfmc").files)
    rec = run_one(RunConfig("lfmc", "individual", train=SMOKE), ResultsStore(tmp_path))
    assert sorted(rec["metrics"]) == ["L8", "S1"] and "r2" in rec["metrics"]["L8"]
    assert set(rec["provenance"]["data_sha256"]) == set(DATASETS["lfmc"].files)


def test_original_settings_record_per_view_epochs(tmp_path):
    from mdico_core.experiments.config import resolve_train

    settings, cfg = resolve_train("discomkd", "original", SMOKE)
    st = ResultsStore(tmp_path)
    rec = run_one(RunConfig("toy_multiclass", "discomkd", settings=settings, train=cfg, save_features=False), st)
    assert rec["config"]["settings"] == "original" and rec["config"]["train"]["checkpoint"] == "per_view"
    assert set(rec["best_epochs"]) == {"S1", "S2"} and all(1 <= e <= 2 for e in rec["best_epochs"].values())
    assert all("val/monitor_score" in row for row in rec["history"])
    ind = run_one(RunConfig("toy_multiclass", "individual", train=SMOKE, save_features=False), st)
    assert [row["stage"] for row in ind["history"]] == ["S1", "S1", "S2", "S2"] and ind["epochs_run"] == 4
    df = st.collect("toy_multiclass")
    assert set(df["settings"]) == {"original", "common"}
    kept = df[df.method == "individual"].groupby("view")["best_epoch"].first().to_dict()
    assert kept == ind["best_epochs"]


def test_image_weights_are_verified_before_training(tmp_path):
    weights = tmp_path / "resnet50.pth"
    weights.write_bytes(b"the weights")
    cfg = RunConfig("toy_binary", "mdico", train=SMOKE, image_weights=str(weights))
    weights.write_bytes(b"corrupted!!")
    with pytest.raises(ValueError, match="corrupt"):
        execute(cfg)


def test_each_released_protocol_difference_alone(monkeypatch):
    from mdico_core.data.dataset import MultiModalDataset
    from mdico_core.experiments.config import STATISTICS_ON_ALL_ROWS, VALIDATES_ON_TEST

    assert set(VALIDATES_ON_TEST) ^ set(STATISTICS_ON_ALL_ROWS) == {"released_validation", "released_statistics"}
    fitted_on = []
    real = MultiModalDataset.fit_normalizer
    monkeypatch.setattr(MultiModalDataset, "fit_normalizer", lambda self, idx: fitted_on.append(len(idx)) or real(self, idx))
    runs = {p: execute(RunConfig("toy_binary", "individual", protocol=p, train=SMOKE))[0]
            for p in ("paper", "released_validation", "released_statistics", "released")}
    val, stats, paper = runs["released_validation"], runs["released_statistics"], runs["paper"]
    assert val["n_val"] == val["n_test"] and val["n_train"] + val["n_test"] == 256  # validation = the test fold
    assert (stats["n_train"], stats["n_val"]) == (paper["n_train"], paper["n_val"])  # validation carved as the paper
    # z-score statistics: training rows (paper, released_validation) or every row (released_statistics, released)
    assert fitted_on == [paper["n_train"], val["n_train"], 256, 256]
