"""The book: clean notebook sources, every notebook executed at the smoke profile, a -W build, a browser check.

The build runs once per session (module fixture) into a temporary copy of book/ with a temporary
results store: about two minutes on two cores (smoke runs take seconds each).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

nbformat = pytest.importorskip("nbformat", reason="the book extras are not installed: pip install -e '.[book]'")
pytest.importorskip("papermill", reason="the book extras are not installed: pip install -e '.[book]'")

from mdico_core import bookbuild  # noqa: E402
from mdico_core.data.availability import resolve  # noqa: E402
from mdico_core.experiments.archives import ARCHIVES  # noqa: E402
from mdico_core.reporting.book import book_plan  # noqa: E402
from mdico_core.reporting.core import paper  # noqa: E402
from mdico_core.reporting.core.format import COLUMN_PX  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)


# ---------------------------------------------------------------------------------- sources (fast)
@pytest.mark.parametrize("name", [*book_plan.NOTEBOOKS, book_plan.REPRODUCIBILITY])
def test_notebook_source_is_clean_and_parameterized(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks without outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    names = {line.split("=")[0].strip() for line in params[0].source.splitlines() if "=" in line}
    assert {"profile", "seeds", "folds", "results_dir"} <= names
    assert not {"executor", "workers", "run"} & names, "pages never train: no training parameters"
    assert 'profile = "quick"' in params[0].source
    shown = [c for c in code if not {"parameters", "hide-input", "remove-input"} & set(c.metadata.get("tags", []))]
    assert not shown, "a page shows results, its code folded: tag each code cell hide-input"
    assert all("id" in c for c in nb.cells), "every cell has an id (nbformat 4.5)"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert str(REPO.parent) not in json.dumps(nb)  # no machine paths in committed files


def test_pages_built_from_an_archive_name_it_as_their_default():
    """A page run by hand (JupyterLab) shows the archive the book shows it with."""
    for page, archive in book_plan.PAGE_ARCHIVES.items():
        nb = nbformat.read(NOTEBOOKS / f"{page}.ipynb", as_version=4)
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assert f'archive = "{archive}"' in params.source, page
    assert {extra.get("archive") for _, name, extra in bookbuild.pages() if name.endswith("_archived")} == set(
        book_plan.ARCHIVED.values())


@pytest.mark.parametrize("name", [*book_plan.NOTEBOOKS, book_plan.REPRODUCIBILITY])
def test_notebook_code_names_only_what_the_library_has(name):
    """Every ``module.attribute`` a notebook uses exists (a renamed helper fails here, not in the build)."""
    import ast
    import importlib

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    tree = ast.parse("\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    modules = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mdico_core"):
            for a in node.names:
                target = f"{node.module}.{a.name}"
                value = getattr(importlib.import_module(node.module), a.name, None)  # the surface's, or a module's
                if value is None:  # a submodule not imported yet (a missing name fails here)
                    value = importlib.import_module(target)
                if isinstance(value, type(importlib)):
                    modules[a.asname or a.name] = value
    used = [(n.value.id, n.attr) for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in modules]
    assert used, "the notebook uses the library"
    missing = [f"{m}.{a}" for m, a in used if not hasattr(modules[m], a)]
    assert not missing, f"{name} uses names the library does not have: {missing}"


def test_toc_lists_exactly_the_generated_pages():
    toc = yaml.safe_load((REPO / "book" / "_toc.yml").read_text())
    files = []

    def walk(entries):
        for e in entries:
            files.append(e["file"])
            walk(e.get("sections", []))

    for part in toc["parts"]:
        walk(part["chapters"])
    generated = {f.split("/", 1)[1] for f in files if f.startswith("generated/")}
    assert generated == {name for _, name, _ in bookbuild.pages()}
    for f in files:
        if not f.startswith("generated/"):
            assert (REPO / "book" / f"{f}.md").is_file()
    config = yaml.safe_load((REPO / "book" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off" and config["only_build_toc_files"] is True


def test_build_book_rejects_unknown_page(tmp_path):
    with pytest.raises(ValueError, match="matches no page"):
        bookbuild.build_book("smoke", only="99_nope", results_dir=tmp_path, book_dir=tmp_path, build=False)
    with pytest.raises(ValueError, match="unknown profile"):
        bookbuild.build_book("nope", results_dir=tmp_path, book_dir=tmp_path, build=False)


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_no_page_shows_another_task_under_a_benchmark_title(profile):
    """A binary title (CropH-b) never shows multi-class runs: what runs for a benchmark has its task."""
    from mdico_core.data import get_dataset_entry
    from mdico_core.data.availability import resolve_all

    plan = book_plan.book_plan(profile)
    for nb in book_plan.NOTEBOOKS:
        if nb == book_plan.BEYOND:  # its datasets (mfeat, presto_lfmc) are shown under their own names
            continue
        for bench, res in resolve_all(book_plan.page_benchmarks(nb, plan), plan.synthetic_fallback).items():
            if res.kind != "absent":
                assert get_dataset_entry(res.dataset).task == paper.TASKS[bench], (nb, bench, res)


def _machine_paths() -> list[re.Pattern]:
    """Absolute paths of this machine that no page may show: the checkout, its parent, the data
    cache, the home folder, the temporary folder and the results store."""
    import tempfile

    from mdico_core.data import cache

    roots = {REPO, REPO.parent, cache.data_dir().resolve(), Path.home(), Path(tempfile.gettempdir()).resolve()}
    if os.environ.get("MDICO_RESULTS_DIR"):
        roots.add(Path(os.environ["MDICO_RESULTS_DIR"]).resolve())
    return [re.compile(r"(?<![\w:/.-])" + re.escape(str(r)) + r"(?![\w-])") for r in roots if str(r) != "/"]


def machine_paths_in(text: str) -> list[str]:
    return sorted({m.group(0) for pat in _machine_paths() for m in pat.finditer(text)})


def test_committed_pages_are_their_notebooks_executed(tmp_path):
    """Every committed page of book/generated/ has its notebook's code cells and no machine path:
    an edited notebook whose page was not regenerated fails here."""
    listed = subprocess.run(["git", "ls-files", "book/generated/*.ipynb"], cwd=REPO, capture_output=True, text=True)
    committed = [REPO / f for f in listed.stdout.split()]
    if listed.returncode != 0 or not committed:
        pytest.skip("book/generated/ is not committed in this checkout (`make book` generates it)")
    sources = {name: src for src, name, _ in bookbuild.pages()}
    assert {p.stem for p in committed} == set(sources), "commit every page of the book, and only those"
    for path in committed:
        nb = nbformat.read(path, as_version=4)
        src = nbformat.read(NOTEBOOKS / f"{sources[path.stem]}.ipynb", as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"
                and "injected-parameters" not in c.metadata.get("tags", [])]
        assert code == [c.source for c in src.cells if c.cell_type == "code"], \
            f"{path.name} is not notebooks/{sources[path.stem]}.ipynb executed: run " \
            f"`mdico book --commit-pages --only {path.stem}`"
        assert not machine_paths_in(path.read_text()), (path.name, machine_paths_in(path.read_text()))


@pytest.mark.book
def test_committed_book_builds_as_on_a_fresh_clone(tmp_path):
    """What a reader types on a fresh clone, `jupyter-book build book/ -W`, on the committed files of
    book/ alone: every page of the table of contents is built from its committed executed page,
    nothing is trained or executed, no warning."""
    listed = subprocess.run(["git", "ls-files", "book"], cwd=REPO, capture_output=True, text=True)
    tracked = listed.stdout.split()
    if listed.returncode != 0 or not any(f.startswith("book/generated/") for f in tracked):
        pytest.skip("book/generated/ is not committed in this checkout (`make book` generates it)")
    for f in tracked:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / f, tmp_path / f)
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(tmp_path / "book"), "-W"], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "MDICO_RESULTS_DIR": str(tmp_path / "no_store")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = tmp_path / "book" / "_build" / "html"
    for _, name, _ in bookbuild.pages():
        page = (html / "generated" / f"{name}.html").read_text()
        assert "Provenance" in page and "Traceback" not in page, name
    assert not (tmp_path / "no_store").exists()  # nothing was trained


@pytest.mark.book
@pytest.mark.parametrize(("args", "seeds", "folds"), [
    (["-p", "seeds", "7", "-p", "folds", "0"], "7", "0"),
    (["-p", "seeds", "7,8", "-p", "folds", "0,1"], "7, 8", "0, 1"),
    (["-y", "seeds: [7, 8]\nfolds: [0, 1]"], "7, 8", "0, 1"),
])
def test_papermill_takes_seeds_and_folds_the_way_people_type_them(tmp_path, args, seeds, folds):
    """The papermill command line itself, at the smoke profile, on an empty store (nothing trains)."""
    out, store = tmp_path / "07.ipynb", tmp_path / "store"
    cmd = [sys.executable, "-m", "papermill", str(NOTEBOOKS / "07_loss_curves.ipynb"), str(out), "--cwd",
           str(NOTEBOOKS), "-p", "profile", "smoke", "-p", "results_dir", str(store), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = json.dumps(nbformat.read(out, as_version=4).cells)
    assert f"folds {folds} of 10; seeds {seeds};" in text
    assert f"-p seeds {seeds.replace(' ', '')} -p folds {folds.replace(' ', '')}" in text  # the re-run command
    assert not store.exists()


@pytest.mark.book
def test_a_bad_seed_stops_the_page_with_one_line(tmp_path):
    out = tmp_path / "07.ipynb"
    cmd = [sys.executable, "-m", "papermill", str(NOTEBOOKS / "07_loss_curves.ipynb"), str(out), "--cwd",
           str(NOTEBOOKS), "-p", "profile", "smoke", "-p", "results_dir", str(tmp_path / "s"), "-p", "seeds", "x"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0
    line = "ParameterError: seeds = 'x': 'x' is not an integer"
    assert proc.stderr.rstrip().splitlines()[-1].startswith(line)  # papermill's last line is the page's one line
    errors = [o for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1 and errors[0].traceback[0].startswith(line)


@pytest.mark.book
def test_pages_run_in_parallel_processes_and_a_failing_page_stops_the_build(tmp_path):
    """Two workers execute notebooks side by side, each in its own kernel; a page that raises
    surfaces its error (pickled across the process boundary) as it does when pages run in turn."""
    def notebook(name: str, source: str) -> Path:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 0", metadata={"tags": ["parameters"]}),
                                             nbformat.v4.new_code_cell(source)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
        return tmp_path / f"{name}.ipynb"

    jobs = [(f"p{i}", (notebook(f"p{i}", "import os; pid = os.getpid(); y = x + 1"), tmp_path / f"out{i}.ipynb",
                       {"x": i}, None, None)) for i in range(3)]
    timings: dict[str, float] = {}
    bookbuild._run_notebooks(jobs, 2, timings)
    assert sorted(timings) == ["p0", "p1", "p2"] and all(t > 0 for t in timings.values())
    for i in range(3):
        out = nbformat.read(tmp_path / f"out{i}.ipynb", as_version=4)
        assert f"x = {i}" in out.cells[1].source  # the injected parameters, hidden from the page
        assert "remove-cell" in out.cells[1].metadata["tags"]
    broken = [("bad", (notebook("bad", "raise RuntimeError('page 7 is broken')"), tmp_path / "bad_out.ipynb", {}, None,
                       None)), *jobs[:1]]
    with pytest.raises(Exception, match="page 7 is broken"):
        bookbuild._run_notebooks(broken, 2, {})


@pytest.mark.book
def test_absent_benchmark_page_says_how_to_get_it(tmp_path, monkeypatch):
    """TreeSatAI-TS at the quick profile (no synthetic fallback) when its imagery is absent: no run."""
    import papermill as pm

    if resolve("tsaits", allow_synthetic=False).kind != "absent":
        pytest.skip("TreeSatAI-TS is present here")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "tsaits.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "02_main_results.ipynb"), str(out), cwd=str(NOTEBOOKS),
                        parameters={"profile": "quick", "dataset": "tsaits", "results_dir": str(tmp_path / "r")},
                        progress_bar=False)
    text = json.dumps(nbformat.read(out, as_version=4).cells)
    assert "is not present on this machine" in text and "huggingface.co" in text
    assert "Table 4: not regenerated by this build" in text and "--only 02_main_results_tsaits" in text
    assert "n/a" not in text and "Nothing ran for TSAITS" in text  # no template sentence with holes
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.json"))  # nothing was trained


@pytest.mark.book
def test_a_notebook_on_an_empty_store_names_the_command_and_trains_nothing(tmp_path, monkeypatch):
    """As in JupyterLab before any `mdico book`: the page says which runs are missing and how to train them."""
    import papermill as pm

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out, store = tmp_path / "07.ipynb", tmp_path / "empty"
    pm.execute_notebook(str(NOTEBOOKS / "07_loss_curves.ipynb"), str(out), cwd=str(NOTEBOOKS),
                        parameters={"profile": "smoke", "results_dir": str(store)}, progress_bar=False)
    text = json.dumps(nbformat.read(out, as_version=4).cells)
    assert "planned runs are not in the results store" in text
    assert f"mdico book --profile smoke --only 07_loss_curves --results {store} --sweep-only" in text
    assert not store.exists()  # nothing was trained


def test_the_build_copy_takes_the_books_sources_and_keeps_its_own_pages(tmp_path):
    """`make book`'s copy of book/: every source refreshed (an edited intro shows), the pages a
    previous build executed there kept, a committed page for each one it lacks, nothing of _build/."""
    book, copy = tmp_path / "book", tmp_path / "book" / "_build" / "local"
    for rel, text in {"intro.md": "new intro", "_static/mdico.css": "css", "generated/a.ipynb": "committed a",
                      "generated/b.ipynb": "committed b", "_build/html/index.html": "the reference site",
                      "_build/local/intro.md": "old intro", "_build/local/generated/a.ipynb": "mine a"}.items():
        (book / rel).parent.mkdir(parents=True, exist_ok=True)
        (book / rel).write_text(text)
    assert bookbuild.build_copy(book, copy) == copy
    got = {p.relative_to(copy).as_posix(): p.read_text() for p in copy.rglob("*") if p.is_file()}
    assert got == {"intro.md": "new intro", "_static/mdico.css": "css", "generated/a.ipynb": "mine a",
                   "generated/b.ipynb": "committed b"}
    assert (book / "generated" / "a.ipynb").read_text() == "committed a"  # the reference is read, never written


def _tsaits_absent(profile: str) -> bool:
    plan = book_plan.book_plan(profile)
    return resolve("tsaits", allow_synthetic=plan.synthetic_fallback).kind == "absent"


def test_pages_that_will_not_run_are_named_again_among_the_last_lines(tmp_path, capsys):
    """The warning that names the pages saying 'not run' opens the build's output and is repeated at
    its end, where a reader looks once the sweep's lines have scrolled it away."""
    if not _tsaits_absent("quick"):
        pytest.skip("TreeSatAI-TS is present here: no page of the quick profile says 'not run'")
    bookbuild.build_book("quick", only="02_main_results_tsaits", results_dir=tmp_path / "r", sweep_only=True)
    lines = capsys.readouterr().err.strip().splitlines()
    first = next(line for line in lines if "'not run'" in line)
    assert first.startswith("warning: 1 page(s) will run nothing and say 'not run': 02_main_results_tsaits.")
    assert lines[-1].startswith("warning: 1 page(s) ran nothing and say 'not run': 02_main_results_tsaits.")
    assert lines[-1].split(".", 1)[1] == first.split(".", 1)[1]  # the same missing data, the same fix


