"""Archives on disk, read back and checked: every read of an archive verifies its files against its
manifest (`verify_archive`), and `read_runs` gives the tidy frame of ``ResultsStore.collect``.

``archive_io`` writes archives (export) and reads their companion data; this module is what both it and
the pages use to read one, so that a truncated or edited file is refused wherever it is read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from mdico_core._util import repo_root
from mdico_core.experiments.archives import ARCHIVE_DIR, ARCHIVES, Archive, archive_of
from mdico_core.experiments.machine import ENV_TEXT_COLUMNS
from mdico_core.experiments.records import COLUMNS, INT_COLUMNS, tidy_frame


class ArchiveError(ValueError):
    """An archive cannot be exported as asked (missing runs, a dirty commit, nothing to export)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def archived_run_ids(archive: Archive, folder: str | Path | None = None) -> set[str]:
    """Run ids of `archive`'s definition that its export (verified) holds; empty when not exported."""
    if verify_archive(archive, folder) is None:
        return set()
    ids = pd.read_csv(archive.path(".csv", folder), usecols=["run_id"], dtype=str)["run_id"]
    return set(ids) & archive.run_ids()


def read_manifest(archive: Archive, folder: str | Path | None = None) -> dict | None:
    """The manifest of an exported archive, or None when it has not been exported."""
    p = archive.path(".json", folder)
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArchiveError(f"{p} is not a readable manifest ({err}); {restore_hint(archive, folder)}") from None


def restore_hint(archive: Archive, folder: str | Path | None = None) -> str:
    """How to get a damaged archive back: from git (a shipped one), or by exporting it again."""
    where = (Path(folder) if folder is not None else archive.csv_path.parent).resolve()
    try:
        shown = where.relative_to(repo_root())  # the command to run at the repository root
    except ValueError:
        shown = where
    return (f"restore it with `git checkout -- {shown}/{archive.name}.*` at the repository root, or export it "
            f"again with `mdico archive export {archive.name} --results <store>`")


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: each file hashed once


