"""The ``mdico`` command: run sweeps, check their status, print paper-vs-reproduction tables, manage data.

Examples::

    mdico run --dataset lfmc --methods individual,mdico --profile quick
    mdico run --dataset lfmc --methods all --profile paper --executor processes --workers 8
    mdico run --dataset lfmc --methods mdico --variants default,released --protocol released
    mdico run --dataset lfmc --methods mdico --profile paper --split-seed 10 --seeds 0,1,2,3,4
    mdico run --dataset presto_lfmc --methods mdico --modalities S1,S2
    mdico run --dataset lfmc --methods all --settings original --monitor task
    mdico methods
    mdico status --profile quick
    mdico table lfmc --profile quick --markdown
    mdico export lfmc --profile paper --out data/archived_runs/lfmc_paper.csv
    mdico table lfmc --archive data/archived_runs/lfmc_paper.csv
    mdico archive list && mdico archive export lfmc_ablation --results /path/to/store
    mdico data seed ../shared/data && mdico data status

Unknown dataset, method, variant, encoder or profile names exit with code 2 and list the valid
names. Heavy modules (torch, the methods) are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

# = mdico_core.experiments.executors.EXECUTORS, .config.SETTINGS and PROTOCOLS, .training.MONITORS, restated so
# `mdico data ...` does not import torch.
EXECUTORS = ("serial", "processes", "dask")
SETTINGS = ("common", "original")
MONITORS = ("total", "task", "score")
PROTOCOLS = ("paper", "released", "released_validation", "released_statistics")


def _ints(text: str) -> list[int | None]:
    """ "0,1,2" -> [0, 1, 2]; "official" or "none" -> None (the official split); empty is an error."""
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part.lower() in ("none", "official", "null"):
            out.append(None)
            continue
        try:
            out.append(int(part))
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{part!r} is not an integer (expected e.g. 0,1,2)") from err
    if not out:
        raise argparse.ArgumentTypeError(f"{text!r} names no value (expected e.g. 0,1,2)")
    return out


def _seeds(text: str) -> list[int]:
    """ "0,1" -> [0, 1]: seeds of numpy, torch and scikit-learn lie in [0, 2**32)."""
    out = _ints(text)
    bad = [s for s in out if s is None or not 0 <= s < 2**32]
    if bad:
        raise argparse.ArgumentTypeError(f"seeds are integers from 0 to 2**32 - 1; got {bad[0]}")
    return out  # type: ignore[return-value]


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


def _names(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``mdico`` (each subparser carries its handler as ``func``)."""
    p = argparse.ArgumentParser(prog="mdico", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="{run,status,table,export,archive,methods,data,book}")

    def results_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--results", default=None,
                        help="results folder (default: $MDICO_RESULTS_DIR or <repo>/results)")

    def settings_arg(sp: argparse.ArgumentParser, default: str | None = "common") -> None:
        sp.add_argument("--settings", choices=SETTINGS, default=default,
                        help="common: one budget for every method; original: each method's official recipe "
                             "(see `mdico methods`)" + (f" (default: {default})" if default else ""))

    r = sub.add_parser("run", help="train and evaluate every run not yet in the results store")
    r.add_argument("--dataset", type=_names, default=None,
                   help="dataset name(s), comma-separated (default: the profile's)")
    r.add_argument("--methods", type=_names, default=None,
                   help="method names, comma-separated, or 'all' (default: the profile's)")
    r.add_argument("--profile", default="quick", help="budget profile: smoke, quick, paper (default: quick)")
    r.add_argument("--variants", type=_names, default=["default"], help="method variants (default: default)")
    r.add_argument("--encoders", type=_names, default=["tempcnn"], help="encoders (default: tempcnn)")
    r.add_argument("--seeds", type=_seeds, default=None, help="seeds, e.g. 0,1 (default: the profile's)")
    r.add_argument("--folds", type=_ints, default=None,
                   help="test folds, e.g. 0,1,2, or 'official' (default: the profile's)")
    r.add_argument("--protocol", choices=PROTOCOLS, default="paper",
                   help="paper (validation carved from the training folds) or released (the authors' code: "
                        "validation on the test fold, and split seed 10 unless --split-seed is given)")
    r.add_argument("--split-seed", type=int, default=None,
                   help="seed of the folds and the validation split, apart from the training seeds "
                        "(default: each training seed draws its own split; 10 with --protocol released)")
    r.add_argument("--modalities", type=_names, default=None,
                   help="train on these modalities of the dataset only, e.g. S1,S2 (default: all)")
    settings_arg(r)
    r.add_argument("--monitor", choices=MONITORS, default=None,
                   help="early-stopping monitor: total (validation loss, the paper's rule), task (the task loss "
                        "of the single-modality views) or score (their F1 / R²) (default: the recipe's)")
    r.add_argument("--image-weights", default="", metavar="PATH",
                   help="local ResNet-50 weights for image modalities (mdico only; SHA-256 in the run id)")
    r.add_argument("--executor", choices=EXECUTORS, default="serial")
    r.add_argument("--workers", type=_positive_int, default=None,
                   help="processes or Dask workers (default: the CPU count; 2 for a local Dask cluster)")
    r.add_argument("--threads", type=_positive_int, default=1,
                   help="CPU threads of each run, on every executor (default: 1; recorded in each record)")
    r.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    r.add_argument("--device", default=None, help="torch device, e.g. cuda (default: the profile's, cpu)")
    r.add_argument("--no-features", action="store_true", help="do not store test-set features")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    results_arg(r)
    r.set_defaults(func=cmd_run, parser=r)

    s = sub.add_parser("status", help="done / pending / failed runs")
    s.add_argument("--profile", default=None, help="count pending runs of this profile's main job")
    s.add_argument("--dataset", type=_names, default=None)
    s.add_argument("--methods", type=_names, default=None)
    settings_arg(s)
    results_arg(s)
    s.set_defaults(func=cmd_status, parser=s)

    t = sub.add_parser("table", help="our mean ± std next to the paper's numbers")
    t.add_argument("dataset")
    t.add_argument("--profile", default=None, help="only runs recorded under this profile")
    t.add_argument("--metric", default=None, help="metric (default: f1_weighted or r2)")
    t.add_argument("--markdown", action="store_true", help="print a Markdown table")
    t.add_argument("--all-paper-rows", action="store_true", help="also list the paper's methods we have not run")
    t.add_argument("--archive", default=None, help="read the runs from this `mdico export` CSV, not the store")
    settings_arg(t)
    t.add_argument("--monitor", choices=MONITORS, default=None,
                   help="only runs trained with this early-stopping monitor (default: each method's recipe's)")
    results_arg(t)
    t.set_defaults(func=cmd_table, parser=t)

    e = sub.add_parser("export", help="write a dataset's run metrics and provenance to a CSV (an archive)")
    e.add_argument("dataset")
    e.add_argument("--out", required=True, help="CSV file to write, e.g. data/archived_runs/lfmc_paper.csv")
    e.add_argument("--profile", required=True, help="the profile whose runs to export (one per file)")
    settings_arg(e, default=None)
    results_arg(e)
    e.set_defaults(func=cmd_export, parser=e)

    from mdico_core.archive_cli import add_parser as add_archive_parser

    add_archive_parser(sub)  # `mdico archive ...` (its logic: mdico_core/archive_cli.py)

    mth = sub.add_parser("methods", help="every method, its variants and its training settings in both settings")
    mth.add_argument("--profile", default="paper", help="resolve the budgets of this profile (default: paper)")
    mth.add_argument("--dataset", default="lfmc", help="with this dataset's overrides (default: lfmc)")
    mth.add_argument("--markdown", action="store_true", help="print a Markdown table")
    mth.set_defaults(func=cmd_methods, parser=mth)

    sub.add_parser("book", help="run the profile's sweep, execute the notebooks, build the Jupyter Book "
                                "(see `mdico book --help`)")
    d = sub.add_parser("data", help="the data cache")
    d.set_defaults(func=cmd_data, parser=d)
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="{seed,fetch,status,info,list}")
    ds = dsub.add_parser("seed", help="copy verified files from a folder into the cache")
    ds.add_argument("folder")
    df = dsub.add_parser("fetch", help="download a cache file, a dataset's files, or all")
    df.add_argument("name", help="a registry file name, a dataset name, or 'all'")
    dsub.add_parser("status", help="which registry files are cached and verified")
    di = dsub.add_parser("info", help="describe a dataset (or all)")
    di.add_argument("name", nargs="?", default=None)
    dsub.add_parser("list", help="registered datasets")
    return p