@pytest.mark.book
def test_a_finished_pages_kernel_is_shut_down_without_an_interrupt():
    """jupyter_client sends SIGINT to every kernel it shuts down; one that the signal reaches in the
    tail of its last request prints `[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.` into
    the build's output. The build's kernel manager shuts down without it, and still interrupts when asked."""
    import asyncio
    import signal

    sent: list[int] = []

    class Recording(bookbuild._quiet_kernel_manager()):
        async def _async_signal_kernel(self, signum: int) -> None:
            sent.append(signum)
            await super()._async_signal_kernel(signum)

    async def cycle() -> bool:
        km = Recording(kernel_name="python3")
        await km.start_kernel(extra_arguments=list(bookbuild.KERNEL_ARGS))
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        await km.interrupt_kernel()  # asked for: sent
        kc.stop_channels()
        await km.shutdown_kernel()  # not sent
        return await km.is_alive()

    assert asyncio.run(cycle()) is False
    assert sent == [signal.SIGINT]


@pytest.mark.book
@pytest.mark.slow
def test_the_main_job_leaves_a_fresh_clone_clean(tmp_path):
    """`mdico book` on a fresh clone (here: every file git would track in this checkout, committed
    into a new repository) writes its pages and its site under book/_build/local/, which git ignores:
    `git status` stays clean and the committed pages stay the reference. `--commit-pages` (the
    maintainers' command) rewrites the committed page. One page keeps it short; every page goes
    through the same code. TSAITS at the quick profile has no data here, so the build's last lines
    name it again."""
    if not _tsaits_absent("quick"):
        pytest.skip("TreeSatAI-TS is present here: pick a page that says 'not run'")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    for f in listed.stdout.splitlines():
        if (REPO / f).is_file():
            (clone / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, clone / f)

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=clone,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "fresh clone")
    page = "book/generated/02_main_results_tsaits.ipynb"
    committed = (clone / page).read_bytes()
    env = {**os.environ, "PYTHONPATH": str(clone), "OMP_NUM_THREADS": "1"}
    env.pop("MDICO_RESULTS_DIR", None)  # the clone's own results/ (ignored), as on a fresh clone

    def book(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mdico_core.cli", "book", "--profile", "quick", "--only",
                               "02_main_results_tsaits", "--skip-sweep", *args], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=900)

    proc = book()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert git("status", "--porcelain", "--untracked-files=all") == ""
    assert (clone / page).read_bytes() == committed
    local = clone / "book" / "_build" / "local"
    ran = nbformat.read(local / "generated" / "02_main_results_tsaits.ipynb", as_version=4).metadata.papermill
    assert ran.end_time != nbformat.reads(committed.decode(), as_version=4).metadata.papermill.end_time  # executed now
    assert (local / "generated" / "05_encoders.ipynb").read_bytes() == (clone / "book/generated/05_encoders.ipynb"
                                                                        ).read_bytes()  # the others: as committed
    assert proc.stdout.strip().splitlines()[-1] == "Book: book/_build/local/_build/html/index.html"
    assert (local / "_build" / "html" / "index.html").is_file()
    last = proc.stderr.strip().splitlines()[-2:]
    assert last[0].startswith("warning: 1 page(s) ran nothing and say 'not run': 02_main_results_tsaits.")
    assert last[1].startswith("book built in ")
    assert "KeyboardInterrupt" not in proc.stderr

    proc = book("--commit-pages", "--no-build")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert git("status", "--porcelain", "--untracked-files=all").split() == ["M", page]


