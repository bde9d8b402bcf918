"""A notebook's view of the results store: its planned runs, their metrics, failures and provenance.

Built by `page`; notebooks read ``page.frame()`` (tidy metrics of exactly the page's runs),
``page.records()`` and the store's arrays and histories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mdico_core._util import as_fold, as_int, parse_list
from mdico_core.reporting import book_plan, paper
from mdico_core.reporting.availability import resolve_all
from mdico_core.reporting.provenance import provenance_banner, record_versions

if TYPE_CHECKING:
    import pandas as pd

    from mdico_core.experiments.config import Profile


def run_label(config: Mapping[str, Any]) -> str:
    """A short name of a run config dict (dataset, method/variant, encoder, protocol, fold, seed)."""
    v = config.get("variant", "default")
    fold = config.get("fold")
    return (f"{config.get('dataset')} {config.get('method')}{'' if v == 'default' else '/' + v} "
            f"{config.get('encoder')} {config.get('protocol')} "
            f"{'official split' if fold is None else f'fold {fold}'} seed {config.get('seed')}")


@dataclass
class Page:
    """One notebook's runs in the results store, with what its provenance banner needs."""

    notebook: str
    profile: Profile
    store: Any  # ResultsStore
    configs: list
    seeds: tuple[int, ...] | None
    folds: tuple[int | None, ...] | None
    datasets: dict[str, tuple[str, str]]
    report: Any = None  # SweepReport, or None when nothing was swept

    def records(self, **match: Any) -> list[dict]:
        """Stored records of this page's runs whose config fields equal `match` (e.g. method="mdico")."""
        out = []
        for c in self.configs_where(**match):
            r = self.store.get(c)
            if r is not None:
                out.append(r)
        return out

    def configs_where(self, **match: Any) -> list:
        """This page's run configs whose fields equal `match`."""
        return [c for c in self.configs if all(getattr(c, k) == v for k, v in match.items())]

    def targets(self) -> list[tuple[str, str, str]]:
        """(label, registry name, kind) per dataset to show, benchmarks sharing one stand-in merged
        (``"CropH-b / CropH-m"``), absent ones kept with their own label."""
        merged: dict[tuple[str, str], list[str]] = {}
        for bench, (reg, kind) in self.datasets.items():
            key = (bench, kind) if kind == "absent" else (reg, kind)
            merged.setdefault(key, []).append(paper.NAMES.get(bench, bench))
        return [(" / ".join(names), name, kind) for (name, kind), names in merged.items()]

    def frame(self) -> pd.DataFrame:
        """Tidy metrics (``ResultsStore.collect`` columns) of this page's runs only."""
        import pandas as pd

        from mdico_core.experiments.store import COLUMNS

        ids = {c.run_id for c in self.configs}
        parts = [self.store.collect(d) for d in dict.fromkeys(c.dataset for c in self.configs)]
        parts = [p[p["run_id"].isin(ids)] for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)

    def failures(self) -> pd.DataFrame:
        """Runs of this page that crashed or were not reproduced, with their message."""
        import pandas as pd

        ids = {c.run_id for c in self.configs}
        rows = [{"run": run_label(f.get("config") or {}), "status": f.get("status"), "message": f.get("message")}
                for f in self.store.failures() if f.get("run_id") in ids]
        return pd.DataFrame(rows, columns=["run", "status", "message"])

    def code_versions(self, **match: Any) -> list[str]:
        """Distinct code versions the stored runs (matching `match`) were made with."""
        return record_versions(self.records(**match))

    def banner(self, datasets: Mapping[str, tuple[str, str]] | None = None, **match: Any) -> str:
        """The provenance banner for this page, or for its runs matching `match`."""
        cfgs = self.configs_where(**match)
        shown = datasets or self.datasets
        grids = [self.profile.grid_for(reg) for reg, kind in shown.values() if kind != "absent"]
        n_folds = grids[0][1] if grids else self.profile.n_folds
        folds = (sorted({c.fold for c in cfgs}, key=lambda f: -1 if f is None else f) if cfgs
                 else self.folds or self.profile.folds)
        seeds = sorted({c.seed for c in cfgs}) if cfgs else self.seeds or self.profile.seeds
        records = self.records(**match)
        return provenance_banner(self.profile.name, shown, folds, seeds, len(records), record_versions(records),
                                 n_folds=n_folds)


def page(notebook: str, profile: str | Profile = "quick", dataset: str | Sequence[str] | None = None,
         seeds: str | Sequence[int] | None = None, folds: str | Sequence[int | None] | None = None,
         results_dir: str | None = None, executor: str = "serial", workers: int | None = None,
         run: bool = True) -> Page:
    """Plan `notebook`'s runs, sweep those missing from the store (when `run`), and return its `Page`.

    Parameters are the notebooks' own (seeds / folds may be ``"5,6"`` strings); the store is
    ``ResultsStore(results_dir)`` (None: ``$MDICO_RESULTS_DIR`` or ``<repo>/results``).
    """
    from mdico_core.experiments import ResultsStore, sweep

    prof = book_plan.load_profile(profile)
    plan = book_plan.page_plan(notebook, book_plan.book_plan(prof), dataset)
    seeds_t, folds_t = parse_list(seeds, as_int), parse_list(folds, as_fold)
    cfgs = book_plan.configs(notebook, prof, dataset, seeds_t, folds_t)
    store = ResultsStore(results_dir)
    report = sweep(cfgs, store=store, executor=executor, workers=workers, progress=False,
                   profile=prof.name) if run and cfgs else None
    datasets = resolve_all(book_plan.page_benchmarks(notebook, plan, dataset), plan.synthetic_fallback)
    return Page(notebook, prof, store, cfgs, seeds_t, folds_t, datasets, report)
