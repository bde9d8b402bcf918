"""A notebook's read-only view of the results store: its planned runs, their metrics, failures, provenance.

A page never trains. ``mdico book`` (and ``mdico run``) fill the store first; a page whose runs
are missing says so in its banner, with the exact command that fills the store for it
(`fill_command`), and shows what is there.

`ResultsPage` is the interface every results notebook uses; the live `Page` (from the store) and
``archive.ArchivedPage`` (from an archived sweep) both implement it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mdico_core._util import ParameterError, as_fold, as_seed, display_path, format_list, parse_list
from mdico_core.data.availability import Resolution, resolve_all
from mdico_core.reporting.book import book_plan
from mdico_core.reporting.book.provenance import provenance_banner, record_versions, settings_text
from mdico_core.reporting.core import paper
from mdico_core.reporting.core.format import span

if TYPE_CHECKING:
    import pandas as pd

    from mdico_core.experiments.profile import Profile


@runtime_checkable
class ResultsPage(Protocol):
    """What a results notebook reads, from the live store or from an archived sweep."""

    datasets: Mapping[str, Resolution]  # paper benchmark -> what ran for it, and why
    store: Any  # ``has`` / ``arrays`` / ``history`` per run: the results store, or an archive's companion data

    def configs_where(self, **match: Any) -> list:
        """The page's runs (objects with the ``RunConfig`` fields and ``run_id``) whose fields equal `match`."""
        ...

    def frame(self) -> pd.DataFrame:
        """Tidy metrics of the page's runs (``ResultsStore.collect`` columns)."""
        ...

    def failures(self) -> pd.DataFrame:
        """The page's runs that crashed or were not reproduced: run, status, message."""
        ...

    def missing(self) -> list:
        """The page's planned runs that are not in the store (none for an archive)."""
        ...

    def targets(self) -> list[tuple[str, str, str]]:
        """(label, registry dataset, kind) per dataset shown."""
        ...

    def code_versions(self, **match: Any) -> list[str]:
        """Distinct code versions the runs (matching `match`) were made with."""
        ...

    def banner(self, datasets: Mapping[str, Resolution] | None = None, rerun: str | None = None,
               **match: Any) -> str:
        """The provenance banner of the page, or of its runs matching `match`, ending with `rerun` (the
        page's "Re-run this page" line; None: the page's own where it knows it, "" none)."""
        ...


def run_label(config: Mapping[str, Any], fold_seed: bool = True) -> str:
    """A short name of a run config dict (dataset, method/variant, encoder, protocol, its settings where not
    the common ones, and with `fold_seed` its fold and seed)."""
    v = config.get("variant", "default")
    fold = config.get("fold")
    settings = config.get("settings")
    label = (f"{config.get('dataset')} {config.get('method')}{'' if v == 'default' else '/' + v} "
             f"{config.get('encoder')} {config.get('protocol')}"
             + (f" ({settings} settings)" if settings and settings != "common" else ""))
    if not fold_seed:
        return label
    return f"{label} {'official split' if fold is None else f'fold {fold}'} seed {config.get('seed')}"


_LISTED = 3  # up to this many failed runs of a group are named one by one; more are summarised


def failure_table(failed: Sequence[tuple[Mapping[str, Any], str | None, str | None]]) -> pd.DataFrame:
    """Failed or not-reproduced runs as (config dict, status, message), one row per group of runs
    that differ only in fold and seed and failed alike: a method that cannot be reproduced is one
    row ("folds 0–9 × seeds 0–2, 30 runs"), not one per run. Columns run, status, message."""
    import pandas as pd

    groups: dict[tuple[str, str | None, str | None], list[Mapping[str, Any]]] = {}
    for cfg, status, message in failed:
        groups.setdefault((run_label(cfg, fold_seed=False), status, message), []).append(cfg)
    rows = []
    for (label, status, message), cfgs in groups.items():
        folds = {c.get("fold") for c in cfgs}
        seeds = {c.get("seed") for c in cfgs}
        if len(cfgs) <= _LISTED or None in folds:
            runs = "; ".join(run_label(c)[len(label) + 1:] for c in cfgs)
        elif len(cfgs) != len(folds) * len(seeds):  # not a whole grid: counted, never a wall of run names
            runs = f"{len(cfgs)} runs of folds {span(folds)} and seeds {span(seeds)}"
        else:
            runs = (f"fold{'s' * (len(folds) > 1)} {span(folds)} × seed{'s' * (len(seeds) > 1)} {span(seeds)}, "
                    f"{len(cfgs)} runs")
        rows.append({"run": f"{label} {runs}", "status": status, "message": message})
    return pd.DataFrame(rows, columns=["run", "status", "message"])