# ---------------------------------------------------------------------------------- the smoke book
@pytest.fixture(scope="module")
def built(tmp_path_factory, real_data):
    """The smoke book built into a temporary copy of book/ from a temporary results store."""
    from mdico_core.data import get_dataset_entry

    real_data(*get_dataset_entry("lfmc").files, *get_dataset_entry("algae_blooms").files)
    root = tmp_path_factory.mktemp("book")
    book = root / "book"
    book.mkdir()
    for f in (REPO / "book").iterdir():
        if f.is_file():
            shutil.copy(f, book / f.name)
        elif f.name == "_static":
            shutil.copytree(f, book / f.name)
    results = root / "results"
    index = bookbuild.build_book("smoke", results_dir=results, book_dir=book)
    return {"index": index, "book": book, "results": results}


@pytest.mark.book
@pytest.mark.slow
def test_every_page_executed_without_errors(built):
    from mdico_core.experiments import ResultsStore

    gen = built["book"] / "generated"
    for source, name, extra in bookbuild.pages():
        nb = nbformat.read(gen / f"{name}.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        hidden = [c for c in nb.cells if "remove-cell" in c.metadata.get("tags", [])]
        assert {t for c in hidden for t in c.metadata["tags"]} >= {"parameters", "injected-parameters"}, name
        injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        assert 'profile = "smoke"' in injected.source
        if source == "02_main_results":
            assert nb.cells[0].source.startswith(f"# {paper.TABLES[extra['dataset']]}: ")
    store = ResultsStore(built["results"])
    # AnySat is "not reproduced" without its weights (by design); nothing else may fail
    assert [f for f in store.failures() if f.get("status") != "not_reproduced"] == []
    assert len(store.records()) == len(book_plan.all_configs("smoke"))
    info = json.loads((gen / "build_info.json").read_text())
    assert info["runs_trained"] == len(book_plan.all_configs("smoke")) and info["runs_failed"] == 0


@pytest.mark.book
@pytest.mark.slow
def test_html_pages_exist(built):
    html = built["index"].parent
    assert built["index"].is_file()
    for _, name, _ in bookbuild.pages():
        page = (html / "generated" / f"{name}.html").read_text()
        assert "Traceback" not in page and "Provenance" in page, name
    main = (html / "generated" / "02_main_results_lfmc.html").read_text()
    prose = main[main.index("Metric:"):].split("</p>", 1)[0]  # the paragraph of glued numbers
    assert "Table 5: LFMC" in main and "R² (r2)" in prose and "Table 5" in prose and "n/a" not in prose
    assert "MDiCo scores" in prose and "Re-run this page:" in main
    assert "STAND-IN" in (html / "generated" / "02_main_results_croph_m.html").read_text()
    standin = (html / "generated" / "02_main_results_croph_m_archived.html").read_text()
    assert "STAND-IN" in standin and "Archived sweep: its runs were not re-trained by this build" in standin
    archived = (html / "generated" / "02_main_results_lfmc_archived.html").read_text()
    assert "Table 5: LFMC at the paper" in archived and "Archived sweep: its runs were not re-trained by this build" in archived
    archive = ARCHIVES["lfmc_paper"]
    if archive.csv_path.is_file():  # the banner counts what the shipped (possibly partial) archive holds
        from mdico_core.reporting.book.archive import read_runs

        held = read_runs(archive.csv_path).drop_duplicates("run_id")
        folds = ", ".join(map(str, sorted(held["fold"].astype(int).unique())))
        seeds = ", ".join(map(str, sorted(held["seed"].astype(int).unique())))
        assert f"folds {folds} of 10; seeds {seeds}; {len(held)} runs shown" in archived
    for method in ("InputFu", "MMGF", "EmbraceNet", "ShaSpec", "DeCUR", "DML", "DisCoM-KD", "FModDrop", "FCoM-av",
                   "ESensI", "MDiCo", "not reproduced", "Both settings beside the paper", "Average rank"):
        assert method in archived, method
    # every page built from an exported archive checks this build's runs against it, cell by cell
    for name, page in [*((a, f"{book_plan.MAIN}_{b}_archived") for b, a in book_plan.ARCHIVED.items()),
                       *((a, p) for p in book_plan.PAGE_ARCHIVES if p != book_plan.FINDINGS  # it re-runs nothing
                         for a in book_plan.page_archives(p))]:
        text = (html / "generated" / f"{page}.html").read_text()
        if ARCHIVES[name].csv_path.is_file():
            assert "your re-run agrees with the archived results on" in text, page
        else:
            assert "is not exported yet" in text and name in text, page
    findings = (html / "generated" / "00_findings.html").read_text()  # every claim, with the rule that judged it
    from mdico_core.reporting.claims.findings import CLAIMS

    assert all(f'id="claim-{c.id.lower()}"' in findings for c in CLAIMS) and "The rule" in findings
    intro = (html / "intro.html").read_text()
    assert "Does it replicate?" in intro and "MDiCo minus Individual" in intro  # the headline, glued
    assert "References" in (html / "references.html").read_text()


@pytest.mark.book
@pytest.mark.slow
def test_rebuild_reuses_the_store(built):
    """A rebuild of one page with the profile's seed spelled out trains nothing new."""
    bookbuild.build_book("smoke", seeds="0", only="07_loss_curves", results_dir=built["results"],
                         book_dir=built["book"], build=False)
    full = json.loads((built["book"] / "generated" / "build_info.json").read_text())
    info = json.loads((built["book"] / "generated" / "build_info_partial.json").read_text())
    assert info["runs_trained"] == 0 and info["runs_reused"] > 0 and info["pages"] == "07_loss_curves"
    assert full["pages"] == "all" and full["runs_planned"] == len(book_plan.all_configs("smoke"))  # kept


def _dump_dom(url: str, tmp_path: Path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,2000",
           f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=8000", "--dump-dom", url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout


# Measures, after the page (and its interactive tables) loaded, every table's and image's box against
# the content column, whether an image is shown smaller than it was drawn, and every code box whose
# lines run past its right edge (hidden behind a sideways scroll).
MEASURE_JS = """
<script>
const SHORT_TABLE_ROWS = 30;  // a table this short is read whole: never paged
window.addEventListener("load", () => setTimeout(() => {
  const col = document.querySelector("article.bd-article") || document.querySelector("main");
  const outer = col.getBoundingClientRect(), pad = getComputedStyle(col);  // the column: its content box
  const c = {left: outer.left + parseFloat(pad.paddingLeft), right: outer.right - parseFloat(pad.paddingRight)};
  c.width = c.right - c.left;
  const over = [], seen = new Set();
  document.querySelectorAll("article table, article img").forEach(el => {
    const box = el.closest(".dt-container") || el;  // an interactive table: its scroller must fit
    if (seen.has(box)) return;
    seen.add(box);
    const r = box.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return;
    const cap = el.querySelector ? el.querySelector("caption") : null;
    const what = el.tagName.toLowerCase() + ": " + (cap ? cap.textContent : (el.getAttribute("src") || "")).slice(0, 70);
    if (r.right > c.right + 1 || r.left < c.left - 1) over.push(what + " is " + Math.round(r.width) + " px wide");
    if (box !== el) {  // inside an interactive table: nothing hidden behind a sideways scroll, no paging of a short table
      box.querySelectorAll(".dt-scroll-body, .dt-scroll-head, .dt-scroll").forEach(s => {
        if (s.scrollWidth > s.clientWidth + 1) over.push(what + " hides " + (s.scrollWidth - s.clientWidth) + " px behind a sideways scroll");
      });
      const out = [...box.querySelectorAll("caption, th, td")].filter(x => {
        const b = x.getBoundingClientRect();
        return b.width > 0 && (b.right > r.right + 1 || b.left < r.left - 1);
      });
      if (out.length) over.push(what + ": " + out.length + " cells outside the visible area, e.g. '" + out[0].textContent.slice(0, 30) + "'");
      const info = box.querySelector(".dt-info"), shown = box.querySelectorAll("tbody tr").length;
      const total = info ? info.textContent.match(/of ([0-9,]+)/) : null;
      if (total && shown < +total[1].replace(/,/g, "") && +total[1].replace(/,/g, "") <= SHORT_TABLE_ROWS)
        over.push(what + " pages " + shown + " of its " + total[1] + " rows");
    }
    if (el.tagName === "IMG" && el.naturalWidth > 0) {
      const drawn = parseFloat(el.style.width) || +el.getAttribute("width") || el.naturalWidth;  // CSS px
      if (el.clientWidth < drawn - 1) over.push(what + " drawn " + drawn + " px, shown " + el.clientWidth + " px");
    }
  });
  // a code box (a cell's source or output, a command) that scrolls sideways clips its lines at its right edge
  document.querySelectorAll("article pre").forEach(el => {
    if (el.scrollWidth > el.clientWidth + 1)
      over.push("code box clipped at its right edge (" + (el.scrollWidth - el.clientWidth) + " px hidden): '"
                + el.textContent.trim().split("\\n")[0].slice(0, 60) + "'");
  });
  const out = document.createElement("pre");
  out.id = "mdico-measure";
  out.textContent = JSON.stringify({column: Math.round(c.width), boxes: seen.size, over: over});
  document.body.appendChild(out);
}, 1500));
</script>
"""


def _measure(page: Path, tmp_path: Path) -> dict:
    """Open `page` in headless Chromium at a desktop width and measure it (`MEASURE_JS`)."""
    probe = page.with_name(f"_measure_{page.name}")
    probe.write_text(page.read_text().replace("</body>", MEASURE_JS + "</body>"))
    try:
        dom = _dump_dom(probe.as_uri(), tmp_path)
    finally:
        probe.unlink()
    found = re.search(r'<pre id="mdico-measure"[^>]*>(.*?)</pre>', dom, re.S)
    assert found, f"the measuring script did not run on {page.name}"
    import html as html_lib

    return json.loads(html_lib.unescape(found.group(1)))


def _html_pages(built) -> list[Path]:
    html = built["index"].parent
    return [html / "intro.html", html / "reproducibility.html", html / "references.html",
            *sorted((html / "generated").glob("*.html"))]


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
@pytest.mark.parametrize("page", ["index.html", "generated/02_main_results_lfmc.html", "generated/06_tsne.html"])
def test_pages_render_in_a_browser(built, page, tmp_path):
    dom = _dump_dom((built["index"].parent / page).as_uri(), tmp_path)
    assert "MDiCo, reproduced" in dom and "Traceback" not in dom  # index.html redirects to the intro
    if page.startswith("generated/"):
        assert "<img" in dom, "figures render"
    if page.endswith("lfmc.html"):
        assert "<table" in dom and "Provenance" in dom


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_no_table_or_figure_overflows_the_column_on_any_page(built, tmp_path):
    """Every page in a 1280 px window: each table (or interactive table) and figure fits the content
    column, no figure is shown smaller than it was drawn, nothing in an interactive table is hidden
    behind a sideways scroll, no table of up to 30 rows is paged, and no code box clips its lines."""
    problems, column = {}, set()
    for page in _html_pages(built):
        m = _measure(page, tmp_path)
        column.add(m["column"])
        if m["over"]:
            problems[page.name] = m["over"]
    assert not problems, problems
    assert max(column) < 1280 - 250, column  # the measure ran against the content column, not the window
    assert min(column) >= COLUMN_PX, column  # the width the tables are made for


@pytest.mark.book
@pytest.mark.slow
def test_no_page_shows_a_path_of_the_builders_machine(built):
    for page in _html_pages(built):
        assert not machine_paths_in(page.read_text()), (page.name, machine_paths_in(page.read_text()))
    for nb in (built["book"] / "generated").glob("*.ipynb"):  # what the integrator commits
        assert not machine_paths_in(nb.read_text()), (nb.name, machine_paths_in(nb.read_text()))


@pytest.mark.book
@pytest.mark.slow
def test_binary_titles_show_binary_runs_and_every_gap_has_a_box(built):
    html = built["index"].parent / "generated"
    binary = re.compile(r'croph_b = <code[^>]*><span class="pre">algae_blooms_binary</span>')
    b = (html / "02_main_results_croph_b.html").read_text()
    assert binary.search(b) and ">algae_blooms<" not in b
    for page in ("04_shared_specific", "06_tsne", "08_prediction_maps"):
        assert binary.search((html / f"{page}.html").read_text()), page
    encoders = (html / "05_encoders.html").read_text()  # the smoke plan runs the encoder study on LFMC only
    assert "Figure A1 (CropH-b): not regenerated by this build" in encoders
    assert "Figure A2 (CropH-m): not regenerated by this build" in encoders
    for page in html.glob("*.html"):
        prose = re.sub(r"<[^>]+>", " ", page.read_text())
        assert " n/a " not in prose and "n/a." not in prose, page.name


def test_committed_pages_were_built_from_the_code_they_ship():
    """book/generated/build_info.json names the commit the committed pages were built at; no commit
    after it may change what builds them (mdico_core/reporting, notebooks). Rebuild and commit the
    pages after such a change (`mdico book --commit-pages`)."""
    import shutil

    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    info = json.loads((REPO / "book" / "generated" / "build_info.json").read_text())
    assert info.get("git_commit") and info.get("git_dirty") is False, (
        "the committed pages were built from a modified checkout or without a commit: commit the code, then "
        "`mdico book --commit-pages`, then commit book/generated")

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)

    if git("cat-file", "-e", f"{info['git_commit']}^{{commit}}").returncode != 0:
        pytest.skip("the build's commit is not in this clone's history (a shallow clone)")
    last = git("log", "-1", "--format=%H", "--", "mdico_core/reporting", "notebooks").stdout.strip()
    ok = git("merge-base", "--is-ancestor", last, info["git_commit"]).returncode == 0
    assert ok, (f"commit {last[:12]} changed mdico_core/reporting or notebooks after the committed pages were built "
                f"(at {info['git_commit'][:12]}): rebuild them with `mdico book --commit-pages` and commit "
                "book/generated")
