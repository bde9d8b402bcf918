"""Build the book: sweep every run once, execute each notebook with papermill, run jupyter-book.

``build_book("quick")`` (``mdico book``) does, in order:

1. ``sweep(book_plan.all_configs(profile, seeds, folds))`` into the results store: every run the
   book needs, trained once (the store skips finished runs, so a rebuild, or a rebuild with
   more seeds, only trains what is new);
2. papermill executes each page of the registry (``reporting.book.pages.PAGES``; a notebook of ``notebooks/``,
   which only reads the store) into ``generated/`` of `BUILD_COPY` (the committed pages of ``book/generated/``
   stay the reference; ``commit_pages`` rewrites those), with the parameters injected (02_main_results
   once per paper benchmark, and once per archived sweep of
   ``book_plan.ARCHIVED``, which shows the archive and checks this build's runs against it; the
   analysis pages show their archive, ``Page.archives``, the same way), hides the
   parameter cells and titles the main-results pages; a failing cell raises, so a broken page fails
   the build;
3. ``jupyter-book build <book> -W``: any Sphinx warning fails the build.

The reproducibility page runs last and reads ``generated/build_info.json``, this build's log.
The command line (``mdico book --help``) is ``mdico_core/cli/book.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mdico_core._util import (
    ParameterError,
    as_fold,
    as_seed,
    code_version,
    display_path,
    format_list,
    parse_list,
    repo_root,
)
from mdico_core.data.availability import availability, resolve_all
from mdico_core.reporting.book import book_plan
from mdico_core.reporting.book.pages import PAGES
from mdico_core.reporting.core import paper

REPO_ROOT = repo_root()
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BOOK_DIR = REPO_ROOT / "book"
# The reader's build: a copy of book/ under its ignored _build/, so that `make book` leaves the
# committed pages (book/generated/, the reference a fresh clone builds) and `git status` untouched.
BUILD_COPY = BOOK_DIR / "_build" / "local"
HIDDEN_TAGS = ("parameters", "injected-parameters")  # cells removed from the pages (the banner states them)
# ipykernel warns on every start that its TCP sockets are not encrypted; the kernels papermill
# starts here listen on localhost for one notebook, so the warning is only noise in the build log.
KERNEL_ARGS = ("--log-level=ERROR",)


def _quiet_kernel_manager() -> type:
    """jupyter_client's kernel manager, less the interrupt (SIGINT) it sends a kernel it shuts down.

    That interrupt exists to stop a kernel still busy in a cell; ours are idle, their page executed,
    and one the signal reaches in the tail of its last request logs ``[IPKernelApp] ERROR |
    KeyboardInterrupt caught in kernel.`` into the build's output, after a page that succeeded. A busy
    kernel (a build stopped half-way) still goes: the shutdown request, then SIGTERM, then SIGKILL.
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if not self.shutting_down:  # an interrupt asked for (nbclient's on a timeout) still goes
                await super()._async_interrupt_kernel()

    return QuietShutdownKernelManager


def build_copy(source: Path | None = None, copy: Path | None = None) -> Path:
    """Refresh the reader's build copy of the book (default: `BUILD_COPY` from `BOOK_DIR`); returns it.

    Every source of `source` but its ``_build/`` and ``generated/`` is copied over (an edited intro
    shows in the next build); ``generated/`` keeps the pages a previous build executed there and
    takes the committed page for any it lacks, so that ``mdico book --only X`` on a fresh clone shows
    the committed build of every other page.
    """
    import shutil

    source = BOOK_DIR if source is None else Path(source)
    copy = BUILD_COPY if copy is None else Path(copy)
    copy.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name in ("_build", "generated"):
            continue
        if item.is_dir():
            shutil.copytree(item, copy / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, copy / item.name)
    (copy / "generated").mkdir(exist_ok=True)
    for page in sorted((source / "generated").glob("*.ipynb")):
        if not (copy / "generated" / page.name).is_file():
            shutil.copy2(page, copy / "generated" / page.name)
    return copy


def pages() -> list[tuple[str, str, dict[str, Any]]]:
    """(source notebook, generated page name, extra parameters) of every page, in build order.

    The reproducibility page comes last so that it can report this build's timings.
    """
    records = sorted(PAGES.values(), key=lambda p: p.reports_build)  # stable: the registry's order otherwise
    return [(p.notebook, name, extra) for p in records for name, extra in p.generated()]


def _selected(only: Sequence[str] | None, source: str, name: str) -> bool:
    """Is page `name` (of notebook `source`) chosen by `only`: a source, an exact page name, or a prefix
    that is not itself a page name (``02_main_results_lfmc`` is that page, not also its archived twin)."""
    if not only:
        return True
    names = {n for _, n, _ in pages()}
    return any(o in (source, name) or (o not in names and name.startswith(o)) for o in only)


