"""Archives on disk, read back and checked: every read of an archive verifies its files against its
manifest (`verify_archive`), and `read_runs` gives the tidy frame of ``ResultsStore.collect``.

``archive_io`` writes archives (export) and reads their companion data; this module is what both it and
the pages use to read one, so that a truncated or edited file is refused wherever it is read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

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


def restore_hint(archive: Archive, folder: str | Path | None = None, file: str | None = None) -> str:
    """How to get a damaged archive back: from git (an archive inside this repository), or by exporting it
    again (`file`: the one file to restore, e.g. ``"lfmc_paper.json"``; default: all of the archive's)."""
    where = (Path(folder) if folder is not None else archive.csv_path.parent).resolve()
    export = f"`mdico archive export {archive.name} --results <store>`"
    try:
        shown = where.relative_to(repo_root())  # the command to run at the repository root
    except ValueError:  # outside the repository: git knows nothing of it
        return (f"export it again with `mdico archive export {archive.name} --results <store> --out-dir {where}`, "
                f"or copy {archive.name}.* from {ARCHIVE_DIR} of a clean checkout")
    target = f"{shown}/{file}" if file else f"{shown}/{archive.name}.*"
    return f"restore it with `git checkout -- {target}` from the repository root, or export it again with {export}"


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: each file hashed once


def _sha256_memo(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = _sha256(path)
    return _VERIFIED[key]


SUMS = "SHA256SUMS"
"""The file, beside the archives, that holds every archive file's expected SHA-256 (``sha256sum`` format): under
version control, so that a change to an archive and its manifest together shows in review as a third change."""


def read_sums(folder: str | Path | None = None) -> dict[str, str]:
    """File name -> SHA-256 of the `SUMS` file in `folder` (default ``data/archived_runs``); {} without one."""
    p = Path(folder if folder is not None else ARCHIVE_DIR) / SUMS
    if not p.is_file():
        return {}
    out = {}
    for line in p.read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        if digest and name:
            out[name.lstrip("*")] = digest
    return out


def write_sums(folder: str | Path, digests: dict[str, str]) -> Path:
    """Set the lines of `digests` (file name -> SHA-256) in `folder`'s `SUMS` file, keeping the others; sorted
    by name, so that an export changes only its archive's lines (``sha256sum -c SHA256SUMS`` checks them)."""
    from mdico_core._util import atomic_write

    sums = {**read_sums(folder), **digests}
    text = "".join(f"{d}  {n}\n" for n, d in sorted(sums.items()))
    p = Path(folder) / SUMS
    atomic_write(p, lambda f: f.write(text), mode="w")
    return p


def verify_archive(archive: Archive, folder: str | Path | None = None) -> dict | None:
    """Check an exported archive's CSV and companion file against the SHA-256 its manifest holds, and the
    manifest's counts against the CSV (`check_counts`).

    Returns the manifest (None when the archive is not exported: no CSV and no manifest). Raises
    `ArchiveError` naming the file that is missing or does not match, and how to restore it: every read
    of an archive goes through here, so a truncated or edited archive is never shown as evidence. A CSV
    without its manifest, or a manifest that does not list the CSV or the companion file, is refused: an
    archive is read only as its manifest vouches for it.
    """
    info = read_manifest(archive, folder)
    csv, meta = archive.path(".csv", folder), archive.path(".json", folder)
    if info is None:
        if csv.is_file():
            raise ArchiveError(f"archive {archive.name!r}: {csv} has no manifest ({meta.name} is missing), so nothing "
                               f"vouches for its numbers; {restore_hint(archive, folder, meta.name)}")
        return None
    files = info.get("files")
    if not isinstance(files, dict) or not files:
        raise ArchiveError(f"the manifest {meta} lists no file checksums; {restore_hint(archive, folder, meta.name)}")
    for needed in (csv.name, archive.path(".npz", folder).name):  # every file a read uses
        if needed not in files:
            raise ArchiveError(f"the manifest {meta} does not list {needed} in its files, so {needed} is not "
                               f"verified; {restore_hint(archive, folder, meta.name)}")
    for name, digest in files.items():
        p = archive.path(Path(name).suffix, folder)
        if not p.is_file():
            raise ArchiveError(f"archive {archive.name!r}: {p} is missing; {restore_hint(archive, folder)}")
        if _sha256_memo(p) != digest:
            raise ArchiveError(f"archive {archive.name!r}: {p} does not match its manifest's SHA-256 (truncated or "
                               f"edited); {restore_hint(archive, folder)}")
    where = Path(folder).resolve() if folder is not None else ARCHIVE_DIR.resolve()
    if where == ARCHIVE_DIR.resolve():  # the shipped archives: the manifest must agree with SHA256SUMS too
        sums = read_sums(where)
        for name, digest in ((meta.name, _sha256_memo(meta)), *files.items()):
            if name in sums and sums[name] != digest:
                raise ArchiveError(f"archive {archive.name!r}: {where / name} does not match {where / SUMS} (it or "
                                   f"its manifest was changed); {restore_hint(archive, folder)}")
    check_counts(archive, info, folder)
    return info


_COUNTED: set[tuple] = set()  # (csv sha256, manifest sha256): each pair checked once per process


def check_counts(archive: Archive, info: dict, folder: str | Path | None = None) -> None:
    """Refuse a manifest whose counts disagree with its CSV: runs exported (distinct run ids), partial and the
    missing run ids, failed runs (status "failed"), and the runs per commit. A page prints these counts, so
    they must be the CSV's."""
    csv, meta = archive.path(".csv", folder), archive.path(".json", folder)
    key = (_sha256_memo(csv), _sha256_memo(meta))
    if key in _COUNTED:
        return
    try:
        runs = pd.read_csv(csv, usecols=["run_id", "status", "git_commit"], dtype=str).drop_duplicates("run_id")
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ArchiveError(f"archive {archive.name!r}: {csv} is not a readable runs CSV ({err}); "
                           f"{restore_hint(archive, folder)}") from None
    ids = set(runs["run_id"])
    missing = info.get("missing_run_ids") or []
    failed = set(runs.loc[runs["status"] == "failed", "run_id"])
    commits = {str(k): int(v) for k, v in runs["git_commit"].value_counts().items()}
    recorded_commits = {str(k): v for k, v in (info.get("commits") or {}).items()}
    problems = [
        (info.get("runs_exported") != len(ids), f"runs_exported {info.get('runs_exported')} but the CSV holds "
                                                f"{len(ids)} runs"),
        (bool(info.get("partial")) != bool(missing), f"partial {info.get('partial')} but {len(missing)} missing run "
                                                     "id(s)"),
        (bool(ids & set(missing)), f"{len(ids & set(missing))} run(s) listed as missing are in the CSV"),
        (set(info.get("failed_runs") or {}) != failed, f"{len(info.get('failed_runs') or {})} failed run(s) but the "
                                                       f"CSV holds {len(failed)}"),
        (recorded_commits != commits, f"commits {recorded_commits} but the CSV's runs are of {commits}"),
    ]
    bad = [why for wrong, why in problems if wrong]
    if bad:
        raise ArchiveError(f"archive {archive.name!r}: the manifest {meta} disagrees with {csv.name} ({bad[0]}); "
                           f"{restore_hint(archive, folder)}")
    _COUNTED.add(key)


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


class _Exported(NamedTuple):
    """An exported archive that no definition here names (another version's, a test's): read through the
    manifest beside its CSV, as `verify_archive` reads a defined one."""

    name: str
    folder: Path

    def path(self, suffix: str, folder: str | Path | None = None) -> Path:
        return Path(folder if folder is not None else self.folder) / f"{self.name}{suffix}"

    @property
    def csv_path(self) -> Path:
        return self.path(".csv")


def _manifest_beside(p: Path) -> dict | None:
    """The manifest of an `mdico archive export` beside the CSV `p` (a JSON object with its ``files``), or None."""
    meta = p.with_suffix(".json")
    if not meta.is_file():
        return None
    try:
        info = json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return info if isinstance(info, dict) and "files" in info and "runs_exported" in info else None


class UnverifiedArchiveWarning(UserWarning):
    """A runs CSV was read that no manifest vouches for (a CSV of one's own, given by path)."""


def read_runs(path: str | Path) -> pd.DataFrame:
    """An archive back as the tidy frame of ``ResultsStore.collect`` (same columns, dtypes and values).

    An archive named (``"lfmc_paper"``), or any CSV in ``data/archived_runs``, or a CSV with a manifest
    beside it, is verified (`verify_archive`): a missing manifest, a file it does not list, a checksum or a
    count that differs is an `ArchiveError`. A CSV given by path with no manifest beside it is read, with an
    `UnverifiedArchiveWarning` and the frame's ``attrs["unverified"]`` saying so (the page shows it).
    """
    if not str(path).strip():
        raise FileNotFoundError("an empty archive name or path: give an archive name (`mdico archive list`) or "
                                "a runs CSV")
    p = resolve_archive(path)
    shipped = archive_of(p)
    named = str(path) in ARCHIVES or p.resolve().parent == ARCHIVE_DIR.resolve()
    unverified = None
    if shipped is not None and shipped.path(".csv", p.parent) == p and (
            named or shipped.path(".json", p.parent).is_file()):
        verify_archive(shipped, p.parent)  # an ArchiveError (a ValueError) names the damaged file
    elif shipped is None and _manifest_beside(p) is not None:  # an export of an archive not defined here
        verify_archive(_Exported(p.stem, p.parent), p.parent)
    elif named:  # a CSV of the archive folder that no archive defines: nothing can vouch for it
        raise ArchiveError(f"{p} is in {ARCHIVE_DIR} but is no archive's CSV (`mdico archive list`), so no manifest "
                           "verifies it; move it out of that folder to read it as a CSV of your own")
    else:  # a CSV of one's own (`mdico export`): no manifest of an archive definition vouches for it
        unverified = (f"unverified: no manifest beside {p} vouches for it, so its numbers are read as they are, "
                      "not checked against any checksum")
        import warnings

        warnings.warn(unverified, UnverifiedArchiveWarning, stacklevel=2)
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
    out = tidy_frame(rows)
    if unverified:
        out.attrs["unverified"] = unverified
    return out
