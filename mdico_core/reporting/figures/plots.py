"""The book's bar charts and loss curves (matplotlib), from plain DataFrames.

t-SNE panels live in ``tsne.py`` and prediction maps in ``maps.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.core import paper
from mdico_core.reporting.core.format import CSS_DPI, FIGURE_PX, STYLE, metric_label, span_words
from mdico_core.reporting.core.stats import MIN_PAIRS
from mdico_core.reporting.core.tables import aggregate_rows

# ---------------------------------------------------------------------------------- the book's figure style
# Every figure of the book is drawn at the width it is shown at (`figure_size`: the content
# column) and shown 1:1 by `format.show`, so `STYLE`'s sizes are the sizes a reader sees.
# The paper's number on a figure: a red diamond, which no error-bar cap can be mistaken for.
PAPER_MARKER: dict[str, Any] = {"marker": "D", "color": "#d62728", "markeredgecolor": "white", "markersize": 7,
                                "linestyle": "none", "zorder": 5}
OURS = "ours (mean ± std)"  # the legend entry of our bars when the frame has one unnamed series


def figure_size(height: float, width_px: float = FIGURE_PX) -> tuple[float, float]:
    """(width, height) in inches of a figure `height` inches tall shown `width_px` CSS pixels wide
    (default: the book's content column), the one size rule of every figure in the book."""
    return (width_px / CSS_DPI, height)


def book_style() -> None:
    """Apply the book's figure style (`STYLE`) to matplotlib, for figures a notebook draws itself."""
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)


def styled(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Run a figure function under the book's `STYLE` (whatever the notebook's rcParams)."""
    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib.pyplot as plt

        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)
    return wrapper


def legend_below(fig: Any, ncol: int | None = None) -> None:
    """One legend for the whole figure, below its panels (it never covers data): each label once."""
    seen: dict[str, Any] = {}
    for ax in fig.axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label and not label.startswith("_"):
                seen.setdefault(label, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", frameon=False,
                   ncol=ncol or min(len(seen), 4))


@styled
def placeholder_figure(text: str, height: float = 1.0) -> Any:
    """A figure that only says `text` (so a glued figure key always exists)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figure_size(height))
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10)
    ax.axis("off")
    return fig


# ---------------------------------------------------------------------------------- grouped bars
@styled
def plot_grouped(agg: pd.DataFrame, x: str, hue: str, facet: str, value: str = "mean", err: str = "std",
                 ylabel: str = "", x_order: Sequence[str] | None = None, hue_order: Sequence[str] | None = None,
                 reference: Mapping[tuple[str, str], float] | None = None, points: bool = False) -> Any:
    """Bars of `value` (± `err`) per `x`, coloured by `hue`, one panel per `facet`, at the column's width;
    no error bar where a column ``n`` counts fewer than ``stats.MIN_PAIRS`` runs. With `points`, each value
    is a dot with its error bar on an axis fitted to the values: a difference of a few points between
    neighbours stays visible (bars must start at 0, which hides it).

    `reference` maps (facet, x) to a value drawn as a red diamond (the paper's number). With more
    than four categories the bars are horizontal, so that long labels stay readable. `ylabel` is
    a metric name (``"r2"`` is written ``"R²"``) or words. The legend is below the panels.
    """
    import matplotlib.pyplot as plt

    facets = list(dict.fromkeys(agg[facet]))
    if not facets:
        raise ValueError("plot_grouped: no rows to plot")
    xs = [v for v in (x_order or dict.fromkeys(agg[x])) if v in set(agg[x])]
    hues = list(hue_order or dict.fromkeys(agg[hue]))
    horizontal = len(xs) > 4
    height = 0.2 * len(xs) * max(len(hues), 1) + 1.5 if horizontal else 3.2
    fig, axes = plt.subplots(1, len(facets), figsize=figure_size(height), squeeze=False, sharey=horizontal,
                             layout="constrained")
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
            style = {"label": OURS if str(h) == "ours" else str(h), "color": palette(k), "capsize": 3,
                     "error_kw": {"ecolor": "0.25", "elinewidth": 1}}
            if points:  # no bar: the axis need not start at 0
                kw = {"xerr": errs} if horizontal else {"yerr": errs}
                ax.errorbar(*((vals, pos) if horizontal else (pos, vals)), fmt="o", color=palette(k),
                            label=style["label"], capsize=3, ecolor="0.25", elinewidth=1, **kw)
            elif horizontal:
                ax.barh(pos, vals, width, xerr=errs, **style)
            else:
                ax.bar(pos, vals, width, yerr=errs, **style)
        ref = [(j, (reference or {}).get((f, v))) for j, v in enumerate(xs)]
        ref = [(j, r) for j, r in ref if r is not None and np.isfinite(r)]
        if ref:
            js, rs = zip(*ref)
            ax.plot(*((rs, js) if horizontal else (js, rs)), label="paper", **PAPER_MARKER)
        if horizontal:
            ax.set_yticks(np.arange(len(xs)), xs)
            if ax is axes[0][0]:  # the y axis is shared: invert it once
                ax.invert_yaxis()
            ax.set_xlabel(metric_label(ylabel))
        else:
            ax.set_xticks(np.arange(len(xs)), xs, rotation=20, ha="right")
            if ax is axes[0][0]:
                ax.set_ylabel(metric_label(ylabel))
        ax.set_title(str(f))
    legend_below(fig)
    return fig


