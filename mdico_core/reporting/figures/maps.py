"""Prediction maps (Fig. A6-A8): ground truth beside each method's test predictions, on lon / lat.

`map_views` gathers, for one dataset of a page, the test predictions of every finished run per
method and inference view (averaged over seeds), keeps the samples every method predicted,
and joins their coordinates from the dataset's metadata; `plot_prediction_map` draws one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.core import paper
from mdico_core.reporting.core.format import fmt_value, metric_digits
from mdico_core.reporting.figures.plots import figure_size, styled

METHODS = ("individual", "mdico")


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
        return (np.array([np.sum(v) for v in df["y_true"]]),
                np.array([np.sum(np.asarray(v) >= 0.5) for v in df["pred"]]))
    return df["y_true"].to_numpy(int), np.array([int(np.argmax(v)) for v in df["pred"]])


@dataclass(frozen=True)
class MapView:
    """One prediction map: the samples every method predicted from `view`, with their coordinates.

    Attributes:
        view: the inference modality.
        idx: (N,) dataset row of each sample, sorted.
        lat, lon: (N,) coordinates from the dataset's metadata.
        truth: (N,) ground truth (class, value, or number of labels).
        preds: method's paper name -> (N,) prediction, in the same order.
    """

    view: str
    idx: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    truth: np.ndarray
    preds: dict[str, np.ndarray]


def align_predictions(by_method: Mapping[str, pd.DataFrame], task: str) -> tuple[np.ndarray, np.ndarray,
                                                                                   dict[str, np.ndarray]]:
    """(idx, truth, {method: prediction}) on the samples that every method's `gather_predictions` has.

    Methods may have finished different runs (a crashed fold, a seed still running): a map only
    compares predictions of the same samples.
    """
    common = None
    for df in by_method.values():
        ids = set(df["idx"].tolist())
        common = ids if common is None else common & ids
    idx = np.array(sorted(common or ()), dtype=np.int64)
    truth, preds = None, {}
    for name, df in by_method.items():
        t, preds[name] = point_values(df.set_index("idx").loc[idx].reset_index(), task)
        truth = t if truth is None else truth  # the same samples: every run stored the same truth
    return idx, truth if truth is not None else np.array([]), preds


def map_views(arrays_by_method: Mapping[str, Sequence[Mapping[str, np.ndarray]]], views: Sequence[str], task: str,
              metadata: pd.DataFrame) -> list[MapView]:
    """A `MapView` per inference view that every method predicted, coordinates joined from `metadata`.

    Args:
        arrays_by_method: method's paper name -> the stored arrays of its runs.
        views: the dataset's modalities.
        task: the dataset's task.
        metadata: the dataset's metadata, one row per sample, with ``lat`` and ``lon`` columns.

    Raises ``ValueError`` when `metadata` has no coordinates.
    """
    if not {"lat", "lon"} <= set(metadata.columns):
        raise ValueError(f"no coordinates to map: the metadata has columns {list(metadata.columns)}, "
                         "not 'lat' and 'lon'")
    lat_all, lon_all = metadata["lat"].to_numpy(float), metadata["lon"].to_numpy(float)
    out = []
    for view in views:
        gathered = {m: gather_predictions(a, view) for m, a in arrays_by_method.items()}
        if not gathered or any(g.empty for g in gathered.values()):
            continue
        idx, truth, preds = align_predictions(gathered, task)
        if len(idx):
            out.append(MapView(view, idx, lat_all[idx], lon_all[idx], truth, preds))
    return out


def maps_for(page: Any, registry: str) -> tuple[list[MapView], Any]:
    """The `MapView` of each view of registry dataset `registry` from a page (its store, or an archive's
    companion data: ``archive.ArchivedPage``), and the dataset.

    Raises ``ValueError`` when the dataset has no coordinates.
    """
    from mdico_core.data import load_dataset

    ds = load_dataset(registry)
    arrays = {paper.METHOD_NAMES.get(m, m): [page.store.arrays(c) for c in page.configs_where(dataset=registry, method=m)
                                             if page.store.has(c)] for m in METHODS}
    return map_views(arrays, ds.modality_names, ds.task, ds.metadata if ds.metadata is not None else pd.DataFrame()), ds


def site_means(lat: np.ndarray, lon: np.ndarray, values: Mapping[str, np.ndarray], decimals: int = 4) -> pd.DataFrame:
    """Mean of each value per site (coordinates rounded to `decimals`), with the sample count."""
    df = pd.DataFrame({"lat": np.round(lat, decimals), "lon": np.round(lon, decimals), **values})
    return df.groupby(["lat", "lon"]).agg(**{k: (k, "mean") for k in values}, n=("lat", "size")).reset_index()


@styled
def plot_prediction_map(lat: np.ndarray, lon: np.ndarray, truth: np.ndarray, preds: Mapping[str, np.ndarray],
                        task: str, class_names: Sequence[str] | None = None, title: str = "",
                        target_label: str = "target") -> Any:
    """Ground truth beside each method's prediction on a lon/lat scatter (no basemap).

    Regression: points are sites; the first panel shows the mean target per site, the others the
    mean signed error (prediction - truth) per site on one diverging scale centred at 0.
    Classification: one point per sample coloured by class; wrong predictions are drawn larger.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.lines import Line2D

    n = 1 + len(preds)
    fig, axes = plt.subplots(1, n, figsize=figure_size(3.3), squeeze=False, sharex=True, sharey=True,
                             layout="constrained")
    axes = axes[0]
    if task == "regression":
        sites = site_means(lat, lon, {"truth": truth, **{k: v - truth for k, v in preds.items()}})
        sc = axes[0].scatter(sites["lon"], sites["lat"], c=sites["truth"], s=14, cmap="YlGnBu")
        fig.colorbar(sc, ax=axes[0], location="bottom", shrink=0.9, label=f"{target_label} (site mean)")
        errs = np.concatenate([sites[k].to_numpy() for k in preds]) if preds else np.array([1.0])
        lim = float(np.nanmax(np.abs(errs))) or 1.0
        norm = TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
        for ax, k in zip(axes[1:], preds):
            sc = ax.scatter(sites["lon"], sites["lat"], c=sites[k], s=14, cmap="RdBu_r", norm=norm)
            mae = float(np.mean(np.abs(preds[k] - truth)))
            ax.set_title(f"{k}: error\n(MAE {fmt_value(mae, metric_digits('mae'))})")
        if preds:
            fig.colorbar(sc, ax=list(axes[1:]), location="bottom", shrink=0.6,
                         label="prediction − truth (site mean)")
        axes[0].set_title("ground truth")
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
            ax.set_title(label if label == "ground truth"
                         else f"{label}\n({fmt_value(acc, metric_digits('accuracy'))}% correct)")
        handles, labels = axes[0].get_legend_handles_labels()
        handles.append(Line2D([], [], marker="X", color="0.5", markeredgecolor="k", markeredgewidth=0.3,
                              linestyle="none", markersize=4))
        labels.append("wrong prediction")
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5), frameon=False, markerscale=2)
    for ax in axes:
        ax.set_xlabel("longitude")
    axes[0].set_ylabel("latitude")
    if title:
        fig.suptitle(title)
    return fig


