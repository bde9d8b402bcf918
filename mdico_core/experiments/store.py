"""The results store: one JSON record and one .npz of arrays per run, named by its run id.

Layout under the root (``$MDICO_RESULTS_DIR``, else ``<repo>/results`` in a checkout, else
``./results``)::

    <dataset>/<run_id>.json     the record (config, metrics per view, history, provenance)
    <dataset>/<run_id>.npz      test indices, targets, predictions and features of every view
    _failed/<run_id>.json       the last exception of a run that crashed (retried by the next sweep)

Writes are atomic: each file is written to a hidden temporary file in the same folder and
renamed over its final name (``os.replace``), the .npz first and the .json last. A record
therefore exists only once everything about its run is on disk; a process killed at any moment
leaves at most a hidden ``.*.tmp`` file, which readers ignore and `clean_tmp` removes. Several
processes (or Dask workers on a shared filesystem) may write into one store at once.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.experiments.config import RunConfig

ENV_RESULTS_DIR = "MDICO_RESULTS_DIR"
FAILED = "_failed"
COLUMNS = ["run_id", "dataset", "method", "variant", "encoder", "protocol", "settings", "monitor", "fold", "n_folds", "seed", "view",
           "metric", "value", "epochs_run", "best_epoch", "wall_time_s", "task", "status", "profile", "message",
           "git_commit", "git_dirty", "device", "timestamp"]


def default_root() -> Path:
    """``$MDICO_RESULTS_DIR``, else ``<repo>/results`` in a checkout, else ``./results``."""
    env = os.environ.get(ENV_RESULTS_DIR)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "mdico_core").is_dir():
        return repo / "results"
    return Path.cwd() / "results"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files, which would hide records from the other users of a shared store;
# files get the mode that open() would give them instead. Read once: os.umask is process-global.
_FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write through `write(file)` into a temp file beside `path`, fsync, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            try:
                os.fchmod(f.fileno(), _FILE_MODE)
            except OSError:  # some network filesystems refuse; the write still matters more
                pass
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _dumps(obj: Any) -> str:
    # allow_nan: a diverged run's NaN loss is recorded as it is (JSON's NaN extension, read back by json).
    return json.dumps(obj, indent=1, default=_json_default, allow_nan=True)


INT_COLUMNS = ("fold", "n_folds", "seed", "epochs_run", "best_epoch")


def tidy_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """`rows` (dicts keyed by `COLUMNS`, None for missing) as the frame `ResultsStore.collect` returns."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    # fold None (official split) stays a missing value in an integer column.
    for col in INT_COLUMNS:
        df[col] = df[col].astype("Int64")
    for col in ("value", "wall_time_s"):
        df[col] = df[col].astype(float)
    return df


