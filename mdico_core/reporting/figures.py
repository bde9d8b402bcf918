"""Figures and page furniture for the book.

Everything a notebook shows beyond H5's tables (``reporting/tables.py``): the provenance banner
every results page opens with, paper-vs-ours tables and plots, Table A1 parameter counts from the
encoder classes, t-SNE of stored features, loss curves from stored histories and prediction maps.
Functions take plain arrays and DataFrames and return DataFrames or matplotlib figures, so they
are testable without a results store.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]

KIND_LABELS = {
    "real": "real data",
    "stand-in": "STAND-IN (real data of another task, not the paper's benchmark)",
    "synthetic": "SYNTHETIC (seeded toy data; the numbers mean nothing against the paper)",
    "absent": "absent (not run; see how to get it below)",
}
METHOD_NAMES = {"individual": "Individual", "mdico": "MDiCo"}
ENCODER_NAMES = {"tempcnn": "TempCNN", "mlp": "MLP", "transformer": "Transformer", "convtran": "ConvTran",
                 "lstm": "LSTM", "resnet50": "ResNet-50"}
VARIANT_NAMES = {
    "default": "MDiCo", "no_mod": "w/o modality loss", "no_aux": "w/o auxiliary loss",
    "no_cont": "w/o contrastive loss", "no_unused": "w/o unused features", "unpaired": "unpaired data",
    "shared_encoders": "shared encoders", "weighted": "weighted loss", "released": "released code",
}
# Table A1's columns and the per-sample shapes they were counted on: (T, C) series, (C, H, W) image.
PAPER_SHAPES: dict[str, tuple[int, ...]] = {
    "croph_s1": (12, 2), "croph_s2": (12, 12), "lfmc_s1": (4, 3), "lfmc_l8": (4, 8),
    "tsaits_aerial": (4, 304, 304), "tsaits_s2": (146, 432),
}


# ---------------------------------------------------------------------------------- provenance
def git_version(root: Path | str | None = None) -> str:
    """Short commit of the checkout at `root` (default: this repository), ``+dirty`` if modified."""
    root = Path(root or REPO_ROOT)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown (no commit yet)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


def record_versions(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Distinct code versions (``commit`` or ``commit+dirty``) the given run records were made with."""
    out = []
    for r in records:
        prov = r.get("provenance") or {}
        c = prov.get("git_commit")
        if not c:
            continue
        v = str(c)[:12] + ("+dirty" if prov.get("git_dirty") else "")
        if v not in out:
            out.append(v)
    return out


def _ints(values: Sequence[Any] | None) -> str:
    if values is None:
        return "the profile's"
    vals = list(values)
    if vals == [None]:
        return "official split"
    return ", ".join("official" if v is None else str(v) for v in vals) or "none"


def provenance_banner(profile: str, datasets: Mapping[str, tuple[str, str]], folds: Sequence[Any] | None,
                      seeds: Sequence[int] | None, records: Iterable[Mapping[str, Any]] = (),
                      n_folds: int | None = None, code_version: str | None = None) -> str:
    """The Markdown block every results page opens with.

    Args:
        profile: the budget profile's name.
        datasets: ``{paper benchmark or dataset: (registry name run, kind)}`` with kind one of
            "real", "stand-in", "synthetic", "absent" (see ``plan.resolve_dataset``).
        folds, seeds: what was run (None: the profile's).
        records: the run records shown; their commits are listed when they differ from the code's.
        n_folds: folds of the cross-validation, for "fold 0, 1 of 10".
        code_version: override of the checkout's ``git_version()`` (tests).
    """
    version = code_version or git_version()
    runs = list(records)
    made = [v for v in record_versions(runs) if v != version]
    data = []
    for shown, (reg, kind) in datasets.items():
        label = KIND_LABELS.get(kind, kind)
        data.append(f"{shown} = `{reg}`, {label}" if shown != reg else f"`{reg}`, {label}")
    of = f" of {n_folds}" if n_folds else ""
    lines = [
        f"**Provenance.** Profile `{profile}`; folds {_ints(folds)}{of}; seeds {_ints(seeds)}; "
        f"{len(runs)} runs shown; code version `{version}`"
        + (f" (runs made with `{'`, `'.join(made)}`)" if made else "") + ".",
        "",
        "**Data.** " + ("; ".join(data) if data else "none") + ".",
    ]
    if any(k in ("stand-in", "synthetic") for _, k in datasets.values()):
        lines += ["", "*Numbers on stand-in or synthetic data are not the paper's benchmark: compare trends "
                      "(MDiCo vs Individual), not values, with the paper's columns.*"]
    return "\n".join("> " + ln if ln else ">" for ln in lines)


def show_markdown(text: str) -> None:
    """Display Markdown in a notebook (falls back to print outside IPython)."""
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:  # pragma: no cover - plain Python
        print(text)


# ---------------------------------------------------------------------------------- number formatting
def metric_digits(metric: str) -> int:
    """Decimals the paper prints: 3 for R², 1 for F1 (%) and the rest."""
    return 3 if metric == "r2" else 1


