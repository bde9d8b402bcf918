"""Claims: what replicates: the paper's claims tested on the archives (the ledger), its verdicts, its words
and figures, the sites and your method against an archive.

Layer 5 of 5 of ``mdico_core.reporting``, lowest first: its modules import from this layer and ``core``,
``book``, ``figures``, ``analyses`` only.

- ``verdicts``: The verdict rule of What replicates: two axes that cannot overlap, and one table of their
  words.
- ``findings``: What replicates: the paper's testable claims, each tested on the archives, with one
  verdict rule.
- ``findings_text``: What replicates, in words: the ledger of ``findings`` as the book's page and ``mdico
  findings`` print it (tables, the headline, the rule, each claim's section), in Markdown and in HTML.
- ``glance``: What replicates at a glance: one sentence per claim, an overall line, and a forest plot of
  the ledger.
- ``sites``: Beyond the paper: LFMC at sites never seen in training (archive ``lfmc_sites``, site-grouped
  folds).
- ``versus``: Your method against an archive: your runs paired with every archived method on the same
  splits.
"""