# ---------------------------------------------------------------------------------- commands
def _configs(args: argparse.Namespace, parser: argparse.ArgumentParser):
    from mdico_core.data import get_dataset_entry
    from mdico_core.experiments.config import RELEASED_SPLIT_SEED, load_profile

    split_seed = getattr(args, "split_seed", None)
    if split_seed is None and args.protocol == "released":
        split_seed = RELEASED_SPLIT_SEED  # the released code's np.random.seed(10) folds
    try:
        profile = load_profile(args.profile)
        datasets = args.dataset or list(profile.datasets)
        configs = []
        train = {k: v for k, v in (("device", getattr(args, "device", None)),
                                    ("monitor", getattr(args, "monitor", None))) if v}
        for name in datasets:
            configs += profile.configs(
                name, args.methods, variants=args.variants, encoders=args.encoders, protocol=args.protocol,
                seeds=args.seeds, folds=args.folds, save_features=not args.no_features, split_seed=split_seed,
                train=train or None, modalities=getattr(args, "modalities", None), settings=args.settings,
                image_weights=getattr(args, "image_weights", ""))
            if args.folds and None in args.folds and not get_dataset_entry(name).official_split:
                raise ValueError(f"dataset {name!r} has no official split; give test folds, e.g. --folds 0,1,2")
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    return profile, configs


