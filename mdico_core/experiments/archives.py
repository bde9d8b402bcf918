"""The archived sweeps, as code: each one's exact runs, and the companion data it keeps.

An archive is a sweep too long for a laptop build (the paper's protocol on LFMC: hours on two
cores), run once at one clean commit, exported into ``data/archived_runs/`` and committed, so
that the book's pages are built from it. Its definition here is the single source of what it
holds: `Archive.configs` is exactly the runs of its ``mdico run`` commands (`Part.command`), so
``mdico archive status NAME`` can tell what a store still lacks, ``mdico archive run NAME``
trains it, ``mdico archive export NAME`` writes it (``experiments.archive_io``), and a test
checks that every shipped archive holds exactly these run ids.

Besides the metric rows, an archive keeps, compressed, what its pages need beyond them (its
`Companion`): the per-epoch loss histories of the runs the loss-curve page reads, the test-set
features (float16) of the runs the t-SNE page shows and measures, and the test predictions of
the runs the prediction-map page reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdico_core._util import repo_root

if TYPE_CHECKING:
    from mdico_core.experiments.config import RunConfig

ARCHIVE_DIR = repo_root() / "data" / "archived_runs"
PROFILE = "paper"  # the archives of the book are the paper's protocol
COMPANION_KINDS = ("histories", "features", "predictions")


@dataclass(frozen=True)
class Part:
    """One ``mdico run --profile paper`` of an archive: the arguments of ``Profile.configs``.

    `split_seed` None: each seed draws its own split (``mdico run`` without ``--split-seed``; under the
    released protocol, whose CLI default is the released code's split seed 10, ``--split-seed <seed>``);
    `monitor` None: each method's recipe's early-stopping monitor. `modalities` None: every modality of
    the dataset (``mdico run`` without ``--modalities``); else the runs train on that subset only.
    """

    methods: tuple[str, ...]
    variants: tuple[str, ...] = ("default",)
    encoders: tuple[str, ...] = ("tempcnn",)
    protocol: str = "paper"
    settings: str = "common"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    split_seed: int | None = None
    monitor: str | None = None
    modalities: tuple[str, ...] | None = None
    folds_by: str | None = None
    why: str = ""
    """what the part is for, shown by ``mdico archive list``"""

    def configs(self, dataset: str, profile: str = PROFILE, seeds: Sequence[int] | None = None,
                folds: Sequence[int | None] | None = None) -> list[RunConfig]:
        """The runs of this part on `dataset`, exactly as ``mdico run`` builds them (`command`).

        At another `profile` (the book's re-run of an archived page), `seeds` / `folds` None take that
        profile's; at the archive's own profile, `seeds` None takes the part's.
        """
        from mdico_core.experiments.profile import load_profile

        train = {"monitor": self.monitor} if self.monitor else None
        if seeds is None and profile == PROFILE:
            seeds = self.seeds
        return load_profile(profile).configs(
            dataset, list(self.methods), variants=list(self.variants), encoders=list(self.encoders),
            protocol=self.protocol, seeds=None if seeds is None else list(seeds), folds=folds,
            split_seed=self.split_seed, train=train, settings=self.settings, modalities=self.modalities,
            folds_by=self.folds_by)

    def command(self, dataset: str, profile: str = PROFILE, threads: int | None = None,
                method_module: str | None = None) -> str:
        """The ``mdico run`` command line that trains this part (the CLI builds the same configs); `threads`:
        ``--threads <n> --executor serial`` (runs of another thread count than the default 1); `method_module`:
        the file of an external method the part trains (``--method-module``)."""
        args = [f"mdico run --dataset {dataset} --methods {','.join(self.methods)}"]
        args += [f"--method-module {method_module}"] if method_module else []
        args += [f"--variants {','.join(self.variants)}"] if self.variants != ("default",) else []
        args += [f"--encoders {','.join(self.encoders)}"] if self.encoders != ("tempcnn",) else []
        args += [f"--protocol {self.protocol}"] if self.protocol != "paper" else []
        args += [f"--split-seed {self.split_seed}"] if self.split_seed is not None else []
        args += [f"--settings {self.settings}"] if self.settings != "common" else []
        args += [f"--monitor {self.monitor}"] if self.monitor else []
        args += [f"--modalities {','.join(self.modalities)}"] if self.modalities else []
        args += [f"--folds-by {self.folds_by}"] if self.folds_by else []
        args += [f"--profile {profile}"]
        args += [f"--threads {threads} --executor serial"] if threads is not None else []
        if self.protocol == "released" and self.split_seed is None:
            # the CLI's split seed under --protocol released is the released code's 10; ours follows the seed
            return " && ".join(" ".join([*args, f"--split-seed {s} --seeds {s}"]) for s in self.seeds)
        return " ".join([*args, f"--seeds {','.join(map(str, self.seeds))}"])


def _value(cfg: RunConfig, key: str) -> Any:
    """A run's field for a `Companion` match: a `RunConfig` field, or ``monitor`` (its training's)."""
    return cfg.train.monitor if key == "monitor" else getattr(cfg, key)


def matches(cfg: RunConfig, selection: Iterable[Mapping[str, Any]]) -> bool:
    """Whether `cfg` equals every field of at least one mapping of `selection` (an empty one matches
    nothing): ``[{"method": "mdico", "variant": "default"}]`` keeps MDiCo's default runs."""
    return any(all(_value(cfg, k) == v for k, v in sel.items()) for sel in selection)


@dataclass(frozen=True)
class Companion:
    """Which runs of an archive keep which data besides their metrics (each a list of field matches)."""

    histories: tuple[Mapping[str, Any], ...] = ()
    """per-epoch loss history (the loss-curve page)"""
    features: tuple[Mapping[str, Any], ...] = ()
    """test-set features of every view, float16 (the t-SNE page)"""
    predictions: tuple[Mapping[str, Any], ...] = ()
    """test-set predictions of every view, with the test rows and targets (the prediction-map page)"""


@dataclass(frozen=True)
class Archive:
    """One archived sweep: its runs (`parts` on `dataset`) and its companion data.

    Files, under ``data/archived_runs/``: ``<name>.csv`` (the metric rows and provenance of every
    run, as ``mdico export`` writes them), ``<name>.npz`` (the companion data, compressed) and
    ``<name>.json`` (the manifest: commits, machines, wall time, what was exported).

    The thread count is not part of a run's identity (its run id), only of its provenance
    (``torch_threads``): an archive with `threads` set holds runs made with that many torch threads,
    and `counterpart` names the archive that holds the same run ids made in the default environment
    (1 thread). Its runs are trained into a store of their own, since a store holds one record per run
    id; `status` reports a run of the store made with another thread count, and neither ``mdico
    archive run`` nor the export takes it.
    """

    name: str
    title: str
    dataset: str
    parts: tuple[Part, ...]
    companion: Companion = field(default_factory=Companion)
    notes: str = ""
    profile: str = PROFILE
    threads: int | None = None
    """torch threads of every run (``mdico run --threads``); None: the default (1), not checked"""
    counterpart: str | None = None
    """the archive holding the same run ids made with the default thread count"""
    method_module: str | None = None
    """a ``.py`` file (relative to the repository) defining an external method its parts train
    (``methods.external``): registered before its configs are built, named in its commands"""

    def register(self) -> None:
        """Register `method_module`'s methods (here and in the processes this one starts); nothing without."""
        if self.method_module:
            from mdico_core.methods.external import register_module

            register_module(str(repo_root() / self.method_module))

    def configs(self) -> list[RunConfig]:
        """Every run of the archive, each once (a run two parts share, e.g. a reference, counts once)."""
        self.register()
        seen: dict[str, RunConfig] = {}
        for part in self.parts:
            for c in part.configs(self.dataset, self.profile, seeds=part.seeds):
                seen.setdefault(c.run_id, c)
        return list(seen.values())

    def run_ids(self) -> set[str]:
        """The run ids of `configs`: what the exported CSV must hold, no more, no less."""
        return {c.run_id for c in self.configs()}

    def commands(self) -> list[str]:
        """The ``mdico run`` command of each part, in order."""
        return [p.command(self.dataset, self.profile, self.threads, self.method_module) for p in self.parts]

    def companion_runs(self, kind: str, configs: Iterable[RunConfig] | None = None) -> list[RunConfig]:
        """The runs (of `configs`, default all) whose `kind` ("histories", "features", "predictions") is kept."""
        if kind not in COMPANION_KINDS:
            raise ValueError(f"unknown companion data {kind!r}; valid: {', '.join(COMPANION_KINDS)}")
        selection = getattr(self.companion, kind)
        return [c for c in (self.configs() if configs is None else configs) if matches(c, selection)]

    def path(self, suffix: str, folder: str | Path | None = None) -> Path:
        """``<folder>/<name><suffix>`` (default folder: ``data/archived_runs``)."""
        return Path(folder if folder is not None else ARCHIVE_DIR) / f"{self.name}{suffix}"

    @property
    def csv_path(self) -> Path:
        return self.path(".csv")

    @property
    def companion_path(self) -> Path:
        return self.path(".npz")

    @property
    def manifest_path(self) -> Path:
        return self.path(".json")


# ---------------------------------------------------------------------------------- the archives
_REFS = Part(("individual", "mdico"), seeds=(0,), why="references of the study: Individual and full MDiCo, seed 0 "
                                                     "(the same runs as the main sweep's)")
_MAIN_METHODS = ("individual", "mdico")
FEATURE_SEED = 3  # lfmc_paper's seed whose every fold keeps its test features (see its Companion)
_BEYOND_SEEDS = (0, 1, 2)
# lfmc_sites: MDiCo and Individual; the strongest competitors of the paper's Table 5 (DeCUR, DisCoM-KD,
# ESensI: its best after MDiCo and Individual in both views) and of lfmc_paper (ShaSpec, the best other
# method on L8 under its own recipe); InputFu, the all-modality reference. Fixed before any site run.
SITES_METHODS = ("individual", "mdico", "decur", "discomkd", "esensi", "shaspec", "inputfu")
MFEAT_VIEWS = ("fou", "fac", "kar", "pix", "zer", "mor")  # data.mfeat.VIEWS, in the UCI order (a test checks)
PRESTO_MODALITIES = ("S1", "S2", "ERA5_SRTM")  # presto_lfmc's registry shapes (a test checks)


def _pairs(views: Sequence[str]) -> list[tuple[str, ...]]:
    """Every pair of `views`, each in alphabetical order (as `RunConfig` stores it), in the order of a
    double loop over `views` keeping ``a < b``."""
    return [(a, b) for a in views for b in views if a < b]


ARCHIVES: dict[str, Archive] = {a.name: a for a in (
    Archive(
        "lfmc_paper", "Table 5 and 7 on LFMC: every method in both training settings", "lfmc",
        (Part(("all",), why="every method under one common budget"),
         Part(("all",), settings="original", why="every method under its official recipe (the paper's comparison)")),
        Companion(
            histories=({"method": "mdico", "variant": "default"},),
            # fold 0 of seed 0 for the figures; every fold of one seed for the measures of what they
            # show (`reporting.figures.feature_measures`). Seed 3 is the first seed trained after those measures
            # were added: the features of seeds 0-2 had not been kept, and their runs are not re-made.
            features=(*({"method": m, "fold": 0, "seed": 0} for m in _MAIN_METHODS),
                      *({"method": m, "seed": FEATURE_SEED} for m in _MAIN_METHODS)),
            predictions=tuple({"method": m, "variant": "default"} for m in _MAIN_METHODS)),
        notes="10 folds x seeds 0-4; the methods whose official recipe is the common one (Individual, MDiCo, "
              "InputFu, MMGF) have one set of runs for both settings."),
    # The CropHarvest benchmarks' real stand-ins (the benchmark itself is a GB download): the main
    # comparison at the paper's protocol, so that their pages rest on 10 folds, not on the quick build's 3
    *(Archive(
        f"{name}_paper", f"{paper_table} on {name}, the {bench} stand-in: every method, common settings", name,
        (Part(("all",), why="every method under one common budget"),),
        notes="10 folds x seeds 0-4 (the paper's protocol; seed 0 was trained first), common settings only (the "
              f"official recipes were run on LFMC, lfmc_paper); {name} is a real stand-in of {bench}, not the "
              "benchmark.")
      for name, bench, paper_table in (("algae_blooms_binary", "CropH-b", "Table 2"),
                                       ("algae_blooms", "CropH-m", "Table 3"))),
    Archive(
        "lfmc_ablation", "Table 6 on LFMC: each MDiCo component removed", "lfmc",
        (Part(("mdico",), variants=("no_mod", "no_aux", "no_cont", "no_unused", "unpaired", "shared_encoders",
                                    "weighted"), seeds=(0,), why="the ablation variants"), _REFS),
        notes="10 folds x seed 0; the paper ablates on CropHarvest only, so no paper value is compared."),
    Archive(
        "lfmc_released", "The released code vs the paper on LFMC: each difference alone", "lfmc",
        (Part(("mdico",), variants=("rel_tau", "rel_contrastive", "rel_disc_shared", "rel_halves", "rel_norm",
                                    "rel_raw_target", "released"), seeds=(0,),
              why="each model difference alone, and all of them (released)"),
         Part(("mdico",), protocol="released_validation", seeds=(0,), why="early stopping on the test fold alone"),
         Part(("mdico",), protocol="released_statistics", seeds=(0,),
              why="normalisation statistics over all rows alone"),
         Part(("mdico", "individual"), protocol="released", seeds=(0,),
              why="the released protocol (both differences)"),
         Part(("mdico",), variants=("released",), protocol="released", seeds=(0,),
              why="the released code as a whole (its model and its protocol)"),
         Part(("mdico", "individual"), monitor="task", seeds=(0,),
              why="early stopping on the task loss instead of the total loss"),
         _REFS),
        notes="10 folds x seed 0."),
    Archive(
        "lfmc_encoders", "Fig. 3 on LFMC: Individual and MDiCo with each temporal encoder", "lfmc",
        (Part(_MAIN_METHODS, encoders=("mlp", "lstm", "transformer", "convtran"), seeds=(0,),
              why="the other temporal encoders"),
         Part(_MAIN_METHODS, seeds=(0,), why="TempCNN, the default encoder (runs of the main sweep)")),
        notes="10 folds x seed 0."),
    # Beyond the paper (its limitations (i) and (ii)): more than two modalities, and data that is not EO
    Archive(
        "mfeat_methods", "Beyond the paper: every method trained on the six views of mfeat (not EO)", "mfeat",
        (Part(("all",), encoders=("mlp",), seeds=_BEYOND_SEEDS,
              why="every method on all six views; single-view inference on each (fusion references: all six)"),),
        notes="10 folds x seeds 0-2, MLP encoder, common settings; UCI handwritten digits, not Earth observation."),
    Archive(
        "mfeat_views", "Beyond the paper: MDiCo trained on each pair of mfeat's six views", "mfeat",
        tuple(Part(("mdico",), encoders=("mlp",), seeds=_BEYOND_SEEDS, modalities=pair,
                   why=f"MDiCo on {' + '.join(pair)} only") for pair in _pairs(MFEAT_VIEWS)),
        notes="10 folds x seeds 0-2, MLP encoder; with archive mfeat_methods (MDiCo on all six, Individual) the "
              "views-at-training study."),
    Archive(
        "presto_modalities", "Beyond the paper: two vs three training modalities on presto_lfmc (EO, a stand-in "
                             "of LFMC)", "presto_lfmc",
        (Part(_MAIN_METHODS, seeds=_BEYOND_SEEDS, why="Individual and MDiCo on all three modalities"),
         *(Part(("mdico",), seeds=_BEYOND_SEEDS, modalities=pair, why=f"MDiCo on {' + '.join(pair)} only")
           for pair in _pairs(PRESTO_MODALITIES))),
        notes="10 folds x seeds 0-2, TempCNN; S1, S2 and ERA5_SRTM at LFMC's sites (a stand-in, not the paper's "
              "benchmark)."),
    # The book's "Add your own method" page: its example, an external method, at the paper's protocol, so
    # that the page pairs it with every method of lfmc_paper (a user's method is compared the same way)
    Archive(
        "lfmc_own_method", "Add your own method: the page's example (modality dropout) at the paper's protocol",
        "lfmc", (Part(("modality_dropout",), why="the example method of notebooks/modality_dropout.py, defined "
                                                  "outside the package"),),
        method_module="notebooks/modality_dropout.py",
        notes="10 folds x seeds 0-4, common settings; paired run by run with lfmc_paper's methods (same splits)."),
    # Beyond the paper: the paper's folds are random rows, so a test site is nearly always a training site
    # too (at other dates); an LFMC map is made for sites nobody sampled. The same protocol, site-grouped.
    Archive(
        "lfmc_sites", "Beyond the paper: LFMC at sites never seen in training (site-grouped folds)", "lfmc",
        (Part(SITES_METHODS, folds_by="site",
              why="MDiCo, Individual, the strongest competitors of Table 5 and of lfmc_paper, and InputFu (all "
                  "modalities), on folds of whole sites"),),
        companion=Companion(predictions=tuple({"method": m, "variant": "default"} for m in _MAIN_METHODS)),
        notes="10 site-grouped folds x seeds 0-4, common settings: each fold holds whole sites (balanced in rows, "
              "the sites shuffled by the split seed) and the validation split is grouped too, so neither the "
              "test score nor early stopping sees a site the model trained on."),
    # How much the machine moves a result (the reproducibility page): the same runs at another thread count
    Archive(
        "lfmc_threads2", "Reproducibility: Individual and MDiCo on LFMC trained with 2 torch threads", "lfmc",
        (Part(_MAIN_METHODS, seeds=(0,), why="the same run ids as lfmc_paper's Individual and MDiCo, seed 0 "
                                             "(made there with 1 thread)"),),
        threads=2, counterpart="lfmc_paper",
        notes="10 folds x seed 0, trained with 2 torch threads into a store of its own; its 1-thread "
              "counterparts (the same run ids) are in lfmc_paper. The thread-count study of the reproducibility "
              "page compares them run by run."),
)}


def get_archive(name: str) -> Archive:
    """The archive `name`; a `ValueError` listing the valid names otherwise."""
    if name not in ARCHIVES:
        raise ValueError(f"unknown archive {name!r}; valid archives: {', '.join(ARCHIVES)} (`mdico archive list`)")
    return ARCHIVES[name]


def archive_of(path: str | Path) -> Archive | None:
    """The archive whose CSV, companion or manifest file is `path` (by file name), or None."""
    return ARCHIVES.get(Path(path).name.split(".")[0])


def record_threads(record: Mapping[str, Any]) -> int | None:
    """The torch thread count a run record was made with (its provenance's ``torch_threads``; None when
    the record is older than that field)."""
    threads = (record.get("provenance") or {}).get("torch_threads")
    return None if threads is None else int(threads)


def status(archive: Archive, store: Any) -> dict[str, list[RunConfig]]:
    """The archive's runs in `store` (a ``ResultsStore``) by state: "done", "not_reproduced", "failed"
    (crashed, retried by the next sweep), "failed_twice" (a record of status "failed": the run failed again
    the same way from the same commit, and that failure is its outcome, held by an export like a finished
    run; `mdico archive confirm-failures` writes them, see `runner.confirm_failure`), "running" (claimed by a
    live sweep), "pending", and
    "other_threads": a record of the run id made with another (or an unrecorded) thread count than the
    archive's `threads` (the counterpart's run, in the wrong store; never for an archive without `threads`)."""
    running = {c.get("run_id") for c in store.claims()}
    out: dict[str, list[RunConfig]] = {k: [] for k in ("done", "not_reproduced", "failed", "failed_twice", "running",
                                                       "pending", "other_threads")}
    for cfg in archive.configs():
        rec = store.get(cfg)
        if rec is not None and archive.threads is not None and record_threads(rec) != archive.threads:
            out["other_threads"].append(cfg)
        elif rec is not None:
            kept = {"not_reproduced": "not_reproduced", "failed": "failed_twice"}
            out[kept.get(rec.get("status"), "done")].append(cfg)
        elif cfg.run_id in running:
            out["running"].append(cfg)
        else:
            out["failed" if store.failure_path(cfg).is_file() else "pending"].append(cfg)
    return out
