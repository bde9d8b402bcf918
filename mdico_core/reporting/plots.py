"""The book's bar charts and loss curves (matplotlib), from plain DataFrames.

t-SNE panels live in ``tsne.py`` and prediction maps in ``maps.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting import paper
from mdico_core.reporting.stats import MIN_PAIRS
from mdico_core.reporting.tables import aggregate_rows


def placeholder_figure(text: str, size: tuple[float, float] = (6.0, 1.2)) -> Any:
    """A figure that only says `text` (so a glued figure key always exists)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10)
    ax.axis("off")
    return fig


# ---------------------------------------------------------------------------------- grouped bars
def plot_grouped(agg: pd.DataFrame, x: str, hue: str, facet: str, value: str = "mean", err: str = "std",
                 ylabel: str = "", x_order: Sequence[str] | None = None, hue_order: Sequence[str] | None = None,
                 reference: Mapping[tuple[str, str], float] | None = None, size: float = 4.2) -> Any:
    """Bars of `value` (± `err`) per `x`, coloured by `hue`, one panel per `facet`; no error bar where a
    column ``n`` counts fewer than ``stats.MIN_PAIRS`` runs.

    `reference` maps (facet, x) to a value drawn as a black tick (e.g. the paper's number). With
    more than four categories the bars are horizontal, so that long labels stay readable.
    """
    import matplotlib.pyplot as plt

    facets = list(dict.fromkeys(agg[facet]))
    if not facets:
        raise ValueError("plot_grouped: no rows to plot")
    xs = [v for v in (x_order or dict.fromkeys(agg[x])) if v in set(agg[x])]
    hues = list(hue_order or dict.fromkeys(agg[hue]))
    horizontal = len(xs) > 4
    shape = (size * len(facets), 0.32 * len(xs) * max(len(hues), 1) + 1.2) if horizontal else (size * len(facets), 3.4)
    fig, axes = plt.subplots(1, len(facets), figsize=shape, squeeze=False, sharey=horizontal)
    width = 0.8 / max(len(hues), 1)
    palette = plt.get_cmap("tab10")
    for ax, f in zip(axes[0], facets):
        sub = agg[agg[facet] == f]
        for k, h in enumerate(hues):
            g = sub[sub[hue] == h].drop_duplicates(x).set_index(x)
            pos = np.arange(len(xs)) + (k - (len(hues) - 1) / 2) * width
            vals = np.array([g[value].get(v, np.nan) for v in xs], dtype=float)
            errs = np.nan_to_num(np.array([g[err].get(v, np.nan) if err in g else np.nan for v in xs], dtype=float))
            if "n" in g:  # no error bar from fewer runs than a std is printed from
                n = np.array([g["n"].get(v, np.nan) for v in xs], dtype=float)
                errs[np.isfinite(n) & (n < MIN_PAIRS)] = 0.0
            if horizontal:
                ax.barh(pos, vals, width, xerr=errs, label=str(h), color=palette(k), capsize=2)
            else:
                ax.bar(pos, vals, width, yerr=errs, label=str(h), color=palette(k), capsize=2)
        labelled = False
        for j, v in enumerate(xs):
            r = (reference or {}).get((f, v))
            if r is not None and np.isfinite(r):
                draw = ax.vlines if horizontal else ax.hlines
                draw(r, j - 0.4, j + 0.4, colors="k", linewidths=1.5, label=None if labelled else "paper")
                labelled = True
        if horizontal:
            ax.set_yticks(np.arange(len(xs)), xs)
            if ax is axes[0][0]:  # the y axis is shared: invert it once
                ax.invert_yaxis()
            ax.set_xlabel(ylabel)
        else:
            ax.set_xticks(np.arange(len(xs)), xs, rotation=20, ha="right")
            ax.set_ylabel(ylabel)
        ax.set_title(str(f), fontsize=10)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plot_versus_paper(cmp: pd.DataFrame, ylabel: str = "") -> Any:
    """Our mean ± std per method, one panel per single-modality view; the paper's value as a tick."""
    rows = {}
    for r in cmp.itertuples():
        if r.method and isinstance(r.view, str) and ":" not in r.view:
            rows[(r.method, r.variant)] = (f"{r.paper_method}" if r.variant == "default"
                                           else f"{r.paper_method} ({paper.VARIANT_NAMES.get(r.variant, r.variant)})")
    sub = aggregate_rows(cmp, rows)
    if sub.empty:
        return placeholder_figure("no finished runs to plot")
    ref = {(r.view, r.row): r.paper for r in sub.itertuples()}
    return plot_grouped(sub, x="row", hue="method", facet="view", ylabel=ylabel,
                        x_order=list(dict.fromkeys(sub["row"])), reference=ref)


# ---------------------------------------------------------------------------------- loss curves
def mean_history(histories: Sequence[pd.DataFrame | None], split: str = "train") -> pd.DataFrame:
    """Mean and std of every loss term per epoch over runs (runs stop at different epochs: `n` says
    how many runs reached each one). Returns long rows ``epoch, term, mean, std, n``."""
    prefix = f"{split}/"
    frames = []
    for run, h in enumerate(histories):
        if h is None or len(h) == 0:
            continue
        cols = [c for c in h.columns if c.startswith(prefix) and c != f"{prefix}total"]
        long = h.melt(id_vars="epoch", value_vars=cols, var_name="term", value_name="value")
        long["term"] = long["term"].str[len(prefix):]
        frames.append(long.assign(run=run))
    if not frames:
        return pd.DataFrame(columns=["epoch", "term", "mean", "std", "n"])
    allr = pd.concat(frames, ignore_index=True).dropna(subset=["value"])
    out = allr.groupby(["term", "epoch"])["value"].agg(mean="mean", std="std", n="count").reset_index()
    return out[["epoch", "term", "mean", "std", "n"]].sort_values(["term", "epoch"], ignore_index=True)


def highest_term(curve: pd.DataFrame) -> str | None:
    """The loss term with the highest mean at the last epoch of a `mean_history` frame (None if empty)."""
    if curve.empty:
        return None
    final = curve[curve["epoch"] == curve["epoch"].max()]
    return str(final.sort_values("mean").iloc[-1]["term"])


def plot_loss_curves(curves: Mapping[str, pd.DataFrame], ncols: int = 2) -> Any:
    """One panel per title of ``{title: mean_history(...)}``; a line per loss term, a band of ±1 std
    where at least ``stats.MIN_PAIRS`` runs reached the epoch."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n = len(curves)
    if n == 0:
        raise ValueError("plot_loss_curves needs at least one panel")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    names = list(paper.TERM_NAMES)
    for ax, (title, df) in zip(axes.flat, curves.items()):
        terms = sorted(df["term"].unique(), key=lambda t: (names.index(t) if t in names else 99, t))
        for term in terms:
            g = df[df["term"] == term]
            ax.plot(g["epoch"], g["mean"], marker="o", ms=3, label=paper.TERM_NAMES.get(term, term))
            std = g["std"].where(g["n"] >= MIN_PAIRS, 0.0).fillna(0).to_numpy()  # no band from fewer runs
            ax.fill_between(g["epoch"], g["mean"] - std, g["mean"] + std, alpha=0.2)
        ax.set_title(title, fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig
