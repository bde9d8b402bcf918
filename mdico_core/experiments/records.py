"""What a run record is, apart from where it lies: its JSON text, its validity, its tidy rows.

A record (``<dataset>/<run_id>.json`` in the store, see ``store.py``) holds the run's config, its
metrics per view, history and provenance. `record_rows` turns one record into the rows of the
tidy frame every table and page reads (`COLUMNS`, one row per view and metric); `tidy_frame`
gives those rows their dtypes. An archive (``reporting/book/archive.py``) writes the same columns.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.experiments.machine import ENV_COLUMNS

# modalities: the run's training modalities joined by commas, None (missing) when it trained on all of them
COLUMNS = ["run_id", "dataset", "method", "variant", "encoder", "protocol", "settings", "monitor", "fold", "n_folds",
           "seed", "modalities", "view", "metric", "value", "epochs_run", "best_epoch", "wall_time_s", "task",
           "status", "profile", "message", "git_commit", "git_dirty", "device", "timestamp",
           # split_seed: missing where the split came from `seed`; n_*: rows per part (the corrected
           # resampled t-test needs n_test / n_train); then where the run ran (`provenance.environment`)
           "split_seed", "n_train", "n_val", "n_test", *ENV_COLUMNS,
           # folds_by: the metadata column whose groups the folds kept whole (missing: random rows)
           "folds_by"]
INT_COLUMNS = ("fold", "n_folds", "seed", "epochs_run", "best_epoch", "split_seed", "n_train", "n_val", "n_test",
               "torch_threads")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    """The JSON text of a record (numpy scalars and arrays, paths as plain JSON values)."""
    # allow_nan: a diverged run's NaN loss is recorded as it is (JSON's NaN extension, read back by json).
    return json.dumps(obj, indent=1, default=_json_default, allow_nan=True)


def tidy_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """`rows` (dicts keyed by `COLUMNS`, None for missing) as the frame `ResultsStore.collect` returns."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    # fold None (official split) stays a missing value in an integer column.
    for col in INT_COLUMNS:
        df[col] = df[col].astype("Int64")
    for col in ("value", "wall_time_s"):
        df[col] = df[col].astype(float)
    return df


def record_rows(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the record `rec` in the tidy frame (`tidy_frame`): one per (view, metric).

    Columns: `COLUMNS` (the run's config, view, metric, value, its budget use, status, and the
    provenance a page states: profile, git commit and dirty flag, device, timestamp), then its
    split seed (missing: from `seed`), train/val/test sizes and environment (`ENV_COLUMNS`;
    missing in records written before they were recorded). ``best_epoch`` is the epoch of the
    weights that view was scored with. A not-reproduced run gets one row with view, metric and
    value empty and its message.
    """
    c = rec["config"]
    prov = rec.get("provenance") or {}
    base = {
        "run_id": rec["run_id"], "dataset": c["dataset"], "method": c["method"], "variant": c["variant"],
        "encoder": c["encoder"], "protocol": c["protocol"], "settings": c.get("settings", "common"),
        "monitor": (c.get("train") or {}).get("monitor", "total"),
        "fold": c["fold"], "n_folds": c.get("n_folds"),
        "seed": c["seed"], "modalities": ",".join(c["modalities"]) if c.get("modalities") else None,
        "epochs_run": rec.get("epochs_run"), "best_epoch": rec.get("best_epoch"),
        "wall_time_s": rec.get("wall_time_s"), "task": rec.get("task"), "status": rec.get("status"),
        "profile": prov.get("profile", ""), "git_commit": prov.get("git_commit"),
        "git_dirty": prov.get("git_dirty"), "device": prov.get("device"), "timestamp": prov.get("timestamp"),
        "split_seed": c.get("split_seed"), "n_train": rec.get("n_train"), "n_val": rec.get("n_val"),
        "n_test": rec.get("n_test"), **{k: prov.get(k) for k in ENV_COLUMNS}, "folds_by": c.get("folds_by"),
    }
    base["python_version"] = base["python_version"] or prov.get("python")  # its name in older records
    if rec.get("status") != "done":
        return [{**base, "view": None, "metric": None, "value": np.nan, "message": rec.get("message")}]
    kept = rec.get("best_epochs") or {}  # per view where the views keep their own weights (Individual)
    return [{**base, "view": view, "metric": metric, "value": value, "message": None,
             "best_epoch": kept.get(view, base["best_epoch"])}
            for view, metrics in rec["metrics"].items() for metric, value in metrics.items()]


def record_problem(rec: Any, path: Path) -> str | None:
    """Why the JSON `rec` read from `path` is not a record of the run its name says; None if it is."""
    if not isinstance(rec, dict):
        return f"it holds a JSON {type(rec).__name__}, not a record"
    missing = [k for k in ("run_id", "config", "status") if k not in rec]
    if missing:
        return f"it lacks {missing}"
    if not isinstance(rec["config"], dict):
        return "its config is not a mapping"
    if rec["run_id"] != path.stem:
        return f"it holds run {rec['run_id']!r}, not {path.stem!r}"
    return None


def npz_problem(npz: Path) -> str | None:
    """Why the arrays file `npz` cannot be read; None if it can (or is absent: a not-reproduced run)."""
    # Opening reads the zip directory at the end of the file: a truncated .npz fails here.
    try:
        with zipfile.ZipFile(npz) as z:
            z.namelist()
    except FileNotFoundError:
        return None  # a not-reproduced run has no arrays
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        return f"{npz} is not a readable .npz ({err})"
    return None
