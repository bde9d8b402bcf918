"""What replicates at a glance: one sentence per claim, an overall line, and a forest plot of the ledger.

Everything here is read off the ledger (`findings.ledger`): the words come from its verdicts, the
numbers from its rows. Nothing is typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.claims.findings import CLAIMS, Claim
from mdico_core.reporting.core.format import metric_label
from mdico_core.reporting.figures.plots import figure_size, styled

# Verdict categories in the order a reader weighs them, with their colour (colour-blind safe) in the figure
ORDER = ("replicated", "partly replicated", "holds", "equivalent", "inconclusive", "differs", "contradicted", "fails",
         "consistent", "lower here", "higher here", "not tested")
_GOOD, _MIXED, _OPEN, _BAD = "#0072B2", "#56B4E9", "#999999", "#D55E00"
COLOURS = {"replicated": _GOOD, "holds": _GOOD, "consistent": _GOOD, "partly replicated": _MIXED,
           "equivalent": _MIXED, "differs": _MIXED, "inconclusive": _OPEN, "not tested": _OPEN,
           "contradicted": _BAD, "fails": _BAD, "lower here": _BAD, "higher here": _BAD}
WHERE = {"paper": "on the paper's data", "stand-in": "on the stand-ins", "other": "on LFMC (not the claim's table)",
         "beyond": "on data beyond the paper"}


def _answer(rows: pd.DataFrame) -> str:
    """One clause for the tested comparisons `rows` of one kind of data."""
    v = rows["verdict"]
    n = len(v)
    good = v.isin(["replicated", "holds", "consistent"]).sum()
    part = v.isin(["partly replicated"]).sum()
    bad = v.isin(["contradicted", "fails", "lower here", "higher here"]).sum()
    nil = v.isin(["equivalent"]).sum()
    if good == n:
        return f"holds in all {n} comparisons" if n > 1 else "holds"
    if bad == n:
        return f"is contradicted in all {n} comparisons" if n > 1 else "is contradicted"
    if good + part + bad + nil == 0:
        sizes = rows["size_axis"].isin(["consistent", "borderline"]).sum()
        if rows["paper"].notna().any() and sizes == n:
            return "is not detected, and the paper's values are not ruled out either"
        return "is not detected" + (f" in any of the {n} comparisons" if n > 1 else "")
    parts = [f"{k} {w}" for k, w in ((good, "replicated"), (part, "in direction only"), (bad, "contradicted"),
                                    (nil, "practically nil"), (n - good - part - bad - nil, "undecided")) if k]
    return f"is mixed over {n} comparisons: " + ", ".join(parts)


def claim_sentence(claim: Claim, table: pd.DataFrame) -> str:
    """The claim and its answer, in one plain sentence, per kind of data it was tested on."""
    rows = table[(table["claim"] == claim.id) & (table["verdict"] != "not tested")]
    if rows.empty:
        return f"{claim.claim}: not tested here."
    said = [f"{WHERE[ctx]}, it {_answer(rows[rows['context'] == ctx])}" for ctx in WHERE
            if (rows["context"] == ctx).any()]
    own = " (this companion's question)" if claim.ours else ""
    return f"{claim.claim}{own}. " + " ".join(s[0].upper() + s[1:] + "." for s in said)


def claim_status(claim: Claim, table: pd.DataFrame) -> str | None:
    """On the paper's own data: "replicated" (every comparison), "contradicted" (any), "undecided"; None when
    the claim is not tested on the paper's data (or is this companion's own)."""
    rows = table[(table["claim"] == claim.id) & (table["context"] == "paper") & (table["verdict"] != "not tested")]
    if claim.ours or rows.empty:
        return None
    v = rows["verdict"]
    if v.isin(["contradicted", "lower here", "higher here"]).any():
        return "contradicted"
    if v.isin(["replicated", "consistent"]).all():
        return "replicated"
    return "undecided"


def overall_line(table: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> str:
    """Of the paper's claims testable on its own data, how many replicate, are contradicted, are undecided."""
    status = {c.id: claim_status(c, table) for c in claims}
    tested = {k: s for k, s in status.items() if s}
    paper_claims = [c for c in claims if not c.ours]
    counts = {w: [k for k, s in tested.items() if s == w] for w in ("replicated", "contradicted", "undecided")}
    words = ", ".join(f"{len(v)} {w} ({', '.join(v)})" if v else f"0 {w}" for w, v in counts.items())
    elsewhere = len(paper_claims) - len(tested)
    return (f"Of the paper's {len(paper_claims)} claims tested here, {len(tested)} can be tested on its own data "
            f"(LFMC): {words}. A claim counts as contradicted when any of its comparisons is, and as replicated "
            f"only when all are. {elsewhere} more {'is' if elsewhere == 1 else 'are'} tested only on stand-ins "
            f"or other data, which can support or fail a claim but never replicate it.")


