"""Reporting: the book's pages read the results store (and archived sweeps) and show ours beside the paper.

Nothing here trains: ``mdico run`` and ``mdico book`` (``mdico_core.bookbuild``) fill the store.
Which data runs for each benchmark, and why, is ``mdico_core.data.availability``'s answer.

- ``paper``       every fact taken from the paper (names, table numbers, views, rows, its tables)
- ``format``      one decimal rule per metric; number formatting; notebook display helpers
- ``provenance``  the banner of every page; the reproducibility and data-licence tables
- ``compare``     aggregates, paired tests, our cells beside the paper's
- ``tables``      the book's table layouts (Tables 2-7, A1, released code)
- ``plots``       bar charts and loss curves
- ``tsne``        t-SNE of stored features (Fig. 4)
- ``maps``        prediction maps (Fig. A6-A8)
- ``pages``       one record per book page (`PAGES`): notebook, toc section, archives, runs, artefacts
- ``book_plan``   which runs each page needs at a profile
- ``page``        a notebook's read-only view of the store (`ResultsPage`, the live `Page`)
- ``archive``     archived sweeps read back as a page (`ArchivedPage`); ``mdico export``
- ``stats``, ``stats_table``, ``ranks``, ``concordance``  tests that fit cross-validation, the n rule
- ``evidence``    what a page prints as evidence: tested tables, sentences, CD diagrams, the re-run check
- ``fidelity``    ours vs the paper in each training setting, and why a cell differs
"""