def targets_of(datasets: Mapping[str, Resolution]) -> list[tuple[str, str, str]]:
    """(label, registry name, kind) per dataset to show, benchmarks that ran on one dataset merged
    (``"CropH-b / CropH-m"`` on one synthetic set), absent ones kept with their own label."""
    merged: dict[tuple[str, str], list[str]] = {}
    for bench, res in datasets.items():
        key = (bench, res.kind) if res.kind == "absent" else (res.dataset, res.kind)
        merged.setdefault(key, []).append(paper.NAMES.get(bench, bench))
    return [(" / ".join(names), name, kind) for (name, kind), names in merged.items()]


def shell_path(path: str | os.PathLike[str]) -> str:
    """`path` as `display_path` shows it, quoted for a shell where needed (``$MDICO_RESULTS_DIR`` and
    ``~`` left outside the quotes, so that the shell still expands them)."""
    shown = display_path(path)
    head, sep, rest = shown.partition("/")
    if head.startswith(("$", "~")):
        return head + sep + (shlex.quote(rest) if rest else "")
    return shlex.quote(shown)


def fill_command(notebook: str, profile: str, dataset: str | Sequence[str] | None = None,
                 seeds: Sequence[int] | None = None, folds: Sequence[int | None] | None = None,
                 results_dir: str | None = None) -> str:
    """The command line that trains the runs page `notebook` reads, and nothing else.

    ``mdico book --only <page> --sweep-only`` where the page is one of the book's; a page given
    other datasets than the book plan's is filled through ``bookbuild.fill_store``.
    """
    plan = book_plan.book_plan(profile)
    datasets = parse_list(dataset)
    if notebook == book_plan.MAIN:
        only = f"{notebook}_{datasets[0]}" if datasets and len(datasets) == 1 and datasets[0] in paper.BENCHMARKS \
            else None
    else:
        default = book_plan.page_benchmarks(notebook, plan)
        only = notebook if datasets is None or datasets == default else None
    if only is not None:
        args = ["mdico book", f"--profile {profile}", f"--only {only}"]
        args += [f"--seeds {format_list(seeds)}"] if seeds else []
        args += [f"--folds {format_list(folds)}"] if folds else []
        args += [f"--results {shell_path(results_dir)}"] if results_dir else []
        return " ".join([*args, "--sweep-only"])
    kwargs = [repr(notebook), repr(profile), f"dataset={format_list(datasets)!r}"]
    kwargs += [f"seeds={format_list(seeds)!r}"] if seeds else []
    kwargs += [f"folds={format_list(folds)!r}"] if folds else []
    kwargs += [f"results_dir={display_path(results_dir)!r}"] if results_dir else []
    return f'python -c "from mdico_core.bookbuild import fill_store; fill_store({", ".join(kwargs)})"'


def spot_check_note(benchmark: str, registry: str, archive: str | None) -> str:
    """On a live main-results page (`archive` None) of a benchmark whose archive holds the dataset that
    ran (`registry`): that the page's runs are the reader's re-run, and where the evidence is ("" otherwise)."""
    from mdico_core.experiments.archives import get_archive

    name = book_plan.ARCHIVED.get(benchmark)
    if archive or name is None or get_archive(name).dataset != registry:
        return ""
    return (f"The evidence for this table is the archived paper-protocol sweep `{name}`, on "
            f"[this table's archived page]({page_name(book_plan.MAIN, benchmark, name)}.html); the runs here are "
            "this build's re-run, which that page checks cell by cell.")


def page_name(notebook: str, dataset: str | Sequence[str] | None = None, archive: str | None = None) -> str:
    """The book's name of the page that `notebook` makes with these parameters (``02_main_results_lfmc``)."""
    if notebook == book_plan.MAIN and isinstance(dataset, str) and dataset:
        return f"{notebook}_{dataset}" + ("_archived" if archive else "")
    return notebook


