"""What a reader must be told beside the numbers: the paper's artefacts a page does not regenerate,
and the numbers that look odd.

`artefact_gaps` lists, for one page, each table or figure of the paper that it cannot show here
(its benchmark is absent, or not in this profile's book plan), with the command or the data that
would produce it; `show_gaps` draws each as a visible box. `oddities` writes one sentence per odd
thing in a page's numbers (a negative R² in some fold, a method far from the paper's value, runs
made by other code than the page's), computed from the data; `show_oddities` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mdico_core._util import git_version
from mdico_core.data.availability import Resolution, how_to_get, resolve
from mdico_core.reporting.book import book_plan
from mdico_core.reporting.book.pages import PAGES, notebooks
from mdico_core.reporting.book.provenance import short_version
from mdico_core.reporting.core import paper
from mdico_core.reporting.core.format import fmt_value, metric_digits, metric_label, show_box, show_markdown
from mdico_core.reporting.core.stats import MIN_PAIRS

# The paper's tables and figures that each page regenerates, and the benchmark each one needs, are
# its record's (``pages.PAGES``, `Page.artefacts`); ``ARTEFACTS`` ({notebook: artefacts}, every page of
# ``book_plan.NOTEBOOKS``) is their view, computed on each access. (Figures 1 and 2 are diagrams of
# the setting and of the method: the introduction describes them.)


def __getattr__(name: str) -> Any:
    if name == "ARTEFACTS":
        return {nb: PAGES[nb].artefacts for nb in notebooks()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# How far from the paper a mean must be to get a sentence: more than this (in the metric's unit)
# and more than one standard deviation of our runs, so that it is neither noise nor a rounding.
FAR_FROM_PAPER = {"r2": 0.1}
FAR_DEFAULT = 5.0  # F1 / accuracy points


def _benchmark_words(bench: str, res: Resolution) -> str:
    if res.kind == "real":
        return f"on the real {paper.NAMES.get(bench, bench)} data"
    if res.kind == "stand-in":
        return f"on the stand-in `{res.dataset}` (the real {paper.NAMES.get(bench, bench)} data is absent here)"
    return f"on the synthetic `{res.dataset}` (no real data for it is here)"


def artefact_gaps(notebook: str, datasets: Mapping[str, Resolution], profile: str | None = None,
                  dataset: str | None = None) -> list[tuple[str, str]]:
    """(title, Markdown body) for each paper artefact of `notebook` that this page does not show.

    Args:
        notebook: the page's notebook (``"05_encoders"``).
        datasets: what ran for each benchmark the page shows (``page.datasets``).
        profile: the page's profile (None: an archived sweep; its file is all there is).
        dataset: 02_main_results' one benchmark (its page shows that table only).
    """
    record = PAGES.get(notebook)
    wanted = record.artefacts if record is not None and not record.reports_build else ()
    per_benchmark = record is not None and record.per_benchmark
    if per_benchmark:  # one page per benchmark: that page's artefact only
        wanted = tuple((t, b) for t, b in wanted if b == dataset)
    from mdico_core.reporting.book.page import fill_command, page_name

    gaps = []
    for title, bench in wanted:
        name = paper.NAMES.get(bench, bench)
        res = datasets.get(bench)
        if res is not None and res.kind != "absent":
            continue
        if res is not None:  # planned, but neither the data nor a stand-in is here
            body = (f"{name} is not present on this machine and no stand-in is, so nothing ran for it. "
                    f"Get the data (the data overview page lists every file):\n\n```text\n{how_to_get(bench)}\n```\n\n"
                    + (f"then `mdico book --profile {profile} --only {page_name(notebook, dataset)}` trains its runs "
                       "and re-executes this page." if profile else ""))
        else:  # not in this profile's plan
            plan = book_plan.book_plan(profile or "quick")
            here = resolve(bench, plan.synthetic_fallback)
            if here.kind == "absent":
                body = (f"The `{profile}` book plan does not run this page on {name}, and its data is not here "
                        f"either:\n\n```text\n{how_to_get(bench)}\n```\n\nWith the data, "
                        f"`mdico book --profile paper --only {notebook}` makes it (the paper plan runs every "
                        "benchmark).")
            else:
                param = "dataset" if per_benchmark else "datasets"
                body = (f"The `{profile}` book plan does not run this page on {name} (it keeps the book within "
                        f"its time budget). Here it would run {_benchmark_words(bench, here)}. Make it with "
                        f"`{fill_command(notebook, profile or 'quick', bench)}`, then `papermill "
                        f"notebooks/{notebook}.ipynb out.ipynb -k mdico -p profile {profile} -p {param} {bench}`; "
                        f"or `mdico book --profile paper --only {notebook}` for the paper's plan.")
        gaps.append((f"{title}: not regenerated by this build", body))
    return gaps


def show_gaps(page: Any, notebook: str | None = None) -> None:
    """A visible box per paper artefact of `page` (a ``ResultsPage``) that it does not show."""
    prof = getattr(page, "profile", None)
    nb = notebook or getattr(page, "notebook", book_plan.MAIN)
    dataset = getattr(page, "dataset", None)
    if dataset is None and nb in PAGES and PAGES[nb].per_benchmark:
        dataset = next(iter(page.datasets), None)
    for title, body in artefact_gaps(nb, page.datasets, getattr(prof, "name", None), dataset):
        show_box(title, body)


# ---------------------------------------------------------------------------------- odd numbers
def _runs_label(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def negative_r2(frame: pd.DataFrame, worst: int = 3) -> str | None:
    """A sentence when some runs score R² < 0 on their test fold (None when none does)."""
    if frame.empty or "metric" not in frame:
        return None
    r2 = frame[(frame["metric"] == "r2") & frame["value"].notna()]
    if "status" in r2:
        r2 = r2[r2["status"].fillna("done") == "done"]
    bad = r2[r2["value"] < 0].sort_values("value")
    if bad.empty:
        return None
    examples = []
    for r in bad.head(worst).itertuples():
        fold = "the official split" if pd.isna(r.fold) else f"fold {int(r.fold)}"
        examples.append(f"{paper.METHOD_NAMES.get(r.method, _paper_name(r.method))} on {r.view}, {fold}, "
                        f"seed {int(r.seed)}: {r.value:.3f}")
    return (f"R² is below 0 in {len(bad)} of {len(r2)} (run, view) results ({'; '.join(examples)}"
            + (", ..." if len(bad) > worst else "") + "): on those test folds the predictions are worse than "
            "predicting the fold's mean. They are kept in the means and standard deviations above; dropping "
            "them would flatter every method.")


def _paper_name(method: str) -> str:
    from mdico_core.reporting.core.compare import paper_name

    return paper_name(method)


def far_from_paper(cmp: pd.DataFrame) -> str | None:
    """A sentence naming the (method, view) cells whose mean is far from the paper's value
    (by more than `FAR_FROM_PAPER` and more than one standard deviation of our runs; a cell of fewer
    than ``stats.MIN_PAIRS`` runs has no spread the page prints, and is not judged)."""
    if cmp.empty or "diff" not in cmp:
        return None
    rows = cmp[pd.to_numeric(cmp["diff"], errors="coerce").notna() & cmp["view"].notna()]
    rows = rows[~rows["view"].astype(str).str.contains(":")]
    above, below = [], []
    for r in rows.itertuples():
        limit = FAR_FROM_PAPER.get(str(r.metric), FAR_DEFAULT)
        if not np.isfinite(r.std) or getattr(r, "n", MIN_PAIRS) < MIN_PAIRS:  # no spread to tell a gap from noise
            continue
        if abs(r.diff) > limit and abs(r.diff) > r.std:
            d = metric_digits(r.metric)
            variant = "" if r.variant == "default" else f" ({paper.VARIANT_NAMES.get(r.variant, r.variant)})"
            text = f"{r.paper_method}{variant} on {r.view} (ours {fmt_value(r.mean, d)}, paper {fmt_value(r.paper, d)})"
            (above if r.diff > 0 else below).append(text)
    if not above and not below:
        return None
    metric = metric_label(str(rows["metric"].dropna().iloc[0])) if len(rows) else ""
    limit = FAR_FROM_PAPER.get(str(rows["metric"].dropna().iloc[0]), FAR_DEFAULT)
    def listed(cells: list[str], most: int = 4) -> str:
        return "; ".join(cells[:most]) + (f"; and {len(cells) - most} more" if len(cells) > most else "")

    parts = []
    if above:
        parts.append(f"far above the paper: {listed(above)}")
    if below:
        parts.append(f"far below the paper: {listed(below)}")
    return (f"Some means are {' and '.join(parts)} ({metric}; more than {limit:g} from the paper's value and "
            "more than one standard deviation of our runs). A gap that size is not noise: it comes from how the "
            "method was run (recipe, budget, implementation), here or in the paper, which these numbers alone "
            "cannot tell apart.")


def other_commits(frame: pd.DataFrame, version: str | None = None) -> str | None:
    """A sentence when runs shown were made by code other than the checkout's (`version`)."""
    if frame.empty or "git_commit" not in frame:
        return None
    version = version or git_version()
    per_run = frame.drop_duplicates("run_id")
    labels = [short_version(c, d) for c, d in zip(per_run["git_commit"],
                                                   per_run.get("git_dirty", pd.Series(False, index=per_run.index)))]
    counts = pd.Series([v for v in labels if v]).value_counts()
    others = counts[counts.index != version]
    if others.empty:
        return None
    listed = ", ".join(f"`{v}` ({_runs_label(int(n))})" for v, n in others.items())
    first = str(others.index[0]).removesuffix("+dirty")
    return (f"{int(others.sum())} of the {len(per_run)} runs shown were made by other code than this page's "
            f"checkout (`{version}`): {listed}. Changes made since then are not in their numbers; "
            f"`git log {first}..HEAD -- mdico_core` lists them.")


