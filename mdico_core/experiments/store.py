"""The results store: one JSON record and one .npz of arrays per run, named by its run id.

This module is where records lie and how they are written, read back, quarantined and claimed;
what a record holds and the tidy frame made of it are ``records.py``'s.

Layout under the root (``$MDICO_RESULTS_DIR``, else ``<repo>/results`` in a checkout, else
``./results``)::

    <dataset>/<run_id>.json     the record (config, metrics per view, history, provenance)
    <dataset>/<run_id>.npz      test indices, targets, predictions and features of every view
    _failed/<run_id>.json       the last exception of a run that crashed (retried by the next sweep)
    _corrupt/<dataset>/         records that could not be read back, moved aside (re-run by the next sweep)
    _claims/<run_id>.lock       a run being trained now: owner pid, host and start time

Writes are atomic: each file is written to a hidden temporary file in the same folder and
renamed over its final name (``os.replace``), the .npz first and the .json last. A record
therefore exists only once everything about its run is on disk; a process killed at any moment
leaves at most a hidden ``.*.tmp`` file, which readers ignore and `clean_tmp` removes. Several
processes (or Dask workers on a shared filesystem) may write into one store at once.

A record that cannot be read back (a truncated JSON or .npz, from a full disk or a bad copy) is
reported with a `CorruptRecordWarning` naming it, moved under ``_corrupt/`` and treated as
absent, so the next sweep re-runs it; `corrupt` lists those not re-run yet.

Claims let concurrent sweeps (two terminals, several Dask clients on a shared filesystem) share
the work: a run is trained only by the sweep that created its lock file (``O_CREAT | O_EXCL``).
The owner touches the lock while it trains; a lock whose process is dead (same host) or that
has not been touched for `CLAIM_TIMEOUT_S` (any host) is stale and taken over. The lock is
only an agreement about who works on what: losing a race on a stale lock trains a run twice,
which is harmless, as its records are identical and written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdico_core._util import atomic_write, checkout_root
from mdico_core.experiments.claims import (
    Claim,
    describe_owner,
    live_claims,
    take_claim,
)
from mdico_core.experiments.config import RunConfig
from mdico_core.experiments.records import dumps, npz_problem, record_problem, record_rows, tidy_frame

ENV_RESULTS_DIR = "MDICO_RESULTS_DIR"
FAILED = "_failed"
CORRUPT = "_corrupt"
CLAIMS = "_claims"
_NOT_DATASETS = (FAILED, CORRUPT, CLAIMS)


class CorruptRecordWarning(UserWarning):
    """A record could not be read back; it was moved aside and its run will be re-run."""


class CorruptRecordError(KeyError):
    """A record's arrays could not be read back; the record was moved aside (the message says where)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class StoreNotWritableError(OSError):
    """The results store cannot be written (a file in the way, read-only, disk full)."""


def default_root() -> Path:
    """``$MDICO_RESULTS_DIR``, else ``<repo>/results`` in a checkout, else ``./results``."""
    env = os.environ.get(ENV_RESULTS_DIR)
    if env:
        return Path(env).expanduser()
    checkout = checkout_root()
    return checkout / "results" if checkout is not None else Path.cwd() / "results"