def _sha256_memo(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = _sha256(path)
    return _VERIFIED[key]


def verify_archive(archive: Archive, folder: str | Path | None = None) -> dict | None:
    """Check an exported archive's CSV and companion file against the SHA-256 its manifest holds.

    Returns the manifest (None when the archive is not exported). Raises `ArchiveError` naming the file
    that is missing or does not match, and how to restore it: every read of an archive goes through
    here, so a truncated or edited archive is never shown as evidence.
    """
    info = read_manifest(archive, folder)
    if info is None:
        return None
    files = info.get("files")
    if not isinstance(files, dict) or not files:
        raise ArchiveError(f"the manifest {archive.path('.json', folder)} lists no file checksums; "
                           f"{restore_hint(archive, folder)}")
    for name, digest in files.items():
        p = archive.path(Path(name).suffix, folder)
        if not p.is_file():
            raise ArchiveError(f"archive {archive.name!r}: {p} is missing; {restore_hint(archive, folder)}")
        if _sha256_memo(p) != digest:
            raise ArchiveError(f"archive {archive.name!r}: {p} does not match its manifest's SHA-256 (truncated or "
                               f"edited); {restore_hint(archive, folder)}")
    return info


# ---------------------------------------------------------------------------------- reading an archive back
_NEEDED = ("run_id", "dataset", "method", "variant", "encoder", "protocol", "fold", "seed", "view", "metric",
           "value", "status", "profile", "git_commit")


def resolve_archive(path: str | Path) -> Path:
    """The CSV of archive `path`: an archive name (``"lfmc_paper"``), else the path as given if it exists,
    else relative to the repository root, else under ``data/archived_runs``."""
    if str(path) in ARCHIVES:
        path = ARCHIVES[str(path)].csv_path
    p = Path(path).expanduser()
    for candidate in (p, repo_root() / p, ARCHIVE_DIR / p):
        if candidate.is_file():
            return candidate
    found = sorted(q.name for q in ARCHIVE_DIR.glob("*.csv")) if ARCHIVE_DIR.is_dir() else []
    raise FileNotFoundError(f"no archived runs file {str(path)!r} (looked in the current folder, {repo_root()} "
                            f"and {ARCHIVE_DIR}); archives here: {', '.join(found) or 'none'}. "
                            "Write one with `mdico archive export <name> --results <store>` (`mdico archive list`), or any "
                            "sweep with `mdico export <dataset> --profile <profile> --out <file>.csv`.")


def read_runs(path: str | Path) -> pd.DataFrame:
    """An archive back as the tidy frame of ``ResultsStore.collect`` (same columns, dtypes and values)."""
    p = resolve_archive(path)
    shipped = archive_of(p)
    if shipped is not None and shipped.path(".csv", p.parent) == p and shipped.path(".json", p.parent).is_file():
        verify_archive(shipped, p.parent)  # an ArchiveError (a ValueError) names the damaged file
    fix = "re-export it with `mdico export <dataset> --profile <profile> --out <file>.csv`"
    text_cols = {c: str for c in ("run_id", "dataset", "method", "variant", "encoder", "protocol", "modalities",
                                  "settings", "monitor", "view", "metric", "task", "status", "profile", "message",
                                  "git_commit", "device", "timestamp", *ENV_TEXT_COLUMNS)}
    try:
        # round_trip: the default parser may be off by one ulp; an archive must equal its store exactly
        df = pd.read_csv(p, dtype=text_cols, float_precision="round_trip")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{p} is not a readable runs CSV ({e}); {fix}") from None
    missing = [c for c in _NEEDED if c not in df.columns]
    if missing:
        raise ValueError(f"{p} lacks the column(s) {', '.join(missing)}: it is not a `mdico export` file; {fix}")
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = None
    try:
        for col in (*INT_COLUMNS, "value", "wall_time_s"):
            df[col] = pd.to_numeric(df[col])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{p}: column {col!r} holds a non-numeric value ({e}); {fix}") from None
    df["profile"] = df["profile"].fillna("")  # as `collect` writes a record without one
    df["settings"] = df["settings"].fillna("common")  # archives written before the two settings existed
    df["monitor"] = df["monitor"].fillna("total")  # ... and before the early-stopping monitor was an option
    df["git_dirty"] = df["git_dirty"].map({True: True, False: False, "True": True, "False": False})
    # (a mix of profiles or settings has its own message where a table is made of it)
    dup = df.duplicated(["run_id", "profile", "settings", "view", "metric"], keep=False) & df["metric"].notna()
    if dup.any():
        r = df[dup].iloc[0]
        raise ValueError(f"{p}: run {r['run_id']} has {int(dup.sum())} repeated (run, view, metric) rows (e.g. view "
                         f"{r['view']}, {r['metric']}): files were concatenated or edited; {fix}")
    if shipped is None:  # a CSV of one's own: every done run must have the views and metrics of its siblings
        done = df[(df["status"] == "done") & df["metric"].notna()]
        if not done.empty:
            per_run = done.groupby("run_id").size()
            keys = ["dataset", "method", "variant", "encoder", "protocol", "modalities"]  # one design, one view set
            cell = done.drop_duplicates("run_id").set_index("run_id")[keys].fillna("")
            expected = per_run.groupby([cell[c] for c in cell.columns]).transform("max")
            short = per_run[per_run < expected]
            if len(short):
                raise ValueError(f"{p}: {len(short)} run(s) have fewer (view, metric) rows than other runs of their "
                                 f"cell (e.g. {short.index[0]}: {short.iloc[0]} of {expected[short.index[0]]}): the file "
                                 f"was cut short or edited; {fix}")
    # rebuilt from plain rows like `collect` builds its frame, so that dtypes match whatever pandas infers
    rows = df[COLUMNS].astype(object).where(df[COLUMNS].notna(), None).to_dict("records")
    return tidy_frame(rows)