def forest_rows(table: pd.DataFrame, claims: Sequence[str] | None = None,
                contexts: Sequence[str] = ("paper",)) -> pd.DataFrame:
    """The rows of the forest plot: every tested difference of `claims` (ids; None: all) on data of
    `contexts` (default: the paper's data), grouped by claim."""
    t = table[table["context"].isin(contexts) & ~table["level"].astype(bool) & (table["verdict"] != "not tested")]
    if claims is not None:
        t = t[t["claim"].isin(claims)]
    t = t[np.isfinite(t["mean"].astype(float))]
    return t.reset_index(drop=True)


def _forest_panel(ax: Any, rows: pd.DataFrame) -> None:
    """One axis of the forest plot: `rows` (of one metric) as interval rows, a gap between claims."""
    n = len(rows)
    y = np.arange(n)[::-1].astype(float)
    blocks = rows["claim"].ne(rows["claim"].shift()).cumsum()  # a gap between claims
    y = y - 0.6 * (blocks.to_numpy() - 1)
    colours = [COLOURS.get(v, _OPEN) for v in rows["verdict"]]
    ax.axvline(0, color="0.3", lw=0.8)
    ax.hlines(y, rows["lo"], rows["hi"], colors=colours, lw=2)
    ax.scatter(rows["mean"], y, c=colours, s=16, zorder=3)
    paper = pd.to_numeric(rows["paper"], errors="coerce")
    ax.scatter(paper, y, marker="D", s=18, facecolors="none", edgecolors="k", lw=0.8, zorder=4)
    # "C3  L8: EmbraceNet − Individual": the place without its benchmark (all LFMC here), then what minus what
    # (a parenthesis of the place is dropped: the label must leave the interval its width at 1280 px)
    labels = [f"{c}  {re.sub(r' [(][^)]*[)]', '', p.split(', ', 1)[-1])}"
              + (f" − {r.split(' (')[0]}" if r and "vs" not in p and " - " not in p else "")  # said once
              for c, p, r in zip(rows["claim"], rows["place"], rows["ref_short"])]
    ax.set_yticks(y, labels, fontsize=7.5)
    ax.set_ylim(y.min() - 0.7, y.max() + 0.7)  # no row on the frame, however few the rows
    right = ax.get_xlim()[1]
    for yy, v in zip(y, rows["verdict"]):
        ax.text(1.01, yy, v, transform=ax.get_yaxis_transform(), va="center", fontsize=7.5,
                color=COLOURS.get(v, _OPEN))
    ax.set_xlim(right=right)
    metric = rows["metric"].iloc[0] if "metric" in rows else "r2"
    ax.set_xlabel(f"difference in {metric_label(metric)} (ours: mean, family interval)")


