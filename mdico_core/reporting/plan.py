"""What the book runs: the runs each notebook needs at a profile, and which data stands in for what.

Every notebook of the book calls ``sweep(configs(notebook, profile, ...))`` before it reads the
results store; the driver (``mdico_core.bookbuild``) sweeps ``all_configs(profile)`` once up front,
so each notebook then only finds finished runs. Runs are content-hashed, so the same
(dataset, method, variant, encoder, protocol, fold, seed, budget) is trained once, whichever page
asks for it.

Data resolution (``resolve_dataset``): a paper benchmark runs on its real data when present, else on
a real stand-in (always labelled as such), else, where the book plan allows it, on labelled
synthetic data, else not at all (the page then shows the paper's numbers and how to get the data).

How much each page runs at each profile is the `BookPlan` below (`BOOK_PLANS`, by profile name).
A `Profile` object with a ``book`` attribute (a mapping of `BookPlan` field names) overrides it;
the profiles' yaml loader does not read such a key yet, so the constants here are the calibration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the experiments package is imported lazily, at call time
    import pandas as pd

    from mdico_core.experiments import Profile, RunConfig

NOTEBOOKS: tuple[str, ...] = (
    "01_data_overview", "02_main_results", "03_ablation", "04_shared_specific", "05_encoders",
    "06_tsne", "07_loss_curves", "08_prediction_maps", "09_released_vs_paper",
)
REPRODUCIBILITY = "reproducibility"  # the book's reproducibility page, also a notebook

# The paper's benchmarks in the order of its Tables 2-5.
PAPER_DATASETS: tuple[str, ...] = ("croph_b", "croph_m", "tsaits", "lfmc")
PAPER_NAMES = {"croph_b": "CropH-b", "croph_m": "CropH-m", "tsaits": "TSAITS", "lfmc": "LFMC"}
PAPER_TABLES = {"croph_b": "Table 2", "croph_m": "Table 3", "tsaits": "Table 4", "lfmc": "Table 5"}
TASKS = {"croph_b": "binary", "croph_m": "multiclass", "tsaits": "multilabel", "lfmc": "regression"}

# Used only when the registry names no stand-in (``DatasetEntry.stand_in_for``): the Presto
# algae-bloom series share CropHarvest's array layout and band order.
FALLBACK_STAND_INS = {"croph_b": ("algae_blooms",), "croph_m": ("algae_blooms",), "lfmc": ("presto_lfmc",)}
SYNTHETIC = {"croph_b": "toy_binary", "croph_m": "toy_multiclass", "tsaits": "toy_multilabel",
             "lfmc": "toy_regression"}
KINDS = ("real", "stand-in", "synthetic", "absent")
# Sweeps too long for a laptop build, run once and archived by `mdico export` (paths from the repo
# root); each gets a main-results page built from the archive, beside the page the build runs.
ARCHIVED = {"lfmc": "data/archived_runs/lfmc_paper.csv"}

ABLATION_VARIANTS = ("default", "no_mod", "no_aux", "no_cont", "no_unused", "unpaired", "shared_encoders",
                     "weighted")
ENCODERS = ("tempcnn", "mlp", "transformer", "convtran", "lstm")


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
        released_datasets: the released-code comparison (09).
        synthetic_fallback: run labelled synthetic data where neither the benchmark nor a stand-in
            is present (tests and smoke builds; the numbers then mean nothing against the paper).
        study_folds: folds of the secondary studies (03 ablation, 05 encoders, 09 released code);
            None: the profile's. Folds given to the book explicitly (``--folds``) win.
    """

    main_datasets: tuple[str, ...] = PAPER_DATASETS
    ablation_datasets: tuple[str, ...] = ("croph_b", "croph_m")
    ablation_variants: tuple[str, ...] = ABLATION_VARIANTS
    encoder_datasets: tuple[str, ...] = ("lfmc", "croph_b", "croph_m")
    encoders: tuple[str, ...] = ENCODERS
    tsne_datasets: tuple[str, ...] = ("tsaits", "croph_b", "croph_m", "lfmc")
    loss_datasets: tuple[str, ...] = ("croph_m", "lfmc", "croph_b")
    map_datasets: tuple[str, ...] = ("croph_b", "lfmc")
    released_datasets: tuple[str, ...] = ("lfmc",)
    synthetic_fallback: bool = False
    study_folds: tuple[int, ...] | None = None


