"""How many (settings, fold, seed) blocks of an archive hold runs of more than one CPU model.

A paired test compares the runs of one block; runs of two CPUs can differ in their last digits.

    python data/archived_runs/machines.py [lfmc_paper]
"""
import sys
from pathlib import Path

import pandas as pd

name = sys.argv[1] if len(sys.argv) > 1 else "lfmc_paper"
runs = pd.read_csv(Path(__file__).with_name(f"{name}.csv")).drop_duplicates("run_id")
print(runs.groupby(["settings", "seed"])["cpu_model"].agg(lambda v: dict(v.value_counts())).to_string())
cpus = runs.groupby(["settings", "fold", "seed"])["cpu_model"].nunique()
print(f"{name}: {int((cpus > 1).sum())} of {len(cpus)} (settings, fold, seed) blocks hold runs of more than one CPU")
