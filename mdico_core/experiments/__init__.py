"""Experiments: run configs and profiles, the resumable results store, sweeps on any executor.

    from mdico_core.experiments import configs_for, sweep, ResultsStore
    store = ResultsStore()                                   # $MDICO_RESULTS_DIR or <repo>/results
    sweep(configs_for("quick", "lfmc", ["individual", "mdico"]), store, executor="processes", workers=2)
    store.collect()                                          # tidy DataFrame of every metric

See ``config.py`` (RunConfig), ``profile.py`` (Profile: which runs a budget makes), ``store.py`` (the on-disk layout and its atomicity),
``runner.py`` (what one run does), ``machine.py`` (where a run ran) and ``executors.py``
(serial, processes, Dask).
"""

from __future__ import annotations

import importlib
from typing import Any

from mdico_core.experiments.config import RunConfig, resolve_train, train_config
from mdico_core.experiments.profile import PROFILES, Profile, configs_for, load_profile
from mdico_core.experiments.store import ResultsStore

# The sweep machinery loads on first use, so that reading the store (the notebooks, `mdico table`)
# never imports the runner or the executors.
_LAZY = {"EXECUTORS": "executors", "SweepReport": "executors", "SweepStopped": "executors", "sweep": "executors",
         "execute": "runner", "run_one": "runner",
         "ENV_COLUMNS": "machine", "environment": "machine", "environments": "machine"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"mdico_core.experiments.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENV_COLUMNS", "EXECUTORS", "PROFILES", "Profile", "ResultsStore", "RunConfig", "SweepReport", "SweepStopped",
    "configs_for", "environment", "environments", "execute", "load_profile", "resolve_train", "run_one", "sweep",
    "train_config",
]
