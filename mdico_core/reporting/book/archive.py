"""Archived sweeps read back: the metric rows of an archive, and the archive as a results page.

The paper's protocol on LFMC (13 methods x 2 settings x 10 folds x 5 seeds) takes hours on a
laptop, so the book's pages are built from sweeps that were run once at one clean commit and
archived in the repository (``experiments.archives`` defines each one; ``mdico archive export``
writes it, ``experiments.archive_io``). An archive keeps every row of `ResultsStore.collect` for
its runs: the run's config, each view's metrics, its budget use and its provenance (git commit,
dirty flag, device, timestamp, and the environment: library versions, CPU model and instruction
set, BLAS, threads, GPU; see `mdico_core.experiments.machine`), plus its companion data
(histories, features, predictions) and a manifest. A page built from it states exactly what was
run, by which code, where. Archives written before a column existed read it as missing.

Read one with `read_runs` (the same tidy frame as ``collect``) or show it with `archived_page`
(by archive name, e.g. ``"lfmc_paper"``, or CSV path). `export_runs` (``mdico export``) writes
any dataset's runs of one profile, outside the archive definitions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from mdico_core._util import display_path, parse_list, repo_root
from mdico_core.data.availability import Resolution, benchmark_of, entry_of
from mdico_core.experiments.archive_files import read_runs, resolve_archive
from mdico_core.experiments.archive_io import CompanionData, write_runs_csv
from mdico_core.experiments.archives import ARCHIVES, Archive, archive_of
from mdico_core.experiments.store import ResultsStore
from mdico_core.reporting.book.page import failure_table, targets_of
from mdico_core.reporting.book.provenance import provenance_banner, settings_text, short_version

REPO_ROOT = repo_root()

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
    return write_runs_csv(df, path)


def _resolution(registry: str, path: Path) -> Resolution:
    """What an archive of registry dataset `registry` shows, from its registry entry (not its name)."""
    entry = entry_of(registry)
    if entry is None:
        raise ValueError(f"{path} holds runs of {registry!r}, which is not a registered dataset here; register it "
                         "(mdico_core.data.custom.register) to show this archive")
    shown = benchmark_of(registry) or entry.stand_in_for or registry
    return Resolution(shown, registry, entry.kind, f"the archived sweep {path.name} ran on {registry} ({entry.kind} data)")


class ArchivedRun(NamedTuple):
    """One archived run's identity, as the pages match runs (``RunConfig``'s fields of the same names)."""

    run_id: str
    dataset: str
    method: str
    variant: str
    encoder: str
    protocol: str
    settings: str
    monitor: str
    fold: int | None
    seed: int


def archived_runs(runs: pd.DataFrame) -> list[ArchivedRun]:
    """One `ArchivedRun` per run of a ``read_runs`` frame, in its order."""
    per_run = runs.drop_duplicates("run_id")
    return [ArchivedRun(*(r[f] for f in ArchivedRun._fields[:8]), None if pd.isna(r["fold"]) else int(r["fold"]),
                        int(r["seed"])) for _, r in per_run.iterrows()]


@dataclass(eq=False)
class ArchivedPage:
    """An archived sweep as a results page (``page.ResultsPage``, like the live ``page.Page``).

    Every member reads the archive; nothing is trained. `configs` are its runs (`ArchivedRun`),
    `store` reads its companion data (``has`` / ``arrays`` / ``history``, as the results store
    does) for the t-SNE, loss-curve and map pages, and, where the archive has a definition
    (``experiments.archives``), `missing` lists the runs of the definition it lacks.
    """

    path: Path
    runs: pd.DataFrame
    datasets: dict[str, Resolution]
    definition: Archive | None = None
    configs: list = field(default_factory=list)
    store: CompanionData = field(default_factory=lambda: CompanionData(None))
    manifest: dict | None = None
    unverified: str | None = None
    """Why no manifest vouches for the runs (a CSV of one's own read by path), shown atop the banner; None
    for a verified archive."""

    def frame(self) -> pd.DataFrame:
        """Tidy metrics of the archived runs (``ResultsStore.collect`` columns)."""
        return self.runs

    def failures(self) -> pd.DataFrame:
        """Archived runs that were not reproduced (or failed), with their message."""
        bad = self.runs[self.runs["status"] != "done"].drop_duplicates("run_id")
        return failure_table([({k: (None if pd.isna(v) else v) for k, v in r.items()}, r["status"], r["message"])
                              for _, r in bad.iterrows()])

    def missing(self) -> list:
        """Runs of the archive's definition that the archive lacks (none for a complete export, and
        none for an archive without a definition: it is what was run)."""
        if self.definition is None:
            return []
        held = set(self.runs["run_id"])
        return [c for c in self.definition.configs() if c.run_id not in held]

    def configs_where(self, **match: Any) -> list:
        """The archived runs' configs (of its definition) whose fields equal `match`."""
        return [c for c in self.configs if all(getattr(c, k) == v for k, v in match.items())]

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
        """Counts, dates, devices and training time of the archived runs (matching `match`); the sweep's
        wall time where the manifest records it."""
        per_run = self._runs(**match)
        stamps = pd.to_datetime(per_run["timestamp"], errors="coerce", utc=True).dropna()
        wall = (self.manifest or {}).get("wall_time_h") if not match else None
        return {
            "runs": len(per_run),
            "methods": list(dict.fromkeys(per_run["method"])),
            "devices": sorted(per_run["device"].dropna().astype(str).unique()),
            "first": stamps.min().strftime("%Y-%m-%d %H:%M UTC") if len(stamps) else "unknown",
            "last": stamps.max().strftime("%Y-%m-%d %H:%M UTC") if len(stamps) else "unknown",
            "train_hours": float(per_run["wall_time_s"].fillna(0).sum()) / 3600.0,
            "wall_hours": wall,
        }

    def banner(self, datasets: Mapping[str, Resolution] | None = None, rerun: str | None = None,
               **match: Any) -> str:
        """``provenance_banner`` of the archived runs (matching `match`), headed by where they come from
        and, for a defined archive, whether it holds all of its definition's runs; ending with `rerun`
        (the page's "Re-run this page" line, ``Page.rerun_commands`` of the live page beside it) when
        given: an archive alone does not know the page it is shown on."""
        per_run = self._runs(**match)
        folds = sorted(per_run["fold"].dropna().unique().tolist()) or [None]
        seeds = sorted(per_run["seed"].dropna().unique().tolist())
        n_folds = per_run["n_folds"].dropna()
        profiles = sorted(per_run["profile"].dropna().astype(str).unique())
        s = self.summary(**match)
        shown = display_path(self.path)  # repository-relative: no path of the builder's machine
        how = (f"archive `{self.definition.name}`, written by `mdico archive export {self.definition.name}`"
               if self.definition is not None else "written by `mdico export`")
        wall = f" ({_duration(s['wall_hours'])} of wall time)" if s["wall_hours"] else ""
        head = (f"> **Archived sweep: its runs were not re-trained by this build.** Read from `{shown}` "
                f"({how}): {s['runs']} runs made {s['first']} to {s['last']} on "
                f"{'; '.join(s['devices']) or 'an unrecorded device'}, {_duration(s['train_hours'])} of training "
                f"in all{wall}.\n>\n")
        if self.unverified:
            head += f"> **{self.unverified[0].upper()}{self.unverified[1:]}.**\n>\n"
        if self.definition is not None:
            defined, missing = len(self.definition.configs()), len(self.missing())
            if missing:
                stale = " (it was made by an earlier version of the run definitions)" if missing == defined else ""
                head += (f"> **This archive holds {defined - missing} of the {defined} runs of its definition"
                         f"{stale}**: cells with fewer runs than the rest are partial. Complete it with "
                         f"`mdico archive run {self.definition.name}` and `mdico archive export "
                         f"{self.definition.name}`.\n>\n")
        failed = per_run[per_run["status"] == "failed"] if "status" in per_run else per_run.iloc[:0]
        if len(failed):  # held as outcomes (`runner.confirm_failure`): say why their cells have a run fewer
            from mdico_core.reporting.core.compare import paper_name

            which = "; ".join(f"{paper_name(r['method'])} ({r['settings']} settings), fold {r['fold']}, seed "
                              f"{r['seed']}: `{r['message']}`" for _, r in failed.iterrows())
            one = len(failed) == 1
            head += (f"> **{len(failed)} run{'' if one else 's'} failed twice the same way from the archive's "
                     f"commit** ({which}). {'It is' if one else 'Each is'} held as that run's outcome: the cells and "
                     "paired tests that would include it have one run fewer.\n>\n")
        text = head + provenance_banner(", ".join(profiles) or "unknown", datasets or self.datasets, folds, seeds,
                                        len(per_run), self.code_versions(**match),
                                        n_folds=int(n_folds.iloc[0]) if len(n_folds) else None)
        text += f"\n>\n> **Settings.** {settings_text(per_run)}"
        return text + (f"\n>\n> {rerun}" if rerun else "")


