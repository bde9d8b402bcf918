"""Experiments: run configs and profiles, the resumable results store, sweeps on any executor.

    from mdico_core.experiments import configs_for, sweep, ResultsStore
    store = ResultsStore()                                   # $MDICO_RESULTS_DIR or <repo>/results
    sweep(configs_for("quick", "lfmc", ["individual", "mdico"]), store, executor="processes", workers=2)
    store.collect()                                          # tidy DataFrame of every metric

See ``config.py`` (RunConfig, Profile), ``store.py`` (the on-disk layout and its atomicity),
``runner.py`` (what one run does) and ``executors.py`` (serial, processes, Dask).
"""

from mdico_core.experiments.config import (
    PROFILES,
    Profile,
    RunConfig,
    configs_for,
    load_profile,
    resolve_train,
    train_config,
)
from mdico_core.experiments.executors import EXECUTORS, SweepReport, sweep
from mdico_core.experiments.runner import execute, run_one
from mdico_core.experiments.store import ResultsStore

__all__ = [
    "EXECUTORS", "PROFILES", "Profile", "ResultsStore", "RunConfig", "SweepReport", "configs_for", "execute",
    "load_profile", "resolve_train", "run_one", "sweep", "train_config",
]