@styled
def plot_forest(table: pd.DataFrame, title: str = "", claims: Sequence[str] | None = None,
                contexts: Sequence[str] = ("paper",)) -> Any:
    """Our difference with its family interval per comparison of `forest_rows` (default: every claim on the
    paper's data), the paper's value (◆) and zero, coloured and labelled by verdict; one block per claim
    (rliable-style interval rows), one panel per metric (R² and F1 points are not drawn on one axis)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows = forest_rows(table, claims, contexts)
    metrics = list(dict.fromkeys(rows["metric"])) if "metric" in rows and len(rows) else ["r2"]
    groups = [rows[rows["metric"] == m].reset_index(drop=True) if "metric" in rows else rows for m in metrics]
    sizes = [max(len(g), 1) for g in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=figure_size(0.24 * sum(sizes) + 1.3 * len(groups)),
                             layout="constrained", squeeze=False, height_ratios=[s + 2 for s in sizes])
    if rows.empty:
        axes[0][0].text(0.5, 0.5, "no comparison tested on the paper's data", ha="center",
                        transform=axes[0][0].transAxes)
        return fig
    for ax, g in zip(axes[:, 0], groups):
        _forest_panel(ax, g)
    handles = [Line2D([], [], color=_GOOD, lw=2, label="replicated"),
               Line2D([], [], color=_MIXED, lw=2, label="direction only / nil"),
               Line2D([], [], color=_OPEN, lw=2, label="undecided"),
               Line2D([], [], color=_BAD, lw=2, label="contradicted"),
               Line2D([], [], marker="D", color="k", markerfacecolor="none", lw=0, label="the paper's value")]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, frameon=False, fontsize=8)
    if title:
        axes[0][0].set_title(title)
    return fig


def forest_caption(rows: pd.DataFrame, what: str = "comparisons") -> str:
    """A forest plot's caption in numbers: how many rows, of which claims, and their verdicts counted."""
    verdicts = rows["verdict"].value_counts()
    counted = ", ".join(f"{verdicts[v]} {v}" for v in ORDER if v in verdicts)
    claims = ", ".join(dict.fromkeys(rows["claim"]))
    return (f"The {len(rows)} {what} of claim{'s' if rows['claim'].nunique() > 1 else ''} {claims}: our difference "
            f"(dot) with its family interval (bar) beside the paper's value (◆) where it has one, coloured by "
            f"verdict ({counted}).")


def show_page_forest(page: str | Sequence[str], contexts: Sequence[str] = ("paper", "other", "beyond")) -> pd.DataFrame:
    """On a claim's evidence page: the forest plot of the claims whose evidence is `page` (generated page
    names), tested on the archives as the findings page tests them; nothing when the page holds no claim.
    Stand-in rows are left to their page's tables: they compare another dataset with the paper's."""
    from mdico_core.reporting.claims import findings
    from mdico_core.reporting.core.format import show, show_markdown

    names = {page} if isinstance(page, str) else set(page)
    mine = [c for c in CLAIMS if c.page in names]
    if not mine:
        return pd.DataFrame()
    # a claim is its own family, so its rows of the whole (cached) ledger are its ledger
    table = findings.cached_ledger()
    table = table[table["claim"].isin([c.id for c in mine])].reset_index(drop=True)
    rows = forest_rows(table, None, contexts)
    if len(rows):
        show_markdown("## The claims this page is evidence for")
        show(plot_forest(table, contexts=contexts),
             forest_caption(rows, "comparisons tested here") + " [What replicates](00_findings.ipynb) has them all.")
    return table


