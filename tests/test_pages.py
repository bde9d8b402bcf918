"""The book's page records (reporting/book/pages.py): one record per page, read by the plan, the notes,
the build and the toc; and adding a page as CONTRIBUTING.md says ("Add a notebook page")."""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from mdico_core import bookbuild
from mdico_core.experiments.archives import ARCHIVES
from mdico_core.reporting.analyses import notes
from mdico_core.reporting.book import book_plan, pages
from mdico_core.reporting.book.pages import PAGES, Page
from mdico_core.reporting.core import paper
from mdico_core.reporting.core.paper_claims import CLAIMS

REPO = Path(__file__).resolve().parents[1]
nbformat = pytest.importorskip("nbformat", reason="the book extras are not installed: pip install -e '.[book]'")


def test_every_record_is_a_notebook_with_its_title():
    for nb, page in PAGES.items():
        assert page.notebook == nb
        first = nbformat.read(REPO / "notebooks" / f"{nb}.ipynb", as_version=4).cells[0].source.splitlines()[0]
        assert first == f"# {page.title}", nb


def test_the_toc_agrees_with_the_records():
    """Every generated page of a record is in book/_toc.yml under its section's caption, and no other."""
    assert pages.toc_mismatches() == []


def test_the_toc_check_names_each_disagreement():
    toc = yaml.safe_load(pages.TOC.read_text())
    for part in toc["parts"]:
        if part["caption"] == "Appendix":  # 08 moved to the wrong part, 09 dropped
            part["chapters"] = [{"file": "generated/another"}]
        if part["caption"] == "Beyond the paper":
            part["chapters"].append({"file": "generated/08_prediction_maps"})
    assert sorted(pages.toc_mismatches(toc)) == [
        "08_prediction_maps: in the toc under 'Beyond the paper', but no page record puts it there",
        "08_prediction_maps: not in the toc under 'Appendix'",
        "09_released_vs_paper: not in the toc under 'Appendix'",
        "another: in the toc under 'Appendix', but no page record puts it there"]


def test_each_archived_sweep_comes_before_its_re_run_check():
    """The evidence first: in the records and the toc, an archived page precedes the build's n = 1 re-run of
    the same benchmark, which is titled as a re-run check; a benchmark without an archive keeps its title."""
    main = PAGES[pages.MAIN]
    names = [n for n, _ in main.generated()]
    for d, _ in main.archived:
        assert names.index(f"{pages.MAIN}_{d}_archived") == names.index(f"{pages.MAIN}_{d}") - 1
        assert "re-run check" in main.heading({"dataset": d})
        assert "archived sweep" in main.heading({"dataset": d, "archive": dict(main.archived)[d]})
    plain = [d for d in paper.BENCHMARKS if d not in dict(main.archived)]
    assert plain and all(main.heading({"dataset": d}) == f"# {paper.TABLES[d]}: {paper.NAMES[d]}" for d in plain)
    toc = yaml.safe_load(pages.TOC.read_text())
    chapters = next(p for p in toc["parts"] if p["caption"] == main.section)["chapters"]
    swapped = [chapters[1], chapters[0], *chapters[2:]]  # a re-run check listed before its archived page
    assert swapped != chapters
    next(p for p in toc["parts"] if p["caption"] == main.section)["chapters"] = swapped
    assert [m for m in pages.toc_mismatches(toc) if "the record reads" in m] == [
        f"{pages.MAIN}: the toc lists its pages as {', '.join(f[len('generated/'):] for f in [c['file'] for c in swapped])}; "
        f"the record reads {', '.join(names)}"]


def test_records_name_what_exists():
    plan_fields = {f.name for f in fields(book_plan.BookPlan)}
    for nb, page in PAGES.items():
        assert page.datasets is None or page.datasets in plan_fields, nb
        assert set(page.archives) <= set(ARCHIVES), nb
        assert {a for _, a in page.archived} <= set(ARCHIVES), nb
        assert {b for _, b in page.artefacts} <= set(paper.BENCHMARKS), nb
    assert [nb for nb, p in PAGES.items() if p.reports_build] == [book_plan.REPRODUCIBILITY]


def test_claims_are_derived_from_their_page():
    assert [c.id for c in PAGES["06_tsne"].claims] == [c.id for c in CLAIMS if c.page == "06_tsne"]
    assert {c.page for c in PAGES[book_plan.MAIN].claims} == {"02_main_results_lfmc_archived"}
    generated = {name for p in PAGES.values() for name, _ in p.generated()}
    assert {c.page for c in CLAIMS} <= generated  # every claim's evidence is on a page of the book
    assert sum(len(p.claims) for p in PAGES.values()) == len(CLAIMS)


def test_the_old_names_are_views_of_the_records():
    assert book_plan.NOTEBOOKS == tuple(nb for nb in PAGES if nb != book_plan.REPRODUCIBILITY)
    assert book_plan.PAGE_ARCHIVES["04_shared_specific"] == "lfmc_paper,algae_blooms_binary_paper,algae_blooms_paper"
    assert book_plan.ARCHIVED == {"croph_b": "algae_blooms_binary_paper", "croph_m": "algae_blooms_paper",
                                  "lfmc": "lfmc_paper"}
    assert notes.ARTEFACTS["06_tsne"] == PAGES["06_tsne"].artefacts
    assert book_plan.page_archives("06_tsne") == ("lfmc_paper",)
    with pytest.raises(AttributeError):
        book_plan.NO_SUCH_NAME  # noqa: B018