def _store(args: argparse.Namespace):
    """The results store named by ``--results``; unreadable records are reported by `_name_corrupt`."""
    from mdico_core.experiments.store import CorruptRecordWarning, ResultsStore

    warnings.simplefilter("ignore", CorruptRecordWarning)
    return ResultsStore(args.results)


def _name_corrupt(store, dataset: str | None = None, lead: str = "warning: ") -> None:
    """Print, on stderr, every unreadable record found now or moved aside earlier and not yet re-run."""
    for msg in store.quarantined:
        print(f"{lead}{msg}", file=sys.stderr)
    for path in store.corrupt(dataset):
        if not any(str(path) in msg for msg in store.quarantined):
            print(f"{lead}unreadable results record moved aside to {path}; the next `mdico run` re-runs it",
                  file=sys.stderr)


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from mdico_core.experiments.executors import SweepStopped, sweep
    from mdico_core.experiments.store import StoreNotWritableError

    profile, configs = _configs(args, parser)
    store = _store(args)
    print(f"{len(configs)} run(s), profile {profile.name!r}, settings {args.settings!r}, store {store.root}")
    error = None
    try:
        report = sweep(configs, store=store, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.quiet, profile=profile.name, threads=args.threads)
    except StoreNotWritableError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except SweepStopped as err:
        report, error = err.report, str(err)
    _name_corrupt(store, lead="note: ")
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
    import pandas as pd

    store = _store(args)
    records = store.records()
    failures = store.failures()
    failed = [f for f in failures if f.get("status") == "failed"]
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
    line = f"done: {done}, not reproduced: {nr}, failed: {len(failed)}"
    corrupt = [p for p in store.corrupt() if not args.dataset or p.parent.name in args.dataset]
    if corrupt:
        line += f", unreadable (moved aside, re-run by the next `mdico run`): {len(corrupt)}"
    if args.profile:
        ns = argparse.Namespace(profile=args.profile, dataset=args.dataset, methods=args.methods,
                                variants=["default"], encoders=["tempcnn"], protocol="paper", seeds=None,
                                folds=None, no_features=False, settings=args.settings)
        _, configs = _configs(ns, parser)
        pending = [c for c in configs if not store.has(c)]
        line += f", pending ({args.profile} profile, {args.settings} settings): {len(pending)} of {len(configs)}"
    running = store.claims()
    if running:
        line += f", being trained now: {len(running)}"
    print(line)
    for p in corrupt:
        print(f"  unreadable {p.name.split('.')[0]}: moved aside to {p}")
    for f in failed:
        c = f["config"]
        msg = (f.get("message") or "").splitlines()[0][:160] if f.get("message") else ""
        print(f"  failed {f['run_id']}: {c['dataset']} {c['method']}/{c['variant']} fold {c['fold']} "
              f"seed {c['seed']}: {msg}")
    return 0