def plot_versus_paper(cmp: pd.DataFrame, ylabel: str = "", show_paper: bool = True) -> Any:
    """Our mean ± std per method, one panel per single-modality view; the paper's value as a tick, unless
    `show_paper` is False (a stand-in: other data than the paper's, whose values do not share an axis)."""
    rows = {}
    for r in cmp.itertuples():
        if r.method and isinstance(r.view, str) and ":" not in r.view:
            rows[(r.method, r.variant)] = (f"{r.paper_method}" if r.variant == "default"
                                           else f"{r.paper_method} ({paper.VARIANT_NAMES.get(r.variant, r.variant)})")
    sub = aggregate_rows(cmp, rows)
    if sub.empty:
        return placeholder_figure("no finished runs to plot")
    ref = {(r.view, r.row): r.paper for r in sub.itertuples()} if show_paper else None
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


@styled
def plot_loss_curves(curves: Mapping[str, pd.DataFrame], ncols: int = 2) -> Any:
    """One panel per title of ``{title: mean_history(...)}``; a line per loss term, a band of ±1 std
    where at least ``stats.MIN_PAIRS`` runs reached the epoch.

    Each term has one colour in every panel, named once in the legend below the panels.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n = len(curves)
    if n == 0:
        raise ValueError("plot_loss_curves needs at least one panel")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=figure_size(2.5 * nrows + 0.7), squeeze=False,
                             layout="constrained")
    names = list(paper.TERM_NAMES)
    terms_all = sorted({t for df in curves.values() for t in df["term"].unique()},
                       key=lambda t: (names.index(t) if t in names else 99, t))
    colour = {t: plt.get_cmap("tab10")(k) for k, t in enumerate(terms_all)}
    for ax, (title, df) in zip(axes.flat, curves.items()):
        for term in [t for t in terms_all if t in set(df["term"])]:
            g = df[df["term"] == term]
            ax.plot(g["epoch"], g["mean"], marker="o", ms=3, color=colour[term], label=paper.TERM_NAMES.get(term, term))
            std = g["std"].where(g["n"] >= MIN_PAIRS, 0.0).fillna(0).to_numpy()  # no band from fewer runs
            ax.fill_between(g["epoch"], g["mean"] - std, g["mean"] + std, alpha=0.2, color=colour[term])
        ax.set_title(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    legend_below(fig, ncol=2)
    return fig


# ---------------------------------------------------------------------------------- differences
@styled
def plot_differences(tests: pd.DataFrame, benchmark: str, metric: str | None = None,
                     paper_label: str = "the paper's") -> Any:
    """Each method's paired difference to its reference (``evidence.tested`` rows: Δ and its corrected 95%
    interval) per single-modality view, one shared axis for every panel, the paper's own difference beside it
    (◆, from its table for `benchmark`), and zero. A gap of 0.01 shows as what it is, not as two bar tops.
    The x axis names `metric` in words (``format.metric_label``: "R²", not "r2")."""
    import matplotlib.pyplot as plt

    t = tests[tests["n_pairs"].fillna(0) >= MIN_PAIRS] if len(tests) else tests
    t = t[t["view"].astype(str).map(lambda v: ":" not in v and v != "fusion")] if len(t) else t
    if t.empty:
        return placeholder_figure("no paired runs to draw")
    present = list(dict.fromkeys(t["view"].astype(str)))
    views = [v for v in paper.paper_views(benchmark) if v in present] + [v for v in present
                                                                         if v not in paper.paper_views(benchmark)]
    methods = [m for m in paper.ORDER if m in set(t["paper_method"])][::-1]  # MDiCo on top, as the paper's last row
    methods += [m for m in dict.fromkeys(t["paper_method"]) if m not in methods]
    fig, axes = plt.subplots(1, len(views), figsize=figure_size(0.3 * len(methods) + 1.2), sharex=True, sharey=True,
                             squeeze=False, layout="constrained")
    y = np.arange(len(methods))[::-1]
    for ax, view in zip(axes[0], views):
        d = t[t["view"].astype(str) == view].set_index("paper_method").reindex(methods)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.errorbar(d["diff"], y, xerr=[d["diff"] - d["ci_lo"], d["ci_hi"] - d["diff"]], fmt="o", ms=4, capsize=2,
                    color="#0072B2", label="ours: Δ, corrected 95% interval")
        ref = [paper.paper_value(benchmark, m, "default", view)[0] - paper.paper_value(benchmark, "Individual", "default",
                                                                                     view)[0] for m in methods]
        ax.plot(ref, y, **{**PAPER_MARKER, "markersize": 5}, label=f"{paper_label} difference")
        ax.set_title(view)
        ax.set_yticks(y, methods)
        ax.set_xlabel(f"{metric_label(metric)} minus Individual's (same view)" if metric else "")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    return fig



# ---------------------------------------------------------------------------------- captions in numbers
def _runs_words(n: pd.Series) -> str:
    counts = pd.to_numeric(n, errors="coerce").dropna()
    if counts.empty:
        return ""
    return f"{span_words(counts)} run{'' if counts.max() == 1 else 's'} each"


def levels_caption(agg: pd.DataFrame, x: str, reference: str, facet: str = "view", value: str = "mean",
                   digits: int = 3) -> str:
    """What a `plot_grouped` figure shows, in numbers: per facet, the `reference` category's value and the range
    of the others, with how many fall below it (``"S1: MDiCo 0.192, the others 0.170 to 0.244 (3 of 7 below)"``)."""
    out = []
    for f, g in agg.groupby(facet, sort=False):
        ref = g.loc[g[x] == reference, value]
        others = g.loc[g[x] != reference, value].dropna()
        if ref.empty or others.empty:
            continue
        r = float(ref.iloc[0])
        out.append(f"{f}: {reference} {r:.{digits}f}, the others {others.min():.{digits}f} to {others.max():.{digits}f} "
                   f"({int((others < r).sum())} of {len(others)} below)")
    runs = _runs_words(agg["n"]) if "n" in agg else ""
    return "; ".join(out) + (f" ({runs})" if runs and out else "")


def wins_caption(agg: pd.DataFrame, x: str, hue: str, better: str, worse: str, facet: str = "view",
                 value: str = "mean", noun: str = "") -> str:
    """In how many `x` categories `better`'s value is above `worse`'s, per facet: ``"S1: MDiCo above Individual
    for 4 of 5 encoders"`` (means only; the tests beside the figure say which gaps are detected)."""
    out = []
    for f, g in agg.groupby(facet, sort=False):
        wide = g.pivot_table(index=x, columns=hue, values=value)
        if better not in wide or worse not in wide:
            continue
        both = wide[[better, worse]].dropna()
        out.append(f"{f}: {better} above {worse} for {int((both[better] > both[worse]).sum())} of {len(both)}"
                   + (f" {noun}" if noun else ""))
    return "; ".join(out)
