"""The book's pages, one record each: `PAGES`, by notebook name, in build order.

A `Page` says all the book needs to know of a page: its notebook and title, its section of the
table of contents, the archives it shows, the runs it needs at a profile (a small function of an
`Ask`), the paper's artefacts it regenerates (for ``notes``), and, derived from
``paper_claims.CLAIMS``, the claims it evidences. The book plan (``book_plan.configs``), the
notes, the sweep and page list of ``mdico book`` (``bookbuild.pages``) and the toc check
(`toc_mismatches`, run by the tests) read this registry; adding a page is one record here and
one notebook (CONTRIBUTING.md, "Add a notebook page").

How much each page runs at each profile is the book plan's calibration (``book_plan.BookPlan``);
a record names its field (`Page.datasets`) and reads the others through ``Ask.plan``. This
module imports nothing of the book plan: ``book_plan`` builds the `Ask` and calls the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdico_core._util import repo_root
from mdico_core.reporting.core import paper

if TYPE_CHECKING:
    from mdico_core.experiments.config import RunConfig
    from mdico_core.experiments.profile import Profile
    from mdico_core.reporting.core.paper_claims import Claim

FINDINGS = "00_findings"  # "What replicates": the paper's claims tested on the archives (`findings`)
MAIN = "02_main_results"  # executed once per paper benchmark
BEYOND = "10_beyond"  # "Beyond the paper": more than two modalities, and data that is not EO
OWN_METHOD = "11_own_method"  # "Add your own method": a method defined outside the package, run and paired
REPRODUCIBILITY = "reproducibility"  # the book's reproducibility page, also a notebook, executed last
# that page's method: a file beside its notebook, registered as a user's would be (``$MDICO_METHODS``)
OWN_METHOD_FILE = repo_root() / "notebooks" / "modality_dropout.py"
OWN_METHOD_NAME = "modality_dropout"
TOC = repo_root() / "book" / "_toc.yml"


@dataclass(frozen=True)
class Ask:
    """What a page's run function is given: the profile, the page's plan, its parameters, and the
    book plan's way of making runs (``book_plan.configs`` builds it).

    Attributes:
        profile: the budget profile (``experiments.profile.Profile``).
        plan: the page's ``book_plan.BookPlan`` (its `Page.datasets` field replaced by its parameter).
        dataset: the page's ``dataset`` / ``datasets`` parameter (None: the plan's).
        seeds, folds: None: the profile's. For a page that re-checks its archive
            (`Page.rechecks_archive`), `folds` defaults to the plan's ``archive_check_folds``.
        runs: ``runs(datasets, methods, **extra)``: the profile's runs of `methods` on the paper
            benchmarks `datasets` that resolve to data here, at the folds the plan gives each.
        runnable: the registry datasets that run for paper benchmarks `names` (absent ones dropped).
        check, check_seeds: the profile and seeds of a run that re-checks an archive: the archive's
            own where the plan re-runs twins of archived runs (``BookPlan.archive_check_profile``),
            else the build's.
    """

    profile: Profile
    plan: Any
    dataset: str | Sequence[str] | None
    seeds: Sequence[int] | None
    folds: Sequence[int | None] | None
    runs: Callable[..., list[RunConfig]]
    runnable: Callable[[Iterable[str]], list[str]]
    check: Profile
    check_seeds: Sequence[int] | None


@dataclass(frozen=True)
class Page:
    """One page of the book: a notebook of ``notebooks/`` executed into ``book/generated/``.

    Attributes:
        notebook: the notebook's name, without ``.ipynb``; the generated page's name too (but see
            `per_benchmark`).
        title: its first heading, without ``# `` (a test checks the notebook starts with it).
        section: the caption of its part in ``book/_toc.yml`` (`toc_mismatches` checks it).
        archives: the archives it shows as its primary tables (its notebook's ``archive`` parameter,
            comma-separated); the reader's re-run at the build's profile is shown beside them.
        runs: the runs it reads at a profile, from an `Ask`; None: it reads archives and data only.
        datasets: the ``book_plan.BookPlan`` field naming the paper benchmarks it shows, which its
            ``datasets`` parameter replaces; None: see `benchmarks`.
        benchmarks: ``(plan, dataset) -> benchmarks`` where not `datasets` (None: every benchmark).
        artefacts: (title, benchmark) of each table or figure of the paper it regenerates (``notes``
            boxes those it cannot show).
        rechecks_archive: a secondary study re-checking its archive: its folds default to the plan's
            ``archive_check_folds``.
        per_benchmark: one generated page per paper benchmark (its ``dataset`` parameter), titled
            by its table, and one more per sweep of `archived`.
        archived: (benchmark, archive) of the sweeps archived at the paper's protocol
            (``experiments.archives``); with `per_benchmark`, each gets a page built from its archive
            (``<notebook>_<benchmark>_archived``), beside the page the build runs.
        reports_build: executed last, alone, as it reports the build (not one of ``book_plan.NOTEBOOKS``).
    """

    notebook: str
    title: str
    section: str
    archives: tuple[str, ...] = ()
    runs: Callable[[Ask], list[RunConfig]] | None = None
    datasets: str | None = None
    benchmarks: Callable[[Any, str | Sequence[str] | None], tuple[str, ...]] | None = None
    artefacts: tuple[tuple[str, str], ...] = ()
    rechecks_archive: bool = False
    per_benchmark: bool = False
    archived: tuple[tuple[str, str], ...] = ()
    reports_build: bool = False

    def generated(self) -> list[tuple[str, dict[str, Any]]]:
        """(generated page name, extra notebook parameters) of each page this notebook makes, in reading
        order: per benchmark, the page of its archived sweep (the evidence) before the build's re-run of it."""
        if self.per_benchmark:
            archived = dict(self.archived)
            return [page for d in paper.BENCHMARKS for page in (
                ([(f"{self.notebook}_{d}_archived", {"dataset": d, "archive": archived[d]})] if d in archived else [])
                + [(f"{self.notebook}_{d}", {"dataset": d})])]
        return [(self.notebook, {"archive": ",".join(self.archives)} if self.archives else {})]

    def heading(self, extra: dict[str, Any]) -> str | None:
        """The first heading of generated page `extra` where the build sets it (per benchmark), else None."""
        if not self.per_benchmark:
            return None
        d = extra["dataset"]
        if extra.get("archive"):
            # the protocol, not "full": how much of it the archive holds is on the page, from its manifest
            return f"# {paper.TABLES[d]}: {paper.NAMES[d]} at the paper's protocol (archived sweep)"
        if d in dict(self.archived):  # its evidence is the archived page; this one re-runs a spot check of it
            return f"# {paper.TABLES[d]}: {paper.NAMES[d]}, re-run check of the archived sweep"
        return f"# {paper.TABLES[d]}: {paper.NAMES[d]}"

    @property
    def claims(self) -> tuple[Claim, ...]:
        """The claims of ``paper_claims.CLAIMS`` whose evidence is on one of this notebook's pages."""
        from mdico_core.reporting.core.paper_claims import CLAIMS

        names = {name for name, _ in self.generated()}
        return tuple(c for c in CLAIMS if c.page in names)


