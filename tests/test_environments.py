"""Where the runs ran, as the reproducibility page groups them (reporting/book/environments.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from mdico_core.experiments import ResultsStore, RunConfig, train_config
from mdico_core.experiments.machine import ENV_COLUMNS
from mdico_core.experiments.records import tidy_frame
from mdico_core.reporting.book import environments as envs
from mdico_core.reporting.core import format as fmt

CPU = {"torch_version": "2.14.1", "numpy_version": "2.4.6", "python_version": "3.11.7", "cpu_model": "AMD EPYC",
       "cpu_capability": "AVX512",
       "blas": "mkl: Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for Intel(R) 64",
       "onednn": "Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71049cd69a3df32adcccb623b12cd7baa22)",
       "torch_threads": 1, "cuda_device": None, "cuda_driver": None, "cuda_version": None, "cudnn_version": None}
TWO = {**CPU, "torch_threads": 2}
GPU = {**CPU, "cpu_model": "Intel Xeon", "cuda_device": "NVIDIA H200", "cuda_driver": "550.54.15",
       "cuda_version": "12.8", "cudnn_version": "91002"}


def _runs(prefix: str, n: int, env: dict, day: str = "2026-11-30", method: str = "mdico") -> list[dict]:
    """`n` runs (two metric rows each) made in environment `env` (empty: before environments were recorded)."""
    rows = []
    for i in range(n):
        for metric in ("r2", "rmse"):
            rows.append({"run_id": f"{prefix}{i}", "dataset": "lfmc", "method": method, "variant": "default",
                         "encoder": "tempcnn", "protocol": "paper", "fold": i, "seed": 0, "view": "S1",
                         "metric": metric, "value": 0.5, "status": "done", "timestamp": f"{day}T10:0{i}:00+00:00",
                         "device": f"cpu (x86_64, {env.get('torch_threads', 1)} threads)", **env})
    return rows


def _sources() -> dict[str, pd.DataFrame]:
    return {"archive old": tidy_frame(_runs("o", 3, {}, "2026-11-27")),
            "archive one": tidy_frame(_runs("a", 4, CPU) + _runs("b", 2, TWO, "2026-12-01", "individual")),
            "your results store": tidy_frame(_runs("a", 1, CPU) + _runs("g", 2, GPU))}


def test_environment_groups_label_each_environment_once_over_every_source():
    groups = envs.environment_groups(_sources())
    assert list(zip(groups["source"], groups["env"], groups["runs"])) == [
        ("archive old", "E1", 3), ("archive one", "E2", 4), ("archive one", "E3", 2),
        ("your results store", "E2", 1), ("your results store", "E4", 2)]
    assert list(groups["torch_threads"].iloc[1:3]) == [1, 2] and pd.isna(groups["torch_threads"].iloc[0])
    assert groups.loc[2, "run_ids"] == frozenset({"b0", "b1"}) and groups.loc[2, "methods"] == "individual"
    assert groups.loc[0, "devices"] == "cpu (x86_64, 1 threads)" and pd.isna(groups.loc[0, "cpu_model"])
    assert groups.loc[2, "first"].startswith("2026-12-01")
    assert envs.environment_groups({"empty": tidy_frame([])}).empty
    # a frame without any environment column (an archive exported before they existed) is one unrecorded group
    bare = pd.DataFrame({"run_id": ["x", "y"], "dataset": "lfmc", "method": "mdico"})
    assert list(envs.environment_groups({"bare": bare})["runs"]) == [2]


def test_environments_table_names_the_pages_of_each_group_and_fits_the_column():
    groups = envs.environment_groups(_sources())
    pages = {"archive one": {"02_main_results_lfmc_archived": None, "reproducibility": None},
             "your results store": {"02_main_results": {"a0", "zz"}, "06_tsne": {"g1"}, "03_ablation": {"q"}}}
    table = envs.environments_table(groups, pages)
    assert list(table.columns) == ["runs of", "env.", "where", "runs", "made", "shown on"]
    rows = table.set_index(["runs of", "env."])
    assert rows.loc[("archive one", "E3"), "shown on"] == "02_main_results_lfmc_archived, reproducibility"
    assert rows.loc[("your results store", "E2"), "shown on"] == "02_main_results"  # the page whose runs it holds
    assert rows.loc[("your results store", "E4"), "shown on"] == "06_tsne"
    assert rows.loc[("archive old", "E1"), "shown on"] == "–"
    assert rows.loc[("archive one", "E3"), "where"] == "AMD EPYC, AVX512, 2 thr., CPU only"
    assert rows.loc[("your results store", "E4"), "where"] == "Intel Xeon, AVX512, 1 thr., NVIDIA H200"
    assert rows.loc[("archive old", "E1"), "where"] == "not recorded (cpu (x86_64, 1 threads))"
    assert rows.loc[("archive one", "E3"), "made"] == "2026-12-01"
    assert not fmt.table(table).interactive


def test_legend_and_sentence_spell_out_what_differs():
    groups = envs.environment_groups(_sources())
    legend = envs.environment_legend(groups)
    assert "- **E2**: AMD EPYC, AVX512 kernels, 1 torch thread; torch 2.14.1, numpy 2.4.6, Python 3.11.7; " \
           "MKL 2024.2, oneDNN v3.12.0; no GPU" in legend
    assert "- **E3**: AMD EPYC, AVX512 kernels, 2 torch threads;" in legend
    assert "GPU NVIDIA H200 (driver 550.54.15, CUDA 12.8, cuDNN 91002)" in legend
    assert "- **E1**: not recorded" in legend and "(device: cpu (x86_64, 1 threads))" in legend
    assert legend.count("- **E2**") == 1
    text = envs.environments_sentence(groups)
    assert text.startswith("The runs shown come from 4 environments (E1: archive old; E2: archive one, your "
                           "results store; E3: archive one; E4: your results store).")
    assert "They differ in CPU (AMD EPYC / Intel Xeon), torch threads (1 / 2), GPU (none / NVIDIA H200)." in text
    assert "E1 is not recorded" in text and "GPU runs: E4 (NVIDIA H200)." in text
    assert "E4 (NVIDIA H200, runs of your results store)" in envs.gpu_sentence(groups)
    cpu_only = envs.environment_groups({"archive one": _sources()["archive one"]})
    assert "None of these runs used a GPU." in envs.environments_sentence(cpu_only)
    assert envs.gpu_sentence(cpu_only).startswith("No run shown here used a GPU: none was available")
    assert envs.environments_sentence(envs.environment_groups({})) == "No runs are shown, so no environment is named."


def test_describe_environment_and_short_builds():
    assert envs.describe_environment({}) .startswith("not recorded")
    assert envs.short_build(CPU["blas"]) == "MKL 2024.2" and envs.short_build(CPU["onednn"]) == "oneDNN v3.12.0"
    assert envs.short_build("open: OpenBLAS 0.3.27 DYNAMIC_ARCH") == "OpenBLAS 0.3.27"
    assert envs.short_build("accelerate") == "accelerate" and envs.short_build(None) is None
    partial = envs.describe_environment({"torch_version": "2.14.1"})
    assert partial.startswith("?, ? kernels, threads not recorded; torch 2.14.1")
    assert set(envs.ENV_NAMES) == set(ENV_COLUMNS)


def test_book_sources_read_the_shipped_archives_and_the_store_records(tmp_path):
    from mdico_core.experiments.archives import ARCHIVES

    store = ResultsStore(tmp_path)
    cfg = RunConfig("toy_regression", "mdico", seed=0, train=train_config({"max_epochs": 1}))
    store.save({"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "done", "message": None,
                "task": "regression", "metrics": {"S1": {"r2": 0.5}}, "best_epoch": 1, "epochs_run": 1,
                "wall_time_s": 0.1, "provenance": {"profile": "smoke", "timestamp": "2026-11-30T00:00:00+00:00",
                                                   "device": "cpu (x86_64, 2 threads)", **TWO}})
    extra = {"archive file x.csv": tidy_frame(_runs("x", 2, CPU))}
    sources, pages = envs.book_sources([store.get(cfg)], "your results store", {"06_tsne": {cfg.run_id}}, extra)
    shipped = [f"archive {n}" for n, a in ARCHIVES.items() if a.csv_path.is_file()]
    assert list(sources) == [*shipped, "archive file x.csv", "your results store"]
    assert pages["archive file x.csv"] == {"reproducibility": None} and pages["your results store"] == {
        "06_tsne": {cfg.run_id}}
    if "archive lfmc_paper" in pages:
        assert "02_main_results_lfmc_archived" in pages["archive lfmc_paper"]
    groups = envs.environment_groups(sources)
    mine = groups[groups["source"] == "your results store"].iloc[0]
    assert mine["torch_threads"] == 2 and mine["runs"] == 1
    assert envs.environments_table(groups, pages).iloc[-1]["shown on"] == "06_tsne"


@pytest.mark.parametrize("value, shown", [(2.0, "2"), (1, "1"), ("AVX2", "AVX2"), (2.5, "2.5")])
def test_whole_numbers_read_back_as_floats_stay_whole(value, shown):
    assert envs._text(value) == shown
