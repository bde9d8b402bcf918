"""README.md against its sources: each count it states (runs, pages, methods, megabytes), each
statement of an archive's state, and its list of the book's pages are compared with the plan, the
page registry, the data registry and the archives' manifests, so that none of them goes stale.

The build-time figures are measurements of named builds, not counts of the code: the README's "in
about N minutes" is checked against the last measured build by ``tests/test_benchmarks.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mdico_core.experiments.archives import ARCHIVES
from mdico_core.reporting.book import book_plan
from mdico_core.reporting.book.pages import PAGES, TOC, toc_pages

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _book_pages() -> int:
    from mdico_core import bookbuild

    return len(bookbuild.pages())


def _book_data_mb() -> int:
    """Megabytes of the files the book's datasets read (the registry's sizes; a file shared by two
    datasets counted once): what `make data` puts in the cache."""
    from mdico_core.data import get_dataset_entry
    from mdico_core.data.registry import get_remote

    files = {f for d in book_plan.book_datasets() for f in get_dataset_entry(d).files}
    return round(sum(get_remote(f).size for f in files) / 1e6)


def _methods() -> int:
    from mdico_core.methods import METHODS

    return len(METHODS)


# (what is counted, the README's phrase with the count as its group, the count from its source)
COUNTS = [
    ("runs of `make book PROFILE=paper`", r"`make book PROFILE=paper` runs the paper's protocol instead\s+"
                                          r"\(10-fold CV × 5 seeds, ([\d,]+) runs", lambda: len(book_plan.all_configs("paper"))),
    ("runs of `make book`", r"`make book` trains the quick plan's ([\d,]+) runs",
     lambda: len(book_plan.all_configs("quick"))),
    ("pages `make book` executes", r"executes the book's ([\d,]+) pages", _book_pages),
    ("megabytes `make data` gets", r"mfeat, about ([\d,]+) MB", _book_data_mb),
    ("methods", r"all ([\d,]+) methods", _methods),
]


@pytest.mark.parametrize(("what", "phrase", "count"), [
    pytest.param(*c, id=c[0], marks=[pytest.mark.slow] if "PROFILE=paper" in c[0] else []) for c in COUNTS])  # 5 k configs
def test_each_count_in_the_readme_is_its_sources(what, phrase, count):
    found = re.findall(phrase, README)
    assert found, f"README.md no longer says the {what} as `{phrase}`: update this test with it"
    expected = count()
    wrong = [f for f in found if _number(f) != expected]
    assert not wrong, f"README.md says {wrong[0]} {what}; the code says {expected:,}"


def test_make_data_says_the_same_size_as_the_readme():
    size = re.search(r"presto_lfmc and mfeat, ~(\d+) MB\)", (REPO / "Makefile").read_text())
    assert size and int(size.group(1)) == _book_data_mb()


# Words that state an archive's state: filled or not (each implies the manifest's `partial`).
PARTIAL_WORDS = ("so far", "over sessions", "held", "partial", "pending", "not yet", "filled", "incomplete")
COMPLETE_WORDS = ("complete",)


def _chunks(text: str) -> list[str]:
    """The README's paragraphs and table rows: what one statement of an archive's state spans."""
    return [c for block in re.split(r"\n\s*\n", text) for c in
            (block.splitlines() if block.lstrip().startswith("|") else [block])]


def archive_state_mismatches(text: str, manifests: dict[str, dict]) -> list[str]:
    """Each paragraph or table row of `text` that names an archive (`name`) with a state word or a
    count of runs that its manifest contradicts, one line each. A paragraph is one statement: one that
    names archives of different states says each state in a paragraph (or row) of its own."""
    out = []
    for chunk in _chunks(text):
        named = [a for a in manifests if f"`{a}`" in chunk]
        if not named:
            continue
        flat = " ".join(chunk.split()).lower()
        # "a partial archive" speaks of archives in general, not of the one named
        says_partial = [w for w in PARTIAL_WORDS if re.search(rf"(?<!\ba )(?<!\ban )\b{w}\b", flat)]
        says_complete = [w for w in COMPLETE_WORDS if re.search(rf"(?<!\ba )(?<!in)\b{w}\b", flat)]
        for a in named:
            partial = bool(manifests[a].get("partial"))
            if says_partial and not partial:
                out.append(f"{a}: README says '{says_partial[0]}', its manifest says complete")
            if says_complete and partial:
                out.append(f"{a}: README says 'complete', its manifest says partial")
        if len(named) == 1:  # a count of runs beside one archive is its count
            m = manifests[named[0]]
            for n in re.findall(r"([\d,]+) runs", flat):
                if _number(n) not in (m.get("runs_defined"), m.get("runs_exported")):
                    out.append(f"{named[0]}: README says {n} runs, its manifest {m.get('runs_exported')} of "
                               f"{m.get('runs_defined')}")
    return out


def _manifests() -> dict[str, dict]:
    return {name: json.loads(a.manifest_path.read_text()) for name, a in ARCHIVES.items() if a.manifest_path.is_file()}


def test_the_readme_states_no_archive_state_its_manifest_contradicts():
    manifests = _manifests()
    assert manifests, "no archive manifest found in data/archived_runs/"
    assert not archive_state_mismatches(README, manifests)


def test_a_stale_archive_state_is_caught():
    """The statements of issue 38, on archives whose manifests say complete, and the right ones."""
    manifests = {"lfmc_paper": {"partial": False, "runs_defined": 1100, "runs_exported": 1100},
                 "algae_blooms_paper": {"partial": True, "runs_defined": 650, "runs_exported": 130}}
    stale = ("| Main | Table 5 from `lfmc_paper` (the archive is filled over sessions) |\n"
             "| Main | `lfmc_paper`, 10 folds × seeds 0–4 as defined (seed 0 held so far) |\n\n"
             "The archive `algae_blooms_paper` is complete.\n\n`lfmc_paper` holds 130 runs.")
    assert len(archive_state_mismatches(stale, manifests)) == 4
    right = ("`lfmc_paper` is complete (1,100 runs).\n\n`algae_blooms_paper` is partial: 130 runs."
             "\n\nPairs `lfmc_paper` lacks (a partial archive) are named.")
    assert archive_state_mismatches(right, manifests) == []


def _readme_pages() -> list[str]:
    """The first cells of the README's "What the book shows" table."""
    section = README.split("## What the book shows", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # less the header
    return [row.split("|")[1].strip() for row in rows if not set(row) <= set("|- ")]


def test_the_readme_lists_every_page_in_the_books_order():
    """One row per page record (rows of one record start with its title and a comma), in the order
    of the book's table of contents."""
    order = []
    for _, name in toc_pages(yaml.safe_load(TOC.read_text())):
        record = next(p for p in PAGES.values() if name in dict(p.generated()))
        if record.title not in order:
            order.append(record.title)
    titles = []
    for cell in _readme_pages():
        title = next((t for t in order if cell == t or cell.startswith(f"{t}, ")), None)
        assert title, f"README row '{cell}' is no page's title ({order})"
        if not titles or titles[-1] != title:
            titles.append(title)
    assert titles == order