# ---------------------------------------------------------------------------------- runs per page
def dedupe(cfgs: Iterable[RunConfig]) -> list[RunConfig]:
    """`cfgs` without repeated run ids, first occurrence kept."""
    seen: dict[str, RunConfig] = {}
    for c in cfgs:
        seen.setdefault(c.run_id, c)
    return list(seen.values())


def _official(dataset: str) -> bool:
    from mdico_core.data import get_dataset_entry

    return bool(get_dataset_entry(dataset).official_split)


def _profile_methods(prof: Profile) -> list[str]:
    """The profile's methods that are registered, with Individual and MDiCo always included."""
    from mdico_core.methods import METHODS

    wanted = ["individual", "mdico", *[m.lower() for m in getattr(prof, "methods", ())]]
    return [m for m in dict.fromkeys(wanted) if m in METHODS]


def _main_runs(ask: Ask) -> list[RunConfig]:
    """Every method of the profile on the page's benchmark (all of the plan's: every page's runs)."""
    if ask.dataset is None:
        return dedupe(c for d in ask.plan.main_datasets for c in ask.runs([d], _profile_methods(ask.profile)))
    return ask.runs([ask.dataset] if isinstance(ask.dataset, str) else ask.dataset, _profile_methods(ask.profile))


def _main_benchmarks(plan: Any, dataset: str | Sequence[str] | None) -> tuple[str, ...]:
    return (dataset,) if isinstance(dataset, str) and dataset else tuple(plan.main_datasets)