def _page_title(source: str, extra: dict[str, Any]) -> str | None:
    return PAGES[source].heading(extra)


def finish_notebook(path: Path, title: str | None = None) -> None:
    """Hide the parameter cells of an executed notebook and, if given, replace its first heading."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):  # papermill writes absolute paths: no builder's machine on a page
        if meta.get(key):
            shown = display_path(meta[key])
            meta[key] = shown if not Path(shown).is_absolute() else Path(shown).name
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if any(t in tags for t in HIDDEN_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")
    if title:
        first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
        if first is not None:
            lines = first.source.splitlines()
            body = lines[1:] if lines and lines[0].startswith("# ") else lines
            first.source = "\n".join([title, *body])
    nbformat.write(nb, path)


def stub_notebook(source: Path, dest: Path, title: str | None = None) -> None:
    """A page for a notebook not executed in this build: its prose only, and a note saying so."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "markdown" and "{glue" not in c.source][:1]
    note = nbformat.v4.new_markdown_cell(
        "*This page was not executed in this build (`mdico book --only ...`); run `mdico book` to generate it.*")
    nb.cells = [*cells, note]
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    if title:
        finish_notebook(dest, title)


def execute_notebook(source: Path, dest: Path, parameters: dict[str, Any], kernel: str | None = None,
                     title: str | None = None) -> float:
    """Execute `source` into `dest` with papermill (cwd: the notebooks folder); returns seconds taken."""
    import papermill as pm

    t0 = time.perf_counter()
    dest.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(source), str(dest), parameters=parameters, kernel_name=kernel,
                        cwd=str(source.parent), progress_bar=False, log_output=False,
                        extra_arguments=list(KERNEL_ARGS), kernel_manager_class=_quiet_kernel_manager())
    finish_notebook(dest, title)
    return time.perf_counter() - t0


def jupyter_book_build(book_dir: Path, strict: bool = True) -> None:
    """``jupyter-book build <book_dir> [-W --keep-going]``; raises `RuntimeError` with its log on failure."""
    script = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-c",
                                                   "import sys; from jupyter_book.cli.main import main; sys.exit(main())"]
    cmd += ["build", str(book_dir)] + (["-W", "--keep-going"] if strict else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n"
                           f"{proc.stderr[-6000:]}")


def fill_store(notebook: str, profile: str = "quick", dataset: str | Sequence[str] | None = None,
               seeds: str | Sequence[int] | None = None, folds: str | Sequence[int | None] | None = None,
               results_dir: str | Path | None = None, executor: str = "serial",
               workers: int | None = None) -> Any:
    """Train the runs page `notebook` reads (at `profile`, for its `dataset` parameter) that the store lacks.

    What a page's banner asks for when its runs are missing (``page.fill_command``); returns the
    ``SweepReport``.
    """
    from mdico_core.experiments import ResultsStore, sweep

    cfgs = book_plan.configs(notebook, profile, dataset, parse_list(seeds, as_seed), parse_list(folds, as_fold))
    return sweep(cfgs, store=ResultsStore(results_dir), executor=executor, workers=workers, progress=True,
                 profile=profile)


