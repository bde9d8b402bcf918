"""What the book runs: the runs each page needs at a profile.

``mdico book`` (``mdico_core.bookbuild``) sweeps ``all_configs(profile)`` into the results store,
then executes the notebooks, which only read it. Runs are content-hashed, so the same (dataset,
method, variant, encoder, protocol, fold, seed, budget) is trained once, whichever page asks
for it.

Pages name paper benchmarks; each resolves to the registry dataset that runs for it (the real
data, else a real stand-in, else, where the plan allows it, labelled synthetic data, else
nothing: the page then shows the paper's numbers and how to get the data).

Which pages there are, and what each runs, is its record in ``pages.PAGES`` (`Page.runs`, a
function of the page's `BookPlan`); this module makes the runs a record asks for, and re-exports the
registry's views that other code reads (`NOTEBOOKS`, `PAGE_ARCHIVES`, `ARCHIVED`, `page_archives`).

How much each page runs at each profile is the `BookPlan` below (`BOOK_PLANS`, by profile name).
A `Profile` object with a ``book`` attribute (a mapping of `BookPlan` field names) overrides it;
the profiles' yaml loader does not read such a key yet, so the constants here are the calibration.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from mdico_core._util import parse_list
from mdico_core.reporting.book.pages import (  # noqa: F401 (the page constants, re-exported)
    BEYOND,
    FINDINGS,
    MAIN,
    OWN_METHOD,
    OWN_METHOD_FILE,
    OWN_METHOD_NAME,
    PAGES,
    REPRODUCIBILITY,
    Ask,
    dedupe,
    notebooks,
    register_own_method,
)
from mdico_core.reporting.core import paper

if TYPE_CHECKING:  # the experiments package is imported lazily, at call time
    from mdico_core.experiments.config import RunConfig
    from mdico_core.experiments.profile import Profile

# Views of the page records (``pages.PAGES``), computed on each access so that they follow the
# registry: ``NOTEBOOKS`` (the notebooks in build order, less the reproducibility page, which runs
# last); ``PAGE_ARCHIVES`` (the archive each analysis page shows as its primary table, its
# notebook's `archive` parameter: a comma-separated list where a page shows several, `page_archives`;
# the reader's re-run of the page's runs at the build's profile is shown beside it); ``ARCHIVED``
# (sweeps too long for a laptop build, run once at the paper's protocol and archived,
# ``experiments.archives``, ``mdico archive export``: a benchmark here gets a second main-results page
# built from its archive, 02_main_results_<benchmark>_archived, beside the page the build runs).
_VIEWS = {
    "NOTEBOOKS": notebooks,
    "PAGE_ARCHIVES": lambda: {nb: ",".join(p.archives) for nb, p in PAGES.items() if p.archives},
    "ARCHIVED": lambda: {b: a for p in PAGES.values() for b, a in p.archived},
}


def __getattr__(name: str) -> Any:
    if name in _VIEWS:
        return _VIEWS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def page_archives(notebook: str) -> tuple[str, ...]:
    """The names of the archives page `notebook` shows (its record's), none for a page without."""
    page = PAGES.get(notebook)
    return page.archives if page is not None else ()


@dataclass(frozen=True)
class BookPlan:
    """How much each page runs; names are paper benchmarks (resolved to real / stand-in data).

    Attributes:
        main_datasets: one main-results page each (02), and the Table 7 columns (04).
        ablation_datasets, ablation_variants: Table 6 (03); MDiCo variants beside Individual.
        encoder_datasets, encoders: Fig. 3 / A1 / A2 (05), MDiCo and Individual per encoder.
        tsne_datasets: Fig. 4 / A3 / A4 (06).
        loss_datasets: Fig. 5 / A5 (07).
        map_datasets: Fig. A6-A8 (08).
        released_datasets: the released-code comparison (09): the runs of archive ``lfmc_released``'s
            parts (each difference alone, the protocols, the monitor study) at the book's profile.
        beyond_archives, beyond_methods: "Beyond the paper" (10): the runs of these of its archives
            (None: all of `page_archives`), of these methods only (None: every run of them).
        released_cells: the (variant, protocol) cells of archive ``lfmc_released`` that page 09 re-runs,
            each under its method's own early-stopping monitor; None: every run of the archive.
        own_method_datasets, own_method_folds: "Add your own method" (11): the example method
            (`OWN_METHOD_FILE`), Individual and MDiCo on these benchmarks and folds (None: as every page's
            runs; at quick, fold 0 twins of archived runs, the test being on archive ``lfmc_own_method``).
        synthetic_fallback: run labelled synthetic data where neither the benchmark nor a stand-in
            is present (tests and smoke builds; the numbers then mean nothing against the paper).
        archive_check_folds: folds of the runs that re-check an archive: the secondary studies (03
            ablation, 05 encoders, 09 released code, Beyond) and, on every page, the datasets of the
            `ARCHIVED` benchmarks (LFMC, the CropHarvest stand-ins), whose evidence is their archive;
            None: the profile's. Folds given to the book explicitly (``--folds``) win.
        archive_check_profile: the budget of those runs: the archives' own profile ("paper"), so that
            each is the twin of an archived run (the same run id) and the page checks it run by run
            (``concordance.check_runs``: bitwise on the archive's CPU kind, within the measured
            cross-CPU tolerance on another); None: the build's profile (no twin, only a spread check).
    """

    main_datasets: tuple[str, ...] = paper.BENCHMARKS
    ablation_datasets: tuple[str, ...] = ("lfmc", "croph_b", "croph_m")
    ablation_variants: tuple[str, ...] = paper.ABLATION_VARIANTS
    encoder_datasets: tuple[str, ...] = ("lfmc", "croph_b", "croph_m")
    encoders: tuple[str, ...] = paper.ENCODERS
    tsne_datasets: tuple[str, ...] = ("tsaits", "croph_b", "croph_m", "lfmc")
    loss_datasets: tuple[str, ...] = ("croph_m", "lfmc", "croph_b")
    map_datasets: tuple[str, ...] = ("croph_b", "lfmc")
    released_datasets: tuple[str, ...] = ("lfmc",)
    beyond_archives: tuple[str, ...] | None = None
    beyond_methods: tuple[str, ...] | None = None
    released_cells: tuple[tuple[str, str], ...] | None = None
    own_method_datasets: tuple[str, ...] = ("lfmc",)
    own_method_folds: tuple[int, ...] | None = None
    synthetic_fallback: bool = False
    archive_check_folds: tuple[int, ...] | None = None
    archive_check_profile: str | None = None


# Defaults per profile. At quick, every page's evidence is an archive (`ARCHIVED`, `PAGE_ARCHIVES`:
# LFMC, the CropHarvest stand-ins, Beyond), and the build re-runs a spot check of it: runs of the
# archive itself (fold 0, seed 0, at the archive's profile), each compared with its archived twin
# run by run, which makes one run a strong check (same CPU kind: bitwise equal). Which runs, per page:
# every method on each archived benchmark (each method's code path once); of the secondary studies,
# the cells whose every archived twin trained in under `QUICK_CHECK_CAP_S` on the archive's machine
# (ablation variants no_cont, unpaired, shared_encoders; encoders mlp and lstm beside the default
# TempCNN; a test re-derives them from the archives: they are fixed by cost, never by a result);
# the released code as a whole (page 09), Individual and MDiCo on mfeat's six views (Beyond), and
# the own method at fold 0 (its paired test is on its archive, `lfmc_own_method`).
# The plan's expected time is `benchmarks/plan_budget.py`'s, held under 10 minutes by a test. A
# benchmark without an archive (the real CropHarvest or TreeSatAI-TS, once downloaded) runs the
# profile's folds. The smoke profile (tests) runs everything once at a few optimiser steps.
_BEYOND_SLICE = {"beyond_archives": ("mfeat_methods",), "beyond_methods": ("individual", "mdico")}
QUICK_CHECK_CAP_S = 40.0
"""The archived training time under which a secondary study's cell is re-run at quick (a test checks the plan)."""
BOOK_PLANS: dict[str, BookPlan] = {
    "smoke": BookPlan(ablation_datasets=("lfmc",), encoder_datasets=("lfmc",), synthetic_fallback=True,
                      **_BEYOND_SLICE),
    "quick": BookPlan(ablation_datasets=("lfmc",), ablation_variants=("no_cont", "unpaired", "shared_encoders"),
                      encoder_datasets=("lfmc",), encoders=("tempcnn", "mlp", "lstm"), archive_check_folds=(0,),
                      archive_check_profile="paper",
                      released_cells=(("released", "released"), ("default", "paper")), **_BEYOND_SLICE),
    "paper": BookPlan(),
}


def load_profile(profile: str | Profile) -> Profile:
    """The budget profile named `profile` (a `Profile` is returned as is)."""
    from mdico_core.experiments.profile import load_profile as load

    return load(profile) if isinstance(profile, str) else profile


def book_plan(profile: str | Profile) -> BookPlan:
    """The `BookPlan` of `profile`: the defaults above, overridden by the profile's ``book`` mapping."""
    prof = load_profile(profile)
    plan = BOOK_PLANS.get(prof.name, BookPlan())
    overrides: dict[str, Any] = dict(getattr(prof, "book", None) or {})
    valid = {f.name for f in fields(BookPlan)}
    unknown = set(overrides) - valid
    if unknown:
        raise ValueError(f"profile {prof.name!r}: unknown book plan field(s) {sorted(unknown)}; "
                         f"valid fields: {sorted(valid)}")
    return replace(plan, **{k: (v if isinstance(v, bool) or v is None else tuple(v)) for k, v in overrides.items()})


def page_plan(notebook: str, plan: BookPlan, datasets: str | Sequence[str] | None) -> BookPlan:
    """`plan` with the page's datasets (its record's `Page.datasets` field) replaced by `datasets`
    (a notebook parameter), if given."""
    names = parse_list(datasets)
    page = PAGES.get(notebook)
    if names is None or page is None or page.datasets is None:
        return plan
    return replace(plan, **{page.datasets: names})


def page_benchmarks(notebook: str, plan: BookPlan, dataset: str | Sequence[str] | None = None) -> tuple[str, ...]:
    """The paper benchmarks page `notebook` shows (02: its one `dataset`, or every main dataset)."""
    page = PAGES.get(notebook)
    if page is not None and page.benchmarks is not None:
        return page.benchmarks(plan, dataset)
    if page is not None and page.datasets is not None:
        return tuple(getattr(page_plan(notebook, plan, dataset), page.datasets))
    return paper.BENCHMARKS


def _runnable(names: Iterable[str], plan: BookPlan) -> list[str]:
    """Registry names to run for paper benchmarks `names`, deduplicated, absent ones dropped."""
    from mdico_core.data.availability import resolve

    out = []
    for n in names:
        res = resolve(n, plan.synthetic_fallback)
        if res.kind != "absent" and res.dataset not in out:
            out.append(res.dataset)
    return out


def configs(notebook: str, profile: str | Profile = "quick", dataset: str | Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, folds: Sequence[int | None] | None = None) -> list[RunConfig]:
    """The runs `notebook` reads at `profile`: its record's (``pages.PAGES``) `Page.runs`.

    `dataset`: for 02_main_results, the one paper benchmark of the page (None: every page's runs);
    for the other pages, paper benchmarks replacing the book plan's (a list or ``"a,b"``).

    `seeds` / `folds` of None mean the profile's. Pages that only read runs made by others
    (04 reads the MDiCo runs of 02; 06-08 read Individual and MDiCo runs) ask for those same runs,
    so each page can also be filled on its own.
    """
    from mdico_core.data import get_dataset_entry

    prof = load_profile(profile)
    plan = page_plan(notebook, book_plan(prof), dataset)
    page = PAGES.get(notebook)
    if page is None:
        raise ValueError(f"unknown notebook {notebook!r}; valid notebooks: {', '.join(notebooks())}")
    checked = _archived_datasets() if folds is None and plan.archive_check_folds is not None else set()
    # the archives' own budget for the runs that re-check an archive, so each has an archived twin
    twin = load_profile(plan.archive_check_profile) if folds is None and plan.archive_check_profile else None
    if folds is None and page.rechecks_archive:
        folds = plan.archive_check_folds
    check = twin or prof
    # a twin has the build's seeds (quick: 0), not the archive part's; else None keeps the part's own
    check_seeds = list(seeds if seeds is not None else prof.seeds) if twin is not None else seeds

    def runs(datasets: Iterable[str], methods: Sequence[str], **extra: Any) -> list[RunConfig]:
        out = []
        for d in _runnable(datasets, plan):
            # a dataset with an official split is run on it, whatever folds were asked for the book
            f = None if get_dataset_entry(d).official_split else plan.archive_check_folds if d in checked else folds
            if d in checked or page.rechecks_archive:
                out += check.configs(d, methods, **extra, seeds=check_seeds, folds=f)
            else:
                out += prof.configs(d, methods, **extra, seeds=seeds, folds=f)
        return out

    if page.runs is None:  # it reads archives and data only
        return []
    return page.runs(Ask(prof, plan, dataset, seeds, folds, runs, lambda names: _runnable(names, plan),
                         check, check_seeds))


def _archived_datasets() -> set[str]:
    """The registry datasets of the benchmarks with an archived paper-protocol sweep (`ARCHIVED`)."""
    from mdico_core.experiments.archives import get_archive

    return {get_archive(name).dataset for p in PAGES.values() for _, name in p.archived}


def _cell(values: Sequence[Any]) -> tuple[str, ...]:
    """A run's cell as text, modalities (last) sorted, "" for none: the same from a config and an archive row."""
    *head, modalities = ("" if v is None or (isinstance(v, float) and v != v) else v for v in values)
    mods = modalities.split(",") if isinstance(modalities, str) else list(modalities)
    return (*map(str, head), ",".join(sorted(m for m in mods if m)))


def longest_first(cfgs: Sequence[RunConfig]) -> list[RunConfig]:
    """`cfgs` with the longest expected runs first, so that the workers of a sweep finish together
    instead of one training the last long run alone.

    A run's expected time is the mean training time of its cell (the keys the re-run check matches
    on, ``compare.RERUN_KEYS``, less view and metric) in the shipped archives of its datasets: at
    the paper profile, so longer than a quick run, but in about the same proportion. Runs of a cell
    no archive holds go first (their time is unknown); ties keep the given order.
    """
    import pandas as pd

    from mdico_core.experiments.archives import ARCHIVES
    from mdico_core.reporting.core.compare import RERUN_KEYS

    keys = [k for k in RERUN_KEYS if k not in ("view", "metric")]  # modalities last
    wanted = {c.dataset for c in cfgs}
    frames = [pd.read_csv(a.csv_path, usecols=[*keys, "run_id", "wall_time_s"], dtype=str)
              for a in ARCHIVES.values() if a.dataset in wanted and a.csv_path.is_file()]
    known: dict[tuple[str, ...], float] = {}
    if frames:
        runs = pd.concat(frames).drop_duplicates("run_id")
        runs["cell"] = [_cell(v) for v in runs[keys].itertuples(index=False)]
        known = runs.assign(t=pd.to_numeric(runs["wall_time_s"])).groupby("cell")["t"].mean().to_dict()

    def expected(c: RunConfig) -> float:
        cell = _cell([c.train.monitor if k == "monitor" else getattr(c, k) for k in keys])
        return known.get(cell, float("inf"))

    return sorted(cfgs, key=lambda c: -expected(c))


def all_configs(profile: str | Profile = "quick", seeds: Sequence[int] | None = None,
                folds: Sequence[int | None] | None = None) -> list[RunConfig]:
    """Every run the whole book needs at `profile`, deduplicated by run id, in page order."""
    prof = load_profile(profile)
    return dedupe(c for nb in notebooks() for c in configs(nb, prof, seeds=seeds, folds=folds))


def book_datasets() -> tuple[str, ...]:
    """The registry datasets the book's pages read: those of every archive a page shows (`ARCHIVED`,
    `PAGE_ARCHIVES`), whose runs the book re-runs. ``make data`` (``mdico data fetch book``) gets these;
    the paper's own benchmarks that need GBs (CropHarvest, TreeSatAI-TS) are fetched by name."""
    from mdico_core.experiments.archives import get_archive

    names = [*(a for p in PAGES.values() for _, a in p.archived), *(a for p in PAGES.values() for a in p.archives)]
    return tuple(dict.fromkeys(get_archive(n).dataset for n in names))