def rerun_commands(notebook: str, profile: str | None, dataset: str | Sequence[str] | None = None,
                   seeds: Sequence[int] | None = None, folds: Sequence[int | None] | None = None,
                   results_dir: str | None = None, archive: str | None = None) -> str:
    """The Markdown lines that say how to re-run this page: ``mdico book --only`` and papermill.

    Both re-execute the notebook with these parameters; ``mdico book`` also trains the runs the
    store lacks first, papermill only reads the store. A page built from an `archive` reads it as its
    primary table and checks the reader's re-run at `profile` against it (``evidence.show_rerun``).
    Paths are shown as `shell_path` does (repository-relative or ``$MDICO_RESULTS_DIR``), never as
    the builder's machine names them.
    """
    name = page_name(notebook, dataset, archive)
    book = ["mdico book", *([f"--profile {profile}"] if profile else []), f"--only {name}"]
    pm = ["papermill", f"notebooks/{notebook}.ipynb", f"{name}.ipynb", "-k mdico",
          *([f"-p profile {profile}"] if profile else [])]
    if notebook == book_plan.MAIN and isinstance(dataset, str) and dataset:
        pm.append(f"-p dataset {dataset}")
    elif dataset:
        pm.append(f"-p datasets {format_list(parse_list(dataset))}")
    if archive:
        pm.append(f"-p archive {display_path(archive) if '/' in str(archive) else archive}")
    for flag, values in (("seeds", seeds), ("folds", folds)):
        if values:
            book.append(f"--{flag} {format_list(values)}")
            pm.append(f"-p {flag} {format_list(values)}")
    if results_dir:
        shown = shell_path(results_dir)
        book.append(f"--results {shown}")
        pm.append(f"-p results_dir {shown}")
    what = "your re-run's runs" if archive else "the runs"
    return (f"**Re-run this page:** `{' '.join(book)}` (first trains {what} the results store lacks) or "
            f"`{' '.join(pm)}` (only reads {'the archive and ' if archive else ''}the store). Other seeds or "
            f"folds: `-p seeds 7,8` or `-y \"seeds: [7, 8]\"` (papermill), `--seeds 7,8` (mdico book).")