def fmt_mean_std(mean: float, std: float | None, digits: int = 1) -> str:
    """``"73.5 ± 1.2"``; ``"73.5"`` when `std` is NaN / None (one run); ``"–"`` for a missing mean."""
    if mean is None or not np.isfinite(mean):
        return "–"
    if std is None or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_value(value: float | None, digits: int = 1, signed: bool = False) -> str:
    """A number with `digits` decimals, ``"–"`` when missing; ``+`` shown when `signed`."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def fmt_p(p: float | None) -> str:
    """A p-value as the tables print it (``"<0.001"``, ``"0.043"``, ``"–"`` when untestable)."""
    if p is None or not np.isfinite(p):
        return "–"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


# ---------------------------------------------------------------------------------- Table A1
def count_parameters(module: Any) -> int:
    """Learnable parameters of a torch module."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def encoder_parameters(encoders: Sequence[str] = ("resnet50", "tempcnn", "mlp", "transformer", "convtran", "lstm"),
                       shapes: Mapping[str, tuple[int, ...]] = PAPER_SHAPES,
                       paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table A1: learnable parameters (thousands) of each encoder built here, beside the paper's.

    A cell is computed where the paper gives a value or where the paper's encoder study ran
    (temporal encoders on the CropHarvest and LFMC series); image columns use ResNet-50 only.

    Returns one row per (encoder, column): ``encoder, column, ours_k, paper_k, diff_pct``.
    """
    from mdico_core.encoders import IMAGE_ENCODERS, build_encoder

    if paper is None:
        paper = paper_csv("tableA1_params_thousands")
    by_name = {str(r["encoder"]).lower().replace("-", ""): r for _, r in paper.iterrows()}
    rows = []
    for enc in encoders:
        prow = by_name.get(enc.replace("-", ""))
        for col, shape in shapes.items():
            is_image = len(shape) == 3
            pval = float(prow[col]) if prow is not None and col in prow and pd.notna(prow[col]) else np.nan
            studied = col.startswith(("croph", "lfmc")) and not is_image and enc not in IMAGE_ENCODERS
            if (enc in IMAGE_ENCODERS) != is_image or not (studied or np.isfinite(pval)):
                continue
            ours = count_parameters(build_encoder(enc, shape)) / 1000
            rows.append({"encoder": ENCODER_NAMES.get(enc, enc), "column": col, "ours_k": round(ours),
                         "paper_k": pval, "diff_pct": 100 * (ours - pval) / pval if np.isfinite(pval) else np.nan})
    return pd.DataFrame(rows)


def paper_csv(name: str) -> pd.DataFrame:
    """A paper table CSV of ``data/paper_tables/`` by file stem (e.g. ``"tableA1_params_thousands"``)."""
    from mdico_core.reporting.tables import paper_table

    return paper_table(name)


def wide_parameters(long: pd.DataFrame) -> pd.DataFrame:
    """`encoder_parameters` as Table A1's layout, each cell ``"ours (paper)"`` in thousands."""
    cell = long.apply(lambda r: f"{r.ours_k:,.0f}" + (f" ({r.paper_k:,.0f})" if np.isfinite(r.paper_k) else ""),
                      axis=1)
    out = long.assign(cell=cell).pivot(index="encoder", columns="column", values="cell")
    order = [e for e in ENCODER_NAMES.values() if e in out.index]
    cols = [c for c in PAPER_SHAPES if c in out.columns]
    return out.loc[order, cols].fillna("")


# ---------------------------------------------------------------------------------- t-SNE
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


def plot_tsne(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], task: str,
              class_names: Sequence[str] | None = None, ncols: int = 2, size: float = 3.6) -> Any:
    """Scatter one t-SNE embedding per panel, ``(title, (N, 2) embedding, (N,) colour labels)``."""
    import matplotlib.pyplot as plt

    n = len(panels)
    if n == 0:
        raise ValueError("plot_tsne needs at least one panel")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax, (title, emb, lab) in zip(axes.flat, panels):
        if task == "regression":
            sc = ax.scatter(emb[:, 0], emb[:, 1], c=lab, s=9, cmap="viridis", linewidths=0)
            fig.colorbar(sc, ax=ax, shrink=0.8)
        else:
            classes = np.unique(lab)
            palette = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
            for k, c in enumerate(classes):
                name = "no label" if c < 0 else (class_names[c] if class_names is not None and c < len(class_names)
                                                  else str(c))
                sel = lab == c
                ax.scatter(emb[sel, 0], emb[sel, 1], s=9, color=palette(k % palette.N), label=name, linewidths=0)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if task != "regression":
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8, frameon=False,
                   markerscale=2, bbox_to_anchor=(0.5, -0.02))
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    else:
        fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------- loss curves
def mean_history(histories: Sequence[pd.DataFrame], split: str = "train") -> pd.DataFrame:
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


TERM_NAMES = {"main": "main predictive (L_main)", "aux": "auxiliary predictive (L_aux)",
              "cont": "contrastive (L_cont)", "mod": "modality discriminant (L_mod)"}


def plot_loss_curves(curves: Mapping[str, pd.DataFrame], ncols: int = 2) -> Any:
    """One panel per title of ``{title: mean_history(...)}``; a line per loss term, a band of ±1 std."""
    import matplotlib.pyplot as plt

    n = len(curves)
    if n == 0:
        raise ValueError("plot_loss_curves needs at least one panel")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    from matplotlib.ticker import MaxNLocator

    for ax, (title, df) in zip(axes.flat, curves.items()):
        terms = sorted(df["term"].unique(), key=lambda t: (list(TERM_NAMES).index(t) if t in TERM_NAMES else 99, t))
        for term in terms:
            g = df[df["term"] == term]
            ax.plot(g["epoch"], g["mean"], marker="o", ms=3, label=TERM_NAMES.get(term, term))
            std = g["std"].fillna(0).to_numpy()
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