# Defaults per profile. The quick book must finish in < 30 min on 2 CPU cores. Measured single-
# threaded at quick (<= 30 epochs): LFMC MDiCo TempCNN ~50 s, Individual ~10 s, Transformer ~70 s,
# ConvTran ~140 s; algae-bloom MDiCo ~25 s. So quick trims the secondary studies (five encoders x
# two methods, eight ablation variants, four released-code settings) to one dataset and one fold
# each: 31 runs, ~17 min serial; the main pages keep the three folds of the profile. The smoke
# profile (tests) runs everything once at a few optimiser steps.
BOOK_PLANS: dict[str, BookPlan] = {
    "smoke": BookPlan(encoder_datasets=("lfmc",), synthetic_fallback=True),
    "quick": BookPlan(ablation_datasets=("croph_m",), encoder_datasets=("lfmc",), study_folds=(0,)),
    "paper": BookPlan(),
}
_STUDIES = ("03_ablation", "05_encoders", "09_released_vs_paper")


def _as_profile(profile: str | Profile) -> Profile:
    from mdico_core.experiments import load_profile

    return load_profile(profile) if isinstance(profile, str) else profile


def book_plan(profile: str | Profile) -> BookPlan:
    """The `BookPlan` of `profile`: the defaults above, overridden by the yaml's ``book:`` mapping."""
    prof = _as_profile(profile)
    plan = BOOK_PLANS.get(prof.name, BookPlan())
    overrides: dict[str, Any] = dict(getattr(prof, "book", None) or {})
    valid = {f.name for f in fields(BookPlan)}
    unknown = set(overrides) - valid
    if unknown:
        raise ValueError(f"profile {prof.name!r}: unknown book plan field(s) {sorted(unknown)}; "
                         f"valid fields: {sorted(valid)}")
    return replace(plan, **{k: (v if isinstance(v, bool) or v is None else tuple(v)) for k, v in overrides.items()})


# ---------------------------------------------------------------------------------- data resolution
def dataset_available(name: str) -> bool:
    """True when registry dataset `name` can be loaded: its cache files exist (or it has none).

    Only existence is checked, so that pages do not re-hash gigabytes; the loader verifies checksums.
    """
    from mdico_core.data import cache, get_dataset_entry

    try:
        entry = get_dataset_entry(name)
    except ValueError:
        return False
    hook = entry.extra.get("present")  # loaders with data outside the cache: (True | False | None, why)
    if callable(hook):
        answer = hook()
        answer = answer[0] if isinstance(answer, tuple) else answer
        if answer is not None:
            return bool(answer)
    if entry.files:
        return all((cache.data_dir() / f).is_file() for f in entry.files)
    if entry.extra.get("synthetic") or name.startswith("toy_") or entry.source == "synthetic":
        return True
    try:  # a loader without declared files (e.g. a user's own data): try it
        from mdico_core.data import load_dataset

        load_dataset(name)
        return True
    except (FileNotFoundError, OSError):
        return False


def _registered() -> dict:
    from mdico_core.data import DATASETS, _import_builtin_loaders

    _import_builtin_loaders()
    return DATASETS


def stand_ins(name: str) -> tuple[str, ...]:
    """Registered real datasets that stand in for paper benchmark `name` (registry first)."""
    reg = _registered()
    named = tuple(k for k, e in reg.items() if e.stand_in_for == name)
    return named or tuple(k for k in FALLBACK_STAND_INS.get(name, ()) if k in reg)


def dataset_kind(name: str) -> str:
    """"real", "stand-in" or "synthetic" for a registry dataset (by its registry entry)."""
    entry = _registered().get(name)
    if name.startswith("toy_") or (entry is not None and entry.source == "synthetic"):
        return "synthetic"
    if entry is not None and entry.stand_in_for:
        return "stand-in"
    return "real"


