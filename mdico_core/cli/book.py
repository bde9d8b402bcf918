"""``mdico book``: sweep the runs every page reads, execute the notebooks, build the Jupyter Book
(`mdico_core.bookbuild.build_book`)."""

from __future__ import annotations

import argparse
from typing import Any

from mdico_core.cli._args import add_sweep, names


def add_parser(sub: Any) -> None:
    """The ``book`` subcommand: the grid options of ``mdico run`` (same names, same parsing), and the book's."""
    b = sub.add_parser("book", help="run the profile's sweep, execute the notebooks, build the Jupyter Book",
                       description="Sweep every run the book needs (the store keeps finished runs), execute each "
                                   "notebook with papermill, then build the book with jupyter-book.")
    # processes by default, as `make book`: a page's re-run command then trains on every core
    add_sweep(b, "the book's runs are spread", executor="processes")
    b.add_argument("--only", type=names, default=None,
                   help="pages to sweep and execute, comma-separated, e.g. 05_encoders or 02_main_results "
                        "(every main-results page); the others keep their last build")
    b.add_argument("--skip-sweep", action="store_true",
                   help="do not train: the pages show what the store holds and say what it lacks")
    b.add_argument("--sweep-only", action="store_true",
                   help="only train the runs of the pages (all, or --only); execute no notebook")
    b.add_argument("--book-dir", default=None, metavar="FOLDER",
                   help="book folder to build in place (default: a copy of <repo>/book in book/_build/local/, "
                        "which git ignores: the committed pages stay as they are)")
    b.add_argument("--commit-pages", action="store_true",
                   help="maintainers: build <repo>/book in place, rewriting the committed pages of book/generated/ "
                        "(then commit them)")
    b.add_argument("--kernel", default=None, help="Jupyter kernel for the notebooks (default: python3)")
    b.add_argument("--no-build", action="store_true", help="execute the notebooks but do not run jupyter-book")
    b.set_defaults(func=cmd_book, parser=b)


def cmd_book(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico book``: its last line names the built ``index.html`` (``Book: ...``; none with ``--sweep-only``)."""
    from mdico_core._util import display_path
    from mdico_core.bookbuild import build_book

    try:
        index = build_book(args.profile, args.seeds, args.folds, args.executor, args.workers, args.skip_sweep,
                           args.only, args.results, args.book_dir, args.kernel, build=not args.no_build,
                           sweep_only=args.sweep_only, commit_pages=args.commit_pages)
    except ValueError as err:  # an unknown profile or page, found before any work
        parser.error(str(err))
    if index is not None and not args.no_build:
        print(f"Book: {display_path(index)}")
    return 0
