"""Where a run ran: the environment fields, their parsing, and grouping runs by environment."""

from __future__ import annotations

import torch

from mdico_core.experiments import (
    ENV_COLUMNS,
    ResultsStore,
    RunConfig,
    environment,
    environments,
    train_config,
)
from mdico_core.experiments import machine as prov

# The text of torch.__config__.show() of a pip CPU/CUDA wheel (torch 2.14.1), shortened.
SHOW_MKL = """PyTorch built with:
  - GCC 13.3
  - C++ Version: 202002
  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for Intel(R) 64 architecture applications
  - Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71049cd69a3df32adcccb623b12cd7baa22)
  - OpenMP 201511 (a.k.a. OpenMP 4.5)
  - LAPACK is enabled (usually provided by MKL)
  - CPU capability usage: AVX512
  - Build settings: BLAS_INFO=mkl, BUILD_TYPE=Release, CUDA_VERSION=13.0, LAPACK_INFO=mkl, USE_MKL=ON,
"""
# A build on OpenBLAS without oneDNN (as some ARM builds are), same format.
SHOW_OPENBLAS = """PyTorch built with:
  - GCC 11.2
  - OpenMP 201511 (a.k.a. OpenMP 4.5)
  - LAPACK is enabled (usually provided by MKL)
  - CPU capability usage: NO AVX
  - Build settings: BLAS_INFO=open, BUILD_TYPE=Release, LAPACK_INFO=open, USE_MKL=OFF, USE_MKLDNN=OFF,
"""

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme avx512f

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
"""


def test_torch_build_parses_blas_and_onednn():
    blas, onednn = prov.torch_build(SHOW_MKL)
    assert blas == ("mkl: Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for Intel(R) 64 "
                    "architecture applications")
    assert onednn == "Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71049cd69a3df32adcccb623b12cd7baa22)"
    assert prov.torch_build(SHOW_OPENBLAS) == ("open", None)
    assert prov.torch_build("") == (None, None)
    # this torch: whatever it says, parsed the same way
    assert prov.torch_build(torch.__config__.show()) == (environment()["blas"], environment()["onednn"])


def test_cpu_model_from_cpuinfo_else_platform(tmp_path, monkeypatch):
    f = tmp_path / "cpuinfo"
    f.write_text(CPUINFO)
    assert prov.cpu_model(f) == "Intel(R) Xeon(R) Platinum 8480+"
    monkeypatch.setattr(prov.platform, "processor", lambda: "arm")
    assert prov.cpu_model(tmp_path / "absent") == "arm"
    f.write_text("processor\t: 0\nBogoMIPS\t: 50.00\n")  # aarch64 Linux: no "model name"
    monkeypatch.setattr(prov.platform, "processor", lambda: "")
    monkeypatch.setattr(prov.platform, "machine", lambda: "aarch64")
    assert prov.cpu_model(f) == "aarch64"


def test_environment_on_cpu_has_every_column_and_live_threads():
    env = environment()
    assert set(env) == set(ENV_COLUMNS)
    assert env["torch_version"] == torch.__version__ and env["python_version"].count(".") == 2
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and env["cpu_model"]
    assert all(env[k] is None for k in ("cuda_device", "cuda_driver", "cuda_version", "cudnn_version"))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(before + 1)
        assert environment()["torch_threads"] == before + 1  # read at each call, not cached
    finally:
        torch.set_num_threads(before)
    assert environment()["torch_threads"] == before


def test_environment_on_cuda_reports_device_driver_cuda_and_cudnn(tmp_path, monkeypatch):
    proc = tmp_path / "version"
    proc.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  "
                    "(dvs-builder@U16-I3-B03-4-3)  Tue Mar  5 22:15:33 UTC 2024\nGCC version:  gcc version 12.3.0\n")
    monkeypatch.setattr(prov, "NVIDIA_PROC", proc)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    prov._static.cache_clear()
    try:
        env = environment("cuda")
        assert (env["cuda_device"], env["cuda_driver"], env["cuda_version"], env["cudnn_version"]) == (
            "NVIDIA H200", "550.54.15", "12.8", "91002")
        assert environment("cpu")["cuda_device"] is None  # a CPU run says nothing of the GPU beside it
        proc.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n")
        assert prov._nvidia_driver() == "535.104.05"
    finally:
        prov._static.cache_clear()


def _save(store: ResultsStore, seed: int, env: dict, method: str = "individual", stamp: str = "2026-01-01") -> None:
    cfg = RunConfig("toy_regression", method, seed=seed, train=train_config({"max_epochs": 1}))
    store.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "done", "message": None,
                "task": "regression", "metrics": {"S1": {"r2": 0.5, "rmse": 1.0}}, "best_epoch": 1, "epochs_run": 1,
                "wall_time_s": 0.1, "n_train": 80, "n_val": 10, "n_test": 10,
                "provenance": {"profile": "smoke", "timestamp": f"{stamp}T00:00:00+00:00", **env}})


def test_environments_groups_runs_and_keeps_unrecorded_ones_apart(tmp_path):
    store = ResultsStore(tmp_path)
    a = {**environment(), "torch_threads": 1}
    b = {**a, "torch_threads": 2, "cpu_capability": "AVX2"}
    for seed in (0, 1, 2):
        _save(store, seed, a, stamp=f"2026-01-0{seed + 1}")
    _save(store, 0, a, method="mdico")
    _save(store, 3, b)
    _save(store, 4, {"python": "3.11.9"})  # a record from before the environment was recorded
    df = store.collect()
    assert len(df) == 12  # 6 runs x (r2, rmse): counted once each below
    env = environments(df)
    assert list(env["runs"]) == [4, 1, 1]
    top = env.iloc[0]
    assert top["torch_threads"] == 1 and top["cpu_capability"] == a["cpu_capability"]
    assert top["methods"] == "individual, mdico" and top["datasets"] == "toy_regression"
    assert top["first"].startswith("2026-01-01") and top["last"].startswith("2026-01-03")
    assert list(env.iloc[1:]["cpu_capability"].fillna("unrecorded")) in (["AVX2", "unrecorded"],
                                                                        ["unrecorded", "AVX2"])
    old = env[env["cpu_capability"].isna()].iloc[0]
    assert old["python_version"] == "3.11.9"  # read under its older name
    assert list(env.columns[: len(ENV_COLUMNS)]) == list(ENV_COLUMNS)
    assert environments(df.iloc[0:0]).empty
    # a frame without the environment columns (e.g. an old archive read elsewhere): one unknown group
    assert list(environments(df[["run_id", "dataset", "method"]])["runs"]) == [6]


def test_collect_has_split_seed_sizes_and_environment(tmp_path):
    store = ResultsStore(tmp_path)
    _save(store, 0, environment())
    cfg = RunConfig("toy_regression", "individual", seed=1, split_seed=10)
    store.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "not_reproduced", "message": "no weights",
                "task": "regression", "metrics": {}, "provenance": {}})
    df = store.collect()
    for column in ("n_train", "n_val", "n_test", "split_seed", "torch_threads"):
        assert str(df[column].dtype) == "Int64", column
    done, nr = df[df["status"] == "done"], df[df["status"] == "not_reproduced"]
    assert done["split_seed"].isna().all() and list(nr["split_seed"]) == [10]
    assert (done["n_train"] == 80).all() and (done["n_val"] == 10).all() and (done["n_test"] == 10).all()
    assert (done["torch_threads"] == torch.get_num_threads()).all() and nr["torch_threads"].isna().all()
    assert (done["cpu_model"] == environment()["cpu_model"]).all() and nr["cpu_model"].isna().all()