def resolve_dataset(name: str, allow_synthetic: bool = True) -> tuple[str, str]:
    """(registry name to run, kind) for a paper benchmark or a registry name.

    The rule: the real benchmark if present, else its first present stand-in, else (when
    `allow_synthetic`) the synthetic dataset of the same task, else ``(name, "absent")``.
    A name that is not a paper benchmark resolves to itself with its own kind.

    >>> resolve_dataset("croph_b")   # CropHarvest absent, Presto algae blooms present
    ('algae_blooms', 'stand-in')
    """
    if name not in PAPER_DATASETS:
        if name not in _registered():
            raise ValueError(f"unknown dataset {name!r}; paper benchmarks: {', '.join(PAPER_DATASETS)}; "
                             f"registered: {', '.join(sorted(_registered()))}")
        return (name, dataset_kind(name)) if dataset_available(name) else (name, "absent")
    if name in _registered() and dataset_available(name):
        return name, "real"
    for s in stand_ins(name):
        if dataset_available(s):
            return s, "stand-in"
    if allow_synthetic and SYNTHETIC.get(name) in _registered():
        return SYNTHETIC[name], "synthetic"
    return name, "absent"


def resolve_all(names: Iterable[str], allow_synthetic: bool = True) -> dict[str, tuple[str, str]]:
    """``{paper name: (registry name, kind)}`` for every name."""
    return {n: resolve_dataset(n, allow_synthetic) for n in names}


# ---------------------------------------------------------------------------------- run plans
# The BookPlan field naming each page's datasets (02 is one page per `main_datasets` entry).
_PAGE_DATASETS = {
    "03_ablation": "ablation_datasets", "04_shared_specific": "main_datasets", "05_encoders": "encoder_datasets",
    "06_tsne": "tsne_datasets", "07_loss_curves": "loss_datasets", "08_prediction_maps": "map_datasets",
    "09_released_vs_paper": "released_datasets",
}