def cmd_table(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from mdico_core.reporting.tables import compare_with_paper, to_markdown

    if args.archive:
        from mdico_core.reporting.archive import read_runs

        try:
            df = read_runs(args.archive)
        except (FileNotFoundError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        where = args.archive
        df = df[df["dataset"] == args.dataset]
    else:
        store = _store(args)
        df = store.collect(args.dataset)
        _name_corrupt(store, args.dataset)
        where = store.root
    if args.profile:
        df = df[df["profile"] == args.profile]
    from mdico_core.experiments.settings import select_settings

    df = select_settings(df, args.settings, args.monitor)  # settings and monitors never pool in one table
    if df.empty:
        how = (f"export them with `mdico export {args.dataset} --profile <name> --out <file>.csv`" if args.archive
               else f"run e.g. `mdico run --dataset {args.dataset}`")
        print(f"no runs of {args.dataset!r} in {where}" + (f" under profile {args.profile!r}" if args.profile else "")
              + f" in {args.settings} settings; {how} (or choose --settings)", file=sys.stderr)
        return 1
    if args.metric is not None:
        known = sorted(df["metric"].dropna().unique())
        if args.metric not in known:
            parser.error(f"unknown metric {args.metric!r}; valid metrics: {', '.join(known)}")
    table = compare_with_paper(df, args.dataset, metric=args.metric, include_missing=args.all_paper_rows)
    cols = ["paper_method", "variant", "view", "n", "ours", "paper", "diff", "p_vs_individual", "note"]
    if table["protocol"].nunique() > 1 or table["encoder"].nunique() > 1:
        cols[2:2] = ["encoder", "protocol"]
    table = table[cols].rename(columns={"paper_method": "method", "p_vs_individual": "p vs Individual"})
    if args.markdown:
        print(to_markdown(table))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 60):
            print(table.to_string(index=False, na_rep=""))
    return 0


def cmd_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from mdico_core.data import get_dataset_entry
    from mdico_core.reporting.archive import export_runs

    try:
        get_dataset_entry(args.dataset)
    except ValueError as err:
        parser.error(str(err))
    store = _store(args)
    try:
        df = export_runs(args.dataset, args.out, profile=args.profile, store=store, settings=args.settings)
    except (ValueError, OSError) as err:
        _name_corrupt(store, args.dataset)
        print(f"error: {err}", file=sys.stderr)
        return 1
    _name_corrupt(store, args.dataset, lead="warning: not in the archive: ")
    per_run = df.drop_duplicates("run_id")
    print(f"wrote {len(per_run)} runs ({len(df)} rows) of {args.dataset!r} to {args.out}")
    print(per_run.groupby(["method", "variant", "settings"], dropna=False).size().rename("runs").to_string())
    crashed = [f for f in store.failures()
               if f.get("status") != "not_reproduced" and (f.get("config") or {}).get("dataset") == args.dataset]
    if crashed:
        print(f"warning: {len(crashed)} crashed run(s) of {args.dataset!r} are not in the archive; "
              "`mdico status` lists them and a new `mdico run` retries them", file=sys.stderr)
    return 0


def cmd_methods(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import pandas as pd

    from mdico_core.experiments.settings import methods_table

    try:
        table, notes = methods_table(args.profile, args.dataset)
    except ValueError as err:
        parser.error(str(err))
    if args.markdown:
        from mdico_core.reporting.tables import to_markdown

        print(to_markdown(table))
        return 0
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_colwidth", 70):
        print(table.drop(columns=["variants", "stages", "sampling"]).to_string(index=False))
    print(f"\nbudgets resolved against profile {args.profile!r}" + (f", dataset {args.dataset!r}" if args.dataset else "")
          + "; '= common': the official recipe is the common one, so both settings name the same runs\n")
    for name, g in table.drop_duplicates(["method", "settings"]).groupby("method", sort=False):
        print(f"{name} (variants: {g['variants'].iloc[0]})")
        for _, r in g.iterrows():
            print(f"  {r['settings']}: stages: {r['stages']}; sampling: {r['sampling']}")
        for line in notes.get(name, []):
            print(f"    - {line}")
    return 0


def cmd_data(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import pandas as pd

    from mdico_core.data import cache

    sub = args.data_command
    if sub == "seed":
        try:
            report = cache.seed(args.folder)
        except FileNotFoundError as err:
            parser.error(str(err))
        except OSError as err:  # the cache folder cannot be written
            print(f"error: {err}", file=sys.stderr)
            return 1
        for key in ("seeded", "present", "missing", "rejected"):
            items = report.get(key, [])
            print(f"{key}: {len(items)}")
            for item in items if key != "present" else []:
                print(f"  {item}")
        return 0
    if sub == "fetch":
        from mdico_core.data import get_dataset_entry
        from mdico_core.data.registry import REGISTRY

        if args.name == "all":
            names = list(REGISTRY)
        elif args.name in REGISTRY:
            names = [args.name]
        else:
            try:
                names = list(get_dataset_entry(args.name).files)
            except ValueError:
                parser.error(f"unknown data file or dataset {args.name!r}; give 'all', a dataset "
                             f"(`mdico data list`) or a registry file (`mdico data status`)")
        errors = 0
        for name in names:
            try:
                print(f"ok   {name}: {cache.fetch(name)}")
            except Exception as err:  # report every file, then fail
                errors += 1
                print(f"FAIL {name}: {err}", file=sys.stderr)
        return 1 if errors else 0
    if sub == "status":
        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 70):
            print(cache.status().drop(columns=["url"]).to_string(index=False))
        return 0
    if sub == "info":
        from mdico_core.data import info

        if args.name is None:
            table = info.describe_all()
            short = [c for c in ("name", "paper_name", "task", "samples", "modalities", "stand_in_for", "present")
                     if c in table.columns]
            with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 60):
                print(table[short or list(table.columns)].to_string(index=False, na_rep=""))
            print("details and how to get absent data: mdico data info <name>")
            return 0
        try:
            desc = info.describe(args.name)
        except ValueError as err:
            parser.error(str(err))
        for k, v in (desc.items() if isinstance(desc, dict) else [("", desc)]):
            if v not in (None, "", [], {}):
                print(f"{k}: {v}" if k else v)
        if desc.get("present") and desc.get("counts_from") == "data":  # loaded: its Table-1 rows
            from mdico_core.data import load_dataset

            with pd.option_context("display.width", 200, "display.max_colwidth", 40):
                print("\n" + load_dataset(args.name).summary().to_string(index=False))
        return 0
    # list
    from mdico_core.data import DATASETS, get_dataset_entry

    try:
        get_dataset_entry("__list__")  # imports every loader module
    except ValueError:
        pass
    rows = [{"name": e.name, "paper name": e.paper_name, "task": e.task,
             "stand-in for": e.stand_in_for or "", "description": e.description} for e in DATASETS.values()]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 90):
        print(pd.DataFrame(rows).sort_values("name").to_string(index=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mdico`` (returns the exit code; argparse exits 2 on bad names)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["book"]:  # the book driver owns its options (`mdico book --help`)
        from mdico_core.bookbuild import main as book_main

        return book_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Each subcommand reports name errors through its own parser, so the usage line is specific.
        return args.func(args, args.parser)
    except BrokenPipeError:  # `mdico ... | head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