def build_book(profile: str = "quick", seeds: str | Sequence[int] | None = None,
               folds: str | Sequence[int | None] | None = None, executor: str = "serial",
               workers: int | None = None, skip_sweep: bool = False, only: str | Sequence[str] | None = None,
               results_dir: str | Path | None = None, book_dir: str | Path | None = None,
               kernel: str | None = None, build: bool = True, sweep_only: bool = False,
               commit_pages: bool = False) -> Path | None:
    """Sweep, execute every notebook, build the book; returns the built ``index.html``.

    Args:
        profile: budget profile ("smoke", "quick", "paper").
        seeds, folds: override the profile's (``"5,6"``, ``"0,official"`` or a list); runs already
            stored are reused.
        executor, workers: how the sweep runs (``"serial"``, ``"processes"``, ``"dask"``); with
            ``"processes"`` the notebooks also run `workers` at a time (default: the CPU count).
        skip_sweep: do not sweep (the pages show what the store holds and say what it lacks).
        only: page names (e.g. ``"05_encoders"``, ``"02_main_results_lfmc"`` or ``"02_main_results"``
            for every main-results page) to sweep and execute; the other pages keep their last
            build, or get a stub.
        results_dir: the results store (default: ``$MDICO_RESULTS_DIR`` or ``<repo>/results``).
        book_dir: the book folder, built in place: pages go to ``<book_dir>/generated`` (default: the
            build copy `BUILD_COPY`, refreshed from ``<repo>/book`` by `build_copy`, which git ignores).
        kernel: Jupyter kernel name for papermill (default: the notebooks' own, ``python3``).
        build: run jupyter-book after executing the notebooks.
        sweep_only: stop after the sweep (no notebook, no book); returns None.
        commit_pages: for maintainers: build ``<repo>/book`` in place, so that the pages to commit
            (``book/generated/`` and its ``build_info.json``) are this build's.
    """
    t_start = time.perf_counter()
    seeds_t, folds_t = parse_list(seeds, as_seed, "seeds"), parse_list(folds, as_fold, "folds")
    only_t = parse_list(only)
    results = str(Path(results_dir).resolve()) if results_dir is not None else None
    try:
        bp = book_plan.book_plan(profile)  # an unknown profile fails here, before any work
    except ValueError as err:
        raise ParameterError(str(err)) from None
    if commit_pages and book_dir is not None:
        raise ParameterError("--commit-pages builds book/ itself, where the committed pages are: drop --book-dir")
    chosen = [p for p in pages() if _selected(only_t, p[0], p[1])]
    if only_t and not chosen:
        valid = sorted({p[0] for p in pages()} | {p[1] for p in pages()})
        raise ParameterError(f"--only {only_t} matches no page; valid pages: {', '.join(valid)}")
    idle = _pages_without_runs(chosen, profile, seeds_t, folds_t)
    if idle:  # the build goes on (those pages say how to get the data), but not silently
        print(_not_run_warning(idle, bp), file=sys.stderr)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the kernels inherit it; 2-core laptops stay usable
    version = code_version()  # the committed pages must be built from the code they ship (a test checks it)
    info: dict[str, Any] = {"profile": profile, "seeds": seeds_t or "profile", "folds": folds_t or "profile",
                            "executor": executor, "workers": workers or "default",
                            "git_commit": version["git_commit"], "git_dirty": version["git_dirty"]}
    if not skip_sweep:
        info.update(_sweep(chosen if only_t else None, profile, seeds_t, folds_t, results, executor, workers))
    if sweep_only:
        _say_last(idle, bp)
        return None

    if book_dir is not None:
        book = Path(book_dir)
    else:
        book = BOOK_DIR if commit_pages else build_copy()
    generated = book / "generated"
    generated.mkdir(parents=True, exist_ok=True)
    # the store reaches the kernels as $MDICO_RESULTS_DIR, not as a parameter: the pages then name
    # it `$MDICO_RESULTS_DIR`, never by a path of the builder's machine
    base = {"profile": profile, "seeds": format_list(seeds_t), "folds": format_list(folds_t), "results_dir": None}
    # one record per full build (the reproducibility page reports it); a partial build (--only) is
    # recorded beside it, so that rebuilding one page does not rewrite what the whole book measured
    info_path = generated / ("build_info_partial.json" if only_t else "build_info.json")
    info["pages"] = "all" if not only_t else ", ".join(name for _, name, _ in chosen)
    info_path.write_text(json.dumps(info, indent=1))
    timings: dict[str, float] = {}
    kernel_env = {"MDICO_BOOK_BUILD_INFO": str(info_path),  # read by the reproducibility page's kernel
                  **({"MDICO_RESULTS_DIR": results} if results is not None else {})}
    previous = {k: os.environ.get(k) for k in kernel_env}
    os.environ.update(kernel_env)
    t_notebooks = time.perf_counter()
    try:  # the sweep's parallelism also runs the pages, each its own kernel (none when serial)
        _execute_pages(chosen, generated, base, kernel, info, info_path, timings,
                       workers=(workers or os.cpu_count() or 1) if executor == "processes" else 1)
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    info["notebooks_s"] = round(time.perf_counter() - t_notebooks, 1)
    info_path.write_text(json.dumps(info, indent=1))
    if build:
        jupyter_book_build(book)
    index = book / "_build" / "html" / "index.html"
    _say_last(idle, bp)
    took = f"{time.perf_counter() - t_start:.0f} s"
    print(f"book built in {took}: {display_path(index)}" if build else
          f"pages executed in {took} into {display_path(generated)} (no book built)", file=sys.stderr)
    return index