def _ablation_runs(ask: Ask) -> list[RunConfig]:
    plan = ask.plan
    return (ask.runs(plan.ablation_datasets, ["individual"])
            + ask.runs(plan.ablation_datasets, ["mdico"], variants=plan.ablation_variants))


def _released_runs(ask: Ask) -> list[RunConfig]:
    """The parts of archive ``lfmc_released`` (only its `released_cells` at a quick plan)."""
    plan, folds = ask.plan, ask.folds
    cells = None if plan.released_cells is None else {tuple(cell) for cell in plan.released_cells}
    return dedupe(c for d in ask.runnable(plan.released_datasets) for part in _released_parts(d)
                  if cells is None or part.monitor is None
                  for c in part.configs(d, ask.check.name, ask.check_seeds, None if _official(d) else folds)
                  if cells is None or (c.variant, c.protocol) in cells)


def _released_parts(dataset: str) -> list:
    """The parts of archive ``lfmc_released`` that run on `dataset`: ``rel_raw_target`` predicts in raw
    LFMC units, so only where the released code has target constants (``mdico.RELEASED_CONFIG``)."""
    from dataclasses import replace as with_

    from mdico_core.experiments.archives import get_archive
    from mdico_core.methods.mdico import RELEASED_CONFIG

    raw = "target_norm" in RELEASED_CONFIG.get(dataset, {})
    parts = []
    for part in get_archive("lfmc_released").parts:
        variants = tuple(v for v in part.variants if raw or v != "rel_raw_target")
        if variants:
            parts.append(with_(part, variants=variants))
    return parts


def beyond_archives(plan: Any) -> list:
    """The archives of "Beyond the paper" whose runs the book re-runs under `plan`."""
    from mdico_core.experiments.archives import get_archive

    names = PAGES[BEYOND].archives if plan.beyond_archives is None else plan.beyond_archives
    return [get_archive(n) for n in names]


def _kept(parts: Iterable[Any], methods: Sequence[str] | None) -> list:
    """`parts` (``archives.Part``) each keeping only `methods` (None: all; "all" spelled out), empty ones dropped."""
    from dataclasses import replace as with_

    from mdico_core.methods import METHODS

    out = []
    for part in parts:
        names = sorted(METHODS) if part.methods == ("all",) else part.methods
        kept = tuple(m for m in names if methods is None or m in methods)
        if kept:
            out.append(with_(part, methods=kept if methods is not None else part.methods))
    return out


def _beyond_runs(ask: Ask) -> list[RunConfig]:
    return dedupe(c for a in beyond_archives(ask.plan) if ask.runnable([a.dataset])
                  for part in _kept(a.parts, ask.plan.beyond_methods)
                  for c in part.configs(a.dataset, ask.check.name, ask.check_seeds, ask.folds))


def _beyond_benchmarks(plan: Any, dataset: str | Sequence[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a.dataset for a in beyond_archives(plan)))


def register_own_method() -> None:
    """Register the own-method page's example method here and, through ``$MDICO_METHODS``, in the
    worker processes and notebook kernels this process starts (the way a user's method file is registered)."""
    from mdico_core.methods.external import register_module

    register_module(str(OWN_METHOD_FILE))


def _own_method_runs(ask: Ask) -> list[RunConfig]:
    """The example method, Individual and MDiCo: at `own_method_folds` where the plan gives them (enough
    for a paired test of the build's runs), else as every page's runs (at quick, the twins of archived runs)."""
    register_own_method()
    methods = ["individual", "mdico", OWN_METHOD_NAME]
    if ask.plan.own_method_folds is None:
        return ask.runs(ask.plan.own_method_datasets, methods)
    out = []
    for d in ask.runnable(ask.plan.own_method_datasets):
        f = ask.folds if ask.folds is not None or _official(d) else ask.plan.own_method_folds
        out += ask.profile.configs(d, methods, seeds=ask.seeds, folds=f)
    return out


