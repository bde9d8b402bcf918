"""t-SNE of the test-set features stored by a run (Fig. 4, A3, A4).

`tsne_for` picks the runs to show from a page's results (one run per method, all of the same
test fold and seed, so that the panels show the same samples), embeds each modality's features
with openTSNE and returns the panels; `plot_tsne` draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mdico_core.reporting.core import paper
from mdico_core.reporting.figures.plots import figure_size, legend_below, styled

METHODS = ("individual", "mdico")  # the two feature spaces the paper's figures compare

Panel = tuple[str, np.ndarray, np.ndarray]  # (title, (N, 2) embedding, (N,) colour labels)


def tsne_2d(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """openTSNE 2-D embedding of ``(N, D)`` features, seeded; perplexity clipped to what N allows."""
    from openTSNE import TSNE

    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 5:
        raise ValueError(f"t-SNE needs (N, D) features with N >= 5, got shape {x.shape}")
    perp = float(max(1.0, min(perplexity, (len(x) - 1) / 3.0)))
    return np.asarray(TSNE(n_components=2, perplexity=perp, random_state=seed, n_jobs=1).fit(x))


def colour_labels(y: np.ndarray, task: str) -> np.ndarray:
    """One colour value per sample: the class (classification), the first positive label or -1
    (multilabel), the value (regression)."""
    y = np.asarray(y)
    if task == "multilabel":
        return np.where(y.sum(1) > 0, y.argmax(1), -1)
    return y.astype(float) if task == "regression" else y.astype(int)


def tsne_panels(arrays_by_method: Mapping[str, Mapping[str, np.ndarray]], modalities: Sequence[str], task: str,
                seed: int = 0) -> list[Panel]:
    """t-SNE panels (title, embedding, colours) per modality and method, from stored test features."""
    panels = []
    for m in modalities:
        for label, arrays in arrays_by_method.items():
            feat = arrays.get(f"feat/{m}")
            if feat is None or len(feat) < 5:
                continue
            emb = tsne_2d(np.asarray(feat, dtype=np.float32), seed=seed)
            panels.append((f"{label}, {m}", emb, colour_labels(arrays["y_true"], task)))
    return panels


def all_paired_runs(configs: Sequence[Any], has: Any, methods: Sequence[str] = METHODS) -> list[dict[str, Any]]:
    """Every (fold, seed) with a finished run of each method, in run order: ``[{method: config}]``.

    Args:
        configs: run configs of one dataset (in the page's order).
        has: ``has(config) -> bool``, whether the run is in the store.
        methods: the methods that must all have the pair.
    """
    done = {m: {(c.fold, c.seed): c for c in configs if c.method == m and has(c)} for m in methods}
    return [{m: done[m][k] for m in methods} for k in done[methods[-1]] if all(k in done[m] for m in methods)]


def paired_runs(configs: Sequence[Any], has: Any, methods: Sequence[str] = METHODS) -> dict[str, Any] | None:
    """The first of `all_paired_runs` (the figure's runs), or None when no (fold, seed) has every method."""
    pairs = all_paired_runs(configs, has, methods)
    return pairs[0] if pairs else None


@dataclass(frozen=True)
class TsneView:
    """What one dataset's t-SNE figure shows: the runs (one per method, same fold and seed) and panels."""

    runs: dict[str, Any]
    panels: list[Panel]
    task: str
    class_names: list[str] | None
    target_label: str = "target value"  # a regression target's colour-bar label
    features: dict[str, np.ndarray] = field(default_factory=dict)  # "method/feat/<view>" -> (N, D), as stored

    @property
    def fold(self) -> int | None:
        return next(iter(self.runs.values())).fold

    @property
    def seed(self) -> int:
        return next(iter(self.runs.values())).seed


def tsne_for(page: Any, registry: str, seed: int = 0) -> TsneView | None:
    """The t-SNE panels of registry dataset `registry` from a page's runs; None without a run pair.

    `page` is a ``page.Page`` (it reads the store's arrays) or an ``archive.ArchivedPage`` (its
    companion data keeps the features of one fold and seed); the dataset is loaded for its
    modalities, task and class names.
    """
    from mdico_core.data import load_dataset
    from mdico_core.reporting.core.compare import target_label

    has = getattr(page.store, "has_features", page.store.has)  # a store saves every run's features
    runs = paired_runs(page.configs_where(dataset=registry), has)
    if runs is None:
        return None
    ds = load_dataset(registry)
    stored = {m: page.store.arrays(c) for m, c in runs.items()}
    arrays = {paper.METHOD_NAMES.get(m, m): a for m, a in stored.items()}
    features = {f"{m}/{k}": np.asarray(v) for m, a in stored.items() for k, v in a.items() if k.startswith("feat/")}
    return TsneView(runs, tsne_panels(arrays, ds.modality_names, ds.task, seed=seed), ds.task, ds.class_names,
                    target_label(registry), features)


def same_runs(archived: TsneView | None, rerun: TsneView | None) -> tuple[str, bool] | None:
    """When `rerun` shows the very runs (run ids) of `archived`: whether it reproduced their stored
    features, in words, and whether its figure differs (is worth drawing); None for other runs."""
    if archived is None or rerun is None:
        return None
    if {m: c.run_id for m, c in archived.runs.items()} != {m: c.run_id for m, c in rerun.runs.items()}:
        return None
    keys = sorted(set(archived.features) & set(rerun.features))
    # the archive keeps features as float16: the re-run's are compared at that precision
    worst = max((float(np.max(np.abs(archived.features[k].astype(np.float32)
                                      - rerun.features[k].astype(np.float16).astype(np.float32))))
                 for k in keys if archived.features[k].shape == rerun.features[k].shape), default=None)
    if not keys or worst is None:
        return "the same runs as the archived figure, without features to compare.", True
    if worst == 0:
        return (f"the same runs as the archived figure, and the re-run reproduced their {len(keys)} stored feature "
                "arrays exactly (at the archive's float16 precision), so the figure above is also the re-run's."), False
    return (f"the same runs as the archived figure; the re-run's features differ from the archived ones by up to "
            f"{worst:.3g} (at float16 precision; another CPU or library version can do that): its figure follows."), True


@styled
def plot_tsne(panels: Sequence[Panel], task: str, class_names: Sequence[str] | None = None, ncols: int = 2,
              colour_label: str = "target value") -> Any:
    """Scatter one t-SNE embedding per panel, ``(title, (N, 2) embedding, (N,) colour labels)``, at the
    column's width; classes in one legend below the panels, a regression target on a labelled
    colour bar (`colour_label`)."""
    import matplotlib.pyplot as plt

    n = len(panels)
    if n == 0:
        raise ValueError("plot_tsne needs at least one panel")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    width_in = figure_size(0)[0]
    fig, axes = plt.subplots(nrows, ncols, figsize=figure_size(nrows * width_in / ncols * 0.9 + 0.8), squeeze=False,
                             layout="constrained")
    sc = None
    if task == "regression":  # one colour scale for every panel
        values = np.concatenate([lab for _, _, lab in panels])
        vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
    for ax, (title, emb, lab) in zip(axes.flat, panels):
        if task == "regression":
            sc = ax.scatter(emb[:, 0], emb[:, 1], c=lab, s=9, cmap="viridis", linewidths=0, vmin=vmin, vmax=vmax)
        else:
            classes = np.unique(lab)
            palette = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
            for k, c in enumerate(classes):
                name = "no label" if c < 0 else (class_names[c] if class_names is not None and c < len(class_names)
                                                  else str(c))
                sel = lab == c
                ax.scatter(emb[sel, 0], emb[sel, 1], s=9, color=palette(k % palette.N), label=name, linewidths=0)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if sc is not None:
        fig.colorbar(sc, ax=axes, shrink=0.8, label=colour_label)
    else:
        legend_below(fig, ncol=min(len(axes.flat[0].get_legend_handles_labels()[1]), 5))
        for leg in fig.legends:
            for h in leg.legend_handles:
                h.set_sizes([30])
    return fig