class ResultsStore:
    """Run records on disk, keyed by `RunConfig.run_id`.

    Args:
        root: the store folder (default: `default_root`).

    Attributes:
        quarantined: one message per unreadable record this object moved aside (also warned).
    """

    def __init__(self, root: str | Path | None = None, read_only: bool = False):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.quarantined: list[str] = []
        # a command that only reads (status, table) reports an unreadable record and leaves it where it is;
        # moving it aside is for the commands that write (run, export)
        self.read_only = read_only

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.root)!r})"

    # ------------------------------------------------------------------ paths
    def record_path(self, cfg: RunConfig) -> Path:
        return self.root / cfg.dataset / f"{cfg.run_id}.json"

    def arrays_path(self, cfg: RunConfig) -> Path:
        return self.root / cfg.dataset / f"{cfg.run_id}.npz"

    def failure_path(self, cfg_or_run_id: RunConfig | str) -> Path:
        return self.root / FAILED / f"{_run_id(cfg_or_run_id)}.json"

    def claim_path(self, cfg_or_run_id: RunConfig | str) -> Path:
        return self.root / CLAIMS / f"{_run_id(cfg_or_run_id)}.lock"

    def _find(self, cfg_or_run_id: RunConfig | str) -> Path | None:
        if isinstance(cfg_or_run_id, RunConfig):
            p = self.record_path(cfg_or_run_id)
            return p if p.is_file() else None
        hits = [p for p in self.root.glob(f"*/{cfg_or_run_id}.json") if p.parent.name not in _NOT_DATASETS]
        return hits[0] if hits else None

    # ------------------------------------------------------------------ reading
    def _read(self, path: Path) -> dict | None:
        """The record at `path`; None when it is absent, or unreadable (then moved aside, with a warning)."""
        try:
            with open(path, "rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                raw = f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None  # (a folder in the way is found when the record is written)
        try:
            rec = json.loads(raw)
            problem = record_problem(rec, path) or npz_problem(path.with_suffix(".npz"))
        except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
            problem = f"it is not valid JSON ({err})"
        if problem is None:
            return rec
        self._quarantine(path, inode, problem)
        return None

    def _quarantine(self, path: Path, inode: int, problem: str) -> str | None:
        """Move the unreadable record at `path` (and its .npz) under ``_corrupt/``; returns the message."""
        msg = f"results record {path} cannot be read: {problem}; "
        if self.read_only:
            msg += "left in place (this command only reads); the next `mdico run` moves it aside and re-runs it"
            if msg not in self.quarantined:
                self.quarantined.append(msg)
            return msg
        try:
            if os.stat(path).st_ino != inode:
                return None  # a writer replaced it with a complete record meanwhile
            folder = self.root / CORRUPT / path.parent.name
            folder.mkdir(parents=True, exist_ok=True)
            dest, i = folder / path.name, 0
            while dest.exists():  # an earlier corrupt copy of the same run: keep both
                i += 1
                dest = folder / f"{path.stem}.{i}.json"
            npz = path.with_suffix(".npz")
            if npz.exists():
                os.replace(npz, dest.with_suffix(".npz"))
            os.replace(path, dest)
            msg += f"moved to {dest}; the next sweep (`mdico run`) re-runs it"
        except FileNotFoundError:
            return None  # another reader moved it first
        except OSError as err:
            msg += f"it could not be moved aside ({err}); it is skipped until removed, then re-run"
        self.quarantined.append(msg)
        warnings.warn(msg, CorruptRecordWarning, stacklevel=4)
        return msg

    def has(self, cfg: RunConfig) -> bool:
        """True when `cfg` has a complete, readable record ("done", "not_reproduced", or "failed" when an
        archive's run failed twice the same way and that is its outcome), so that no sweep trains it again."""
        return self._read(self.record_path(cfg)) is not None

    def get(self, cfg_or_run_id: RunConfig | str) -> dict | None:
        """The JSON record of a run, or None (also when it cannot be read: see `corrupt`)."""
        p = self._find(cfg_or_run_id)
        return self._read(p) if p is not None else None

    def arrays(self, cfg_or_run_id: RunConfig | str) -> dict[str, np.ndarray]:
        """The run's arrays: "test_idx", "y_true", "pred/<view>" and (if saved) "feat/<view>".

        Raises:
            KeyError: the run has no record.
            CorruptRecordError: its .npz cannot be read (the record is moved aside to be re-run).
        """
        p = self._find(cfg_or_run_id)
        if p is None:
            raise KeyError(f"no record for run {_run_id(cfg_or_run_id)} in {self.root}")
        npz = p.with_suffix(".npz")
        if not npz.is_file():
            return {}  # a not-reproduced run has no arrays
        try:
            inode = os.stat(p).st_ino
            with np.load(npz, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as err:
            msg = self._quarantine(p, inode, f"{npz} is not a readable .npz ({err})")
            raise CorruptRecordError(msg or f"{npz} could not be read ({err})") from err

    def records(self, dataset: str | None = None) -> list[dict]:
        """Every complete, readable record (of `dataset`, if given), ordered by dataset and run id."""
        pattern = f"{dataset}/*.json" if dataset else "*/*.json"
        paths = sorted(p for p in self.root.glob(pattern)
                       if p.parent.name not in _NOT_DATASETS and not p.name.startswith("."))
        return [r for r in map(self._read, paths) if r is not None]

    def corrupt(self, dataset: str | None = None) -> list[Path]:
        """Records moved aside as unreadable (under ``_corrupt/``) whose run has no record yet."""
        pattern = f"{dataset}/*.json" if dataset else "*/*.json"
        return [p for p in sorted((self.root / CORRUPT).glob(pattern))
                if p.parent.name != FAILED and not (self.root / p.parent.name / f"{p.name.split('.')[0]}.json").is_file()]

    def history(self, cfg_or_run_id: RunConfig | str) -> pd.DataFrame:
        """Per-epoch rows: "epoch" and the "train/<term>", "val/<term>" loss columns."""
        rec = self.get(cfg_or_run_id)
        if rec is None:
            raise KeyError(f"no record for run {_run_id(cfg_or_run_id)} in {self.root}")
        return pd.DataFrame(rec.get("history") or [])

    def collect(self, dataset: str | None = None) -> pd.DataFrame:
        """Tidy table of every record: one row per (run, view, metric); see `records.record_rows`."""
        return tidy_frame([row for rec in self.records(dataset) for row in record_rows(rec)])

    def failures(self) -> list[dict]:
        """Crashed runs (status "failed", with traceback) and not-reproduced runs, with their message."""
        out = []
        for p in sorted((self.root / FAILED).glob("*.json")):
            rec = self._read(p)
            if rec is not None and self.get(rec["run_id"]) is None:  # else a later retry succeeded
                out.append(rec)
        out += [
            {k: r.get(k) for k in ("run_id", "config", "status", "message")}
            for r in self.records() if r.get("status") == "not_reproduced"
        ]
        return out

    # ------------------------------------------------------------------ writing
    def check_writable(self, datasets: Iterable[str] = ()) -> None:
        """Create the store's folders (those of `datasets` too) and write, sync and remove a probe
        file in each, so that a store that cannot be written is found before anything trains.

        Raises:
            StoreNotWritableError: a folder cannot be created or written (the message says which).
        """
        for folder in dict.fromkeys([self.root, self.root / FAILED, self.root / CLAIMS,
                                     *(self.root / d for d in datasets)]):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=".tmp")
                try:
                    os.write(fd, b"mdico")
                    os.fsync(fd)
                finally:
                    os.close(fd)
                    os.unlink(probe)
            except OSError as err:
                raise StoreNotWritableError(
                    f"the results store {self.root} is not writable: {err}. Free some space, fix its "
                    "permissions, or choose another folder (--results or $MDICO_RESULTS_DIR)") from err

    def _write(self, path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
        try:
            atomic_write(path, write, mode)
        except OSError as err:
            raise StoreNotWritableError(f"cannot write {path} into the results store: {err}") from err

    def save(self, record: dict, arrays: dict[str, np.ndarray] | None = None) -> Path:
        """Write `arrays` (.npz), then `record` (.json), each atomically; clear an old failure.

        Raises:
            StoreNotWritableError: a file could not be written (nothing half-written is left).
        """
        cfg = RunConfig.from_dict(record["config"])
        if record.get("run_id") != cfg.run_id:
            raise ValueError(f"record run_id {record.get('run_id')!r} does not match its config ({cfg.run_id})")
        if arrays:
            self._write(self.arrays_path(cfg), lambda f: np.savez(f, **arrays))
        path = self.record_path(cfg)
        self._write(path, lambda f: f.write(dumps(record)), mode="w")
        self.failure_path(cfg).unlink(missing_ok=True)
        return path

    def save_failure(self, cfg: RunConfig, message: str, traceback: str = "") -> Path:
        """Record that `cfg` crashed; the next sweep retries it."""
        rec = {"run_id": cfg.run_id, "config": cfg.to_dict(), "status": "failed", "message": message,
               "traceback": traceback, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        path = self.failure_path(cfg)
        self._write(path, lambda f: f.write(dumps(rec)), mode="w")
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

    # ------------------------------------------------------------------ claims
    def claim(self, cfg_or_run_id: RunConfig | str) -> Claim | None:
        """Claim a run before training it: a `Claim` (release it once the record is written), or None
        when another live process holds it. A stale claim (see the module docstring) is taken over."""
        return take_claim(self.claim_path(cfg_or_run_id), _run_id(cfg_or_run_id))

    def claim_owner(self, cfg_or_run_id: RunConfig | str) -> str:
        """Who holds the claim on a run ("pid 12 on host since ..."), or "" when nobody does."""
        return describe_owner(self.claim_path(cfg_or_run_id))

    def claims(self) -> list[dict]:
        """The live claims: runs being trained now by some process (owner pid, host, start time)."""
        return live_claims(self.root / CLAIMS)


def _run_id(cfg_or_run_id: RunConfig | str) -> str:
    return cfg_or_run_id.run_id if isinstance(cfg_or_run_id, RunConfig) else str(cfg_or_run_id)
