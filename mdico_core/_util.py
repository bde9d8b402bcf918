"""Small helpers written once for the whole package: the checkout root, the code version, comma lists.

Everything here is dependency-free (standard library only), so that any module may import it
without pulling torch or pandas in.
"""

from __future__ import annotations

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


def as_int(text: str | int) -> int:
    """``"5"`` -> 5, with an error that shows the expected form."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer (expected e.g. 0,1,2)") from None


def as_fold(text: str | int | None) -> int | None:
    """A test fold: an integer, or ``"official"`` / ``"none"`` for the dataset's official split (None)."""
    if text is None or str(text).strip().lower() in OFFICIAL:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a fold (expected e.g. 0,1,2 or 'official')") from None


def parse_list(value: str | Iterable[Any] | None, item: Callable[[Any], T] = str) -> tuple[T, ...] | None:
    """A comma-separated list (or a sequence) as a tuple of ``item(part)``; None or ``""`` -> None.

    None means "the default" to every caller (the profile's seeds, the book plan's datasets).
    `item` converts one part: `str` (names), `as_int` (seeds) or `as_fold` (folds).

    >>> parse_list("croph_b, lfmc")
    ('croph_b', 'lfmc')
    >>> parse_list("0,official", as_fold)
    (0, None)
    >>> parse_list([5, 6], as_int)
    (5, 6)
    """
    if value is None or value == "":
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else list(value)
    return tuple(item(p) for p in parts)


def format_list(values: Iterable[object] | None) -> str | None:
    """The inverse of `parse_list` for the command line: ``(0, None)`` -> ``"0,official"``; None -> None."""
    if values is None:
        return None
    return ",".join("official" if v is None else str(v) for v in values)
