"""The re-run check, run by run: a re-run against its archived twin (the same run id), within the cross-CPU
tolerance measured by benchmarks/cross_cpu.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mdico_core.reporting.analyses import concordance
from mdico_core.reporting.book.archive import read_runs

MEASURED = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "cross_cpu.csv"


@pytest.fixture(scope="module")
def archived() -> pd.DataFrame:
    runs = read_runs("lfmc_paper")
    return runs[(runs["status"] == "done") & (runs["seed"] == 0) & (runs["fold"] == 0)
                & runs["method"].isin(["individual", "mdico"]) & (runs["settings"] == "common")]


def test_an_identical_rerun_matches_run_by_run(archived):
    checks = concordance.check_runs(archived, archived.copy())
    assert len(checks) and checks["agrees"].all() and (checks["abs_diff"] == 0).all()
    assert f"on {len(checks)} of {len(checks)} (run, view) pairs" in concordance.runs_verdict(checks)
    assert checks["same_cpu"].all()


def test_a_tampered_rerun_fails_run_by_run(archived):
    tampered = archived.copy()
    i = tampered.index[(tampered["method"] == "mdico") & (tampered["view"] == "L8") & (tampered["metric"] == "r2")][0]
    tampered.loc[i, "value"] += 0.001  # on the CPU kind that made it, a run comes back exactly
    checks = concordance.check_runs(archived, tampered)
    assert (~checks["agrees"]).sum() == 1
    assert "off: mdico fold 0 seed 0 L8" in concordance.runs_verdict(checks)
    # made on another CPU kind, the same change is within the measured cross-CPU tolerance; a larger one is not
    other_cpu = tampered.assign(cpu_model="another CPU")
    assert concordance.check_runs(archived, other_cpu)["agrees"].all()
    other_cpu.loc[i, "value"] += 2 * concordance.CROSS_CPU_TOLERANCE["r2"]
    assert (~concordance.check_runs(archived, other_cpu)["agrees"]).sum() == 1


def test_a_rerun_without_an_archived_twin_is_not_compared(archived):
    other = archived.assign(run_id="0000000000000000")
    assert concordance.check_runs(archived, other).empty
    assert "no" in concordance.runs_verdict(concordance.check_runs(archived, other))


def test_the_tolerance_holds_every_measured_cross_cpu_difference():
    measured = pd.read_csv(MEASURED)
    assert len(measured) >= 4 and set(measured["archived_cpu"]) | set(measured["remade_cpu"]) >= {
        "AMD EPYC", "Intel(R) Xeon(R) Processor"}
    across = measured[measured["archived_cpu"] != measured["remade_cpu"]]
    assert len(across) and across["abs_diff"].max() <= concordance.CROSS_CPU_TOLERANCE["r2"]
    same = measured[measured["archived_cpu"] == measured["remade_cpu"]]
    assert (same["abs_diff"] == 0).all()  # on one CPU kind a run is remade exactly: the control
