"""Figures: the book's figures, drawn from plain frames: bars and curves, t-SNE, maps, the feature measures.

Layer 3 of 5 of ``mdico_core.reporting``, lowest first: its modules import from this layer and ``core``,
``book`` only.

- ``plots``: The book's bar charts and loss curves (matplotlib), from plain DataFrames.
- ``tsne``: t-SNE of the test-set features stored by a run (Fig. 4, A3, A4).
- ``maps``: Prediction maps (Fig. A6-A8).
- ``feature_measures``: What the t-SNE figures claim, measured on the features themselves.
"""
