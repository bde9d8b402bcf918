"""Argument types and options shared by the subcommands of ``mdico``.

Every comma list is parsed by `mdico_core._util.parse_list`, so ``--folds 0,official`` and
``--seeds 5,6`` mean the same to `mdico run` and `mdico book`. A bad value exits with code 2 and
one line naming the option and the expected form (argparse's ``ArgumentTypeError``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

from mdico_core._util import as_fold, as_seed, parse_list
from mdico_core.options import EXECUTORS, SETTINGS

T = TypeVar("T")


def _comma_list(item: Callable[[Any], T], example: str) -> Callable[[str], list[T]]:
    def parse(text: str) -> list[T]:
        try:
            values = parse_list(text, item)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r} names no value (expected e.g. {example})")
        return list(values)

    return parse


names = _comma_list(str, "a,b")
"""``"individual, mdico"`` -> ``["individual", "mdico"]``."""
seeds = _comma_list(as_seed, "0,1,2")
"""``"0,1"`` -> ``[0, 1]``: integers from 0 to 2**32 - 1."""
folds = _comma_list(as_fold, "0,1,2")
"""``"0,official"`` -> ``[0, None]``: None is the dataset's official split."""


def positive_int(text: str) -> int:
    """``"4"`` -> 4; zero, negatives and non-integers are refused."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


MAX_THREADS = 1024
"""The most CPU threads a run may be given: more than any machine has, and within what torch accepts."""


def thread_count(text: str) -> int:
    """``"2"`` -> 2: from 1 to `MAX_THREADS` (a huge number would fail only once the run starts)."""
    n = positive_int(text)
    if n > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_THREADS}, got {text}")
    return n


def split_seed(text: str) -> int:
    """``"10"`` -> 10: a split seed is a seed, from 0 to 2**32 - 1 (refused here, not by a failed run)."""
    try:
        return as_seed(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def folder(text: str) -> str:
    """A folder path, not empty (``''`` would mean the current folder, silently)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path, which would mean the current folder; give a folder")
    return text


def add_results(sp: argparse.ArgumentParser) -> None:
    """``--results``: the results store, the same option in every subcommand that reads or writes it."""
    sp.add_argument("--results", default=None, metavar="FOLDER", type=folder,
                    help="results store (default: $MDICO_RESULTS_DIR or <repo>/results)")


def add_settings(sp: argparse.ArgumentParser, default: str | None = "common") -> None:
    """``--settings``: "common" or "original" (`mdico_core.options.SETTINGS`)."""
    sp.add_argument("--settings", choices=SETTINGS, default=default,
                    help="common: one budget for every method; original: each method's official recipe "
                         "(see `mdico methods`)" + (f" (default: {default})" if default else ""))


def add_sweep(sp: argparse.ArgumentParser, what: str, executor: str = "serial") -> None:
    """The options that say which grid a sweep covers and how it runs: profile, seeds, folds,
    executor, workers, results (the same for `mdico run` and `mdico book`; `executor`: the default)."""
    sp.add_argument("--profile", default="quick", help="budget profile: smoke, quick, paper (default: quick)")
    sp.add_argument("--seeds", type=seeds, default=None, help="seeds, e.g. 0,1 (default: the profile's)")
    sp.add_argument("--folds", type=folds, default=None,
                    help="test folds, e.g. 0,1,2, or 'official' (default: the profile's)")
    sp.add_argument("--executor", choices=EXECUTORS, default=executor, help=f"how {what} (default: {executor})")
    sp.add_argument("--workers", type=positive_int, default=None,
                    help="processes or Dask workers (default: the CPU count; 2 for a local Dask cluster)")
    add_results(sp)


# ---------------------------------------------------------------------------------- names, checked once
def check_names(parser: argparse.ArgumentParser, *, datasets: list[str] | str | None = None,
                methods: list[str] | None = None, profile: str | None = None) -> None:
    """Refuse unknown dataset, method or profile names with the valid ones (exit 2), before anything reads
    a store: every subcommand that takes these names calls this, so none answers "no runs" for a typo."""
    from mdico_core.data import get_dataset_entry

    try:
        for d in [datasets] if isinstance(datasets, str) else datasets or []:
            get_dataset_entry(d)
        if methods:
            from mdico_core.methods import METHODS, all_methods

            known = all_methods()  # yours too ($MDICO_METHODS, entry points)
            unknown = [m for m in methods if m != "all" and m not in known]
            if unknown:
                yours = sorted(set(known) - set(METHODS))
                raise ValueError(f"unknown method(s) {', '.join(unknown)}; valid methods: {', '.join(sorted(METHODS))} "
                                 f"or 'all'" + (f"; yours: {', '.join(yours)}" if yours else ""))
        if profile is not None:
            from mdico_core.experiments.profile import load_profile

            load_profile(profile)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))


def results_folder(results: str | None, read_only: bool = False) -> None:
    """Refuse a results store path that exists and is not a folder (one line, exit 1); for a `read_only`
    command, one under a file too (a writing command finds it when it checks the store is writable)."""
    import os
    import sys
    from pathlib import Path

    path = Path(results if results is not None else os.environ.get("MDICO_RESULTS_DIR", "") or ".")
    if results is not None or os.environ.get("MDICO_RESULTS_DIR"):
        if path.exists() and not path.is_dir():
            sys.exit(f"error: the results store {path} is a file, not a folder: pass --results <folder> "
                     "(it is created if missing)")
        for up in path.parents if read_only else ():  # under a file (/etc/hostname/store): can never exist
            if up.exists():
                if not up.is_dir():
                    sys.exit(f"error: the results store {path} is under {up}, which is a file, not a folder: pass "
                             "--results <folder>")
                break