def _not_run_warning(idle: list[str], bp: Any, done: bool = False) -> str:
    """The line naming the pages that say 'not run' (data missing; `done`: after the build), and how to get it."""
    if not idle:
        return ""
    absent = [d for d, r in resolve_all(paper.BENCHMARKS, bp.synthetic_fallback).items() if r.kind == "absent"]
    missing = [d for d in book_plan.book_datasets() if not availability(d).present]
    return (f"warning: {len(idle)} page(s) {'ran' if done else 'will run'} nothing and say 'not run': {', '.join(idle)}. Missing data: "
            + ", ".join([*(f"{d} (no data nor a stand-in)" for d in absent), *missing])
            + ". Get it with `make data` (offline: `make data FROM=<folder>`) or `mdico data fetch <dataset>`; "
            "see data/README.md")


def _say_last(idle: list[str], bp: Any) -> None:
    """Repeat the 'not run' warning among the build's last lines: the first ones have scrolled away."""
    if idle:
        print(_not_run_warning(idle, bp, done=True), file=sys.stderr)


def _pages_without_runs(chosen: list, profile: str, seeds: tuple | None, folds: tuple | None) -> list[str]:
    """The `chosen` pages that would train runs but have none here (their data is absent)."""
    return [name for src, name, extra in chosen
            if PAGES[src].runs is not None and not book_plan.configs(src, profile, extra.get("dataset"), seeds, folds)]


def _sweep(chosen: list | None, profile: str, seeds: tuple | None, folds: tuple | None, results: str | None,
           executor: str, workers: int | None) -> dict[str, Any]:
    """Train every run of the `chosen` pages (None: the whole book) the store lacks; the build log's lines."""
    from mdico_core.experiments import ResultsStore, sweep

    if chosen is None:
        cfgs = book_plan.all_configs(profile, seeds, folds)
    else:
        # an archived page reads its archive, and checks your re-run of its runs against it
        cfgs = book_plan.dedupe(c for src, _, extra in chosen
                                for c in book_plan.configs(src, profile, extra.get("dataset"), seeds, folds))
    report = sweep(book_plan.longest_first(cfgs), store=ResultsStore(results), executor=executor, workers=workers,
                   progress=True, profile=profile)
    if report.failed:
        print(f"warning: {report.failed} run(s) failed; their pages list them "
              f"(the next build retries them): {report.failed_ids}", file=sys.stderr)
    return {"runs_planned": len(cfgs), "runs_trained": report.done, "runs_reused": report.skipped,
            "runs_failed": report.failed, "sweep_s": round(report.wall_time_s, 1)}


def _execute_pages(chosen: list, generated: Path, base: dict[str, Any], kernel: str | None, info: dict[str, Any],
                   info_path: Path, timings: dict[str, float], workers: int = 1) -> None:
    """Execute the `chosen` pages, `workers` at a time; the others keep their last build or get a stub.

    Each page gets its own kernel, in its own process when ``workers > 1``: pages share nothing but
    the results store, which they only read. The reproducibility page runs last, alone, because it
    reports this build's timings.
    """
    jobs, last = [], None
    for source, name, extra in pages():
        src = NOTEBOOK_DIR / f"{source}.ipynb"
        dest = generated / f"{name}.ipynb"
        title = _page_title(source, extra)
        if (source, name, extra) not in chosen:
            if not dest.is_file():
                stub_notebook(src, dest, title)
            continue
        job = (name, (src, dest, {**base, **extra}, kernel, title))
        if PAGES[source].reports_build:
            last = job
        else:
            jobs.append(job)
    t0 = time.perf_counter()
    _run_notebooks(jobs, workers, timings)
    if last is not None:  # it reports this build: write the log before it runs
        info["notebooks_s"] = round(time.perf_counter() - t0, 1)
        info["slowest_pages"] = ", ".join(f"{k} {v:.0f} s" for k, v in
                                          sorted(timings.items(), key=lambda kv: -kv[1])[:3])
        info_path.write_text(json.dumps(info, indent=1))
        print(f"executing {last[0]} ...", file=sys.stderr)
        timings[last[0]] = execute_notebook(*last[1])


def _run_notebooks(jobs: list, workers: int, timings: dict[str, float]) -> None:
    """`execute_notebook(*args)` for every ``(name, args)`` of `jobs`, `workers` processes at a time
    (in this process when 1); a failing page stops the build with its error, as when run in turn."""
    if workers <= 1 or len(jobs) <= 1:
        for name, args in jobs:
            print(f"executing {name} ...", file=sys.stderr)
            timings[name] = execute_notebook(*args)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    print(f"executing {len(jobs)} pages, {workers} at a time ...", file=sys.stderr)
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(execute_notebook, *args): name for name, args in jobs}
        try:
            for future in as_completed(futures):
                timings[futures[future]] = future.result()
                print(f"executed {futures[future]} ({timings[futures[future]]:.0f} s)", file=sys.stderr)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # pages not started yet are dropped
            raise
