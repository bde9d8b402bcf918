"""The benchmark scripts: the GPU check runs end to end at a tiny size, and its noise rule can fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from gpu_check import compare  # noqa: E402


def _runs(mean: float, sd: float, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"method": "mdico", "view": "L8", "metric": "r2", "fold": np.arange(n) % 10,
                         "seed": np.arange(n) // 10, "value": rng.normal(mean, sd, n), "status": "done"})


def test_noise_rule_passes_a_replicate_and_fails_a_shift():
    archive = _runs(0.40, 0.07, 50, 0)
    same = compare(_runs(0.40, 0.07, 50, 1), archive)
    assert same["within_noise"].item()
    tol = same["tolerance"].item()
    assert tol == pytest.approx(3 * archive["value"].std(ddof=1) * np.sqrt(2 / 50))
    shifted = compare(_runs(0.40 - 2 * tol, 0.07, 50, 1), archive)
    assert not shifted["within_noise"].item()


@pytest.mark.slow
def test_gpu_check_script_at_tiny_size(tmp_path, real_data):
    from mdico_core.data import get_dataset_entry

    real_data(*get_dataset_entry("lfmc").files)
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_TINY": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([str(REPO / "benchmarks" / "gpu_check.sh"), "--device", "cpu", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "gpu_check_tiny_cpu.json").read_text())
    assert out["meta"]["tiny"] and out["meta"]["runs"] == 4 and out["meta"]["matmul_gflop_per_s"] > 0
    assert {t["method"] for t in out["timings"]} == {"mdico", "individual"}
    assert all(t["mode"] == "stacked K=2" and t["wall_s"] > 0 for t in out["timings"])
    r2 = [r for r in out["comparison"] if r["metric"] == "r2"]
    assert {(r["method"], r["view"]) for r in r2} >= {("mdico", "L8"), ("mdico", "S1:shared"), ("individual", "S1")}
    # the archive's side: every archived (fold, seed) run of the method (seed 0 only while lfmc_paper is partial)
    from mdico_core.experiments.archives import ARCHIVES
    from mdico_core.reporting.book.archive import read_runs

    shipped = read_runs(ARCHIVES["lfmc_paper"].csv_path)
    done = shipped[(shipped["status"] == "done") & (shipped["metric"] == "r2")]
    for r in r2:
        held = done[(done["method"] == r["method"]) & (done["view"] == r["view"])]
        assert r["n_device"] == 2 and r["n_archive"] == len(held[["fold", "seed"]].drop_duplicates()) >= 10, r
    assert (tmp_path / "gpu_check_tiny_cpu.md").read_text().startswith("# GPU check")


@pytest.mark.slow
def test_bench_case_reports_a_fraction_of_the_matmul_rate_and_memory(real_data):
    from bench_training import bench_case, markdown

    from mdico_core.data import get_dataset_entry

    real_data(*get_dataset_entry("lfmc").files)
    row = bench_case("lfmc", "individual", 32, 1, 1, None, 1)
    assert row["mode"] == "single, fit epochs" and row["n_train"] > 2000
    assert 0 < row["fraction_of_matmul"] <= 1 and row["matmul_gflop_per_s"] > 0
    assert row["fraction_of_matmul"] == pytest.approx(row["gflop_per_s"] / row["matmul_gflop_per_s"], rel=0.02)
    assert row["peak_rss_mb"] > 100 and (row["private_mb"] is None or 0 < row["private_mb"] < row["peak_rss_mb"])
    assert markdown([row]).splitlines()[0].startswith("| dataset | method |")


# ---------------------------------------------------------------------------------- the main job's budget
import plan_budget  # noqa: E402


def test_the_quick_book_fits_its_budget_on_either_cpu_kind(real_data):
    """The plan's expected `make book` time, from the archives' run times, is within 10 minutes on the slower
    CPU kind: a plan change that breaks the budget fails here, before anyone times a build."""
    from mdico_core.data import get_dataset_entry

    for name in ("lfmc", "algae_blooms", "algae_blooms_binary", "mfeat"):
        real_data(*get_dataset_entry(name).files)
    rows = plan_budget.estimate("quick")
    assert {e.kind for e in rows} == set(plan_budget.KINDS)
    assert all(e.runs >= 40 for e in rows)  # the whole plan, not a plan whose data is missing here
    worst = max(rows, key=lambda e: e.total_s)
    assert worst.total_s <= plan_budget.BUDGET_S, (
        f"the quick book is expected to take {worst.total_s:.0f} s on {worst.kind}, over the "
        f"{plan_budget.BUDGET_S:.0f} s budget: see `python benchmarks/plan_budget.py`")


def test_budget_packs_runs_as_the_pool_does_and_refuses_an_unknown_run(monkeypatch):
    assert plan_budget.pack([5, 3, 3, 1], 2) == 6  # 5 | 3+3 -> the 1 goes to the worker free first
    assert plan_budget.pack([4, 4, 4], 2) == 8
    assert plan_budget.pack([], 2) == 0

    from mdico_core.experiments.profile import load_profile
    from mdico_core.reporting.book import book_plan

    stray = load_profile("quick").configs("lfmc", ["mdico"], seeds=[9], folds=[3])  # no archive holds it
    monkeypatch.setattr(book_plan, "all_configs", lambda profile: stray)
    with pytest.raises(ValueError, match="no archived twin"):
        plan_budget.estimate("quick")


def test_measured_builds_table_and_the_readme_figure():
    """Every row of the table of measured builds parses, the newest is last, and the README states the
    newest build's time (rounded to the minute) as the main job's."""
    import re

    builds = plan_budget.measured_builds()
    assert len(builds) >= 2 and all(b.wall_s > b.sweep_s + b.pages_s for b in builds)
    last = builds[-1]
    readme = (REPO / "README.md").read_text()
    stated = {int(m) for m in re.findall(r"in about (\d+) minutes", readme)}
    assert stated == {round(last.wall_s / 60)}, (
        f"README says about {sorted(stated)} minutes; the last measured build ({last.commit}, {last.kind}) took "
        f"{last.wall_s / 60:.1f} min: update the README from benchmarks/results/book_quick.md")
