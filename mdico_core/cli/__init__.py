"""The ``mdico`` command: sweeps, their status, paper-vs-reproduction tables, data, the book.

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
    mdico data seed ../shared/data && mdico data status
    mdico book --profile quick --seeds 0,1 --folds 0,official --results results/

One parser (`build_parser`), one module per group of subcommands: ``runs.py`` (run, status),
``tables.py`` (table, export, methods), ``data.py`` (data ...), ``book.py`` (book); the options
they share (``--results``, ``--profile``, ``--seeds``, ``--folds``, ``--executor``, ...) are
defined once in ``_args.py``. Unknown dataset, method, variant, encoder or profile names exit
with code 2 and one line listing the valid names. Heavy modules (torch, the methods) are
imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mdico_core.cli import archive, book, data, runs, tables
from mdico_core.cli.runs import plan_runs, run_configs


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``mdico`` (each subparser carries its handler as ``func`` and itself as
    ``parser``, so that an error's usage line is the subcommand's)."""
    p = argparse.ArgumentParser(prog="mdico", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    runs.add_parsers(sub)
    tables.add_parsers(sub)
    archive.add_parser(sub)
    data.add_parsers(sub)
    book.add_parser(sub)
    sub.metavar = "{" + ",".join(sub.choices) + "}"  # every subcommand, as added: the usage line never lags
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mdico`` (returns the exit code; argparse exits 2 on bad arguments)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return args.func(args, args.parser)
    except BrokenPipeError:  # `mdico ... | head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except NotADirectoryError as err:  # a data cache or store path that is a file: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # own data the user wrote (dataset.yaml, $MDICO_DATASETS): one line naming the file
        from mdico_core.data.dataset import DataValidationError
        from mdico_core.methods.external import MethodCheckError

        if not isinstance(err, (DataValidationError, MethodCheckError)):  # a method of yours, however reached
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1


__all__ = ["build_parser", "main", "plan_runs", "run_configs"]