def _duration(hours: float) -> str:
    """``1.6 h``, or ``7 min`` below a tenth of an hour (a sweep of small runs is not "0.0 h")."""
    return f"{hours:.1f} h" if hours >= 0.1 else f"{max(1, round(hours * 60))} min"


def archived_page(path: str | Path, dataset: str | None = None) -> ArchivedPage:
    """The archive `path` (an archive name, e.g. ``"lfmc_paper"``, or its CSV) as a page (see
    `ArchivedPage`); `dataset` must match its one dataset. The companion data and manifest are read
    from beside the CSV."""
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
    definition = archive_of(p)
    if definition is not None and definition.dataset != names[0]:
        definition = None
    meta = p.with_suffix(".json")
    unverified = runs.attrs.get("unverified")
    return ArchivedPage(p, runs, {res.benchmark: res}, definition, archived_runs(runs),
                        CompanionData(p.with_suffix(".npz")),
                        json.loads(meta.read_text()) if meta.is_file() and not unverified else None, unverified)


def archive_pages() -> dict[str, list[str]]:
    """The book's pages that show each archive of ``experiments.archives`` (by name; [] for none), in
    book order: each generated page whose ``archive`` parameter names it (``pages.PAGES``: the archived
    main-results pages, the analysis pages), and the reproducibility page for an archive made in
    another environment than its `counterpart`'s."""
    from mdico_core.reporting.book.pages import PAGES, REPRODUCIBILITY

    shown: dict[str, list[str]] = {name: [] for name in ARCHIVES}
    for page in PAGES.values():
        for page_name, extra in page.generated():
            for name in parse_list(extra.get("archive")) or ():
                shown.setdefault(name, []).append(page_name)
    for name, a in ARCHIVES.items():
        if a.counterpart is not None:
            shown[name].append(REPRODUCIBILITY)
            shown.setdefault(a.counterpart, []).append(REPRODUCIBILITY)
    return shown