def runs_on(field: str, methods: Sequence[str], **extra: str) -> Callable[[Ask], list[RunConfig]]:
    """The runs of `methods` on the benchmarks of BookPlan `field` (`extra`: BookPlan fields by keyword)."""

    def runs(ask: Ask) -> list[RunConfig]:
        return ask.runs(getattr(ask.plan, field), list(methods), **{k: getattr(ask.plan, v) for k, v in extra.items()})

    runs.__doc__ = f"{', '.join(methods)} on the plan's {field}" + (f", each of its {', '.join(extra.values())}"
                                                                   if extra else "")
    return runs


# ---------------------------------------------------------------------------------- the registry
_ANALYSES, _APPENDIX = "Analyses (Tables 6-7, Figures 3-5)", "Appendix"
_ALL = ("lfmc_paper", "algae_blooms_binary_paper", "algae_blooms_paper")
_PAGES = (
    Page(FINDINGS, "What replicates", "What replicates",
         archives=(*_ALL, "lfmc_ablation", "lfmc_encoders", "lfmc_released", "mfeat_methods", "presto_modalities",
                   "lfmc_sites")),  # the claims of the paper's text, tested on the archives
    Page("01_data_overview", "Data overview (Table 1)", "Data"),
    Page(MAIN, "Main results", "Main results (Tables 2-5)", runs=_main_runs, benchmarks=_main_benchmarks,
         artefacts=tuple((paper.TABLES[b], b) for b in paper.BENCHMARKS), per_benchmark=True,
         archived=(("croph_b", "algae_blooms_binary_paper"), ("croph_m", "algae_blooms_paper"),
                   ("lfmc", "lfmc_paper"))),
    Page("03_ablation", "Ablation (Table 6)", _ANALYSES, archives=("lfmc_ablation",), runs=_ablation_runs,
         datasets="ablation_datasets", rechecks_archive=True,
         artefacts=(("Table 6, CropH-b columns", "croph_b"), ("Table 6, CropH-m columns", "croph_m"))),
    Page("04_shared_specific", "Shared and specific features (Table 7)", _ANALYSES, archives=_ALL,
         runs=runs_on("main_datasets", ["mdico"]), datasets="main_datasets",
         artefacts=tuple((f"Table 7, {paper.NAMES[b]} columns", b) for b in paper.BENCHMARKS)),
    Page("05_encoders", "Encoders (Fig. 3, A1, A2; Table A1)", _ANALYSES, archives=("lfmc_encoders",),
         runs=runs_on("encoder_datasets", ["individual", "mdico"], encoders="encoders"), datasets="encoder_datasets",
         rechecks_archive=True, artefacts=(("Figure 3 (LFMC)", "lfmc"), ("Figure A1 (CropH-b)", "croph_b"),
                                           ("Figure A2 (CropH-m)", "croph_m"))),
    Page("06_tsne", "Learned features: t-SNE (Fig. 4, A3, A4)", _ANALYSES, archives=("lfmc_paper",),
         runs=runs_on("tsne_datasets", ["individual", "mdico"]), datasets="tsne_datasets",
         artefacts=(("Figure 4 (TSAITS)", "tsaits"), ("Figure A3 (CropH-b)", "croph_b"),
                    ("Figure A4 (CropH-m)", "croph_m"))),
    Page("07_loss_curves", "Loss terms during training (Fig. 5, A5)", _ANALYSES, archives=("lfmc_paper",),
         runs=runs_on("loss_datasets", ["mdico"]), datasets="loss_datasets",
         artefacts=(("Figure 5 (CropH-m)", "croph_m"), ("Figure 5 (LFMC)", "lfmc"),
                    ("Figure A5 (CropH-b)", "croph_b"))),
    Page("08_prediction_maps", "Prediction maps (Fig. A6-A8)", _APPENDIX, archives=("lfmc_paper",),
         runs=runs_on("map_datasets", ["individual", "mdico"]), datasets="map_datasets",
         artefacts=(("Figures A6-A8 (CropH-b)", "croph_b"),)),
    Page("09_released_vs_paper", "Released code vs the paper's protocol", _APPENDIX, archives=("lfmc_released",),
         runs=_released_runs, datasets="released_datasets", rechecks_archive=True),
    Page(BEYOND, "Beyond the paper: more than two modalities, and data that is not Earth observation",
         "Beyond the paper", archives=("mfeat_methods", "mfeat_views", "presto_modalities", "lfmc_sites"),
         runs=_beyond_runs, benchmarks=_beyond_benchmarks, rechecks_archive=True),  # no artefact of the paper
    Page(OWN_METHOD, "Add your own method", "Beyond the paper",
         archives=("lfmc_paper", "lfmc_own_method"),  # every method, then the example's own runs at that protocol
         runs=_own_method_runs, datasets="own_method_datasets"),
    Page(REPRODUCIBILITY, "Reproducibility", "Reproducibility", reports_build=True),
)
PAGES: dict[str, Page] = {p.notebook: p for p in _PAGES}