@dataclass
class Page:
    """One notebook's runs in the results store (read-only), with what its provenance banner needs.

    Built by `page`. Notebooks read `frame` (tidy metrics of exactly these runs), `records`, and
    the store's arrays and histories of `configs_where`.
    """

    notebook: str
    profile: Profile
    store: Any  # ResultsStore
    configs: list
    seeds: tuple[int, ...] | None
    folds: tuple[int | None, ...] | None
    datasets: dict[str, Resolution]
    dataset: str | tuple[str, ...] | None = None  # the notebook's own dataset parameter, as given
    archive: str | None = None  # the notebook's archive parameter: the page's primary table, this page beside it

    def configs_where(self, **match: Any) -> list:
        """This page's run configs whose fields equal `match` (e.g. ``method="mdico"``)."""
        return [c for c in self.configs if all(getattr(c, k) == v for k, v in match.items())]

    def records(self, **match: Any) -> list[dict]:
        """Stored records of this page's runs whose config fields equal `match`."""
        return [r for r in (self.store.get(c) for c in self.configs_where(**match)) if r is not None]

    def missing(self) -> list:
        """Planned runs of this page not in the store (never run, still running, or crashed)."""
        return [c for c in self.configs if not self.store.has(c)]

    def targets(self) -> list[tuple[str, str, str]]:
        """(label, registry name, kind) per dataset to show (see `targets_of`)."""
        return targets_of(self.datasets)

    def frame(self) -> pd.DataFrame:
        """Tidy metrics (``ResultsStore.collect`` columns) of this page's runs only."""
        import pandas as pd

        from mdico_core.experiments.records import COLUMNS

        ids = {c.run_id for c in self.configs}
        parts = [self.store.collect(d) for d in dict.fromkeys(c.dataset for c in self.configs)]
        parts = [p[p["run_id"].isin(ids)] for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)

    def failures(self) -> pd.DataFrame:
        """Runs of this page that crashed or were not reproduced, with their message."""
        ids = {c.run_id for c in self.configs}
        return failure_table([(f.get("config") or {}, f.get("status"), f.get("message"))
                              for f in self.store.failures() if f.get("run_id") in ids])

    def code_versions(self, **match: Any) -> list[str]:
        """Distinct code versions the stored runs (matching `match`) were made with."""
        return record_versions(self.records(**match))

    def fill_command(self) -> str:
        """The command that trains this page's missing runs (see `fill_command`)."""
        return fill_command(self.notebook, self.profile.name, self.dataset, self.seeds, self.folds,
                            self._given_root())

    def banner(self, datasets: Mapping[str, Resolution] | None = None, rerun: str | None = None,
               **match: Any) -> str:
        """The provenance banner for this page, or for its runs matching `match`; it says which runs
        the store lacks and the command that trains them, and ends with how to re-run the page
        (`rerun`; None: `rerun_commands`, "" no such line)."""
        cfgs = self.configs_where(**match)
        shown = datasets or self.datasets
        grids = [self.profile.grid_for(r.dataset) for r in shown.values() if r.kind != "absent"]
        n_folds = grids[0][1] if grids else self.profile.n_folds
        folds = (sorted({c.fold for c in cfgs}, key=lambda f: -1 if f is None else f) if cfgs
                 else self.folds or self.profile.folds)
        seeds = sorted({c.seed for c in cfgs}) if cfgs else self.seeds or self.profile.seeds
        records = self.records(**match)
        text = provenance_banner(self.profile.name, shown, folds, seeds, len(records), record_versions(records),
                                 n_folds=n_folds)
        import pandas as pd

        twin = book_plan.book_plan(self.profile).archive_check_profile
        if twin and self.folds is None and cfgs:
            text += (f"\n>\n> **Budget.** The runs on archived data are runs of the archive itself (profile "
                     f"`{twin}`), each re-made here and compared with its archived twin run by run.")
        text += "\n>\n> **Settings.** " + settings_text(pd.DataFrame(
            [{"method": c.method, "settings": c.settings, "monitor": c.train.monitor} for c in cfgs],
            columns=["method", "settings", "monitor"]))
        ids = {c.run_id for c in cfgs}
        missing = [c for c in self.missing() if c.run_id in ids]
        if missing:
            text += (f"\n>\n> **{len(missing)} of {len(cfgs)} planned runs are not in the results store** "
                     f"(`{display_path(self.store.root)}`), so this page shows only what is there; pages never "
                     f"train. Train them with `{self.fill_command()}`, then re-run this notebook.")
        rerun = self.rerun_commands() if rerun is None else rerun
        return text + (f"\n>\n> {rerun}" if rerun else "")

    def rerun_commands(self) -> str:
        """How to re-run this page (see `rerun_commands`)."""
        return rerun_commands(self.notebook, self.profile.name, self.dataset, self.seeds, self.folds,
                              self._given_root(), self.archive)

    def _given_root(self) -> str | None:
        """The results store when it is not the default one (``$MDICO_RESULTS_DIR`` or ``<repo>/results``)."""
        from mdico_core.experiments.store import default_root

        return None if self.store.root.resolve() == default_root().resolve() else str(self.store.root)


def page(notebook: str, profile: str | Profile = "quick", dataset: str | Sequence[str] | None = None,
         seeds: str | Sequence[int] | None = None, folds: str | Sequence[int | None] | None = None,
         results_dir: str | None = None, archive: str | None = None) -> Page:
    """The `Page` of `notebook`: its planned runs at `profile`, read from ``ResultsStore(results_dir)``.

    Parameters are the notebooks' own (seeds / folds may be ``"5,6"`` / ``"0,official"`` strings;
    `dataset` the page's paper benchmark(s); `archive` only names the page in its re-run line); the
    store defaults to ``$MDICO_RESULTS_DIR`` or ``<repo>/results``. Nothing is trained.
    """
    from mdico_core.experiments.store import ResultsStore

    seeds_t, folds_t = parse_list(seeds, as_seed, "seeds"), parse_list(folds, as_fold, "folds")
    try:  # a value no page can mean is one line for the reader, not a traceback
        prof = book_plan.load_profile(profile)
        plan = book_plan.page_plan(notebook, book_plan.book_plan(prof), dataset)
        cfgs = book_plan.configs(notebook, prof, dataset, seeds_t, folds_t)
        datasets = resolve_all(book_plan.page_benchmarks(notebook, plan, dataset), plan.synthetic_fallback)
    except ParameterError:
        raise
    except ValueError as err:
        raise ParameterError(str(err)) from None
    given = dataset if isinstance(dataset, str) or dataset is None else tuple(dataset)
    return Page(notebook, prof, ResultsStore(results_dir), cfgs, seeds_t, folds_t, datasets, given, archive or None)
