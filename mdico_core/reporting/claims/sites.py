"""Beyond the paper: LFMC at sites never seen in training (archive ``lfmc_sites``, site-grouped folds).

The paper's LFMC folds are random rows, so nearly every test site is also a training site, seen at
other dates. ``lfmc_sites`` repeats the protocol with folds of whole sites (and a grouped validation
split). Two of this companion's claims test it (`paper_claims`, S1 and S2); this module gives their
page the same numbers as ``mdico findings`` (the ledger's rows), each method's R² under both kinds of
folds with its corrected interval, a figure of them, and the map of errors at unseen sites.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.core import stats
from mdico_core.reporting.core.compare import paper_name
from mdico_core.reporting.figures.plots import figure_size, styled

SITES, RANDOM = "lfmc_sites", "lfmc_paper"
KINDS = {RANDOM: "random rows (the paper's folds)", SITES: "unseen sites (site-grouped folds)"}


def ledger() -> pd.DataFrame:
    """The ledger rows of the site claims (S1, S2) and of C1 on LFMC (MDiCo - Individual on random rows),
    computed in their own claims' families, as ``mdico findings`` computes them."""
    from mdico_core.reporting.claims import findings

    table = findings.ledger([findings.get_claim(c) for c in ("C1", "S1", "S2")])
    return table[(table["claim"] != "C1") | (table["archive"] == RANDOM)].reset_index(drop=True)


def levels(table: pd.DataFrame) -> pd.DataFrame:
    """Each method and view of S2: its R² under both kinds of folds (mean, corrected 95% interval, n), and
    the drop with the family interval and verdict of the ledger."""
    from mdico_core.reporting.claims.findings import _Archives, _cell
    from mdico_core.reporting.core.paper_claims import get_claim

    archives = _Archives()
    rows = []
    for cmp, (_, r) in zip(get_claim("S2").comparisons, table[table["claim"] == "S2"].iterrows()):
        row = {"method": paper_name(cmp.x.method), "view": cmp.x.view}
        for name, side, settings in ((RANDOM, cmp.ref, cmp.settings), (SITES, cmp.x, cmp.settings)):
            runs = _cell(archives.runs(name), side, settings, r["metric"], archives.failed(name))
            if len(runs) >= stats.MIN_PAIRS:
                e = stats.estimate(runs["value"].to_numpy(dtype=float), stats.split_ratio(runs))
                row.update({f"{name}_mean": e.mean, f"{name}_lo": e.lo, f"{name}_hi": e.hi, f"{name}_n": e.n})
            else:
                row.update({f"{name}_mean": np.nan, f"{name}_lo": np.nan, f"{name}_hi": np.nan,
                            f"{name}_n": len(runs)})
        row.update(drop=r["mean"], drop_lo=r["lo"], drop_hi=r["hi"], verdict=r["verdict"], words=r["words"],
                   family_level=r["family_level"])
        rows.append(row)
    return pd.DataFrame(rows)


def format_levels(lv: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """`levels` as the page prints it."""
    from mdico_core.reporting.core.format import fmt_interval

    def level(m: float, lo: float, hi: float, n: int) -> str:
        return "–" if not np.isfinite(m) else f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}] (n = {n})"

    return pd.DataFrame({
        "method": lv["method"], "view": lv["view"],
        "R², random rows [95% CI]": [level(*x) for x in zip(lv[f"{RANDOM}_mean"], lv[f"{RANDOM}_lo"],
                                                             lv[f"{RANDOM}_hi"], lv[f"{RANDOM}_n"])],
        "R², unseen sites [95% CI]": [level(*x) for x in zip(lv[f"{SITES}_mean"], lv[f"{SITES}_lo"],
                                                              lv[f"{SITES}_hi"], lv[f"{SITES}_n"])],
        "unseen − random [family CI]": [fmt_interval(m, lo, hi, digits) for m, lo, hi in
                                        zip(lv["drop"], lv["drop_lo"], lv["drop_hi"])],
        "verdict": lv["words"],
    })


@styled
def plot_levels(lv: pd.DataFrame) -> Any:
    """Each method's R² under both kinds of folds, mean and corrected 95% interval, one row per method and
    view, the two kinds side by side on one shared axis (rliable-style interval rows)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    colours = dict(zip(KINDS, sns.color_palette("colorblind", 2)))
    labels = [f"{m}, {v}" for m, v in zip(lv["method"], lv["view"])]
    fig, ax = plt.subplots(figsize=figure_size(0.32 * len(lv) + 1.0), layout="constrained")
    y = np.arange(len(lv))[::-1]
    for k, (name, words) in enumerate(KINDS.items()):
        m, lo, hi = lv[f"{name}_mean"], lv[f"{name}_lo"], lv[f"{name}_hi"]
        ax.errorbar(m, y + (0.15 if k == 0 else -0.15), xerr=[m - lo, hi - m], fmt="o", ms=4, capsize=2,
                    color=colours[name], label=words)
    ax.set_yticks(y, labels)
    ax.set_xlabel("R² (mean and corrected 95% interval over the runs)")
    fig.legend(loc="outside lower center", ncol=2, frameon=False)
    return fig


def gain_rows(table: pd.DataFrame) -> pd.DataFrame:
    """MDiCo - Individual per view under both kinds of folds (C1's LFMC rows, S1's rows), as the ledger has them."""
    rows = table[((table["claim"] == "C1") & (table["archive"] == RANDOM)) | (table["claim"] == "S1")].copy()
    rows["folds"] = rows["archive"].map(KINDS)
    return rows


def site_errors(archive: str, registry: str = "lfmc") -> pd.DataFrame:
    """Per site and inference view, the mean absolute error of Individual's and MDiCo's test predictions kept by
    `archive` (averaged over its runs), with the site's coordinates."""
    from mdico_core.reporting.book.archive import archived_page
    from mdico_core.reporting.figures import maps

    views, _ = maps.maps_for(archived_page(archive), registry)
    out = []
    for v in views:
        errs = {k: np.abs(p - v.truth) for k, p in v.preds.items()}
        s = maps.site_means(v.lat, v.lon, errs)
        out.append(s.assign(view=v.view))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


@styled
def plot_site_errors(random_rows: pd.DataFrame, unseen: pd.DataFrame, view: str, method: str = "MDiCo") -> Any:
    """`method`'s mean absolute error per site from `view`, on the paper's random-row folds beside the
    site-grouped ones, on one colour scale."""
    import matplotlib.pyplot as plt

    a, b = (d[d["view"] == view] for d in (random_rows, unseen))
    vmax = float(np.nanmax(np.concatenate([a[method].to_numpy(), b[method].to_numpy()]))) if len(a) + len(b) else 1
    fig, axes = plt.subplots(1, 2, figsize=figure_size(3.3), sharex=True, sharey=True, layout="constrained")
    for ax, d, words in zip(axes, (a, b), KINDS.values()):
        sc = ax.scatter(d["lon"], d["lat"], c=d[method], s=14, cmap="magma_r", vmin=0, vmax=vmax)
        ax.set_title(f"{words}\nmedian site error {np.nanmedian(d[method]):.1f}")
        ax.set_xlabel("longitude")
    axes[0].set_ylabel("latitude")
    fig.colorbar(sc, ax=list(axes), location="bottom", shrink=0.6, label=f"{method}'s absolute error (site mean)")
    return fig