def notebooks() -> tuple[str, ...]:
    """The notebooks of `PAGES` in build order, less the page that reports the build (it runs last)."""
    return tuple(nb for nb, p in PAGES.items() if not p.reports_build)


def archive_readers(pages: dict[str, Page] | None = None) -> dict[str, tuple[str, ...]]:
    """Generated page name -> the archives it reads (its ``archive`` parameter), for every page that reads one."""
    return {name: tuple(extra["archive"].split(",")) for p in (PAGES if pages is None else pages).values()
            for name, extra in p.generated() if extra.get("archive")}


def archive_readers_words(pages: dict[str, Page] | None = None) -> str:
    """How many pages read archived sweeps, and how many archives they read, in words (glued, never typed)."""
    readers = archive_readers(pages)
    archives = {a for names in readers.values() for a in names}
    return f"{len(readers)} of its pages read archived sweeps, {len(archives)} archives in all"


# ---------------------------------------------------------------------------------- the toc
def toc_pages(toc: dict[str, Any]) -> list[tuple[str, str]]:
    """(part caption, generated page name) of every ``generated/`` file of a parsed ``_toc.yml``."""
    out: list[tuple[str, str]] = []

    def walk(caption: str, entries: Iterable[dict[str, Any]]) -> None:
        for e in entries:
            if str(e.get("file", "")).startswith("generated/"):
                out.append((caption, e["file"].split("/", 1)[1]))
            walk(caption, e.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("caption", ""), part.get("chapters", []))
    return out


def toc_mismatches(toc: str | Path | dict[str, Any] = TOC, pages: dict[str, Page] | None = None) -> list[str]:
    """Where the table of contents and `pages` (default `PAGES`) disagree, one line each (none: they agree).

    Every generated page of a record is in the toc once, under its section's caption, in the record's
    reading order (`Page.generated`: an archived sweep's page before the re-run check of it), and the toc
    lists no other generated page.
    """
    import yaml

    parsed = toc if isinstance(toc, dict) else yaml.safe_load(Path(toc).read_text())
    listed = toc_pages(parsed)
    records = (PAGES if pages is None else pages).values()
    wanted = {(p.section, name) for p in records for name, _ in p.generated()}
    order = [n for _, n in listed]
    out_of_order = [f"{p.notebook}: the toc lists its pages as {', '.join(seen)}; the record reads {', '.join(want)}"
                    for p in records if (want := [n for n, _ in p.generated() if n in order])
                    and (seen := [n for n in dict.fromkeys(order) if n in want]) != want]
    out = [f"{name}: in the toc twice" for name in sorted({n for _, n in listed if [m for _, m in listed].count(n) > 1})]
    out += [f"{name}: not in the toc under {caption!r}" for caption, name in sorted(wanted - set(listed))]
    out += [f"{name}: in the toc under {caption!r}, but no page record puts it there"
            for caption, name in sorted(set(listed) - wanted)]
    return out + out_of_order
