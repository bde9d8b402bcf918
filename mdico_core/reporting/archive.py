"""Archived sweeps: one dataset's run metrics exported from a results store to a CSV file.

The paper's protocol on LFMC (13 methods x 10 folds x 5 seeds) takes hours on a laptop. The book
therefore also shows a sweep that was run once and archived in the repository, next to the pages
the build runs itself. An archive keeps every row of `ResultsStore.collect` for those runs: the
run's config, each view's metrics, its budget use and its provenance (git commit, dirty flag,
device, timestamp, and the environment: library versions, CPU model and instruction set, BLAS,
threads, GPU; see `mdico_core.experiments.machine`). A page built from it states exactly what
was run, by which code, where. Archives written before a column existed read it as missing.

Write one with ``mdico export lfmc --profile paper --out data/archived_runs/lfmc_paper.csv``
(``book_plan.ARCHIVED`` lists the archives the book shows);
read it with `read_runs` (the same tidy frame as ``collect``) or show it with `archived_page`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mdico_core._util import repo_root
from mdico_core.data.availability import Resolution, benchmark_of, entry_of
from mdico_core.experiments.machine import ENV_TEXT_COLUMNS
from mdico_core.experiments.store import COLUMNS, INT_COLUMNS, ResultsStore, atomic_write, tidy_frame
from mdico_core.reporting.book_plan import MAIN
from mdico_core.reporting.page import rerun_commands, run_label, targets_of
from mdico_core.reporting.provenance import provenance_banner, short_version

REPO_ROOT = repo_root()
ARCHIVE_DIR = REPO_ROOT / "data" / "archived_runs"
_NEEDED = ("run_id", "dataset", "method", "variant", "encoder", "protocol", "fold", "seed", "view", "metric",
           "value", "status", "profile", "git_commit")


def export_runs(dataset: str, path: str | Path, profile: str, store: ResultsStore | None = None,
                settings: str | None = None) -> pd.DataFrame:
    """Write the tidy metrics of `dataset`'s runs of `profile` in `store` to the CSV file `path`.

    Both settings go to one file unless `settings` selects one ("common" or "original", see
    ``experiments.settings.select_settings``); the ``settings`` column tells them apart.

    One profile per file, so that a table never pools budgets. The file is written to a temporary
    name and renamed, so an interrupted export leaves the old archive intact. Returns the exported
    frame. Raises ``ValueError`` when there is nothing to export.
    """
    store = store if store is not None else ResultsStore()
    df = store.collect(dataset)
    df = df[df["profile"] == profile]
    if settings is not None:
        from mdico_core.experiments.settings import select_settings

        df = select_settings(df, settings)
    if df.empty:
        raise ValueError(f"no runs of {dataset!r} under profile {profile!r} in {store.root}; run them first, "
                         f"e.g. `mdico run --dataset {dataset} --profile {profile}`, or pass the store with --results")
    df = df.sort_values(["method", "variant", "encoder", "protocol", "settings", "seed", "fold", "run_id", "view", "metric"],
                        kind="stable", na_position="first").reset_index(drop=True)
    # pandas writes the shortest repr of each float, which `read_runs` parses back exactly
    atomic_write(Path(path), lambda f: df.to_csv(f, index=False), mode="w")
    return df


def resolve_archive(path: str | Path) -> Path:
    """`path` as given if it exists, else relative to the repository root, else under ``data/archived_runs``."""
    p = Path(path).expanduser()
    for candidate in (p, REPO_ROOT / p, ARCHIVE_DIR / p):
        if candidate.is_file():
            return candidate
    found = sorted(q.name for q in ARCHIVE_DIR.glob("*.csv")) if ARCHIVE_DIR.is_dir() else []
    raise FileNotFoundError(f"no archived runs file {str(path)!r} (looked in the current folder, {REPO_ROOT} "
                            f"and {ARCHIVE_DIR}); archives here: {', '.join(found) or 'none'}. "
                            "Write one with `mdico export <dataset> --profile <profile> --out <file>.csv`.")


def read_runs(path: str | Path) -> pd.DataFrame:
    """An archive back as the tidy frame of ``ResultsStore.collect`` (same columns, dtypes and values)."""
    p = resolve_archive(path)
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
    # rebuilt from plain rows like `collect` builds its frame, so that dtypes match whatever pandas infers
    rows = df[COLUMNS].astype(object).where(df[COLUMNS].notna(), None).to_dict("records")
    return tidy_frame(rows)


def _resolution(registry: str, path: Path) -> Resolution:
    """What an archive of registry dataset `registry` shows, from its registry entry (not its name)."""
    entry = entry_of(registry)
    if entry is None:
        raise ValueError(f"{path} holds runs of {registry!r}, which is not a registered dataset here; register it "
                         "(mdico_core.data.custom.register) to show this archive")
    shown = benchmark_of(registry) or entry.stand_in_for or registry
    return Resolution(shown, registry, entry.kind, f"the archived sweep {path.name} ran on {registry} ({entry.kind} data)")


@dataclass(eq=False)
class ArchivedPage:
    """An archived sweep as a results page (``page.ResultsPage``, like the live ``page.Page``).

    Every member reads the archive; nothing is trained, and nothing is ever missing from it.
    """

    path: Path
    runs: pd.DataFrame
    datasets: dict[str, Resolution]

    def frame(self) -> pd.DataFrame:
        """Tidy metrics of the archived runs (``ResultsStore.collect`` columns)."""
        return self.runs

    def failures(self) -> pd.DataFrame:
        """Archived runs that were not reproduced (or failed), with their message."""
        bad = self.runs[self.runs["status"] != "done"].drop_duplicates("run_id")
        rows = [{"run": run_label({k: (None if pd.isna(v) else v) for k, v in r.items()}), "status": r["status"],
                 "message": r["message"]} for _, r in bad.iterrows()]
        return pd.DataFrame(rows, columns=["run", "status", "message"])

    def missing(self) -> list:
        """Planned runs absent from the archive: none (an archive is what was run)."""
        return []

    def targets(self) -> list[tuple[str, str, str]]:
        """(label, registry name, kind) of the archive's one dataset."""
        return targets_of(self.datasets)

    def _runs(self, **match: Any) -> pd.DataFrame:
        r = self.runs
        for k, v in match.items():
            r = r[r[k] == v]
        return r.drop_duplicates("run_id")

    def code_versions(self, **match: Any) -> list[str]:
        """Distinct code versions the archived runs (matching `match`) were made with."""
        out: list[str] = []
        for _, r in self._runs(**match).iterrows():
            v = short_version(None if pd.isna(r["git_commit"]) else r["git_commit"],
                              bool(r["git_dirty"]) if pd.notna(r["git_dirty"]) else False)
            if v and v not in out:
                out.append(v)
        return out

    def summary(self, **match: Any) -> dict[str, Any]:
        """Counts, dates, devices and training time of the archived runs (matching `match`)."""
        per_run = self._runs(**match)
        stamps = pd.to_datetime(per_run["timestamp"], errors="coerce", utc=True).dropna()
        return {
            "runs": len(per_run),
            "methods": list(dict.fromkeys(per_run["method"])),
            "devices": sorted(per_run["device"].dropna().astype(str).unique()),
            "first": stamps.min().strftime("%Y-%m-%d %H:%M UTC") if len(stamps) else "unknown",
            "last": stamps.max().strftime("%Y-%m-%d %H:%M UTC") if len(stamps) else "unknown",
            "train_hours": float(per_run["wall_time_s"].fillna(0).sum()) / 3600.0,
        }

    def banner(self, datasets: Mapping[str, Resolution] | None = None, **match: Any) -> str:
        """``provenance_banner`` of the archived runs (matching `match`), headed by where they come from."""
        per_run = self._runs(**match)
        folds = sorted(per_run["fold"].dropna().unique().tolist()) or [None]
        seeds = sorted(per_run["seed"].dropna().unique().tolist())
        n_folds = per_run["n_folds"].dropna()
        profiles = sorted(per_run["profile"].dropna().astype(str).unique())
        s = self.summary(**match)
        try:
            shown = self.path.relative_to(REPO_ROOT)
        except ValueError:
            shown = self.path
        head = (f"> **Archived sweep: its runs were not re-trained by this build.** Read from `{shown}` "
                f"(written by `mdico export`): {s['runs']} runs made {s['first']} to {s['last']} on "
                f"{'; '.join(s['devices']) or 'an unrecorded device'}, {s['train_hours']:.1f} h of training "
                f"in all.\n>\n")
        text = provenance_banner(", ".join(profiles) or "unknown", datasets or self.datasets, folds, seeds,
                                 len(per_run), self.code_versions(**match),
                                 n_folds=int(n_folds.iloc[0]) if len(n_folds) else None)
        bench = next(iter(self.datasets))
        return head + text + "\n>\n> " + rerun_commands(MAIN, None, bench, archive=str(shown))


def archived_page(path: str | Path, dataset: str | None = None) -> ArchivedPage:
    """The archive at `path` as a page (see `ArchivedPage`); `dataset` must match its one dataset."""
    p = resolve_archive(path)
    runs = read_runs(p)
    names = list(dict.fromkeys(runs["dataset"]))
    if len(names) != 1:
        raise ValueError(f"{p} holds runs of {len(names)} datasets ({', '.join(map(str, names))}); "
                         "a page shows one: export one dataset per file with `mdico export <dataset>`")
    for col in ("profile", "n_folds"):
        if runs[col].nunique(dropna=False) > 1:
            raise ValueError(f"{p} mixes {col} values ({', '.join(map(str, runs[col].unique()))}); a page shows "
                             "one budget: export one profile per file with `mdico export --profile <name>`")
    res = _resolution(str(names[0]), p)
    if dataset is not None and dataset not in (names[0], res.benchmark):
        raise ValueError(f"{p} holds runs of {names[0]!r}, not of {dataset!r}: pass dataset={names[0]!r} "
                         f"or an archive of {dataset!r}")
    return ArchivedPage(p, runs, {res.benchmark: res})