# ---------------------------------------------------------------------------------- deviations, glossary
def deviations(table: pd.DataFrame, claims: Sequence[Claim] = CLAIMS) -> list[str]:
    """The reproduction's deviations and difficulties, as reproducibility reports list them, each from the
    code and the archives' manifests (nothing typed)."""
    from mdico_core.data.availability import resolve
    from mdico_core.experiments.archive_files import read_manifest
    from mdico_core.experiments.archives import get_archive
    from mdico_core.methods import METHODS, get_method
    from mdico_core.options import PROTOCOLS
    from mdico_core.reporting.core import paper
    from mdico_core.reporting.core.compare import paper_name

    absent = [paper.NAMES[b] for b in paper.BENCHMARKS if resolve(b, False).kind != "real"]
    protocols = [p for p in PROTOCOLS if p.startswith("released_")]
    recipes = [paper_name(m) for m in sorted(METHODS) if get_method(m).original_recipe is not None]
    released = [v for v in get_method("mdico").variants if v.startswith("rel_")]
    out = [f"**Data not reachable here**: {', '.join(absent)}. The code for each is real and tested on fixtures in "
           "the release layout; the claims about them are tested on labelled real stand-ins of the same task, which "
           "can support or fail a claim but never replicate it.",
           f"**Competitor recipes reconstructed**: the official training recipes of {len(recipes)} competitors "
           f"({', '.join(recipes)}) are restated from their papers and released code (optimiser, schedule, stages); "
           "`mdico methods` lists each, and LFMC is run under both those recipes and one common budget.",
           f"**The released code differs from the paper**: {len(released)} model differences and {len(protocols)} "
           "protocol differences (early stopping on the test fold, normalisation statistics over every row), each measured "
           "alone on the released-code page; the pages follow the paper, with a leak-free validation split."]
    failed = []
    for name in dict.fromkeys(table["archive"]):
        info = read_manifest(get_archive(name)) or {}
        for run_id, message in (info.get("failed_runs") or {}).items():
            cfg = next((c for c in get_archive(name).configs() if c.run_id == run_id), None)
            what = (f"{paper_name(cfg.method)} ({cfg.settings} settings, fold {cfg.fold}, seed {cfg.seed})"
                    if cfg else run_id)
            failed.append(f"{what} of `{name}`: {str(message).rstrip('.')}")
    if failed:
        out.append(f"**A failed run**: {'; '.join(failed)}. It failed twice the same way and is held as its "
                   "outcome; the ledger counts it as a constant prediction and gives each verdict as it would be "
                   "were it dropped.")
    return out


def glossary() -> list[tuple[str, str]]:
    """The statistical terms of the book, in plain words, with the constants they use from the code."""
    from mdico_core.reporting.claims.findings import POWER
    from mdico_core.reporting.core import stats

    ropes = ", ".join(f"{v:g} {'R²' if k == 'r2' else k + ' points'}" for k, v in stats.ROPE.items()
                      if k in ("r2", "f1_weighted"))
    return [
        ("corrected t-test", "The t-test of paired differences over cross-validation runs with the Nadeau–Bengio "
         "correction: two runs of one cross-validation share most of their training rows, so their scores are "
         "correlated; the variance of the mean is inflated by n_test/n_train to account for it. An approximation, "
         "derived for random splits."),
        ("family, Bonferroni", "The comparisons that test one claim form its family of m tests; each is judged at "
         f"α/m (α = {stats.ALPHA}), so the chance that any of them is a false alarm stays below α. Its interval is "
         "at level 1 − α/m and its p is multiplied by m. Holm, used by the tables of the evidence pages, is the "
         "step-down variant of the same idea."),
        ("interval", "The range of true differences compatible with the runs: the mean ± the critical t times the "
         "corrected standard error. It excludes 0 exactly when the test detects a difference."),
        ("Q1 and Q2", "Q1: does one method score higher on this dataset as collected, averaged over training seeds "
         "and partitions (a t interval on the per-seed means)? Q2: would it score higher on a new dataset of this "
         "kind (the corrected t-test)? Q2 is the harder question and gives the wider interval."),
        ("power", "The chance that the test detects a true difference of a given size (here the paper's own), at "
         "the verdict's level. Low power means a null result says little."),
        ("MDE", f"Minimum detectable effect: the smallest difference the test detects with {POWER:.0%} power at "
         "these runs' spread and the verdict's level."),
        ("ROPE", f"Region of practical equivalence: differences smaller than this are practically nil ({ropes}); a "
         "difference whose whole interval lies inside it is called equivalent."),
        ("borderline", "The paper's value is ruled out only if it were exact; taken as the estimate it is (its "
         "standard error taken as ours, its rounding as an interval), it is not."),
        ("stand-in", "Real data of the same task used where the paper's benchmark cannot be downloaded here. It "
         "can support or fail a claim, never replicate it."),
    ]
