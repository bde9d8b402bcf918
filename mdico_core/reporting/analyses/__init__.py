"""Analyses: what a page prints as evidence: tested tables, ranks, the re-run check, fidelity, the
thread-count study, beyond the paper, the notes beside the numbers.

Layer 4 of 5 of ``mdico_core.reporting``, lowest first: its modules import from this layer and ``core``,
``book``, ``figures`` only.

- ``stats_table``: The results table of one benchmark: every row tested against its reference, as `stats`
  prescribes.
- ``concordance``: Does a reader's re-run agree with the archived paper-protocol runs?
- ``ranks``: Average ranks across the methods of one benchmark: Friedman test, Nemenyi critical
  difference, CD diagram.
- ``fidelity``: How close our runs come to the paper's numbers, in each training setting, and why a cell
  does not.
- ``thread_pairs``: How much the machine moves a result, measured: the same runs at two thread counts,
  compared run by run.
- ``threads``: The thread-count study on the reproducibility page: which archives it compares
  (`open_study`), and its tables, figure and sentences.
- ``beyond``: Beyond the paper: every method at six views, and does one view gain from more views at
  training?
- ``evidence``: What a results page prints as evidence: tested tables, rank diagrams, sentences, and the
  re-run check.
- ``notes``: What a reader must be told beside the numbers: the paper's artefacts a page does not
  regenerate, and the numbers that look odd.
"""
