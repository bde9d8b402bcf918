"""Core: the paper's facts and claims as data, the statistics and the one decimal rule, and our runs beside
the paper's numbers (aggregates, the tables' layouts): what every other layer computes with.

Layer 1 of 5 of ``mdico_core.reporting``, lowest first: its modules import no other layer.

- ``paper``: Every fact taken from the paper: names, table numbers, tasks, views, table rows, its own
  numbers.
- ``paper_claims``: The paper's testable claims, as data: each claim, the paper's words, and the
  comparisons that test it here.
- ``stats``: Statistics that fit cross-validation, and the reporting policy that goes with them.
- ``format``: How numbers and tables are written on a page: one decimal rule, and the notebook display
  helpers.
- ``compare``: Ours beside the paper: aggregates over folds x seeds, paired tests, the paper's number for
  each cell.
- ``tables``: The book's tables: a comparison (``compare.compare_with_paper``) laid out as each page shows
  it.
"""
