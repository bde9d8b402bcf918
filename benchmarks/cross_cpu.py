"""How far one archived run moves when it is re-made on another CPU kind: the re-run check's tolerance.

Re-makes archived runs of ``lfmc_paper`` with the code of the commit that made them (run under a
worktree of that commit, as ``data/archived_runs/train_missing.py`` is), one torch thread, and prints
per run and view the absolute difference between the archived value and the re-made one, with the
CPU each was made on. Runs made on this machine's CPU kind are the control (the same kind: 0 when
training is deterministic); runs of the other kind measure the cross-CPU spread.

    git worktree add --detach ../frozen 5425f0e
    python3 -m venv ../fvenv
    echo $PWD/../frozen > ../fvenv/lib/python3.11/site-packages/0frozen.pth
    echo $PWD/.venv/lib/python3.11/site-packages > ../fvenv/lib/python3.11/site-packages/1main.pth
    MDICO_DATA_DIR=$PWD/data/cache ../fvenv/bin/python benchmarks/cross_cpu.py RUN_ID [RUN_ID ...] > OUT.csv
"""
import csv
import sys
from pathlib import Path

import torch

from mdico_core.experiments import runner
from mdico_core.experiments.config import RunConfig
from mdico_core.experiments.machine import environment

ARCHIVE = Path(__file__).resolve().parents[1] / "data" / "archived_runs" / "lfmc_paper.csv"


def main(run_ids: list[str]) -> None:
    torch.set_num_threads(1)  # as every archived run
    rows = [r for r in csv.DictReader(ARCHIVE.open()) if r["run_id"] in set(run_ids) and r["metric"] == "r2"]
    here = environment().get("cpu_model")
    out = csv.writer(sys.stdout)
    out.writerow(["run_id", "method", "fold", "seed", "view", "archived", "remade", "abs_diff", "archived_cpu",
                  "remade_cpu"])
    for run_id in run_ids:
        mine = [r for r in rows if r["run_id"] == run_id]
        if not mine:
            raise SystemExit(f"run {run_id} is not in {ARCHIVE}; give run ids of lfmc_paper")
        r0 = mine[0]
        cfg = next(c for c in _configs(r0) if c.run_id == run_id)
        record, _ = runner.execute(cfg, profile="paper")
        for r in mine:
            remade = record["metrics"][r["view"]]["r2"]
            out.writerow([run_id, r["method"], r["fold"], r["seed"], r["view"], r["value"], repr(remade),
                          abs(float(r["value"]) - remade), r["cpu_model"], here])
        sys.stdout.flush()


def _configs(row: dict) -> list[RunConfig]:
    from mdico_core.experiments import load_profile  # where both the frozen and the current code export it

    return load_profile("paper").configs("lfmc", [row["method"]], seeds=[int(row["seed"])], folds=[int(row["fold"])],
                                         settings=row["settings"])


if __name__ == "__main__":
    main(sys.argv[1:])