# ---------------------------------------------------------------------------------- prediction maps
def gather_predictions(arrays: Iterable[Mapping[str, np.ndarray]], view: str) -> pd.DataFrame:
    """Test-set predictions of `view` from run arrays (``ResultsStore.arrays``), one row per sample.

    Each sample is in one test fold per seed; with several seeds its predictions are averaged
    (probabilities, or values). Columns: ``idx``, ``y_true`` (object: scalar or label vector),
    ``pred`` (object: probabilities or a value).
    """
    key = f"pred/{view}"
    idx, yt, pr = [], [], []
    for a in arrays:
        if key not in a:
            continue
        p = np.asarray(a[key], dtype=np.float64)
        idx.append(np.asarray(a["test_idx"]))
        yt.append(np.asarray(a["y_true"]))
        pr.append(p.reshape(len(p), -1))
    if not idx:
        return pd.DataFrame(columns=["idx", "y_true", "pred"])
    i = np.concatenate(idx)
    y = np.concatenate([v.reshape(len(v), -1) for v in yt])
    p = np.concatenate(pr)
    order = np.unique(i)
    pos = np.searchsorted(order, i)
    counts = np.bincount(pos, minlength=len(order))[:, None]
    p_mean = np.zeros((len(order), p.shape[1]))
    np.add.at(p_mean, pos, p)
    p_mean /= counts
    y_first = np.zeros((len(order), y.shape[1]), dtype=y.dtype)
    y_first[pos] = y
    # scalars stay scalars (class index, regression value); vectors (probabilities, label sets) stay rows
    y_col = list(y_first[:, 0]) if y.shape[1] == 1 else list(y_first)
    p_col = list(p_mean[:, 0]) if p.shape[1] == 1 else list(p_mean)
    return pd.DataFrame({"idx": order, "y_true": y_col, "pred": p_col})


def point_values(df: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(truth, prediction) per row of `gather_predictions`: classes by argmax, values for regression,
    number of labels for multilabel."""
    if task == "regression":
        return df["y_true"].to_numpy(float), df["pred"].to_numpy(float)
    if task == "multilabel":
        return (np.array([np.sum(v) for v in df["y_true"]]), np.array([np.sum(np.asarray(v) >= 0.5)
                                                                       for v in df["pred"]]))
    return df["y_true"].to_numpy(int), np.array([int(np.argmax(v)) for v in df["pred"]])


def site_means(lat: np.ndarray, lon: np.ndarray, values: Mapping[str, np.ndarray], decimals: int = 4) -> pd.DataFrame:
    """Mean of each value per site (coordinates rounded to `decimals`), with the sample count."""
    df = pd.DataFrame({"lat": np.round(lat, decimals), "lon": np.round(lon, decimals), **values})
    return df.groupby(["lat", "lon"]).agg(**{k: (k, "mean") for k in values}, n=("lat", "size")).reset_index()


def plot_prediction_map(lat: np.ndarray, lon: np.ndarray, truth: np.ndarray, preds: Mapping[str, np.ndarray],
                        task: str, class_names: Sequence[str] | None = None, title: str = "",
                        size: float = 3.2) -> Any:
    """Ground truth beside each method's prediction on a lon/lat scatter (no basemap).

    Regression: points are sites; the first panel shows the mean target per site, the others the
    mean signed error (prediction - truth) per site on one diverging scale centred at 0.
    Classification: one point per sample coloured by class; wrong predictions are drawn larger.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    n = 1 + len(preds)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 0.9), squeeze=False, sharex=True, sharey=True,
                             layout="constrained")
    axes = axes[0]
    if task == "regression":
        sites = site_means(lat, lon, {"truth": truth, **{k: v - truth for k, v in preds.items()}})
        sc = axes[0].scatter(sites["lon"], sites["lat"], c=sites["truth"], s=14, cmap="YlGnBu")
        fig.colorbar(sc, ax=axes[0], shrink=0.8, label="ground truth (site mean)")
        errs = np.concatenate([sites[k].to_numpy() for k in preds]) if preds else np.array([1.0])
        lim = float(np.nanmax(np.abs(errs))) or 1.0
        norm = TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
        for ax, k in zip(axes[1:], preds):
            sc = ax.scatter(sites["lon"], sites["lat"], c=sites[k], s=14, cmap="RdBu_r", norm=norm)
            mae = float(np.mean(np.abs(preds[k] - truth)))
            ax.set_title(f"{k}: error (MAE {mae:.1f})", fontsize=10)
        if preds:
            fig.colorbar(sc, ax=list(axes[1:]), shrink=0.8, label="prediction - truth (site mean)")
        axes[0].set_title("ground truth", fontsize=10)
    else:
        classes = np.unique(np.concatenate([truth, *preds.values()]))
        palette = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        colour = {c: palette(k % palette.N) for k, c in enumerate(classes)}

        def name(c: int) -> str:
            return class_names[c] if class_names is not None and 0 <= c < len(class_names) else str(c)

        for ax, (label, vals) in zip(axes, [("ground truth", truth), *preds.items()]):
            wrong = vals != truth
            for c in classes:
                sel = vals == c
                ax.scatter(lon[sel & ~wrong], lat[sel & ~wrong], s=6, color=colour[c], linewidths=0,
                           label=name(c) if label == "ground truth" else None)
                ax.scatter(lon[sel & wrong], lat[sel & wrong], s=16, color=colour[c], marker="X",
                           edgecolors="k", linewidths=0.2, alpha=0.8)
            acc = 100 * float(np.mean(~wrong))
            ax.set_title(label if label == "ground truth" else f"{label} ({acc:.1f}% correct)", fontsize=10)
        fig.legend(loc="outside lower center", ncol=min(len(classes), 6), fontsize=8, frameon=False, markerscale=2)
    for ax in axes:
        ax.set_xlabel("longitude")
    axes[0].set_ylabel("latitude")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


