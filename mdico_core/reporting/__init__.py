"""Reporting: the book's pages read the results store (and archived sweeps) and show ours beside the paper.

Nothing here trains: ``mdico run`` and ``mdico book`` (``mdico_core.bookbuild``) fill the store.
Which data runs for each benchmark, and why, is ``mdico_core.data.availability``'s answer.

The package is split by concern into layers, lowest first (`LAYERS`). A module imports from its own
layer and the layers before it, never from a later one; ``tests/test_architecture.py`` reads every
import of the package, those inside functions too, and fails on one against the order.

1. ``core``: the paper's facts and claims as data, the statistics and the one decimal rule, and our runs
   beside the paper's numbers (aggregates, the tables' layouts): what every other layer computes with
   (paper, paper_claims, stats, format, compare, tables).
2. ``book``: the book's page records and their plan, and what a page reads: the results store, the archives,
   their provenance and environments (pages, book_plan, provenance, page, archive, environments).
3. ``figures``: the book's figures, drawn from plain frames: bars and curves, t-SNE, maps, the feature
   measures (plots, tsne, maps, feature_measures).
4. ``analyses``: what a page prints as evidence: tested tables, ranks, the re-run check, fidelity, the
   thread-count study, beyond the paper, the notes beside the numbers (stats_table, concordance, ranks,
   fidelity, thread_pairs, threads, beyond, evidence, notes).
5. ``claims``: what replicates: the paper's claims tested on the archives (the ledger), its verdicts, its
   words and figures, the sites and your method against an archive (verdicts, findings, findings_text,
   glance, sites, versus).

The notebooks import from this package only: `SURFACE`, a small and stable surface of the modules
they use and a few functions, each loaded on first use (``from mdico_core.reporting import page,
evidence as ev, format as fmt``). The package's own code and the tests import a module from its
layer (``from mdico_core.reporting.core import paper``), never from this surface.
"""

from __future__ import annotations

import importlib
from typing import Any

LAYERS = ("core", "book", "figures", "analyses", "claims")

# What the notebooks import: a name -> its module, or "module:name" for a name inside one.
SURFACE = {
    "archived_page": "mdico_core.reporting.book.archive:archived_page",
    "archives_table": "mdico_core.reporting.book.archive:archives_table",
    "beyond": "mdico_core.reporting.analyses.beyond",
    "book_plan": "mdico_core.reporting.book.book_plan",
    "compare": "mdico_core.reporting.core.compare",
    "environments": "mdico_core.reporting.book.environments",
    "evidence": "mdico_core.reporting.analyses.evidence",
    "feature_measures": "mdico_core.reporting.figures.feature_measures",
    "fidelity": "mdico_core.reporting.analyses.fidelity",
    "findings": "mdico_core.reporting.claims.findings",
    "findings_text": "mdico_core.reporting.claims.findings_text",
    "format": "mdico_core.reporting.core.format",
    "format_ledger": "mdico_core.reporting.claims.findings_text:format_ledger",
    "glance": "mdico_core.reporting.claims.glance",
    "held_words": "mdico_core.reporting.book.archive:held_words",
    "maps": "mdico_core.reporting.figures.maps",
    "notes": "mdico_core.reporting.analyses.notes",
    "page": "mdico_core.reporting.book.page:page",
    "pages": "mdico_core.reporting.book.pages",
    "paper": "mdico_core.reporting.core.paper",
    "plots": "mdico_core.reporting.figures.plots",
    "provenance": "mdico_core.reporting.book.provenance",
    "rerun_commands": "mdico_core.reporting.book.page:rerun_commands",
    "short_version": "mdico_core.reporting.book.provenance:short_version",
    "single_views": "mdico_core.reporting.core.compare:single_views",
    "sites": "mdico_core.reporting.claims.sites",
    "spot_check_note": "mdico_core.reporting.book.page:spot_check_note",
    "stats": "mdico_core.reporting.core.stats",
    "tables": "mdico_core.reporting.core.tables",
    "threads": "mdico_core.reporting.analyses.threads",
    "tsne": "mdico_core.reporting.figures.tsne",
    "versus": "mdico_core.reporting.claims.versus",
}

__all__ = sorted(SURFACE)


def __getattr__(name: str) -> Any:
    if name not in SURFACE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = SURFACE[name].partition(":")
    value = importlib.import_module(module)
    return getattr(value, attr) if attr else value


def __dir__() -> list[str]:
    return sorted({*globals(), *SURFACE})
