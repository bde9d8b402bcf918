"""``mdico archive``: the archived sweeps (``experiments.archives``): list, status, run, confirm-failures, export.

Examples::

    mdico archive list
    mdico archive status lfmc_ablation --results /path/to/store
    mdico archive run lfmc_ablation --executor processes --workers 2
    mdico archive confirm-failures lfmc_ablation --results /path/to/store  # a crash that repeats is kept
    mdico archive export lfmc_ablation --results /path/to/store            # refuses missing runs
    mdico archive export lfmc_ablation --results /path/to/store --partial  # says so in its manifest

This module only parses and prints; the work is in ``experiments.archives`` (definitions, status)
and ``experiments.archive_io`` (export). Heavy modules are imported by the commands that need them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mdico_core.cli._args import folder, positive_int, thread_count
from mdico_core.options import EXECUTORS

COMMANDS = ("list", "status", "run", "confirm-failures", "export")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``archive`` and its subcommands to the ``mdico`` subparsers `sub`; returns its parser."""
    a = sub.add_parser("archive", help="the archived paper-protocol sweeps: list, status, run, export")
    asub = a.add_subparsers(dest="archive_command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    asub.add_parser("list", help="every archive: its runs, companion data and whether it is exported")
    results_help = "results folder (default: $MDICO_RESULTS_DIR or <repo>/results)"
    st = asub.add_parser("status", help="done / pending / failed runs of an archive in a results store")
    st.add_argument("name")
    st.add_argument("--results", default=None, type=folder, help=results_help)
    r = asub.add_parser("run", help="train the archive's runs that the store lacks (from a clean checkout)")
    r.add_argument("name")
    r.add_argument("--results", default=None, type=folder, help=results_help)
    r.add_argument("--executor", choices=EXECUTORS, default="serial")
    r.add_argument("--workers", type=positive_int, default=None, help="processes or Dask workers")
    r.add_argument("--threads", type=thread_count, default=None,
                   help="CPU threads of each run (default: the archive's, else 1); an archive that names its "
                        "thread count takes no other")
    r.add_argument("--scheduler", default=None, help="Dask scheduler address")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    c = asub.add_parser("confirm-failures", help="re-run each crashed run once; one that fails the same way again is "
                                                 "kept as its outcome (from a clean checkout)")
    c.add_argument("name")
    c.add_argument("--results", default=None, type=folder, help=results_help)
    e = asub.add_parser("export", help="write data/archived_runs/<name>.csv, .npz (companion) and .json (manifest)")
    e.add_argument("name")
    e.add_argument("--results", required=True, type=folder, help="the results store holding the archive's runs")
    e.add_argument("--partial", action="store_true",
                   help="export the runs that are there when some are missing (the manifest says which)")
    e.add_argument("--out-dir", default=None, type=folder, help="folder to write to (default: data/archived_runs)")
    a.set_defaults(func=main, parser=a)
    return a


def main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``mdico archive <command>``; returns the exit code (2 for an unknown archive name)."""
    from mdico_core.experiments.archives import ARCHIVES, get_archive

    if args.archive_command == "list":
        return _list(ARCHIVES)
    try:
        archive = get_archive(args.name)
    except ValueError as err:
        parser.error(str(err))
    from mdico_core.experiments.store import ResultsStore

    store = ResultsStore(args.results)
    if args.archive_command == "status":
        return _status(archive, store)
    if args.archive_command in ("run", "confirm-failures"):
        from mdico_core import _util

        commit, dirty = _util.git_state()
        if commit is None or dirty is not False:
            print(f"error: archive {archive.name} is the code of one clean commit, and this checkout is "
                  f"{'not a git checkout' if commit is None else 'modified'}: commit or stash the changes to tracked "
                  "files first (`mdico archive export` refuses runs of a dirty working tree)", file=sys.stderr)
            return 1
    if args.archive_command == "confirm-failures":
        return _confirm_failures(archive, store)
    if args.archive_command == "run":
        from mdico_core.experiments.executors import sweep

        threads = args.threads if args.threads is not None else archive.threads or 1
        if archive.threads is not None and threads != archive.threads:
            print(f"error: archive {archive.name} is defined at {archive.threads} torch threads per run; drop "
                  f"--threads {threads}", file=sys.stderr)
            return 1
        from mdico_core.experiments.archive_io import other_threads_message
        from mdico_core.experiments.archives import status

        other = status(archive, store)["other_threads"]
        if other:
            print(f"error: {other_threads_message(archive, store, other)}", file=sys.stderr)
            return 1
        from mdico_core.experiments.archive_io import ArchiveError, archived_run_ids

        try:  # runs the exported archive already holds are not trained again (the store may be new)
            held = archived_run_ids(archive)
        except ArchiveError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        todo = [c for c in archive.configs() if c.run_id not in held]
        print(f"archive {archive.name}: {len(archive.configs())} runs (profile {archive.profile}, {threads} "
              f"thread(s) each), {len(archive.configs()) - len(todo)} of them already in the exported archive; "
              f"store {store.root}")
        from mdico_core.experiments.executors import SchedulerUnreachable

        try:
            report = sweep(todo, store=store, executor=args.executor, workers=args.workers,
                           scheduler=args.scheduler, progress=not args.quiet, profile=archive.profile, threads=threads)
        except SchedulerUnreachable as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(report)
        return 1 if report.failed else 0
    from mdico_core.experiments.archive_io import ArchiveError, export_archive

    try:
        info = export_archive(archive, store, partial=args.partial, folder=args.out_dir)
    except (ArchiveError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote archive {archive.name}: {info['runs_exported']} of {info['runs_defined']} runs"
          + (" (PARTIAL: the manifest lists the missing runs)" if info["partial"] else "")
          + (f", {len(info['failed_runs'])} of them failed twice the same way" if info.get("failed_runs") else "")
          + f", companion {info['companion_runs']}, to {', '.join(info['files'])} and {archive.name}.json")
    print(f"commits: {info['commits']}; wall time {info['wall_time_h']} h, training {info['train_time_h']} h")
    return 0


def _list(archives: dict) -> int:
    from mdico_core.experiments.archive_io import ArchiveError, verify_archive

    for a in archives.values():
        try:
            info = verify_archive(a)
            exported = ("not exported" if info is None else
                        f"exported: {info['runs_exported']} of {info['runs_defined']} runs"
                        + (", partial" if info.get("partial") else "")
                        + (f", {len(info['failed_runs'])} failed twice (kept)" if info.get("failed_runs") else ""))
        except ArchiveError as err:
            exported = f"CORRUPT: {err}"
        kept = ", ".join(f"{k} of {len(a.companion_runs(k))} runs" for k in ("histories", "features", "predictions")
                         if a.companion_runs(k)) or "none"
        print(f"{a.name}: {a.title}\n  {len(a.configs())} runs on {a.dataset}, {exported} "
              f"({a.csv_path.name}); companion data: {kept}")
        if a.threads is not None:
            twin = f"; the same run ids at 1 thread are archive {a.counterpart}" if a.counterpart else ""
            print(f"  {a.threads} torch threads per run{twin}: train it into a store of its own (--results)")
        for part, cmd in zip(a.parts, a.commands()):
            print(f"    {cmd}" + (f"    # {part.why}" if part.why else ""))
    return 0


def _confirm_failures(archive: Any, store: Any) -> int:
    """Re-run the archive's crashed runs once each, at its thread count (`runner.confirm_failure`)."""
    from mdico_core.experiments import runner
    from mdico_core.experiments.archives import status

    crashed = status(archive, store)["failed"]
    if not crashed:
        print(f"archive {archive.name}: no crashed run in {store.root}")
        return 0
    runner.configure_threads(archive.threads or 1)  # as `mdico archive run`: the run must be the one that crashed
    for cfg in crashed:
        outcome, message = runner.confirm_failure(cfg, store, profile=archive.profile)
        print(f"{cfg.run_id} ({cfg.label()}): {outcome}" + (f" ({message})" if message else ""), flush=True)
    print("runs that failed twice are held by `mdico archive export` as their outcome; the others are left to "
          f"`mdico archive run {archive.name}`")
    return 0


def _status(archive: Any, store: Any) -> int:
    from mdico_core.experiments.archive_io import ArchiveError, archived_run_ids
    from mdico_core.experiments.archives import status

    state = status(archive, store)
    try:
        held = archived_run_ids(archive)
    except ArchiveError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    # pending in this store but held by the exported archive: the next export keeps them
    state["archived"] = [c for c in state["pending"] if c.run_id in held]
    state["pending"] = [c for c in state["pending"] if c.run_id not in held]
    total = sum(map(len, state.values()))
    shown = [k for k in state if (k != "other_threads" or archive.threads is not None)  # only where it can occur
             and (k not in ("archived", "failed_twice") or state[k])]
    print(f"archive {archive.name} in {store.root}: " + ", ".join(f"{k} {len(state[k])}" for k in shown)
          + f" (of {total})")
    for part, cmd in zip(archive.parts, archive.commands()):
        ids = {c.run_id for c in part.configs(archive.dataset)}
        left = sum(c.run_id in ids for k in ("pending", "failed", "running", "other_threads") for c in state[k])
        print(f"  {'done   ' if not left else f'{left:4d} to go'}  {cmd}")
    if state["other_threads"]:
        from mdico_core.experiments.archive_io import other_threads_message

        print(f"  note: {other_threads_message(archive, store, state['other_threads'])}")
    return 0
