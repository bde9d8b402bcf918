"""Small helpers written once for the whole package: where the checkout is, atomic writes, the code
version, the thread variables, paths as a page shows them, comma lists.

Everything here is dependency-free (standard library only), so that any module may import it
without pulling torch or pandas in.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


# ---------------------------------------------------------------------------------- locations
def repo_root() -> Path:
    """The folder that holds ``mdico_core/``: in a checkout, the one with notebooks/, book/ and data/.

    An installed package has no notebooks or book beside it; callers that need them say so
    (``bookbuild``, the archived sweeps).
    """
    return Path(__file__).resolve().parents[1]


def checkout_root() -> Path | None:
    """`repo_root` when running from a checkout (pyproject.toml beside ``mdico_core/``); None for an
    installed package, whose site-packages folder is no place for a data cache or a results store."""
    root = repo_root()
    return root if (root / "pyproject.toml").is_file() and (root / "mdico_core").is_dir() else None


# ---------------------------------------------------------------------------------- atomic writes
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files, which would hide records and cached data from the other users of a
# shared store or cache; files get the mode that open() would give them instead. Read once:
# os.umask is process-global.
FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write through `write(file)` into a temp file beside `path`, fsync, then rename it over `path`.

    `path` either keeps its old content or gets the whole new one: a process killed at any moment
    leaves at most a hidden ``.<name>.*.tmp`` file beside it, and an exception raised by `write`
    (e.g. a checksum that does not match what was written) leaves nothing. The file gets
    `FILE_MODE`, as if created by ``open()``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            share(f.fileno())
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def share(file: int | str | Path) -> None:
    """Give `file` (a path or an open descriptor) `FILE_MODE`, for files created by others' code."""
    try:
        if isinstance(file, int):
            os.fchmod(file, FILE_MODE)
        else:
            os.chmod(file, FILE_MODE)
    except OSError:  # some network filesystems refuse; the write still matters more
        pass


# ---------------------------------------------------------------------------------- threads
# The variables that size the OpenMP / BLAS pools of a process (and of the processes it starts).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_env(n: int) -> dict[str, str]:
    """`THREAD_VARIABLES` set to `n`: for ``os.environ.update`` or a worker's environment."""
    return {var: str(n) for var in THREAD_VARIABLES}
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


GENERATED_PAGES = "book/generated"  # the build's output, committed: not code


def git_state(root: Path | str | None = None) -> tuple[str | None, bool | None]:
    """(full commit, dirty) of the checkout at `root` (default: this repository); (None, None) outside git.

    Untracked files do not make a checkout dirty: scratch notebooks and exports not yet committed
    leave the code that ran unchanged. Nor do the book's generated pages (`GENERATED_PAGES`): papermill
    writes a page while it runs, so counting them would mark every page of a build as dirty.
    """
    where = Path(root) if root is not None else repo_root()
    commit = _git(where, "rev-parse", "HEAD")
    if not commit:
        return None, None
    status = _git(where, "status", "--porcelain", "--untracked-files=no", "--", ".",
                  f":(top,exclude){GENERATED_PAGES}")
    return commit.strip(), None if status is None else bool(status.strip())


@functools.lru_cache(maxsize=8)
def code_version(root: Path | None = None) -> dict[str, Any]:
    """What a run record says about the code: package version, git commit and dirty flag (None
    outside a git checkout), of `root` (default: this repository); computed once per process."""
    try:
        version = importlib.metadata.version("mdico-core")
    except importlib.metadata.PackageNotFoundError:
        from mdico_core import __version__ as version
    commit, dirty = git_state(root)
    return {"package_version": version, "git_commit": commit, "git_dirty": dirty}


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


def as_seed(text: str | int) -> int:
    """A seed: an integer in [0, 2**32), the range numpy, torch and scikit-learn all accept."""
    if str(text).strip().lower() in OFFICIAL:
        raise ParameterError(f"seeds are integers from 0 to 2**32 - 1; got {text!r}")
    n = as_int(text)
    if not 0 <= n < 2**32:
        raise ParameterError(f"seeds are integers from 0 to 2**32 - 1; got {n}")
    return n


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
    `item` converts one part: `str` (names), `as_int`, `as_seed` (seeds) or `as_fold` (folds). The three
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


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """A YAML file's content; a syntax error raises `ValueError` naming the file, the line and column and the
    problem, never yaml's traceback (profiles, dataset.yaml, ``MDICO_DATASETS`` files all read through here)."""
    import yaml

    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{where}: this {what} is not valid YAML ({problem}); fix that line") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: this {what} is not UTF-8 text ({err.reason})") from None
