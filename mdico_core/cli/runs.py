"""``mdico run`` (train every planned run the store lacks) and ``mdico status`` (what the store holds)."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from mdico_core.cli._args import (
    add_results,
    add_settings,
    add_sweep,
    check_names,
    names,
    split_seed,
    thread_count,
)
from mdico_core.options import MONITORS, PROTOCOLS, RELEASED_SPLIT_SEED


def add_parsers(sub: Any) -> None:
    """The ``run`` and ``status`` subcommands."""
    r = sub.add_parser("run", help="train and evaluate every run not yet in the results store")
    r.add_argument("--dataset", type=names, default=None,
                   help="dataset name(s), comma-separated (default: the profile's)")
    r.add_argument("--methods", type=names, default=None,
                   help="method names, comma-separated, or 'all' (default: the profile's)")
    r.add_argument("--variants", type=names, default=["default"], help="method variants (default: default)")
    r.add_argument("--encoders", type=names, default=["tempcnn"], help="encoders (default: tempcnn)")
    r.add_argument("--protocol", choices=PROTOCOLS, default="paper",
                   help="paper (validation carved from the training folds) or released (the authors' code: "
                        "validation on the test fold, and split seed 10 unless --split-seed is given)")
    r.add_argument("--split-seed", type=split_seed, default=None,
                   help="seed of the folds and the validation split, apart from the training seeds "
                        "(default: each training seed draws its own split; 10 with --protocol released)")
    r.add_argument("--folds-by", default=None, metavar="COLUMN",
                   help="folds (and the validation split) of whole groups of this metadata column, e.g. site: "
                        "test groups are never seen in training (default: folds of random rows, the paper's)")
    r.add_argument("--modalities", type=names, default=None,
                   help="train on these modalities of the dataset only, e.g. S1,S2 (default: all)")
    add_settings(r)
    r.add_argument("--monitor", choices=MONITORS, default=None,
                   help="early-stopping monitor: total (validation loss, the paper's rule), task (the task loss "
                        "of the single-modality views) or score (their F1 / R²) (default: the recipe's)")
    r.add_argument("--image-weights", default="", metavar="PATH",
                   help="local ResNet-50 weights for image modalities (mdico only; SHA-256 in the run id)")
    add_sweep(r, "the runs are spread")
    r.add_argument("--threads", type=thread_count, default=1,
                   help="CPU threads of each run, on every executor (default: 1; recorded in each record)")
    r.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    r.add_argument("--device", default=None, help="torch device, e.g. cuda (default: the profile's, cpu)")
    r.add_argument("--no-features", action="store_true", help="do not store test-set features")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--method-module", default=None, metavar="MODULE",
                   help="import your own method(s) from this module (my_pkg.my_method or my_pkg.my_method:MyMethod); "
                        "sets $MDICO_METHODS so that worker processes import it too")
    r.set_defaults(func=cmd_run, parser=r)

    s = sub.add_parser("status", help="done / pending / failed runs")
    s.add_argument("--profile", default=None, help="count pending runs of this profile's main job")
    s.add_argument("--dataset", type=names, default=None)
    s.add_argument("--methods", type=names, default=None)
    add_settings(s)
    add_results(s)
    s.set_defaults(func=cmd_status, parser=s)


# ---------------------------------------------------------------------------------- the runs
def plan_runs(profile: str, datasets: Sequence[str] | None = None, methods: Sequence[str] | None = None, *,
              variants: Sequence[str] = ("default",), encoders: Sequence[str] = ("tempcnn",),
              protocol: str = "paper", seeds: Sequence[int] | None = None,
              folds: Sequence[int | None] | None = None, save_features: bool = True, split_seed: int | None = None,
              train: dict[str, Any] | None = None, modalities: Sequence[str] | None = None,
              settings: str = "common", image_weights: str = "", folds_by: str | None = None) -> tuple[Any, list]:
    """(Profile, RunConfigs) of a command line; a bad name or combination raises ``ValueError``.

    `datasets` None: the profile's. ``protocol="released"`` runs on `RELEASED_SPLIT_SEED` (the
    released code's ``np.random.seed(10)`` folds) unless `split_seed` is given.
    """
    from mdico_core.data import get_dataset_entry
    from mdico_core.experiments.profile import load_profile

    if split_seed is None and protocol == "released":
        split_seed = RELEASED_SPLIT_SEED
    prof = load_profile(profile)
    configs = []
    for name in datasets or prof.datasets:
        configs += prof.configs(name, methods, variants=variants, encoders=encoders, protocol=protocol, seeds=seeds,
                                folds=folds, save_features=save_features, split_seed=split_seed, train=train,
                                modalities=modalities, settings=settings, image_weights=image_weights,
                                folds_by=folds_by)
        if folds and None in folds and not get_dataset_entry(name).official_split:
            raise ValueError(f"dataset {name!r} has no official split; give test folds, e.g. --folds 0,1,2")
    return prof, configs


def run_configs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Any, list]:
    """`plan_runs` of the parsed ``mdico run`` arguments; a bad name exits 2 through `parser`."""
    from mdico_core.methods.external import load_external, register_module

    try:
        if getattr(args, "method_module", None):
            register_module(args.method_module)  # and in $MDICO_METHODS, which the workers inherit
        # $MDICO_METHODS too, even when only built-in methods are named: a module of it that clashes with
        # a built-in name, or with another of yours, is refused here rather than ignored
        load_external()
    except ValueError as err:  # MethodCheckError: the module or class and what to fix
        parser.error(str(err))
    train = {k: v for k, v in (("device", args.device), ("monitor", args.monitor)) if v}
    try:
        prof, configs = plan_runs(args.profile, args.dataset, args.methods, variants=args.variants,
                                  encoders=args.encoders, protocol=args.protocol, seeds=args.seeds, folds=args.folds,
                                  save_features=not args.no_features, split_seed=args.split_seed,
                                  train=train or None, modalities=args.modalities, settings=args.settings,
                                  image_weights=args.image_weights, folds_by=getattr(args, "folds_by", None))
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    try:
        precheck_own_methods(configs)
    except ValueError as err:
        parser.error(str(err))
    return prof, configs


def precheck_own_methods(configs: Sequence[Any]) -> None:
    """The pre-training check (``external.check_method``) of each method of yours among `configs`, on each
    dataset it is to train on, with that dataset's own modality names and shapes: a method that reads another
    modality by name, raises, or gives a NaN loss is refused before any run starts. A dataset that cannot be
    loaded here is left to its runs (each checks itself again before training)."""
    from mdico_core.methods.external import EXTERNAL, check_on_problem

    seen: set[tuple] = set()
    for c in configs:
        key = (c.method, c.dataset, tuple(c.modalities or ()), c.encoder)
        if c.method not in EXTERNAL or key in seen:
            continue
        seen.add(key)
        try:
            from mdico_core.data import load_dataset
            from mdico_core.methods.base import ProblemSpec

            ds = load_dataset(c.dataset)
            ds = ds.select(c.modalities) if c.modalities is not None else ds
            spec = ProblemSpec.from_dataset(ds)
        except Exception:  # noqa: BLE001 -- data not here: each run reports its own loading error
            continue
        check_on_problem(c.method, spec, c.encoder)


def open_store(results: str | None, read_only: bool = False):
    """The results store at `results`; unreadable records are reported by `name_corrupt`, not warned, and
    left in place by a `read_only` command."""
    from mdico_core.cli._args import results_folder
    from mdico_core.experiments.store import CorruptRecordWarning, ResultsStore

    results_folder(results, read_only)
    warnings.simplefilter("ignore", CorruptRecordWarning)
    return ResultsStore(results, read_only=read_only)


def name_corrupt(store, dataset: str | None = None, lead: str = "warning: ") -> None:
    """Print, on stderr, every unreadable record found now or moved aside earlier and not yet re-run."""
    for msg in store.quarantined:
        print(f"{lead}{msg}", file=sys.stderr)
    for path in store.corrupt(dataset):
        if not any(str(path) in msg for msg in store.quarantined):
            print(f"{lead}unreadable results record moved aside to {path}; the next `mdico run` re-runs it",
                  file=sys.stderr)


# ---------------------------------------------------------------------------------- commands
def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico run``: sweep the planned runs into the store; exit 1 when a run failed."""
    from mdico_core.experiments.executors import SchedulerUnreachable, SweepStopped, sweep
    from mdico_core.experiments.store import StoreNotWritableError

    profile, configs = run_configs(args, parser)
    store = open_store(args.results)
    print(f"{len(configs)} run(s), profile {profile.name!r}, settings {args.settings!r}, store {store.root}")
    error = None
    try:
        report = sweep(configs, store=store, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.quiet, profile=profile.name, threads=args.threads)
    except (StoreNotWritableError, SchedulerUnreachable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except SweepStopped as err:
        report, error = err.report, str(err)
    name_corrupt(store, lead="note: ")
    print(report)
    for run_id in report.failed_ids:
        lines = (report.messages.get(run_id) or "").strip().splitlines()
        details = store.failure_path(run_id)
        print(f"  failed: {run_id}: {lines[0] if lines else ''}"
              + (f" (details: {details})" if details.is_file() else ""))
    for run_id, owner in report.claimed.items():
        print(f"  being trained by another sweep: {run_id} ({owner}); `mdico run` again picks it up if that one dies")
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
    return 1 if report.failed or error else 0


def cmd_status(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico status``: runs per dataset, method and status; pending runs of a profile; failures."""
    import pandas as pd

    warn_own_methods()
    check_names(parser, datasets=args.dataset, methods=args.methods, profile=args.profile)
    store = open_store(args.results, read_only=True)
    records = store.records()
    failed = [f for f in store.failures() if f.get("status") == "failed"]
    if args.dataset:
        records = [r for r in records if r["config"]["dataset"] in args.dataset]
        failed = [f for f in failed if f["config"]["dataset"] in args.dataset]
    print(f"store {store.root}")
    if records:
        df = pd.DataFrame([{"dataset": r["config"]["dataset"], "method": r["config"]["method"],
                            "settings": r["config"].get("settings", "common"), "status": r["status"]}
                           for r in records])
        print(df.groupby(["dataset", "method", "settings", "status"]).size().rename("runs").reset_index()
              .to_string(index=False))
    done = sum(r["status"] == "done" for r in records)
    nr = sum(r["status"] == "not_reproduced" for r in records)
    twice = sum(r["status"] == "failed" for r in records)  # failed again the same way: kept as the outcome
    line = f"done: {done}, not reproduced: {nr}, failed: {len(failed)}" + (f", failed twice (kept): {twice}"
                                                                            if twice else "")
    corrupt = [p for p in store.corrupt() if not args.dataset or p.parent.name in args.dataset]
    if corrupt:
        line += f", unreadable (moved aside, re-run by the next `mdico run`): {len(corrupt)}"
    if args.profile:
        try:
            _, configs = plan_runs(args.profile, args.dataset, args.methods, settings=args.settings)
        except (ValueError, FileNotFoundError) as err:
            parser.error(str(err))
        pending = [c for c in configs if not store.has(c)]
        line += f", pending ({args.profile} profile, {args.settings} settings): {len(pending)} of {len(configs)}"
    running = store.claims()
    if running:
        line += f", being trained now: {len(running)}"
    if store.quarantined:  # found now, left in place: status only reads
        line += f", unreadable (left in place; the next `mdico run` moves them aside and re-runs them): " \
                f"{len(store.quarantined)}"
    print(line)
    for method, n in stale_counts(records).items():
        print(f"  {n} stale run{'s' if n != 1 else ''} of {method} (code changed): the next `mdico run` of them "
              "trains them again")
    for p in corrupt:
        print(f"  unreadable {p.name.split('.')[0]}: moved aside to {p}")
    for msg in store.quarantined:
        print(f"  {msg}")
    for f in failed:
        c = f["config"]
        msg = (f.get("message") or "").splitlines()[0][:160] if f.get("message") else ""
        print(f"  failed {f['run_id']}: {c['dataset']} {c['method']}/{c['variant']} fold {c['fold']} "
              f"seed {c['seed']}: {msg}")
    return 0


def warn_own_methods(parser: argparse.ArgumentParser | None = None) -> None:
    """Load your methods ($MDICO_METHODS, entry points) for a command that lists or counts, and name on stderr
    each installed entry point that cannot be loaded, one line each: the rest stay listed. A module of
    $MDICO_METHODS that cannot be loaded is refused through `parser` (exit 2), else warned of."""
    from mdico_core.methods import external

    try:
        external.load_external()
    except ValueError as err:  # a module you named: refused where it would be listed, else left out
        if parser is not None:
            parser.error(str(err))
        print(f"warning: {err}", file=sys.stderr)
    for msg in external.BROKEN.values():
        print(f"warning: {msg}", file=sys.stderr)


def stale_counts(records: Sequence[dict]) -> dict[str, int]:
    """Method -> how many of `records` are runs of an older version of that method of yours
    (``external.stale_reason``)."""
    from mdico_core.methods.external import stale_reason

    out: dict[str, int] = {}
    for r in records:
        if stale_reason(r):
            m = r["config"]["method"]
            out[m] = out.get(m, 0) + 1
    return out