# ---------------------------------------------------------------------------------- grouped bars
def plot_grouped(agg: pd.DataFrame, x: str, hue: str, facet: str, value: str = "mean", err: str = "std",
                 ylabel: str = "", x_order: Sequence[str] | None = None, hue_order: Sequence[str] | None = None,
                 reference: Mapping[tuple[str, str], float] | None = None, size: float = 4.2) -> Any:
    """Bars of `value` (± `err`) per `x`, coloured by `hue`, one panel per `facet`.

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


# ---------------------------------------------------------------------------------- notebook helpers
def glue_text(key: str, text: str) -> None:
    """Glue `text` under `key` for ``{glue:text}`key``` in the page's prose (no output shown).

    The text is glued as a Python string: myst-nb evaluates the stored repr, so ``"1.000"`` stays
    ``1.000`` (a glued number, or an unquoted repr, would be re-printed as ``1.0``).
    """
    from myst_nb import glue

    glue(key, str(text), display=False)


def show(fig: Any, caption: str = "") -> None:
    """Display a matplotlib figure, close it, then its caption (Markdown) below it."""
    import matplotlib.pyplot as plt

    try:
        from IPython.display import display

        display(fig)
    except ImportError:  # pragma: no cover - plain Python
        pass
    plt.close(fig)
    if caption:
        show_markdown(f"**Figure.** {caption}")


def placeholder_figure(text: str, size: tuple[float, float] = (6.0, 1.2)) -> Any:
    """A figure that only says `text` (so a glued figure key always exists)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10)
    ax.axis("off")
    return fig


def table(df: pd.DataFrame, caption: str = "", digits: int | None = None) -> Any:
    """`df` styled for the book: no index column, cells unwrapped, floats with `digits` decimals
    (None: their shortest form), missing values blank."""
    out = df.copy()
    spec = "g" if digits is None else f".{digits}f"
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [("" if not np.isfinite(v) else format(v, spec)) for v in out[c]]
    out = out.astype(object).where(out.notna(), "")
    st = out.style.hide(axis="index").set_table_styles(
        [{"selector": "td, th", "props": "white-space: nowrap; padding: 0.1em 0.5em;"}])
    return st.set_caption(caption) if caption else st


# ---------------------------------------------------------------------------------- paper comparisons
def compare(df: pd.DataFrame, registry: str, paper_dataset: str, kind: str, metric: str | None = None) -> pd.DataFrame:
    """``tables.compare_with_paper`` of the runs on `registry`, against the paper's `paper_dataset` table.

    A stand-in is compared with the page's benchmark (relabelled, and the note says "stand-in");
    synthetic data is not compared with any paper number (only ours are returned).
    """
    from mdico_core.reporting.tables import PAPER_DATASET, compare_with_paper

    d = df[df["dataset"] == registry]
    if kind == "synthetic":
        d = d.assign(dataset="synthetic:" + registry)
        out = compare_with_paper(d, "synthetic:" + registry, metric, include_missing=False)
        return out.assign(note=f"synthetic ({registry}), no paper value")
    if kind == "stand-in" and PAPER_DATASET.get(registry) != paper_dataset:
        out = compare_with_paper(d.assign(dataset=paper_dataset), paper_dataset, metric, include_missing=False)
        return out.assign(note=f"stand-in ({registry}) for {paper_dataset}")
    # the paper's methods we did not run are in the paper's own table, shown on each page
    return compare_with_paper(d, registry, metric, include_missing=False)


