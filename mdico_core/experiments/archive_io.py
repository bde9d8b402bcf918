"""Archives on disk: export one from a results store, and read its companion data back.

``export_archive`` writes three files per archive (names from `archives.Archive`):

- ``<name>.csv``: one row per (run, view, metric), the columns of ``ResultsStore.collect``
  (config, score, budget use, status, provenance and environment), as ``mdico export`` writes them;
- ``<name>.npz``: the companion data, compressed. Keys ``<run_id>/history`` (the per-epoch history
  as JSON text), ``<run_id>/test_idx``, ``<run_id>/y_true``, ``<run_id>/pred/<view>`` and
  ``<run_id>/feat/<view>`` (float16), for the runs its definition names;
- ``<name>.json``: the manifest: the definition's size and what was exported (missing runs if
  partial; the runs that failed twice the same way, with their message, in ``failed_runs``), the
  commits, machines, first and last run, the sweep's wall time and summed training time, the
  commands, and the SHA-256 of the two files above.

The SHA-256 of all three files is also kept in ``SHA256SUMS`` beside them (``archive_files.SUMS``), one file
under version control for every archive: an export rewrites its archive's lines there.

An archive is the code of one commit: runs made in a dirty working tree (or outside git) are
refused, whatever the options. Missing runs are refused unless ``partial`` is asked for, so a
partial archive is always one its manifest says is partial. Each file is written to a temporary
name and renamed, the manifest last.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdico_core._util import atomic_write
from mdico_core.experiments.archive_files import (  # noqa: F401 (ArchiveError, read_manifest: the writers' API too)
    SUMS,
    ArchiveError,
    _sha256,
    archived_run_ids,
    read_manifest,
    read_runs,
    verify_archive,
    write_sums,
)
from mdico_core.experiments.archives import (
    ARCHIVE_DIR,
    Archive,
    get_archive,
    record_threads,
    status,
)
from mdico_core.experiments.config import RunConfig
from mdico_core.experiments.store import ResultsStore

OPTIONAL_COLUMNS = ("folds_by",)
SORT = ["method", "variant", "encoder", "protocol", "settings", "monitor", "seed", "fold", "run_id", "view", "metric"]


def write_runs_csv(df: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Write tidy run rows to the CSV `path` in a stable order, atomically; returns the sorted frame."""
    df = df.sort_values([c for c in SORT if c in df], kind="stable", na_position="first").reset_index(drop=True)
    # A column added after archives were written, empty in every run (no run grouped its folds), is left
    # out, so those archives re-export byte for byte; reading fills it back (`archive_files.read_runs`).
    df = df.drop(columns=[c for c in OPTIONAL_COLUMNS if c in df and df[c].isna().all()])
    # pandas writes the shortest repr of each float, which `archive.read_runs` parses back exactly
    atomic_write(Path(path), lambda f: df.to_csv(f, index=False), mode="w")
    return df


