"""What a results page prints as evidence: tested tables, rank diagrams, sentences, and the re-run check.

The pages' building blocks on top of ``stats_table`` (corrected t-test, Holm, Bayesian
probabilities, Wilcoxon as a labelled secondary column), ``ranks`` (Friedman / Nemenyi critical
difference diagrams) and ``concordance`` (the reader's re-run against the archive):

- `tested` / `show_tested`: a results table of one benchmark and one comparison, with its caption;
- `sentence`: the words of a glued sentence about one cell, from its test (`stats.verdict`);
- `show_ranks`: a CD diagram per view, or the reason there is none;
- `gain_table`: MDiCo's gain over Individual under each level of a factor (monitor, protocol) and
  whether the factor changes it (the corrected t-test on the paired difference of gains);
- `rerun_checks` / `show_rerun`: the archived runs beside the reader's re-run, cell by cell.

Every function takes tidy runs (``ResultsStore.collect`` / ``archive.read_runs`` frames).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mdico_core._util import display_path
from mdico_core.reporting.analyses import concordance
from mdico_core.reporting.analyses.stats_table import (
    PAIR_KEYS,
    Cell,
    default_reference,
    format_results,
    method_label,
    results_caption,
    results_table,
)
from mdico_core.reporting.core import format as fmt
from mdico_core.reporting.core import stats
from mdico_core.reporting.core.compare import RERUN_KEYS, select_metric, single_views


def _display(obj: Any) -> None:
    try:
        from IPython.display import display

        display(obj)
    except ImportError:  # pragma: no cover - plain Python
        print(obj)


# ---------------------------------------------------------------------------------- the archive of a page
def open_archive(archive: str | None, dataset: str | None = None) -> Any:
    """The ``archive.ArchivedPage`` of `archive` (a name or CSV path), or None (after saying so on the
    page) when none is asked for or it has not been exported yet."""
    if not archive:
        return None
    from mdico_core.reporting.book.archive import archived_page

    try:
        return archived_page(archive, dataset)
    except FileNotFoundError:
        fmt.show_markdown(f"> **The archive `{archive}` is not exported yet**, so this page shows your runs only. "
                          f"It is made with `mdico archive run {archive}` and `mdico archive export {archive} "
                          "--results <store>` (data/archived_runs/README.md).")
        return None


# ---------------------------------------------------------------------------------- tested tables
def tested(runs: pd.DataFrame, reference: Callable[[Cell], Cell | None] = default_reference,
           metric: str | None = None) -> pd.DataFrame:
    """``stats_table.results_table`` of `runs` (one dataset, one comparison), empty when there are no runs."""
    d = select_metric(runs, metric) if len(runs) else runs
    return results_table(runs, metric, reference) if len(d) else pd.DataFrame()


def main_reference(cell: Cell) -> Cell | None:
    """`default_reference`, except that the fusion references (view "fusion") are not tested: they see
    both modalities, so no single-modality baseline compares with them."""
    return None if cell.view == "fusion" else default_reference(cell)


def feature_space_reference(cell: Cell) -> Cell | None:
    """Table 7's comparisons of MDiCo's feature spaces: specific-only against shared-only features
    (the paper's finding), shared-only against both (what the specific features add); both: none."""
    modality, _, mode = cell.view.partition(":")
    return {"specific": cell._replace(view=f"{modality}:shared"), "shared": cell._replace(view=modality)}.get(mode)


def released_reference(cell: Cell) -> Cell | None:
    """The released-code study: every change (a variant, a protocol) against the paper's MDiCo on the
    paper protocol; Individual under another protocol against Individual on the paper's; the paper's
    MDiCo against Individual (its gain, the anchor of the study)."""
    paper_mdico = cell._replace(method="mdico", variant="default", protocol="paper")
    if cell.method == "individual":
        return None if cell.protocol == "paper" else cell._replace(protocol="paper")
    if cell == paper_mdico:
        return default_reference(cell)
    return paper_mdico


def show_tested(table: pd.DataFrame, caption: str) -> None:
    """Display a `tested` table as pages print it (no std or p below 5 runs), its caption below it."""
    if table.empty:
        fmt.show_markdown(f"*{caption}: no runs.*")
        return
    _display(fmt.table(format_results(table), caption))
    fmt.show_markdown(results_caption(table))


def row(table: pd.DataFrame, method: str, view: str, variant: str = "default", **match: Any) -> pd.Series | None:
    """The row of `table` for (method, variant, view[, encoder=, protocol=]); None when absent."""
    if table.empty:
        return None
    sel = (table["method"] == method) & (table["variant"] == variant) & (table["view"] == view)
    for k, v in match.items():
        sel &= table[k] == v
    hit = table[sel]
    return hit.iloc[0] if len(hit) else None


def sentence(table: pd.DataFrame, method: str, view: str, variant: str = "default", **match: Any) -> str:
    """"0.262 ± 0.058 (n = 50), +0.017 against Individual, S1: significantly higher (corrected t-test,
    Holm p = 0.003; P(better) = 0.97, P(equiv.) = 0.03)": one cell in words taken from its test;
    "n/a" without the cell."""
    r = row(table, method, view, variant, **match)
    if r is None:
        return "n/a"
    d = fmt.metric_digits(r["metric"])
    n = int(r["n"])
    ours = fmt.fmt_mean_std(r["mean"], r["std"], d, n=n) + ("" if n < stats.MIN_PAIRS else f" (n = {n})")
    if not r["reference"]:
        return ours
    if str(r["reference"]).endswith("(no runs)"):
        return f"{ours}; {r['verdict']}"
    tested = r["n_pairs"] >= stats.MIN_PAIRS and np.isfinite(r.get("ci_lo", np.nan))
    probs = (f"; P(better) = {r['p_better']:.2f}, P(equiv.) = {r['p_equiv']:.2f}"
             if tested and np.isfinite(r["p_better"]) else "")
    ci = f" [{r['ci_lo']:+.{d}f}, {r['ci_hi']:+.{d}f}]" if tested else ""
    # "not detected" is not "absent": say how large a difference these runs could have detected
    power = (f"; these runs detect a difference of {r['mde']:.{d}f} or more with 80% power"
             if tested and str(r["verdict"]).startswith("no detectable") and np.isfinite(r.get("mde", np.nan)) else "")
    return f"{ours}, {fmt.fmt_value(r['diff'], d, True)}{ci} against {r['reference']}: {r['verdict']}{probs}{power}"


def tally(table: pd.DataFrame, rows: pd.Series | None = None) -> str:
    """How the tested rows (those of `rows`, a boolean mask; default all) came out: "3 significantly
    higher, 1 significantly lower, 6 with no detectable difference, 2 not tested (n < 5)"."""
    if table.empty:
        return "no comparison"
    t = table[rows] if rows is not None else table
    t = t[t["reference"].astype(bool)]
    words = t["verdict"].astype(str)
    parts = [(int(words.str.startswith("significantly higher").sum()), "significantly higher"),
             (int(words.str.startswith("significantly lower").sum()), "significantly lower"),
             (int(words.str.startswith("no detectable").sum()), "with no detectable difference"),
             (int(words.str.startswith("not tested").sum()), f"not tested (fewer than {stats.MIN_PAIRS} paired runs)")]
    return ", ".join(f"{n} {w}" for n, w in parts if n) or "no comparison"


# ---------------------------------------------------------------------------------- ranks
def show_ranks(runs: pd.DataFrame, label: str, views: Sequence[str] | None = None, metric: str | None = None) -> int:
    """A critical-difference diagram per single-modality view of one benchmark's runs (or the reason
    there is none); returns how many were drawn."""
    from mdico_core.reporting.analyses.ranks import plot_cd_diagram, rank_caption, rank_test

    d = single_views(select_metric(runs, metric)) if len(runs) else runs
    if views is None:
        views = [v for v in dict.fromkeys(d["view"].dropna().astype(str)) if v != "fusion"] if len(d) else []
    drawn = 0
    if not views:  # the section's heading is static: say why it is empty
        fmt.show_markdown(f"*No critical-difference diagram for {label}: no single-modality runs here.*")
    for view in views:
        try:
            result = rank_test(d, view, metric)
        except ValueError as err:
            fmt.show_markdown(f"*No critical-difference diagram for {label}, {view}: {err}.*")
            continue
        fmt.show(plot_cd_diagram(result), rank_caption(result))
        drawn += 1
    return drawn


# ---------------------------------------------------------------------------------- gains under a factor
def gain_table(runs: pd.DataFrame, factor: str, levels: Sequence[Any], method: str = "mdico",
               baseline: str = "individual", metric: str | None = None) -> pd.DataFrame:
    """`method`'s gain over `baseline` (default variants, matched fold and seed) under each level of
    `factor` (a column: "monitor", "protocol"), and whether the factor changes it.

    Per (view, level): n, the two means, the gain with its corrected t-test; and, for every level
    after the first, the change of the gain against the first level (the corrected t-test on the
    paired difference of gains, run by run). Columns: view, factor, n, method, baseline, gain,
    p_gain, verdict_gain, change, p_change, verdict_change (p and verdicts Holm-adjusted over the
    table's tests).
    """
    d = select_metric(runs, metric)
    d = d[(d["variant"] == "default") & d["method"].isin([method, baseline]) & d[factor].isin(levels)]
    d = single_views(d[d["view"].astype(str) != "fusion"])
    out: list[dict] = []
    if d.empty:
        return pd.DataFrame(out)
    ratio = {lvl: stats.split_ratio(d[d[factor] == lvl]) for lvl in levels if (d[factor] == lvl).any()}
    for view, g in d.groupby(d["view"].astype(str), sort=False):
        wide = g.pivot_table(index=PAIR_KEYS, columns=[factor, "method"], values="value", aggfunc="first")
        gains = {}
        for lvl in levels:
            if (lvl, method) in wide and (lvl, baseline) in wide:
                gains[lvl] = (wide[(lvl, method)] - wide[(lvl, baseline)]).dropna()
        for i, lvl in enumerate(gains):
            gain = gains[lvl]
            rec = {"view": view, "factor": lvl, "n": len(gain), "method": wide[(lvl, method)].mean(),
                   "baseline": wide[(lvl, baseline)].mean(), "gain": gain.mean(), "p_gain": np.nan,
                   "change": np.nan, "p_change": np.nan, "metric": str(g["metric"].iloc[0])}
            if len(gain) >= stats.MIN_PAIRS:
                rec["p_gain"] = stats.corrected_ttest(gain.to_numpy(), ratio[lvl]).p
            first = next(iter(gains))
            if i > 0:
                both = pd.concat([gain, gains[first]], axis=1, join="inner").dropna()
                change = (both.iloc[:, 0] - both.iloc[:, 1]).to_numpy()
                rec["change"] = change.mean() if len(change) else np.nan
                if len(change) >= stats.MIN_PAIRS:
                    rec["p_change"] = stats.corrected_ttest(change, max(ratio[lvl], ratio[first])).p
            out.append(rec)
    t = pd.DataFrame(out)
    p = np.concatenate([t["p_gain"].to_numpy(float), t["p_change"].to_numpy(float)])
    adj = stats.holm(p)
    t["p_gain"], t["p_change"] = adj[:len(t)], adj[len(t):]
    t["verdict_gain"] = [stats.verdict(r.gain, r.p_gain, r.n) for r in t.itertuples()]
    t["verdict_change"] = ["" if i == 0 or not np.isfinite(r.change) else stats.verdict(r.change, r.p_change, r.n)
                           for i, r in zip(t.groupby("view").cumcount(), t.itertuples())]
    return t


def format_gains(t: pd.DataFrame, factor: str, method: str = "MDiCo", baseline: str = "Individual") -> pd.DataFrame:
    """`gain_table` as a page prints it (no p below 5 pairs)."""
    if t.empty:
        return pd.DataFrame()
    d = fmt.metric_digits(t["metric"].iloc[0])
    return pd.DataFrame({
        "view": t["view"], factor: t["factor"], "n": t["n"],
        method: [fmt.fmt_value(v, d) for v in t["method"]], baseline: [fmt.fmt_value(v, d) for v in t["baseline"]],
        f"{method} − {baseline}": [fmt.fmt_value(v, d, True) for v in t["gain"]],
        "p (corrected t, Holm)": [fmt.fmt_p(p, n) for p, n in zip(t["p_gain"], t["n"])],
        "change of the gain": [fmt.fmt_value(v, d, True) for v in t["change"]],
        "p of the change (corrected t, Holm)": ["" if not np.isfinite(c) else fmt.fmt_p(p, n)
                                                for c, p, n in zip(t["change"], t["p_change"], t["n"])],
    })


# ---------------------------------------------------------------------------------- the re-run check
def rerun_checks(archive: pd.DataFrame, rerun: pd.DataFrame, metric: str | None = None,
                 views: Callable[[pd.DataFrame], pd.DataFrame] = single_views) -> pd.DataFrame:
    """``concordance.concordance`` of the re-run against the archive, per cell of the same settings and
    monitor, on the views `views` keeps (default: single-modality views)."""
    keys = [k for k in RERUN_KEYS if k in archive and k in rerun]
    if rerun.empty:
        return pd.DataFrame(columns=[*keys, "mark"])
    a, r = select_metric(archive, metric), select_metric(rerun, metric)
    return concordance.concordance(views(a), views(r), metric, keys=keys)


def format_checks(checks: pd.DataFrame) -> pd.DataFrame:
    """The concordance cells as a page prints them: the archived mean ± std (n), its interval, the
    re-run's mean (n) and ✓ / ✗ / –."""
    if checks.empty:
        return pd.DataFrame()
    d = fmt.metric_digits(str(checks["metric"].iloc[0]))
    out = pd.DataFrame({"method": [method_label(m, v) for m, v in zip(checks["method"], checks["variant"])],
                        "view": checks["view"].astype(str)})
    for col in ("encoder", "protocol", "settings", "monitor", "modalities"):
        if col in checks and checks[col].nunique() > 1:
            out[col] = checks[col].to_numpy()
    out["archive (n)"] = [fmt.fmt_value(m, d) + f" ({n})" for m, n in zip(checks["archive_mean"], checks["n_archive"])]
    out["archive interval (±2 std)"] = ["–" if not np.isfinite(lo) else f"{lo:.{d}f} … {hi:.{d}f}"
                                        for lo, hi in zip(checks["low"], checks["high"])]
    out["your re-run (n)"] = [fmt.fmt_value(m, d) + f" ({n})" for m, n in zip(checks["rerun_mean"], checks["n_rerun"])]
    out["agrees"] = checks["mark"].to_numpy()
    return out


def format_twins(twins: pd.DataFrame) -> pd.DataFrame:
    """`concordance.check_runs` as a page prints it."""
    d = fmt.metric_digits(str(twins["metric"].iloc[0])) + 3
    return pd.DataFrame({
        "method": [method_label(m, v) for m, v in zip(twins["method"], twins["variant"])],
        "fold": twins["fold"].to_numpy(), "seed": twins["seed"].to_numpy(), "view": twins["view"].astype(str),
        "archived": [f"{x:.{d}f}" for x in twins["archived"]], "yours": [f"{x:.{d}f}" for x in twins["rerun"]],
        "|difference|": [f"{x:.{d}f}" for x in twins["abs_diff"]],
        "tolerance": [("same CPU kind: " if s else "another CPU kind: ") + f"{t:g}"
                      for s, t in zip(twins["same_cpu"], twins["tolerance"])],
        "agrees": twins["mark"].to_numpy()})


def source_of(registry: str, arch: Any, live: Any) -> Any:
    """The page to read `registry`'s runs from: the archive where it holds that dataset, else the live page."""
    if arch is not None and registry in {r.dataset for r in arch.datasets.values()}:
        return arch
    return live


def show_rerun(archive: pd.DataFrame, live: Any, what: str = "this page's runs",
               views: Callable[[pd.DataFrame], pd.DataFrame] = single_views) -> str:
    """The reader's re-run (the live page `live`, at the book's profile) beside the archived runs: the
    cells, ✓ / ✗ per cell, and the one-line verdict, which is returned ("" when nothing was re-run)."""
    rerun = live.frame()
    datasets = set(archive["dataset"].dropna())
    rerun = rerun[rerun["dataset"].isin(datasets)] if len(rerun) else rerun  # the archive's benchmark only
    missing = [c for c in live.missing() if c.dataset in datasets]
    head = (f"**Your re-run** (profile `{live.profile.name}`, {len(rerun.drop_duplicates('run_id'))} run(s) of "
            f"{what} on {', '.join(sorted(datasets))} in `{display_path(live.store.root)}`)")
    if missing:
        head += (f": {len(missing)} of its runs are not in the store; train them with "
                 f"`{live.fill_command()}`")
    if rerun.empty:
        fmt.show_markdown(head + ". Nothing to compare with the archive yet.")
        return ""
    twins = concordance.check_runs(views(archive), views(rerun))
    if len(twins):  # runs at the archive's own configuration: each compared with its archived twin
        line = concordance.runs_verdict(twins)
        n = twins["run_id"].nunique()
        fmt.show_markdown(f"{head}. {n} of them {'is a run' if n == 1 else 'are runs'} of the archive itself (the "
                          f"same run id), re-made here. **Run by run: {line}.**")
        _display(fmt.table(format_twins(twins), "Your runs beside their archived twins (the same run id: the same "
                                                 "configuration, split, budget and seed), view by view"))
        # a run the archive holds unscored (AnySat, not reproduced without its weights) is its twin too
        rerun = rerun[~rerun["run_id"].isin(set(twins["run_id"]) | set(archive["run_id"]))]
        if rerun.empty:
            return line
        head = f"**The rest of your re-run** ({len(rerun.drop_duplicates('run_id'))} run(s) at another budget)"
    checks = rerun_checks(archive, rerun, views=views)
    line = concordance.concordance_verdict(checks)
    fmt.show_markdown(f"{head}. **Verdict: {line}.**")
    _display(fmt.table(format_checks(checks), "Archived paper-protocol runs beside your re-run: ✓ when the re-run's "
                                              "mean lies within the archive's mean ± 2 std of single runs"))
    fmt.show_markdown(f"*Why this check:* a re-run at the `{live.profile.name}` profile is a few runs on a smaller "
                      "budget; it is asked whether it looks like one more run of the archive (a broken method "
                      "or data pipeline lands far outside), not whether the means are equal. Cells with fewer "
                      f"than {stats.MIN_PAIRS} archived runs are not checked (–).")
    return line