def comparison_display(cmp: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """`compare_with_paper` output as a readable table: method, view, n, ours, paper, diff, p."""
    if cmp.empty:
        return pd.DataFrame(columns=["method", "view", "n", "ours (mean ± std)", "paper", "ours − paper",
                                     "p vs Individual", "note"])
    out = pd.DataFrame({
        "method": [
            (f"{pm} ({VARIANT_NAMES.get(v, v)})" if v not in ("default", None) and isinstance(v, str) else pm)
            for pm, v in zip(cmp["paper_method"], cmp["variant"])],
        "view": cmp["view"].fillna("").astype(str),
        "n": cmp["n"].fillna(0).astype(int),
        "ours (mean ± std)": [o if not np.isfinite(m) else fmt_mean_std(m, sd, digits)
                              for o, m, sd in zip(cmp["ours"].fillna(""), pd.to_numeric(cmp["mean"]),
                                                  pd.to_numeric(cmp["std"]))],
        "paper": [fmt_value(v, digits) for v in pd.to_numeric(cmp["paper"], errors="coerce")],
        "ours − paper": [fmt_value(v, digits, signed=True) for v in pd.to_numeric(cmp["diff"], errors="coerce")],
        "p vs Individual": [fmt_p(v) for v in pd.to_numeric(cmp.get("p_vs_individual"), errors="coerce")],
        "note": cmp["note"].fillna("").astype(str),
    })
    return out


def cell_summary(cmp: pd.DataFrame, method: str, view: str, digits: int = 1) -> dict[str, str]:
    """Formatted ours / paper / diff / p of one (method, default variant, view) row, "n/a" when absent."""
    if cmp.empty or "method" not in cmp:
        return {"ours": "n/a", "paper": "n/a", "diff": "n/a", "p": "n/a", "n": "0"}
    hit = cmp[(cmp["method"] == method) & (cmp["variant"] == "default") & (cmp["view"] == view)]
    if hit.empty or not np.isfinite(hit.iloc[0]["mean"]):
        return {"ours": "n/a", "paper": "n/a", "diff": "n/a", "p": "n/a", "n": "0"}
    r = hit.iloc[0]
    return {"ours": fmt_mean_std(r["mean"], r["std"], digits), "paper": fmt_value(r["paper"], digits), "diff": fmt_value(r["diff"], digits, True),
            "p": fmt_p(r["p_vs_individual"]), "n": str(int(r["n"]))}


def wide_by_view(cmp: pd.DataFrame, row_names: Mapping[tuple[str, str], str], columns: Sequence[str] = (
        "ours", "paper", "p_vs_individual"), digits: int = 1, view_label: Any = None) -> pd.DataFrame:
    """Rows ``row_names[(method, variant)]``, columns (view, ours | paper | p): Tables 6 and 7's layout.

    `view_label` maps a view to the (column group, row suffix) it belongs to; default: the view is
    the column group and views with a mode (``"S1:shared"``) are left out. Rows not in `row_names`
    are dropped.
    """
    recs = []
    for _, r in cmp.iterrows():
        name = row_names.get((r["method"], r["variant"]))
        if name is None or not isinstance(r["view"], str) or (view_label is None and ":" in r["view"]):
            continue
        group, suffix = view_label(r["view"]) if view_label else (r["view"], "")
        row = name + suffix
        for c in columns:
            v = r.get(c)
            if c == "ours":
                v = fmt_mean_std(r["mean"], r["std"], digits)
            elif c == "paper":
                v = fmt_value(v, digits)
            elif c == "p_vs_individual":
                v = fmt_p(v)
            elif c == "diff":
                v = fmt_value(v, digits, True)
            recs.append({"row": row, "group": group, "what": {"p_vs_individual": "p vs Ind."}.get(c, c),
                         "value": v})
    if not recs:
        return pd.DataFrame()
    long = pd.DataFrame(recs)
    wide = long.pivot_table(index="row", columns=["group", "what"], values="value", aggfunc="first", sort=False)
    rank = {name: i for i, name in enumerate(row_names.values())}  # the table's own row order
    order = sorted(dict.fromkeys(long["row"]), key=lambda r: next(
        (i for name, i in rank.items() if r == name or r.startswith(name + ":")), len(rank)))
    wide = wide.reindex(index=order)
    groups = list(dict.fromkeys(long["group"]))
    whats = list(dict.fromkeys(long["what"]))
    wide = wide.reindex(columns=pd.MultiIndex.from_product([groups, whats]))
    wide.index.name = None
    return wide.fillna("")


def single_views(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of single-modality views only (drops MDiCo's ``"S1:shared"``-style views)."""
    return df[~df["view"].astype(str).str.contains(":")] if len(df) else df


def paper_main_table(dataset: str) -> pd.DataFrame:
    """The paper's main table (Tables 2-5) of benchmark `dataset`."""
    from mdico_core.reporting.tables import paper_table

    return paper_table(dataset)


def metric_of(dataset: str) -> tuple[str, int]:
    """(primary metric, decimals) of a paper benchmark or registry dataset."""
    from mdico_core.metrics import PRIMARY
    from mdico_core.reporting.plan import TASKS, _registered

    task = TASKS.get(dataset) or getattr(_registered().get(dataset), "task", "") or "multiclass"
    metric = PRIMARY.get(task, "f1_weighted")
    return metric, metric_digits(metric)


def paper_views(dataset: str) -> list[str]:
    """Our single-modality view names of a paper benchmark (fusion excluded)."""
    from mdico_core.reporting.tables import VIEW_TO_PAPER

    return [v for v in VIEW_TO_PAPER.get(dataset, {}) if v != "fusion"]


def paper_cell(dataset: str, paper_method: str, view: str, digits: int = 1) -> str:
    """The paper's main-table value of `paper_method` for our `view`, formatted; "n/a" when none."""
    from mdico_core.reporting.tables import VIEW_TO_PAPER, paper_table

    col = VIEW_TO_PAPER.get(dataset, {}).get(view.split(":")[0])
    try:
        t = paper_table(dataset)
    except ValueError:
        return "n/a"
    hit = t[t["method"].astype(str).str.lower() == paper_method.lower()]
    if col is None or hit.empty or col not in t:
        return "n/a"
    v = pd.to_numeric(hit.iloc[0][col], errors="coerce")
    return fmt_value(v, digits) if pd.notna(v) else "n/a"


def paper_ablation_drop(dataset: str, short: str, row: str) -> float:
    """Table 6: `row` minus full MDiCo in column ``<dataset>_<short>`` (e.g. croph_b, s1)."""
    t = paper_csv("table6_ablation").set_index("variant")
    col = f"{dataset}_{short}"
    if col not in t.columns or row not in t.index:  # the paper ablated CropHarvest only
        return float("nan")
    return float(t.loc[row, col] - t.loc["MDiCo", col])


def paper_shared_wins() -> str:
    """The Table 7 columns where the paper's shared features alone beat its specific ones, in words."""
    from mdico_core.reporting.plan import PAPER_NAMES
    from mdico_core.reporting.tables import MODE_ROWS

    t = paper_csv("table7_shared_specific").set_index("variant")
    shared, specific = t.loc[MODE_ROWS["shared"]], t.loc[MODE_ROWS["specific"]]
    wins = []
    for col in t.columns:
        if shared[col] > specific[col]:
            dataset, _, sensor = col.rpartition("_")
            wins.append(f"{PAPER_NAMES.get(dataset, dataset)} {sensor.upper() if len(sensor) <= 3 else sensor}")
    return ", ".join(wins) if wins else "none"


def ablation_rows() -> dict[tuple[str, str], str]:
    """(method, variant) -> Table 6 row name, in the table's order."""
    from mdico_core.reporting.plan import ABLATION_VARIANTS

    rows = {("individual", "default"): "Individual"}
    rows.update({("mdico", v): VARIANT_NAMES[v] for v in ABLATION_VARIANTS})
    return rows


def aggregate_rows(cmp: pd.DataFrame, rows: Mapping[tuple[str, str], str]) -> pd.DataFrame:
    """Plot rows of `cmp` (single-modality views): ``row, method ("ours"), view, mean, std, paper``."""
    out = []
    for (m, v), name in rows.items():
        sub = cmp[(cmp["method"] == m) & (cmp["variant"] == v) & cmp["view"].notna()]
        for r in sub.itertuples():
            if ":" in str(r.view) or not np.isfinite(r.mean):
                continue
            out.append({"row": name, "method": "ours", "view": r.view, "mean": r.mean, "std": r.std,
                        "paper": r.paper})
    return pd.DataFrame(out, columns=["row", "method", "view", "mean", "std", "paper"])


def plot_versus_paper(cmp: pd.DataFrame, ylabel: str = "") -> Any:
    """Our mean ± std per method, one panel per single-modality view; the paper's value as a tick."""
    rows = {}
    for r in cmp.itertuples():
        if r.method and isinstance(r.view, str) and ":" not in r.view:
            rows[(r.method, r.variant)] = (f"{r.paper_method}" if r.variant == "default"
                                           else f"{r.paper_method} ({VARIANT_NAMES.get(r.variant, r.variant)})")
    sub = aggregate_rows(cmp, rows)
    if sub.empty:
        return placeholder_figure("no finished runs to plot")
    ref = {(r.view, r.row): r.paper for r in sub.itertuples()}
    return plot_grouped(sub, x="row", hue="method", facet="view", ylabel=ylabel,
                        x_order=list(dict.fromkeys(sub["row"])), reference=ref)


def split_mode(view: str) -> tuple[str, str]:
    """``"S1:shared"`` -> ``("S1", ": shared features only")``; ``"S1"`` -> ``("S1", "")``."""
    m, _, mode = view.partition(":")
    return m, (f": {mode} features only" if mode else "")


def mode_rows(cmp: pd.DataFrame) -> pd.DataFrame:
    """MDiCo's views per modality as plot rows: ``row`` in both / shared / specific."""
    out = []
    for r in cmp.itertuples():
        if not isinstance(r.view, str) or not np.isfinite(r.mean):
            continue
        m, _, mode = r.view.partition(":")
        out.append({"row": mode or "both", "method": "ours", "view": m, "mean": r.mean, "std": r.std,
                    "paper": r.paper})
    return pd.DataFrame(out, columns=["row", "method", "view", "mean", "std", "paper"])


def shared_vs_specific(cmp: pd.DataFrame) -> dict[str, int]:
    """How many modalities have specific-only above shared-only (and the reverse)."""
    rows = mode_rows(cmp)
    out = {"specific": 0, "shared": 0}
    for _, g in rows.groupby("view"):
        s = g.set_index("row")["mean"]
        if {"shared", "specific"} <= set(s.index):
            out["specific" if s["specific"] > s["shared"] else "shared"] += 1
    return out


def encoder_gains(agg: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, view and encoder: Individual and MDiCo mean ± std, MDiCo − Individual and its p."""
    cols = ["dataset", "view", "encoder", "Individual", "MDiCo", "MDiCo − Individual", "p", "pairs"]
    if agg.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    keys = ["dataset", "view", "encoder"]
    for key, g in agg[agg["variant"] == "default"].groupby(keys, sort=False):
        by = g.set_index("method")
        if not {"individual", "mdico"} <= set(by.index):
            continue
        d = metric_digits(str(g["metric"].iloc[0]))
        t = tests[(tests["method"] == "mdico") & (tests["variant"] == "default")] if len(tests) else tests
        t = t[(t["dataset"] == key[0]) & (t["view"] == key[1]) & (t["encoder"] == key[2])] if len(t) else t
        rows.append({
            "dataset": key[0], "view": key[1], "encoder": ENCODER_NAMES.get(key[2], key[2]),
            "Individual": fmt_mean_std(by.loc["individual", "mean"], by.loc["individual", "std"], d),
            "MDiCo": fmt_mean_std(by.loc["mdico", "mean"], by.loc["mdico", "std"], d),
            "MDiCo − Individual": round(float(by.loc["mdico", "mean"] - by.loc["individual", "mean"]), d),
            "p": fmt_p(t["p_value"].iloc[0]) if len(t) else "–",
            "pairs": int(t["n_pairs"].iloc[0]) if len(t) else 0,
        })
    return pd.DataFrame(rows, columns=cols)


def tsne_panels(arrays_by_method: Mapping[str, Mapping[str, np.ndarray]], modalities: Sequence[str], task: str,
                seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
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


# ---------------------------------------------------------------------------------- released vs paper
SETTINGS = {
    ("default", "paper"): "paper model, paper protocol",
    ("default", "released"): "paper model, released protocol",
    ("released", "paper"): "released model, paper protocol",
    ("released", "released"): "released code (model + protocol)",
}


def setting_label(row: Mapping[str, Any]) -> str:
    """The `SETTINGS` label of an aggregate row (variant, protocol)."""
    return SETTINGS.get((row["variant"], row["protocol"]), f"{row['variant']} / {row['protocol']}")


def released_table(agg: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """Released-vs-paper settings side by side: mean ± std, n, change vs the default, p vs Individual."""
    cols = ["dataset", "view", "method", "setting", "n", "mean ± std", "vs default", "p vs Individual"]
    if agg.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for r in agg.itertuples():
        d = metric_digits(r.metric)
        ref = agg[(agg["dataset"] == r.dataset) & (agg["view"] == r.view) & (agg["method"] == r.method)
                  & (agg["variant"] == "default") & (agg["protocol"] == "paper")]
        t = tests[(tests["dataset"] == r.dataset) & (tests["view"] == r.view) & (tests["method"] == r.method)
                  & (tests["variant"] == r.variant) & (tests["protocol"] == r.protocol)] if len(tests) else tests
        rows.append({
            "dataset": r.dataset, "view": r.view, "method": METHOD_NAMES.get(r.method, r.method),
            "setting": setting_label(r._asdict()), "n": int(r.n), "mean ± std": fmt_mean_std(r.mean, r.std, d),
            "vs default": fmt_value(r.mean - ref["mean"].iloc[0], d, True) if len(ref) else "–",
            "p vs Individual": fmt_p(t["p_value"].iloc[0]) if len(t) else "–",
        })
    order = {v: i for i, v in enumerate(SETTINGS.values())}
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["dataset", "view", "method", "setting"], key=lambda s: s.map(order).fillna(-1)
                           if s.name == "setting" else s, ignore_index=True)


def released_gap(agg: pd.DataFrame, setting: tuple[str, str, str], reference: tuple[str, str, str]) -> str:
    """Mean of (method, variant, protocol) `setting` minus `reference` on the first view, formatted."""
    if agg.empty:
        return "n/a"

    def pick(m: str, v: str, p: str) -> pd.DataFrame:
        return agg[(agg["method"] == m) & (agg["variant"] == v) & (agg["protocol"] == p)]

    a, b = pick(*setting), pick(*reference)
    if a.empty or b.empty:
        return "n/a"
    row = a.iloc[0]
    ref = b[(b["dataset"] == row["dataset"]) & (b["view"] == row["view"])]
    if ref.empty:
        return "n/a"
    d = metric_digits(row["metric"])
    return f"{fmt_value(row['mean'] - ref['mean'].iloc[0], d, True)} ({row['metric']}, {row['view']} on {row['dataset']})"


# ---------------------------------------------------------------------------------- data and environment
PAPER_TABLE1 = pd.DataFrame(
    [("CropH-b & CropH-m", "Sentinel-1", "radar SITS", "10 m", "1 per month", "(12, 2, 1, 1)"),
     ("CropH-b & CropH-m", "Sentinel-2", "optical SITS", "10 m", "1 per month", "(12, 11, 1, 1)*"),
     ("TSAITS", "Aerial", "optical image", "0.2 m", "None", "(1, 4, 320, 320)"),
     ("TSAITS", "Sentinel-2", "optical SITS", "10 m", "~10 per month", "(150, 12, 6, 6)"),
     ("LFMC", "Sentinel-1", "radar SITS", "250 m", "1 per month", "(4, 3, 1, 1)"),
     ("LFMC", "Landsat 8", "optical SITS", "250 m", "1 per month", "(4, 8, 1, 1)")],
    columns=["dataset", "modality", "sensor type", "spatial resolution", "temporal resolution", "input shape"],
)
# *The paper's row prints the two CropHarvest shapes in the opposite order; Sentinel-2 is the
# 11 optical bands (+ NDVI in the released data: 12 channels).


def _entries(include_synthetic: bool = False) -> dict:
    from mdico_core.reporting.plan import _registered, dataset_kind

    return {k: e for k, e in _registered().items() if include_synthetic or dataset_kind(k) != "synthetic"}


def dataset_status(include_synthetic: bool = False) -> pd.DataFrame:
    """Every registered dataset: paper name, task, role, present here, samples, source, licence."""
    from mdico_core.reporting.plan import PAPER_TABLES, dataset_available

    rows = []
    for name, e in _entries(include_synthetic).items():
        if name in PAPER_TABLES:
            role = f"paper benchmark ({PAPER_TABLES[name]})"
        elif e.stand_in_for:
            role = f"stand-in for {e.stand_in_for}"
        else:
            role = "extra"
        present = dataset_available(name)
        samples = e.extra.get("samples") if isinstance(e.extra, dict) else None
        rows.append({"dataset": name, "paper name": e.paper_name, "task": e.task, "role": role,
                     "present": "yes" if present else "no", "samples": samples, "source": e.source, "licence": e.licence,
                     "description": e.description})
    return pd.DataFrame(rows, columns=["dataset", "paper name", "task", "role", "present", "samples", "source",
                                       "licence", "description"])


def modality_table(names: Iterable[str]) -> pd.DataFrame:
    """``MultiModalDataset.summary()`` of each (present) dataset, concatenated, with bands."""
    from mdico_core.data import load_dataset

    parts = []
    for n in names:
        ds = load_dataset(n)
        s = ds.summary()
        s.insert(0, "registry", n)
        s["bands"] = [", ".join(ds.info[m].bands) if m in ds.info else "" for m in s["modality"]]
        s["input shape"] = s["input shape"].astype(str)
        parts.append(s)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def how_to_get(name: str) -> str:
    """How to get dataset `name`: the loader's note, then each missing cache file's instructions."""
    from mdico_core.data import cache, get_dataset_entry
    from mdico_core.data.registry import REGISTRY

    e = get_dataset_entry(name)
    lines = []
    extra = e.extra.get("how_to_get") if isinstance(e.extra, dict) else None
    if extra:
        lines.append(str(extra))
    for f in e.files:
        if f in REGISTRY and not (cache.data_dir() / f).is_file():
            lines.append(cache.how_to_get(REGISTRY[f]))
    return "\n\n".join(lines) or f"see data/README.md for {name}"


def runtime_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Runs, total and mean training seconds, and mean epochs per (dataset, method, variant)."""
    rows = [{"dataset": r["config"]["dataset"], "method": r["config"]["method"], "variant": r["config"]["variant"],
             "wall_time_s": r.get("wall_time_s") or 0.0, "epochs_run": r.get("epochs_run") or 0}
            for r in records]
    cols = ["dataset", "method", "variant", "runs", "total s", "mean s", "mean epochs"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    out = df.groupby(["dataset", "method", "variant"]).agg(
        runs=("wall_time_s", "size"), total=("wall_time_s", "sum"), mean=("wall_time_s", "mean"),
        epochs=("epochs_run", "mean")).reset_index()
    out.columns = cols
    return out.round({"total s": 1, "mean s": 2, "mean epochs": 1})


def profiles_table() -> pd.DataFrame:
    """Each budget profile: folds, seeds, epochs, batch size, early stopping, step cap, description."""
    from mdico_core.experiments import PROFILES

    rows = []
    for name in PROFILES:
        p = PROFILES[name]
        rows.append({"profile": name, "folds": _ints(p.folds), "of": p.n_folds, "seeds": _ints(p.seeds),
                     "max epochs": p.train.max_epochs, "batch": p.train.batch_size, "patience": p.train.patience,
                     "steps/epoch cap": p.train.max_steps_per_epoch or "none",
                     "book datasets": ", ".join(p.datasets), "methods": ", ".join(p.methods),
                     "description": p.description})
    return pd.DataFrame(rows)


def environment_table(records: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """This machine (Python, OS, CPUs, library versions) and the devices / hosts the runs used."""
    import os
    import platform

    import torch

    recs = list(records)

    def distinct(*keys: str) -> str:  # the first key a record has (later ones: older records' names)
        provs = [r.get("provenance") or {} for r in recs]
        vals = sorted({str(v) for p in provs if (v := next((p[k] for k in keys if p.get(k)), None))})
        return ", ".join(vals) or "–"

    rows = [
        ("python (this build)", platform.python_version()),
        ("platform", platform.platform()),
        ("CPU cores", str(os.cpu_count())),
        ("torch", torch.__version__),
        ("numpy / pandas", f"{np.__version__} / {pd.__version__}"),
        ("runs: device", distinct("device")),
        ("runs: torch", distinct("torch_version")),
        ("runs: python", distinct("python_version", "python")),
        ("runs: code version", ", ".join(record_versions(recs)) or "–"),
    ]
    return pd.DataFrame(rows, columns=["what", "value"])


def build_info(path: str | Path | None) -> pd.DataFrame | None:
    """The driver's build log (JSON written by ``bookbuild``) as a table, or None if absent."""
    import json

    if not path or not Path(path).is_file():
        return None
    info = json.loads(Path(path).read_text())
    return pd.DataFrame([{"what": k, "value": str(v)} for k, v in info.items()])