def archives_table() -> pd.DataFrame:
    """Every archive of ``experiments.archives``: its runs, how many of them the shipped file holds,
    the commits and machine time its manifest records, and the pages that show it."""
    shown = archive_pages()
    rows = []
    for name, a in ARCHIVES.items():
        row = {"archive": name, "what": a.title, "runs": len(a.configs()), "held": 0, "state": "not exported",
               "commits": "", "wall h": None, "training h": None, "pages": ", ".join(shown.get(name, []))}
        if a.csv_path.is_file():
            held = set(read_runs(a.csv_path)["run_id"]) & a.run_ids()
            meta = json.loads(a.manifest_path.read_text()) if a.manifest_path.is_file() else {}
            row.update(held=len(held), commits=", ".join(c[:12] for c in meta.get("commits", {})),
                       **{"wall h": meta.get("wall_time_h"), "training h": meta.get("train_time_h")},
                       state="complete" if len(held) == row["runs"] else
                       "made by earlier run definitions" if not held else "partial")
        rows.append(row)
    return pd.DataFrame(rows)


def held_words(name: str, code: bool = True, companion: str | None = None) -> str:
    """What archive `name` holds, from its manifest at build time, for a page's prose: ``"lfmc_paper: 220
    of 1,100 runs (partial: 10 folds x seed 0)"``; with `companion` ("histories", "predictions", "features"),
    how many runs keep that kind of companion data is added. Never typed: it changes as the archive grows."""
    from mdico_core.experiments.archive_files import read_manifest
    from mdico_core.experiments.archives import get_archive
    from mdico_core.reporting.book.provenance import describe_grid

    if name not in ARCHIVES:  # a CSV of one's own (a path): what it holds, from its rows
        runs = read_runs(name).drop_duplicates("run_id")
        seeds = sorted(int(x) for x in runs["seed"].dropna().unique())
        grid = (f"{runs['fold'].nunique()} folds x seed{'s' if len(seeds) > 1 else ''} "
                f"{describe_grid(seeds)}")
        shown = f"`{Path(name).name}`" if code else Path(name).name
        return f"{shown}: {len(runs):,} runs ({grid})"
    a = get_archive(name)
    info = read_manifest(a) or {}
    held, defined = info.get("runs_exported", 0), info.get("runs_defined", len(a.configs()))
    missing = set(info.get("missing_run_ids") or ())
    kept = [c for c in a.configs() if c.run_id not in missing] if info else []
    seeds = sorted({c.seed for c in kept})
    grid = (f"{len({c.fold for c in kept})} folds x seed{'s' if len(seeds) > 1 else ''} {describe_grid(seeds)}"
            if kept else "not exported")
    shown = f"`{name}`" if code else name  # glued text is plain: no Markdown there
    failed = len(info.get("failed_runs") or ())  # held as outcomes: the analyses use the other runs
    grid += f"; {failed} of them failed twice the same way, held as that outcome" if failed else ""
    words = f"{shown}: {held:,} of {defined:,} runs" + (f" (partial: {grid})" if info.get("partial") else f" ({grid})")
    if companion:
        words += f", {(info.get('companion_runs') or {}).get(companion, 0)} of them with their {companion}"
    return words