def parse_names(text: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"croph_b,lfmc"`` / ``["croph_b"]`` -> ``("croph_b", "lfmc")``; None or ``""`` -> None."""
    if text is None or text == "":
        return None
    if isinstance(text, str):
        return tuple(t.strip() for t in text.split(",") if t.strip())
    return tuple(text)


def _page_plan(notebook: str, plan: BookPlan, datasets: str | Sequence[str] | None) -> BookPlan:
    """`plan` with the page's datasets replaced by `datasets` (a notebook parameter), if given."""
    names = parse_names(datasets)
    if names is None or notebook not in _PAGE_DATASETS:
        return plan
    return replace(plan, **{_PAGE_DATASETS[notebook]: names})


def _methods(prof: Profile) -> list[str]:
    """The profile's methods that are registered, with Individual and MDiCo always included."""
    from mdico_core.methods import METHODS

    wanted = ["individual", "mdico", *[m.lower() for m in getattr(prof, "methods", ())]]
    return [m for m in dict.fromkeys(wanted) if m in METHODS]


def _runnable(names: Iterable[str], plan: BookPlan) -> list[str]:
    """Registry names to run for paper benchmarks `names`, deduplicated, absent ones dropped."""
    out = []
    for n in names:
        reg, kind = resolve_dataset(n, plan.synthetic_fallback)
        if kind != "absent" and reg not in out:
            out.append(reg)
    return out


def configs(notebook: str, profile: str | Profile = "quick", dataset: str | Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, folds: Sequence[int] | None = None) -> list[RunConfig]:
    """The runs `notebook` reads at `profile`.

    `dataset`: for 02_main_results, the one paper benchmark of the page (None: every page's runs);
    for the other pages, paper benchmarks replacing the book plan's (a list or ``"a,b"``).

    `seeds` / `folds` of None mean the profile's. Pages that only read runs made by others
    (04 reads the MDiCo runs of 02; 06-08 read Individual and MDiCo runs) ask for those same runs,
    so each page can also be executed on its own.
    """
    prof = _as_profile(profile)
    plan = _page_plan(notebook, book_plan(prof), dataset)
    if folds is None and notebook in _STUDIES:
        folds = plan.study_folds

    def runs(datasets: Iterable[str], methods: Sequence[str], **extra: Any) -> list[RunConfig]:
        out = []
        for d in _runnable(datasets, plan):
            # a dataset with an official split is run on it, whatever folds were asked for the book
            f = None if _registered()[d].official_split else folds
            out += prof.configs(d, methods, **extra, seeds=seeds, folds=f)
        return out

    if notebook in ("01_data_overview", REPRODUCIBILITY):
        return []
    if notebook == "02_main_results":
        if dataset is None:
            return dedupe(c for d in plan.main_datasets for c in configs(notebook, prof, d, seeds, folds))
        return runs([dataset], _methods(prof))
    if notebook == "03_ablation":
        return (runs(plan.ablation_datasets, ["individual"])
                + runs(plan.ablation_datasets, ["mdico"], variants=plan.ablation_variants))
    if notebook == "04_shared_specific":
        return runs(plan.main_datasets, ["mdico"])
    if notebook == "05_encoders":
        return runs(plan.encoder_datasets, ["individual", "mdico"], encoders=plan.encoders)
    if notebook == "06_tsne":
        return runs(plan.tsne_datasets, ["individual", "mdico"])
    if notebook == "07_loss_curves":
        return runs(plan.loss_datasets, ["mdico"])
    if notebook == "08_prediction_maps":
        return runs(plan.map_datasets, ["individual", "mdico"])
    if notebook == "09_released_vs_paper":
        out: list[RunConfig] = []
        for protocol in ("paper", "released"):
            out += runs(plan.released_datasets, ["individual"], protocol=protocol)
            out += runs(plan.released_datasets, ["mdico"], variants=("default", "released"), protocol=protocol)
        return out
    raise ValueError(f"unknown notebook {notebook!r}; valid notebooks: {', '.join(NOTEBOOKS)}")


def dedupe(cfgs: Iterable[RunConfig]) -> list[RunConfig]:
    """`cfgs` without repeated run ids, first occurrence kept."""
    seen: dict[str, RunConfig] = {}
    for c in cfgs:
        seen.setdefault(c.run_id, c)
    return list(seen.values())


def all_configs(profile: str | Profile = "quick", seeds: Sequence[int] | None = None,
                folds: Sequence[int] | None = None) -> list[RunConfig]:
    """Every run the whole book needs at `profile`, deduplicated by run id, in page order."""
    prof = _as_profile(profile)
    return dedupe(c for nb in NOTEBOOKS for c in configs(nb, prof, seeds=seeds, folds=folds))


def parse_ints(text: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """``"5,6"`` / ``[5, 6]`` -> ``(5, 6)``; None or ``""`` -> None (the profile's)."""
    if text is None or text == "":
        return None
    if isinstance(text, str):
        try:
            return tuple(int(t) for t in text.replace(" ", "").split(",") if t)
        except ValueError:
            raise ValueError(f"expected comma-separated integers such as '0,1,2', got {text!r}") from None
    return tuple(int(t) for t in text)


# ---------------------------------------------------------------------------------- a page's runs
@dataclass
class Page:
    """One notebook's runs, swept into the store, with what its provenance banner needs.

    Built by `page`; notebooks read ``page.frame()`` (tidy metrics of exactly these runs),
    ``page.records()`` and the store's arrays and histories.
    """

    notebook: str
    profile: Profile
    store: Any  # ResultsStore
    configs: list
    seeds: tuple[int, ...] | None
    folds: tuple[int, ...] | None
    datasets: dict[str, tuple[str, str]]
    report: Any = None  # SweepReport, or None when nothing was swept

    def records(self, **match: Any) -> list[dict]:
        """Stored records of this page's runs whose config fields equal `match` (e.g. method="mdico")."""
        out = []
        for c in self.configs:
            if any(getattr(c, k) != v for k, v in match.items()):
                continue
            r = self.store.get(c)
            if r is not None:
                out.append(r)
        return out

    def targets(self) -> list[tuple[str, str, str]]:
        """(label, registry name, kind) per dataset to show, benchmarks sharing one stand-in merged
        (``"CropH-b / CropH-m"`` on ``algae_blooms``), absent ones kept with their own label."""
        merged: dict[tuple[str, str], list[str]] = {}
        for paper_ds, (reg, kind) in self.datasets.items():
            key = (paper_ds, kind) if kind == "absent" else (reg, kind)
            merged.setdefault(key, []).append(PAPER_NAMES.get(paper_ds, paper_ds))
        return [(" / ".join(names), name, kind) for (name, kind), names in merged.items()]

    def configs_where(self, **match: Any) -> list:
        """This page's run configs whose fields equal `match`."""
        return [c for c in self.configs if all(getattr(c, k) == v for k, v in match.items())]

    def frame(self) -> pd.DataFrame:
        """Tidy metrics (``ResultsStore.collect`` columns) of this page's runs only."""
        import pandas as pd

        ids = {c.run_id for c in self.configs}
        parts = [self.store.collect(d) for d in dict.fromkeys(c.dataset for c in self.configs)]
        parts = [p[p["run_id"].isin(ids)] for p in parts if len(p)]
        if not parts:
            from mdico_core.experiments.store import COLUMNS

            return pd.DataFrame(columns=COLUMNS)
        return pd.concat(parts, ignore_index=True)

    def failures(self) -> pd.DataFrame:
        """Runs of this page that crashed or were not reproduced, with their message."""
        import pandas as pd

        ids = {c.run_id for c in self.configs}
        rows = [{"run": run_label(f.get("config") or {}), "status": f.get("status"), "message": f.get("message")}
                for f in self.store.failures() if f.get("run_id") in ids]
        return pd.DataFrame(rows, columns=["run", "status", "message"])

    def banner(self, datasets: Mapping[str, tuple[str, str]] | None = None, **match: Any) -> str:
        """The provenance banner (``figures.provenance_banner``) for this page or its runs matching `match`."""
        from mdico_core.reporting.figures import provenance_banner

        cfgs = self.configs_where(**match)
        grids = [self.profile.grid_for(reg) for reg, kind in (datasets or self.datasets).values() if kind != "absent"]
        n_folds = grids[0][1] if grids else self.profile.n_folds
        folds = (sorted({c.fold for c in cfgs}, key=lambda f: -1 if f is None else f) if cfgs
                 else self.folds or self.profile.folds)
        seeds = sorted({c.seed for c in cfgs}) if cfgs else self.seeds or self.profile.seeds
        return provenance_banner(self.profile.name, datasets or self.datasets, folds, seeds,
                                 self.records(**match), n_folds=n_folds)


def run_label(config: Mapping[str, Any]) -> str:
    """A short name of a run config dict (dataset, method/variant, encoder, protocol, fold, seed)."""
    v = config.get("variant", "default")
    fold = config.get("fold")
    return (f"{config.get('dataset')} {config.get('method')}{'' if v == 'default' else '/' + v} "
            f"{config.get('encoder')} {config.get('protocol')} "
            f"{'official split' if fold is None else f'fold {fold}'} seed {config.get('seed')}")


def page(notebook: str, profile: str | Profile = "quick", dataset: str | Sequence[str] | None = None,
         seeds: str | Sequence[int] | None = None, folds: str | Sequence[int] | None = None,
         results_dir: str | None = None, executor: str = "serial", workers: int | None = None,
         run: bool = True) -> Page:
    """Plan `notebook`'s runs, sweep those missing from the store (when `run`), and return its `Page`.

    Parameters are the notebooks' own (seeds / folds may be ``"5,6"`` strings); the store is
    ``ResultsStore(results_dir)`` (None: ``$MDICO_RESULTS_DIR`` or ``<repo>/results``).
    """
    from mdico_core.experiments import ResultsStore, sweep

    prof = _as_profile(profile)
    plan = _page_plan(notebook, book_plan(prof), dataset)
    seeds_t, folds_t = parse_ints(seeds), parse_ints(folds)
    cfgs = configs(notebook, prof, dataset, seeds_t, folds_t)
    store = ResultsStore(results_dir)
    report = sweep(cfgs, store=store, executor=executor, workers=workers, progress=False,
                   profile=prof.name) if run and cfgs else None
    if notebook == "02_main_results":
        names: Sequence[str] = [dataset] if dataset else plan.main_datasets
    elif notebook in _PAGE_DATASETS:
        names = getattr(plan, _PAGE_DATASETS[notebook])
    else:
        names = PAPER_DATASETS
    datasets = resolve_all(names, plan.synthetic_fallback)
    return Page(notebook, prof, store, cfgs, seeds_t, folds_t, datasets, report)


def load_profile(name: str) -> Profile:
    """``mdico_core.experiments.load_profile`` (re-exported for the notebooks)."""
    return _as_profile(name)
