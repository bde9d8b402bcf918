"""Small helpers written once for the whole package: the checkout root, the code version, comma lists.

Everything here is dependency-free (standard library only), so that any module may import it
without pulling torch or pandas in.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def repo_root() -> Path:
    """The folder that holds ``mdico_core/``: in a checkout, the one with notebooks/, book/ and data/.

    An installed package has no notebooks or book beside it; callers that need them say so
    (``bookbuild``, the archived sweeps).
    """
    return Path(__file__).resolve().parents[1]


# Environment variables that name the folders a page may mention, as a page shows them.
PATH_VARIABLES = ("MDICO_RESULTS_DIR", "MDICO_DATA_DIR")


def display_path(path: str | os.PathLike[str]) -> str:
    """`path` as a page or a message shows it, without the builder's machine in it where possible.

    Under a folder named by ``$MDICO_RESULTS_DIR`` / ``$MDICO_DATA_DIR``: ``$MDICO_DATA_DIR/lfmc/x.csv``;
    under the checkout: relative to it (``data/cache/x.csv``); under the home folder: ``~/...``;
    elsewhere the absolute path (a folder the reader named themselves).
    """
    p = Path(path).expanduser().resolve()
    roots = [(f"${v}", Path(os.environ[v]).expanduser().resolve()) for v in PATH_VARIABLES if os.environ.get(v)]
    roots += [("", repo_root()), ("~", Path.home().resolve())]
    for label, root in roots:
        if p == root or root in p.parents:
            rel = p.relative_to(root).as_posix()
            if not label:
                return rel
            return label if rel == "." else f"{label}/{rel}"
    return str(p)


# ---------------------------------------------------------------------------------- code version
def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(root: Path | str | None = None) -> tuple[str | None, bool | None]:
    """(full commit, dirty) of the checkout at `root` (default: this repository); (None, None) outside git.

    Untracked files do not make a checkout dirty: scratch notebooks and exports not yet committed
    leave the code that ran unchanged.
    """
    where = Path(root) if root is not None else repo_root()
    commit = _git(where, "rev-parse", "HEAD")
    if not commit:
        return None, None
    status = _git(where, "status", "--porcelain", "--untracked-files=no")
    return commit.strip(), None if status is None else bool(status.strip())


def git_version(root: Path | str | None = None) -> str:
    """The short code version shown on pages: ``<12-hex commit>`` plus ``+dirty`` when modified."""
    commit, dirty = git_state(root)
    if commit is None:
        return "unknown (not a git checkout)"
    return commit[:12] + ("+dirty" if dirty else "")


# ---------------------------------------------------------------------------------- comma lists
OFFICIAL = ("official", "none", "null")  # spellings of the official split where a fold is expected


_EXAMPLES = {"folds": ("0", "0, 1"), "seeds": ("7", "7, 8")}  # (one, two) values in a ParameterError


class ParameterError(ValueError):
    """A notebook or command-line parameter with a value that cannot mean anything.

    In a notebook it shows as its one-line message, not as a traceback (IPython renders an
    exception through its ``_render_traceback_``), so a reader who typed ``-p seeds x`` reads
    what to type instead.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"ParameterError: {self}"]


def as_int(text: str | int) -> int:
    """``"5"`` or 5 -> 5, with an error that shows the expected form (booleans and 7.5 are not seeds)."""
    if isinstance(text, bool) or (isinstance(text, float) and not float(text).is_integer()):
        raise ParameterError(f"{text!r} is not an integer (expected e.g. 0,1,2)")
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ParameterError(f"{text!r} is not an integer (expected e.g. 0,1,2)") from None


def as_fold(text: str | int | None) -> int | None:
    """A test fold: an integer, or ``"official"`` / ``"none"`` for the dataset's official split (None)."""
    if text is None or str(text).strip().lower() in OFFICIAL:
        return None
    try:
        return as_int(text)
    except ParameterError:
        raise ParameterError(f"{text!r} is not a fold (expected e.g. 0,1,2 or 'official')") from None


def parse_list(value: str | int | Iterable[Any] | None, item: Callable[[Any], T] = str,
               name: str | None = None) -> tuple[T, ...] | None:
    """A comma-separated list, a single value or a sequence as a tuple of ``item(part)``; None or ``""`` -> None.

    None means "the default" to every caller (the profile's seeds, the book plan's datasets).
    `item` converts one part: `str` (names), `as_int` (seeds) or `as_fold` (folds). The three
    spellings of papermill all work: ``-p seeds 7`` (an int), ``-p seeds 7,8`` (a string) and
    ``-y "seeds: [7, 8]"`` (a list). A value that is none of these raises `ParameterError`,
    whose message names the parameter `name` (when given) and the forms it accepts.

    >>> parse_list("croph_b, lfmc")
    ('croph_b', 'lfmc')
    >>> parse_list("0,official", as_fold)
    (0, None)
    >>> parse_list([5, 6], as_int)
    (5, 6)
    >>> parse_list(7, as_int)
    (7,)
    """
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            parts: list[Any] = [p.strip() for p in value.split(",") if p.strip()]
        elif isinstance(value, (int, float)):  # papermill passes `-p seeds 7` as the int 7
            parts = [value]
        elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
            parts = list(value)
        else:
            raise ParameterError(f"{value!r} is not a list")
        return tuple(item(p) for p in parts)
    except (ParameterError, ValueError, TypeError) as err:
        if name is None:
            raise ParameterError(str(err)) from None
        one, two = _EXAMPLES.get(name, ("7", "7, 8"))
        raise ParameterError(f"{name} = {value!r}: {err}. Write it as `-p {name} {one}`, `-p {name} "
                             f"{two.replace(' ', '')}` or `-y \"{name}: [{two}]\"` (papermill), or "
                             f"{name} = \"{two.replace(' ', '')}\" in the notebook") from None


def format_list(values: Iterable[object] | None) -> str | None:
    """The inverse of `parse_list` for the command line: ``(0, None)`` -> ``"0,official"``; None -> None."""
    if values is None:
        return None
    return ",".join("official" if v is None else str(v) for v in values)