def map_summary(view: MapView, task: str) -> str:
    """What a map shows, in numbers: each method's MAE (regression) or share of correct predictions, and where
    MDiCo and Individual differ (sites with the smaller mean error, or samples only one of them gets right)."""
    truth, preds = view.truth, view.preds
    if task == "regression":
        mae = {k: float(np.mean(np.abs(v - truth))) for k, v in preds.items()}
        words = " against ".join(f"{fmt_value(m, metric_digits('mae'))} ({k})" for k, m in mae.items())
        out = f"MAE {words}"
        if {"Individual", "MDiCo"} <= set(preds):
            sites = site_means(view.lat, view.lon, {k: np.abs(preds[k] - truth) for k in ("Individual", "MDiCo")})
            better = int((sites["MDiCo"] < sites["Individual"]).sum())
            out += (f"; MDiCo's mean absolute error is the smaller at {better} of {len(sites)} sites, "
                    f"Individual's at {int((sites['Individual'] < sites['MDiCo']).sum())}")
        return out
    right = {k: v == truth for k, v in preds.items()}
    words = ", ".join(f"{k} {fmt_value(100 * float(np.mean(r)), metric_digits('accuracy'))}%" for k, r in right.items())
    out = f"{words} of the predictions correct"
    if {"Individual", "MDiCo"} <= set(preds):
        only_m = int((right["MDiCo"] & ~right["Individual"]).sum())
        only_i = int((right["Individual"] & ~right["MDiCo"]).sum())
        out += f"; MDiCo alone is right on {only_m} of the {len(truth)} samples, Individual alone on {only_i}"
    return out
