"""Book: the book's page records and their plan, and what a page reads: the results store, the archives,
their provenance and environments.

Layer 2 of 5 of ``mdico_core.reporting``, lowest first: its modules import from this layer and ``core``
only.

- ``pages``: The book's pages, one record each: `PAGES`, by notebook name, in build order.
- ``book_plan``: What the book runs: the runs each page needs at a profile.
- ``provenance``: Where every number comes from: the banner each results page opens with, and the
  reproducibility tables.
- ``page``: A notebook's read-only view of the results store: its planned runs, their metrics, failures,
  provenance.
- ``archive``: Archived sweeps read back: the metric rows of an archive, and the archive as a results
  page.
- ``environments``: Where the runs ran: the environments of every source of runs a book page reads, for
  the reproducibility page.
"""