def _companion_arrays(archive: Archive, store: ResultsStore, configs: list[RunConfig],
                      records: dict[str, dict]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The companion arrays of the exported runs, and how many runs each kind holds."""
    out: dict[str, np.ndarray] = {}
    done = [c for c in configs if records[c.run_id].get("status") == "done"]
    counts = {}
    for c in archive.companion_runs("histories", done):
        out[f"{c.run_id}/history"] = np.array(json.dumps(records[c.run_id].get("history") or []))
    counts["histories"] = len(archive.companion_runs("histories", done))
    for kind, prefix, dtype in (("predictions", "pred/", np.float32), ("features", "feat/", np.float16)):
        runs = archive.companion_runs(kind, done)
        counts[kind] = len(runs)
        for c in runs:
            arrays = store.arrays(c)
            kept = {k: v for k, v in arrays.items() if k.startswith(prefix)}
            if not kept:
                raise ArchiveError(f"run {c.run_id} ({c.label()}) has no {prefix}* arrays in {store.root}, which the "
                                   f"archive's {kind} need; re-run it with features saved (no --no-features)")
            out[f"{c.run_id}/test_idx"] = np.asarray(arrays["test_idx"]).astype(np.int32)
            out[f"{c.run_id}/y_true"] = np.asarray(arrays["y_true"])
            out.update({f"{c.run_id}/{k}": np.asarray(v, dtype=dtype) for k, v in kept.items()})
    return out, counts


def _when(stamp: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(stamp))
    except (TypeError, ValueError):
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _counts(values: Iterable[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


SESSION_GAP_S = 3600.0  # runs this far apart were trained in separate sittings (sessions, machines)


def _wall_seconds(starts: list[tuple[datetime, Any]]) -> float:
    """Wall time the archive's sweep took: from the first run's start to the last run's end, without the
    pauses between sittings (gaps of more than `SESSION_GAP_S` with no run going), so that an archive
    grown over several sessions says how long it trained, not how many days passed."""
    spans = sorted((t, t + timedelta(seconds=float(s))) for t, s in starts)
    total, (lo, hi) = 0.0, spans[0]
    for a, b in spans[1:]:
        if (a - hi).total_seconds() > SESSION_GAP_S:
            total += (hi - lo).total_seconds()
            lo, hi = a, b
        else:
            hi = max(hi, b)
    return total + (hi - lo).total_seconds()


def manifest(archive: Archive, records: list[dict], missing: list[RunConfig], companion: dict[str, int]) -> dict:
    """What an export records about itself (see the module docstring)."""
    prov = [r.get("provenance") or {} for r in records]
    starts = [(_when(p.get("timestamp")), p.get("total_time_s") or r.get("wall_time_s") or 0.0)
              for p, r in zip(prov, records)]
    starts = [(t, s) for t, s in starts if t is not None]
    first = min((t for t, _ in starts), default=None)
    last = max((t + timedelta(seconds=float(s)) for t, s in starts), default=None)
    machine = [f"{p.get('hostname', 'unknown host')}: {p.get('device', 'unknown device')}, {p.get('cpu_model')}, "
               f"torch {p.get('torch_version')}" for p in prov]
    failed = {r["run_id"]: r.get("message") for r in records if r.get("status") == "failed"}
    grouped = {c.folds_by for c in archive.configs() if c.folds_by}
    return {
        "name": archive.name, "title": archive.title, "dataset": archive.dataset, "profile": archive.profile,
        "runs_defined": len(archive.configs()), "runs_exported": len(records), "partial": bool(missing),
        "missing_run_ids": sorted(c.run_id for c in missing),
        "commits": _counts(p.get("git_commit") for p in prov), "machines": _counts(machine),
        "torch_threads": _counts(p.get("torch_threads") for p in prov),
        "first_run_started": first.isoformat(timespec="seconds") if first else None,
        "last_run_finished": last.isoformat(timespec="seconds") if last else None,
        "wall_time_h": round(_wall_seconds(starts) / 3600, 3) if first and last else None,
        "train_time_h": round(sum(float(r.get("wall_time_s") or 0.0) for r in records) / 3600, 3),
        "commands": archive.commands(), "companion_runs": companion,
        **({"failed_runs": failed} if failed else {}),  # written only where there are: older manifests stay as they are
        **({"folds_by": sorted(grouped)} if grouped else {}),  # the same: only archives whose folds keep groups whole
    }


def other_threads_message(archive: Archive, store: ResultsStore, runs: list[RunConfig]) -> str:
    """Why `runs` of `store` (made with another thread count) are not runs of `archive`, and what to do."""
    made = sorted({str(record_threads(store.get(c) or {})) for c in runs})
    twin = f" (the same run ids as archive {archive.counterpart!r})" if archive.counterpart else ""
    return (f"{len(runs)} run(s) of archive {archive.name!r} in {store.root} were made with {' or '.join(made)} "
            f"torch thread(s), not the archive's {archive.threads}{twin}: a store holds one record per run id, so "
            f"train this archive into a store of its own, `mdico archive run {archive.name} --results <new folder>`, "
            "and export it from there")


class _Kept:
    """Runs an exported archive holds that the store lacks: their CSV rows, companion arrays and
    records rebuilt from the rows for the manifest. Empty (falsy) when there are none."""

    def __init__(self, rows: pd.DataFrame | None = None, arrays: dict[str, np.ndarray] | None = None,
                 records: list[dict] | None = None):
        self.rows = rows if rows is not None else pd.DataFrame()
        self.arrays, self.records = arrays or {}, records or []
        self.ids = set(self.rows["run_id"]) if not self.rows.empty else set()

    def __bool__(self) -> bool:
        return bool(self.ids)

    def __contains__(self, run_id: str) -> bool:
        return run_id in self.ids


def _archived_runs(archive: Archive, folder: Path, in_store: set[str]) -> _Kept:
    """The runs of `archive`'s export in `folder` (verified first) that are not in the store.

    So that an archive grows across machines and sessions: a sweep resumed in a new store (the old
    one lost) trains only what the archive lacks, and the next export keeps what it held. The runs
    kept are those of the current definition; their machine is the one the old manifest names when
    it names one.
    """
    info = verify_archive(archive, folder)
    if info is None:
        return _Kept()
    rows = read_runs(archive.path(".csv", folder))
    defined = archive.run_ids()
    rows = rows[rows["run_id"].isin(defined) & ~rows["run_id"].isin(in_store)].reset_index(drop=True)
    if rows.empty:
        return _Kept()
    ids = set(rows["run_id"])
    arrays: dict[str, np.ndarray] = {}
    npz = archive.path(".npz", folder)
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k.split("/")[0] in ids}
    # the CSV has no host column: the old manifest's machines ("<host>: <device>, <cpu>, torch <v>") name it
    hosts = {machine: host for host, _, machine in (m.partition(": ") for m in info.get("machines") or {})}
    records = []
    for _, r in rows.drop_duplicates("run_id").iterrows():
        prov = {k: (None if pd.isna(r.get(k)) else r.get(k)) for k in
                ("git_commit", "git_dirty", "device", "timestamp", "cpu_model", "torch_version", "torch_threads")}
        machine = f"{prov['device']}, {prov['cpu_model']}, torch {prov['torch_version']}"
        if machine in hosts:
            prov["hostname"] = hosts[machine]
        records.append({"run_id": r["run_id"], "status": r["status"], "message": r.get("message"), "provenance": prov,
                        "wall_time_s": float(r["wall_time_s"] or 0.0)})
    return _Kept(rows, arrays, records)


def export_archive(name: str | Archive, store: ResultsStore | None = None, partial: bool = False,
                   folder: str | Path | None = None) -> dict:
    """Write archive `name` from `store` into `folder` (default ``data/archived_runs``); returns its manifest.

    Raises:
        ArchiveError: runs of the definition are missing (unless `partial`), a run was made in a
            dirty working tree or outside git, or with another thread count than the archive's
            `threads`, or none of its runs is in the store. Nothing is written then.
    """
    archive = name if isinstance(name, Archive) else get_archive(name)
    store = store if store is not None else ResultsStore()
    folder = Path(folder) if folder is not None else archive.csv_path.parent
    state = status(archive, store)
    present = state["done"] + state["not_reproduced"] + state["failed_twice"]  # each an outcome of the commit
    kept = _archived_runs(archive, folder, {c.run_id for c in present})
    missing = [c for c in state["pending"] + state["failed"] + state["running"] if c.run_id not in kept]
    fill = f"`mdico archive run {archive.name} --results {store.root}`"
    if state["other_threads"]:
        raise ArchiveError(other_threads_message(archive, store, state["other_threads"]))
    if not present and not kept:
        raise ArchiveError(f"none of the {len(missing)} runs of archive {archive.name!r} is in {store.root}; "
                           f"train them with {fill}")
    if missing and not partial:
        raise ArchiveError(
            f"{len(missing)} of {len(archive.configs())} runs of archive {archive.name!r} are not in "
            f"{store.root} ({len(state['pending'])} pending, {len(state['failed'])} failed, {len(state['running'])} "
            f"being trained now); train them with {fill}, or export what is there with --partial")
    records = {c.run_id: store.get(c) for c in present}
    unclean = [c for c in present if (records[c.run_id].get("provenance") or {}).get("git_dirty") is not False
               or not (records[c.run_id].get("provenance") or {}).get("git_commit")]
    if unclean:
        c = unclean[0]
        raise ArchiveError(
            f"{len(unclean)} run(s) of archive {archive.name!r} were made in a dirty working tree or outside git "
            f"(e.g. {c.run_id}: {c.label()}); an archive is the code of one clean commit: delete those records and "
            "re-run them from a clean checkout (`git status` shows no change to tracked files)")
    ids = set(records)
    df = store.collect(archive.dataset) if records else pd.DataFrame()
    df = df[df["run_id"].isin(ids)] if records else df
    arrays, counts = _companion_arrays(archive, store, present, records)
    if kept:  # the runs the archive already holds and the store lacks: kept as archived, rows and arrays
        df = pd.concat([df, kept.rows], ignore_index=True) if not df.empty else kept.rows
        arrays.update(kept.arrays)
        kinds = {"histories": "/history", "predictions": "/pred/", "features": "/feat/"}
        counts = {k: len({key.split("/")[0] for key in arrays if tag in key}) for k, tag in kinds.items()}
    csv, npz, meta = (archive.path(s, folder) for s in (".csv", ".npz", ".json"))
    atomic_write(npz, lambda f: np.savez_compressed(f, **arrays))
    write_runs_csv(df, csv)
    info = manifest(archive, [*records.values(), *kept.records], missing, counts)
    info["files"] = {csv.name: _sha256(csv), npz.name: _sha256(npz)}
    atomic_write(meta, lambda f: f.write(json.dumps(info, indent=1) + "\n"), mode="w")
    if folder.resolve() == ARCHIVE_DIR.resolve() or (folder / SUMS).is_file():  # the reviewed checksums follow
        write_sums(folder, {**info["files"], meta.name: _sha256(meta)})
    return info


class CompanionData:
    """An archive's companion file, read like the results store: `has`, `arrays`, `history` per run.

    Pages that read a store's arrays and histories (t-SNE, loss curves, prediction maps) read an
    archive's through this. A missing file is an empty companion.
    """

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self._data: dict[str, dict[str, np.ndarray]] | None = None

    def _load(self) -> dict[str, dict[str, np.ndarray]]:
        if self._data is None:
            self._data = {}
            if self.path is not None and self.path.is_file():
                with np.load(self.path, allow_pickle=False) as z:
                    for key in z.files:
                        run_id, _, rest = key.partition("/")
                        self._data.setdefault(run_id, {})[rest] = z[key]
        return self._data

    @staticmethod
    def _id(cfg: Any) -> str:
        return str(getattr(cfg, "run_id", cfg))

    def run_ids(self) -> list[str]:
        """Runs with any companion data."""
        return list(self._load())

    def has(self, cfg: RunConfig | str) -> bool:
        """Whether the run has companion data (a history, predictions or features)."""
        return self._id(cfg) in self._load()

    def has_features(self, cfg: RunConfig | str) -> bool:
        """Whether the run's test-set features are kept (the t-SNE page's runs)."""
        return any(k.startswith("feat/") for k in self._load().get(self._id(cfg), {}))

    def arrays(self, cfg: RunConfig | str) -> dict[str, np.ndarray]:
        """The run's arrays, keyed as ``ResultsStore.arrays`` keys them (empty when none are kept)."""
        return {k: v for k, v in self._load().get(self._id(cfg), {}).items() if k != "history"}

    def history(self, cfg: RunConfig | str) -> pd.DataFrame:
        """The run's per-epoch history (``ResultsStore.history`` columns; empty when not kept)."""
        raw = self._load().get(self._id(cfg), {}).get("history")
        return pd.DataFrame(json.loads(str(raw)) if raw is not None else [])