class ResultsStore:
    """Run records on disk, keyed by `RunConfig.run_id`.

    Args:
        root: the store folder (default: `default_root`).
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.root)!r})"

    # ------------------------------------------------------------------ paths
    def record_path(self, cfg: RunConfig) -> Path:
        return self.root / cfg.dataset / f"{cfg.run_id}.json"

    def arrays_path(self, cfg: RunConfig) -> Path:
        return self.root / cfg.dataset / f"{cfg.run_id}.npz"

    def failure_path(self, cfg_or_run_id: RunConfig | str) -> Path:
        return self.root / FAILED / f"{_run_id(cfg_or_run_id)}.json"

    def _find(self, cfg_or_run_id: RunConfig | str) -> Path | None:
        if isinstance(cfg_or_run_id, RunConfig):
            p = self.record_path(cfg_or_run_id)
            return p if p.is_file() else None
        hits = [p for p in self.root.glob(f"*/{cfg_or_run_id}.json") if p.parent.name != FAILED]
        return hits[0] if hits else None

    # ------------------------------------------------------------------ reading
    def has(self, cfg: RunConfig) -> bool:
        """True when `cfg` has a complete record ("done" or "not_reproduced")."""
        return self.record_path(cfg).is_file()

    def get(self, cfg_or_run_id: RunConfig | str) -> dict | None:
        """The JSON record of a run, or None."""
        p = self._find(cfg_or_run_id)
        return json.loads(p.read_text()) if p is not None else None

    def arrays(self, cfg_or_run_id: RunConfig | str) -> dict[str, np.ndarray]:
        """The run's arrays: "test_idx", "y_true", "pred/<view>" and (if saved) "feat/<view>"."""
        p = self._find(cfg_or_run_id)
        if p is None:
            raise KeyError(f"no record for run {_run_id(cfg_or_run_id)} in {self.root}")
        npz = p.with_suffix(".npz")
        if not npz.is_file():
            return {}  # a not-reproduced run has no arrays
        with np.load(npz, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def records(self, dataset: str | None = None) -> list[dict]:
        """Every complete record (of `dataset`, if given), ordered by dataset and run id."""
        pattern = f"{dataset}/*.json" if dataset else "*/*.json"
        paths = sorted(p for p in self.root.glob(pattern) if p.parent.name != FAILED and not p.name.startswith("."))
        return [json.loads(p.read_text()) for p in paths]

    def history(self, cfg_or_run_id: RunConfig | str) -> pd.DataFrame:
        """Per-epoch rows: "epoch" and the "train/<term>", "val/<term>" loss columns."""
        rec = self.get(cfg_or_run_id)
        if rec is None:
            raise KeyError(f"no record for run {_run_id(cfg_or_run_id)} in {self.root}")
        return pd.DataFrame(rec.get("history") or [])

    def collect(self, dataset: str | None = None) -> pd.DataFrame:
        """Tidy table of every record: one row per (run, view, metric).

        Columns: `COLUMNS` (the run's config, view, metric, value, its budget use, status, and the
        provenance a page states: profile, git commit and dirty flag, device, timestamp).
        ``best_epoch`` is the epoch of the weights that view was scored with. A
        not-reproduced run gets one row with view, metric and value empty and its message.
        """
        rows = []
        for rec in self.records(dataset):
            c = rec["config"]
            prov = rec.get("provenance") or {}
            base = {
                "run_id": rec["run_id"], "dataset": c["dataset"], "method": c["method"], "variant": c["variant"],
                "encoder": c["encoder"], "protocol": c["protocol"], "settings": c.get("settings", "common"),
                "monitor": (c.get("train") or {}).get("monitor", "total"),
                "fold": c["fold"], "n_folds": c.get("n_folds"),
                "seed": c["seed"], "epochs_run": rec.get("epochs_run"), "best_epoch": rec.get("best_epoch"),
                "wall_time_s": rec.get("wall_time_s"), "task": rec.get("task"), "status": rec.get("status"),
                "profile": prov.get("profile", ""), "git_commit": prov.get("git_commit"),
                "git_dirty": prov.get("git_dirty"), "device": prov.get("device"), "timestamp": prov.get("timestamp"),
            }
            if rec.get("status") != "done":
                rows.append({**base, "view": None, "metric": None, "value": np.nan, "message": rec.get("message")})
                continue
            kept = rec.get("best_epochs") or {}  # per view where the views keep their own weights (Individual)
            for view, metrics in rec["metrics"].items():
                for metric, value in metrics.items():
                    rows.append({**base, "view": view, "metric": metric, "value": value, "message": None,
                                 "best_epoch": kept.get(view, base["best_epoch"])})
        return tidy_frame(rows)

    def failures(self) -> list[dict]:
        """Crashed runs (status "failed", with traceback) and not-reproduced runs, with their message."""
        out = []
        for p in sorted((self.root / FAILED).glob("*.json")):
            rec = json.loads(p.read_text())
            if self.get(rec["run_id"]) is None:  # a later retry succeeded
                out.append(rec)
        out += [
            {k: r.get(k) for k in ("run_id", "config", "status", "message")}
            for r in self.records() if r.get("status") == "not_reproduced"
        ]
        return out

    # ------------------------------------------------------------------ writing
    def save(self, record: dict, arrays: dict[str, np.ndarray] | None = None) -> Path:
        """Write `arrays` (.npz), then `record` (.json), each atomically; clear an old failure."""
        cfg = RunConfig.from_dict(record["config"])
        if record.get("run_id") != cfg.run_id:
            raise ValueError(f"record run_id {record.get('run_id')!r} does not match its config ({cfg.run_id})")
        if arrays:
            atomic_write(self.arrays_path(cfg), lambda f: np.savez(f, **arrays))
        path = self.record_path(cfg)
        atomic_write(path, lambda f: f.write(_dumps(record)), mode="w")
        self.failure_path(cfg).unlink(missing_ok=True)
        return path

    def save_failure(self, cfg: RunConfig, message: str, traceback: str = "") -> Path:
        """Record that `cfg` crashed; the next sweep retries it."""
        rec = {"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "failed", "message": message,
               "traceback": traceback, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        path = self.failure_path(cfg)
        atomic_write(path, lambda f: f.write(_dumps(rec)), mode="w")
        return path

    def clean_tmp(self, older_than_s: float = 600.0) -> int:
        """Remove temporary files left by killed writers (older than `older_than_s`); returns how many."""
        now, n = time.time(), 0
        for p in self.root.glob("*/.*.tmp"):
            try:
                if now - p.stat().st_mtime > older_than_s:
                    p.unlink()
                    n += 1
            except FileNotFoundError:  # another process finished or removed it meanwhile
                pass
        return n


def _run_id(cfg_or_run_id: RunConfig | str) -> str:
    return cfg_or_run_id.run_id if isinstance(cfg_or_run_id, RunConfig) else str(cfg_or_run_id)