def test_the_book_plan_has_no_page_branch():
    """What a page runs is its record's: the plan names no notebook."""
    source = inspect.getsource(book_plan)
    assert "notebook ==" not in source and "nb ==" not in source
    assert not re.findall(r"\"\d\d_[a-z_]+\"", source)


# ---------------------------------------------------------------------------------- adding a page
def _notebook(path: Path, title: str) -> None:
    first = nbformat.v4.new_markdown_cell(f"# {title}\n\nWhat the page shows.")
    params = nbformat.v4.new_code_cell('profile = "quick"\nseeds = None\nfolds = None\nresults_dir = None\n'
                                       'datasets = None\narchive = "lfmc_paper"')
    params.metadata["tags"] = ["parameters"]
    nbformat.write(nbformat.v4.new_notebook(cells=[first, params]), path)


def test_adding_a_page_is_one_record_and_one_notebook(tmp_path, monkeypatch, present_only):
    """The steps of CONTRIBUTING.md's "Add a notebook page", on a fixture book: the plan, the build's
    page list, the toc check and the notes pick the page up from its record."""
    present_only(lambda name: name.startswith("toy_"))  # every benchmark runs on synthetic data at smoke
    name = "12_loss_again"
    # 1. the notebook, beside the book's own (a copy of notebooks/)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for nb in PAGES:
        (notebooks / f"{nb}.ipynb").write_bytes((REPO / "notebooks" / f"{nb}.ipynb").read_bytes())
    _notebook(notebooks / f"{name}.ipynb", "Loss terms, again")
    # 2. its record: the runs it reads (a BookPlan field of benchmarks, the methods), its archive, its artefacts
    record = Page(name, "Loss terms, again", "Beyond the paper", archives=("lfmc_paper",),
                  runs=pages.runs_on("loss_datasets", ["mdico"]), datasets="loss_datasets",
                  artefacts=(("Figure 5 (CropH-m)", "croph_m"),))
    monkeypatch.setitem(PAGES, name, record)

    # the plan: its runs, in the book's sweep; its datasets parameter replaces the plan's
    runs = book_plan.configs(name, "smoke")
    assert runs and {c.run_id for c in runs} == {c.run_id for c in book_plan.configs("07_loss_curves", "smoke")}
    assert {c.run_id for c in runs} <= {c.run_id for c in book_plan.all_configs("smoke")}
    assert book_plan.page_benchmarks(name, book_plan.book_plan("smoke"), "lfmc") == ("lfmc",)
    assert name in book_plan.NOTEBOOKS and book_plan.page_archives(name) == ("lfmc_paper",)
    # the build: its page, before the reproducibility page, with its archive; a stub where not executed
    listed = bookbuild.pages()
    assert listed[-2:] == [(name, name, {"archive": "lfmc_paper"}),
                           (book_plan.REPRODUCIBILITY, book_plan.REPRODUCIBILITY, {})]
    monkeypatch.setattr(bookbuild, "NOTEBOOK_DIR", notebooks)
    generated = tmp_path / "book" / "generated"
    bookbuild._execute_pages([], generated, {}, None, {}, generated / "info.json", {})
    assert nbformat.read(generated / f"{name}.ipynb", as_version=4).cells[0].source.startswith("# Loss terms, again")
    # 3. the toc: the check finds it missing until it is listed under its section
    assert pages.toc_mismatches() == [f"{name}: not in the toc under 'Beyond the paper'"]
    toc = yaml.safe_load(pages.TOC.read_text())
    next(p for p in toc["parts"] if p["caption"] == "Beyond the paper")["chapters"].append(
        {"file": f"generated/{name}"})
    (tmp_path / "book" / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    assert pages.toc_mismatches(tmp_path / "book" / "_toc.yml") == []
    # the notes: the artefact it regenerates, boxed where its benchmark is absent
    assert notes.ARTEFACTS[name] == (("Figure 5 (CropH-m)", "croph_m"),)
    gaps = notes.artefact_gaps(name, {}, "smoke")
    assert [t for t, _ in gaps] == ["Figure 5 (CropH-m): not regenerated by this build"]
    assert f"--only {name}" in gaps[0][1] and "-p datasets croph_m" in gaps[0][1]


def test_archive_readers_are_the_pages_with_an_archive_parameter():
    readers = pages.archive_readers()
    assert f"{pages.MAIN}_lfmc_archived" in readers and f"{pages.MAIN}_lfmc" not in readers
    assert readers[pages.FINDINGS] == PAGES[pages.FINDINGS].archives
    words = pages.archive_readers_words()
    assert words.startswith(f"{len(readers)} of its pages read archived sweeps, ")
    assert words.endswith(f"{len({a for v in readers.values() for a in v})} archives in all")