def oddities(frame: pd.DataFrame, cmp: pd.DataFrame, version: str | None = None, kind: str = "real") -> list[str]:
    """One sentence per odd thing in a page's numbers (see `negative_r2`, `far_from_paper`, `other_commits`).
    On a stand-in (or synthetic data) the paper's values are of other data: no cell is called far from them."""
    found = [negative_r2(frame), far_from_paper(cmp) if kind == "real" else None, other_commits(frame, version)]
    return [s for s in found if s]


def show_oddities(frame: pd.DataFrame, cmp: pd.DataFrame, version: str | None = None,
                  heading: str = "Worth a second look", kind: str = "real") -> None:
    """The page's `oddities` as a short list under `heading` (nothing when there are none)."""
    found = oddities(frame, cmp, version, kind)
    if found:
        show_markdown(f"**{heading}.**\n\n" + "\n".join(f"- {s}" for s in found))


# ---------------------------------------------------------------------------------- prose
def main_headline(test: pd.DataFrame, benchmark: str, views: list[str], digits: int, kind: str) -> str:
    """The main-results page's summary sentences: MDiCo against Individual on its first two views,
    in the words of their test (`test`: ``evidence.tested``, the corrected t-test with Holm and the
    Bayesian probabilities), beside the paper's values; never a sentence with a missing value in it."""
    from mdico_core.reporting.analyses.evidence import sentence
    from mdico_core.reporting.core.tables import paper_cell

    name = paper.NAMES.get(benchmark, benchmark)
    if kind == "absent":
        return (f"Nothing ran for {name} on this machine (the box above says how to get its data); the paper's "
                f"{paper.TABLES.get(benchmark, 'table')} is below.")
    out = []
    for view in list(views)[:2]:
        md, ind = sentence(test, "mdico", view), sentence(test, "individual", view)
        if "n/a" in (md, ind):
            continue
        text = f"With view {view} alone at inference, MDiCo scores {md} (Individual: {ind}"
        if kind != "synthetic":
            pm, pi = paper_cell(benchmark, "MDiCo", view, digits), paper_cell(benchmark, "Individual", view, digits)
            if "n/a" not in (pm, pi):
                text += f"; paper: MDiCo {pm} against Individual's {pi}"
        out.append(text + ").")
    if not out:
        return ("MDiCo and Individual have no finished runs on a common view here yet; the table below lists what "
                "ran and the banner what is missing.")
    if kind == "synthetic":
        out.append("The data is synthetic: no number of the paper applies to it.")
    return " ".join(out)
