"""Where every number comes from: the banner each results page opens with, and the reproducibility tables.

The banner states the profile, folds, seeds, the number of runs shown, the code version of the
checkout and of the runs, and which data ran for each benchmark (real, a stand-in, synthetic, or
nothing). The tables describe the machine, the run times and the budget profiles.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdico_core._util import git_version
from mdico_core.data.availability import Resolution
from mdico_core.reporting.core import paper

KIND_LABELS = {
    "real": "real data",
    "stand-in": "STAND-IN (real data of another problem, same task type; not the paper's benchmark)",
    "synthetic": "SYNTHETIC (seeded toy data; the numbers mean nothing against the paper)",
    "absent": "absent (not run; see how to get it below)",
}


def short_version(commit: Any, dirty: Any = False) -> str | None:
    """``"<12-hex commit>"`` or ``"...+dirty"`` of a run's provenance; None without a commit."""
    if commit is None or (isinstance(commit, float) and np.isnan(commit)) or commit == "":
        return None
    return str(commit)[:12] + ("+dirty" if dirty is True or dirty == "True" else "")


def record_versions(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Distinct code versions (``commit`` or ``commit+dirty``) the given run records were made with."""
    out: list[str] = []
    for r in records:
        prov = r.get("provenance") or {}
        v = short_version(prov.get("git_commit"), prov.get("git_dirty"))
        if v and v not in out:
            out.append(v)
    return out


def describe_grid(values: Sequence[Any] | None) -> str:
    """Folds or seeds in words: ``"0, 1, 2"``, ``"official split"``, ``"the profile's"`` (None)."""
    if values is None:
        return "the profile's"
    vals = list(values)
    if vals == [None]:
        return "official split"
    return ", ".join("official" if v is None else str(v) for v in vals) or "none"


def provenance_banner(profile: str, datasets: Mapping[str, Resolution], folds: Sequence[Any] | None,
                      seeds: Sequence[int] | None, runs: int = 0, versions: Sequence[str] = (),
                      n_folds: int | None = None, code_version: str | None = None) -> str:
    """The Markdown block every results page opens with.

    Args:
        profile: the budget profile's name.
        datasets: ``{paper benchmark or dataset: what ran for it}`` (``data.availability.resolve``),
            of kind "real", "stand-in", "synthetic" or "absent".
        folds, seeds: what was run (None: the profile's).
        runs: the number of runs shown.
        versions: code versions the runs were made with (`record_versions`); those that differ
            from the checkout's are named.
        n_folds: folds of the cross-validation, for "fold 0, 1 of 10".
        code_version: override of the checkout's ``git_version()`` (tests).
    """
    version = code_version or git_version()
    made = [v for v in versions if v != version]
    data = []
    for shown, r in datasets.items():
        label = KIND_LABELS.get(r.kind, r.kind)
        data.append(f"{shown} = `{r.dataset}`, {label}" if shown != r.dataset else f"`{r.dataset}`, {label}")
    of = f" of {n_folds}" if n_folds else ""
    lines = [
        f"**Provenance.** Profile `{profile}`; folds {describe_grid(folds)}{of}; seeds {describe_grid(seeds)}; "
        f"{runs} runs shown; code version `{version}`"
        + (f" (runs made with `{'`, `'.join(made)}`)" if made else "") + ".",
        "",
        "**Data.** " + ("; ".join(data) if data else "none") + ".",
    ]
    if any(r.kind in ("stand-in", "synthetic") for r in datasets.values()):
        lines += ["", "*Numbers on stand-in or synthetic data are not the paper's benchmark: compare trends "
                      "(MDiCo vs Individual), not values, with the paper's columns.*"]
    return "\n".join("> " + ln if ln else ">" for ln in lines)


def settings_text(runs: pd.DataFrame) -> str:
    """Which training settings a page shows, in words, from its runs' ``method``, ``settings`` and
    ``monitor`` columns (a ``collect`` frame, or one row per run config)."""
    if runs.empty:
        return "no runs shown."
    from mdico_core.experiments.settings import recipe_monitor, same_in_both
    from mdico_core.reporting.core.compare import paper_name

    same = set(same_in_both())
    methods = list(dict.fromkeys(runs["method"].astype(str)))
    shown = set(runs["settings"].fillna("common"))
    own = [m for m in methods if m not in same]
    names = ", ".join(paper_name(m) for m in methods if m in same)
    if not own:
        text = (f"`common`, which for {names} is also their official recipe (`original`): the same runs serve "
                "both comparisons.")
    elif shown == {"common"}:
        text = ("`common`: every method under one shared budget (the profile's optimiser and early stopping on "
                "the total validation loss). The paper's own comparison is `original`, each competitor's "
                "official recipe.")
    elif "common" in set(runs.loc[runs["method"].isin(own), "settings"]):
        text = ("both, side by side: `original` (each competitor's official recipe, as the paper ran its "
                "comparison) and `common` (one shared budget)" + (f"; {names} have one recipe, so one set of "
                                                                   "runs, in both" if names else "") + ".")
    else:
        text = "`original`: each competitor's official recipe, as the paper ran its comparison."
    if "monitor" in runs:
        other = {m for m, w in zip(runs["method"], runs["monitor"].fillna("total")) if w != recipe_monitor(m, "common")
                 and w != recipe_monitor(m, "original")}
        if other:
            text += (" Runs early-stopped on another monitor than their recipe's (`--monitor`) are a separate "
                     "comparison, shown apart.")
    return text


# ---------------------------------------------------------------------------------- data and licences
def dataset_status(include_synthetic: bool = False) -> pd.DataFrame:
    """Every registered dataset: paper name, task, role in the book, present here, samples, source, licence."""
    from mdico_core.data.info import describe_all

    df = describe_all()
    if not include_synthetic:
        df = df[df["kind"] != "synthetic"]

    def role(r: Any) -> str:
        if r["name"] in paper.TABLES and r["kind"] == "real":
            return f"paper benchmark ({paper.TABLES[r['name']]})"
        if isinstance(r["stand_in_for"], str) and r["stand_in_for"]:  # (NaN when the column has gaps)
            return f"{r['kind']} for {r['stand_in_for']}"
        return "extra"

    out = pd.DataFrame({
        "dataset": df["name"], "paper name": df["paper_name"], "task": df["task"],
        "role": df.apply(role, axis=1) if len(df) else [], "present": df["present"].map({True: "yes", False: "no"}),
        "samples": df["samples"], "source": df["source"], "licence": df["licence"], "description": df["description"],
    })
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------- reproducibility
def runtime_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Runs, total and mean training seconds, and mean epochs per (dataset, method, variant)."""
    rows = [{"dataset": r["config"]["dataset"], "method": r["config"]["method"], "variant": r["config"]["variant"],
             "wall_time_s": r.get("wall_time_s") or 0.0, "epochs_run": r.get("epochs_run") or 0}
            for r in records]
    cols = ["dataset", "method", "variant", "runs", "total s", "mean s", "mean epochs"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    out = df.groupby(["dataset", "method", "variant"]).agg(
        runs=("wall_time_s", "size"), total=("wall_time_s", "sum"), mean=("wall_time_s", "mean"),
        epochs=("epochs_run", "mean")).reset_index()
    out.columns = cols
    return out.round({"total s": 1, "mean s": 2, "mean epochs": 1})


def planned_runs(configs: Iterable[Any]) -> str:
    """The runs `configs` in words, per dataset: ``"50 runs: lfmc fold 0 × seed 0; mfeat fold 0 × seed 0"``."""
    from mdico_core.reporting.core.format import span

    def grid(values: set[Any], what: str) -> str:
        vals = sorted(values, key=lambda v: -1 if v is None else v)
        if vals == [None]:
            return "official split"
        return f"{what}{'s' if len(vals) > 1 else ''} {span([v for v in vals if v is not None])}"

    cfgs = list(configs)
    by: dict[str, tuple[set[Any], set[Any]]] = {}
    for c in cfgs:
        folds, seeds = by.setdefault(c.dataset, (set(), set()))
        folds.add(c.fold)
        seeds.add(c.seed)
    parts = [f"{d} {grid(f, 'fold')} × {grid(s, 'seed')}" for d, (f, s) in by.items()]
    return f"{len(cfgs):,} runs" + (": " + "; ".join(parts) if parts else "")


def profiles_table(book: bool = True) -> pd.DataFrame:
    """Each budget profile: its folds (of how many), seeds, epochs, batch size, early stopping, step cap and
    description; with `book`, the runs the book plans at it (``book_plan.all_configs``), which re-run fewer
    folds than the profile's where an archive is a page's evidence."""
    from mdico_core.experiments.profile import PROFILES
    from mdico_core.reporting.core.format import span

    rows = []
    for name in PROFILES:
        p = PROFILES[name]
        folds = describe_grid(p.folds) if None in p.folds else span(p.folds)
        row = {"profile": name, "folds": f"{folds} of {p.n_folds}", "seeds": span(p.seeds),
               "max epochs": p.train.max_epochs, "batch": p.train.batch_size, "patience": p.train.patience,
               "steps/epoch cap": p.train.max_steps_per_epoch or "none"}
        if book:
            from mdico_core.reporting.book import book_plan

            row["the book's runs at it"] = planned_runs(book_plan.all_configs(name))
        rows.append({**row, "description": p.description})
    return pd.DataFrame(rows)


def environment_table(records: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """This machine (Python, OS, CPUs, library versions) and the devices / hosts the runs used."""
    import os
    import platform

    import torch

    recs = list(records)

    def distinct(*keys: str) -> str:  # the first key a record has (later ones: older records' names)
        provs = [r.get("provenance") or {} for r in recs]
        vals = sorted({str(v) for p in provs if (v := next((p[k] for k in keys if p.get(k)), None))})
        return ", ".join(vals) or "–"

    rows = [
        ("python (this build)", platform.python_version()),
        ("platform", platform.platform()),
        ("CPU cores", str(os.cpu_count())),
        ("torch", torch.__version__),
        ("numpy / pandas", f"{np.__version__} / {pd.__version__}"),
        ("runs: device", distinct("device")),
        ("runs: torch", distinct("torch_version")),
        ("runs: python", distinct("python_version", "python")),
        ("runs: code version", ", ".join(record_versions(recs)) or "–"),
    ]
    return pd.DataFrame(rows, columns=["what", "value"])


def build_info(path: str | Path | None) -> pd.DataFrame | None:
    """The driver's build log (JSON written by ``bookbuild``) as a table, or None if absent."""
    if not path or not Path(path).is_file():
        return None
    info = json.loads(Path(path).read_text())
    return pd.DataFrame([{"what": k, "value": str(v)} for k, v in info.items()])


def build_time_sentence(build: pd.DataFrame | None) -> str:
    """What this build measured of its own time (`build_info`'s table), as a sentence for the page.

    The reproducibility page runs last, so the time of every page before it is known; the
    jupyter-book step after it is not.
    """
    import os

    if build is None or build.empty:
        return ("This page was not executed by mdico book, so there is no build time to report; a book build "
                "measures and states its own.")
    info = dict(zip(build["what"], build["value"]))
    if "sweep_s" in info:
        sweep = (f"its sweep took {info['sweep_s']} s ({info.get('runs_trained', '?')} runs trained, "
                 f"{info.get('runs_reused', '?')} reused from the results store; executor {info.get('executor')})")
    else:
        sweep = "it trained nothing (it was told to skip the sweep)"
    pages = f"executing the pages before this one took {info.get('notebooks_s', '?')} s"
    if info.get("slowest_pages"):
        pages += f" (slowest: {info['slowest_pages']})"
    return (f"This build (mdico book, profile {info.get('profile')}) measured its own time on this machine "
            f"({os.cpu_count()} CPU cores): {sweep}, and {pages}.")
