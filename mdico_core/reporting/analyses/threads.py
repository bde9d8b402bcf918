"""The thread-count study on the reproducibility page: which archives it compares (`open_study`), and
its tables, figure and sentences. The measurements are ``reporting.analyses.thread_pairs``'s (re-exported here,
so that a page imports one module).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting.analyses.stats_table import method_label
from mdico_core.reporting.analyses.thread_pairs import (  # noqa: F401  (re-exported for the page)
    CELL,
    PAIRS,
    _in_cell,
    _verdict_kind,
    conclusions,
    paired_runs,
    spread,
    thread_summary,
    threads_adjective,
    threads_label,
)
from mdico_core.reporting.core import format as fmt
from mdico_core.reporting.core import stats
from mdico_core.reporting.core.format import metric_label
from mdico_core.reporting.figures.plots import figure_size, legend_below, styled


@dataclass
class ThreadStudy:
    """The runs of an archive at another thread count (`other`) and their counterpart (`reference`)."""

    reference: pd.DataFrame
    other: pd.DataFrame
    reference_name: str
    other_name: str
    paths: tuple[Path, Path]
    """the CSV files of `reference` and `other`"""

    def unshipped(self) -> dict[str, pd.DataFrame]:
        """The study's archives that are not files of ``data/archived_runs`` (a page passed them as paths),
        as ``{"archive file <name>.csv": runs}``: the reproducibility page lists their environments too."""
        from mdico_core.experiments.archives import ARCHIVE_DIR

        return {f"archive file {p.name}": f for p, f in zip(self.paths, (self.reference, self.other))
                if p.resolve().parent != ARCHIVE_DIR.resolve()}


def open_study(archive: str | None, reference: str | None = None) -> tuple[ThreadStudy | None, str]:
    """(the study, "") of `archive` (a name or CSV path) against `reference` (None: its definition's
    counterpart), or (None, why not: Markdown with the commands that make what is missing)."""
    from mdico_core._util import display_path
    from mdico_core.experiments.archives import ARCHIVES, archive_of
    from mdico_core.reporting.book.archive import read_runs, resolve_archive

    if not archive:
        return None, "No thread-count study was asked for (the parameter `threads_archive` is empty)."
    definition = ARCHIVES.get(str(archive)) or archive_of(archive)
    name = definition.name if definition is not None else str(archive)
    reference = reference or (definition.counterpart if definition is not None else None)
    if not reference:
        return None, f"`{archive}` names no 1-thread counterpart: pass one with `-p threads_reference <archive>`."
    found = {}
    for what, arch in (("other", archive), ("reference", reference)):
        try:
            found[what] = resolve_archive(arch)
        except FileNotFoundError:
            known = ARCHIVES.get(str(arch)) or archive_of(arch)
            label = known.name if known is not None else str(arch)
            separate = ("into a results store of its own (its run ids are the 1-thread runs' of "
                        f"`{known.counterpart}`), " if known is not None and known.counterpart else "")
            return None, (f"The archive `{label}` is not exported yet, so the study cannot be shown. It is made "
                          f"by training it {separate}then exporting it:\n\n```bash\nmdico archive run {label} "
                          f"--results <store>\nmdico archive export {label} --results <store>\n```\n\n"
                          + (f"(`mdico archive run` trains `{' --results <store>`, `'.join(known.commands())} "
                             "--results <store>`.)" if known else ""))
    other, ref = read_runs(found["other"]), read_runs(found["reference"])
    known = ARCHIVES.get(str(reference)) or archive_of(reference)
    if not set(other["run_id"]) & set(ref["run_id"]):
        how = f"`mdico archive export {known.name} --results <store>`" if known is not None else "`mdico export`"
        return None, (f"`{display_path(found['reference'])}` holds none of the {other['run_id'].nunique()} runs of "
                      f"`{display_path(found['other'])}`: it was made by other run definitions. Re-export it with "
                      f"{how} from a store of the current ones.")
    return ThreadStudy(ref, other, known.name if known is not None else str(reference), name,
                       (found["reference"], found["other"])), ""


def format_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """`paired_runs` as the page prints it: one row per (run, view), each side's score and best epoch."""
    if pairs.empty:
        return pd.DataFrame()
    d = fmt.metric_digits(str(pairs["metric"].iloc[0]))
    la, lb = threads_label(pairs["threads_a"]), threads_label(pairs["threads_b"])
    return pd.DataFrame({
        "method": [method_label(m, v) for m, v in zip(pairs["method"], pairs["variant"])], "view": pairs["view"],
        "fold": pairs["fold"], "seed": pairs["seed"],
        la: [fmt.fmt_value(v, d) for v in pairs["value_a"]], lb: [fmt.fmt_value(v, d) for v in pairs["value_b"]],
        "Δ": ["0 (bit for bit)" if same else ("+" if v > 0 else "") + _small(v, d + 1)
              for v, same in zip(pairs["diff"], pairs["identical"])],
        "best epoch": [f"{x} / {y}" for x, y in zip(pairs["best_epoch_a"], pairs["best_epoch_b"])],
        "epochs run": [f"{x} / {y}" for x, y in zip(pairs["epochs_run_a"], pairs["epochs_run_b"])],
    })


def _shown(value: float, n: int, digits: int) -> str:
    """A spread with its count: "n = 3" below ``stats.MIN_PAIRS`` values (no std from fewer)."""
    if n < stats.MIN_PAIRS:
        return f"n = {n}"
    return fmt.fmt_value(value, digits)


def format_summary(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`thread_summary` as two tables: what the thread count moved, and its size beside the spreads."""
    if summary.empty:
        return pd.DataFrame(), pd.DataFrame()
    d = fmt.metric_digits(str(summary["metric"].iloc[0])) + 1  # differences are smaller than scores
    cell = [f"{method_label(m, v)}, {w}" for m, v, w in zip(summary["method"], summary["variant"], summary["view"])]
    moved = pd.DataFrame({
        "method, view": cell, "runs": summary["n"],
        "bit for bit": [f"{int(k)} of {n}" for k, n in zip(summary["identical"], summary["n"])],
        "same best epoch": [f"{int(k)} of {n}" for k, n in zip(summary["same_best_epoch"], summary["n"])],
        "mean Δ": [("+" if v > 0 else "") + _small(v, d) for v in summary["mean_diff"]],
        "RMS Δ": [_small(v, d) for v in summary["rms_diff"]],
        "max |Δ|": [_small(v, d) for v in summary["max_abs_diff"]],
    })
    against = pd.DataFrame({
        "method, view": cell, "RMS Δ threads": [_small(v, d) for v in summary["rms_diff"]],
        "RMS Δ seeds": [_shown(v, n, d) for v, n in zip(summary["seed_rms"], summary["n_seed_pairs"])],
        "fold std": [_shown(v, n, d) for v, n in zip(summary["fold_std"], summary["n_fold"])],
        "check ±": [_shown(v, n, d) for v, n in zip(summary["half_width"], summary["n_runs"])],
        "runs inside": ["–" if k is None or pd.isna(k) else f"{int(k)} of {n}" for k, n in zip(summary["inside"], summary["n"])],
        "check": summary["mark"],
    })
    return moved, against


def format_conclusions(table: pd.DataFrame, label_a: str, label_b: str) -> pd.DataFrame:
    """`conclusions` as the page prints it: each tested row's difference, Holm p and conclusion under both
    thread counts (`label_a`, `label_b`)."""
    if table.empty:
        return pd.DataFrame()
    d = fmt.metric_digits(str(table["metric"].iloc[0])) if "metric" in table else 3
    return pd.DataFrame({
        "method, view": [f"{method_label(m, v)}, {w}" for m, v, w in zip(table["method"], table["variant"],
                                                                         table["view"])],
        "vs": [r.removesuffix(f", {w}") for r, w in zip(table["reference"], table["view"])], "n": table["n_pairs"],
        "Δ": [f"{fmt.fmt_value(x, d, True)} / {fmt.fmt_value(y, d, True)}" for x, y in zip(table["diff_a"],
                                                                                           table["diff_b"])],
        "Holm p": [f"{fmt.fmt_p(x, n)} / {fmt.fmt_p(y, n)}" for x, y, n in zip(table["p_holm_a"], table["p_holm_b"],
                                                                               table["n_pairs"])],
        label_a: [_verdict_kind(v) for v in table["verdict_a"]], label_b: [_verdict_kind(v) for v in table["verdict_b"]],
        "same": table["same"].map({True: "yes", False: "NO"}),
    })


# ---------------------------------------------------------------------------------- figure and words
@styled
def plot_thread_differences(pairs: pd.DataFrame, summary: pd.DataFrame, label: str = "") -> Any:
    """Per cell (a row), each run's difference between the thread counts (dots), beside ± the RMS
    difference of two seeds' runs of one fold (dark bar) and ± the concordance interval's half-width
    (light bar), where the reference archive has them; at the column's width, legend below."""
    import matplotlib.pyplot as plt

    if pairs.empty:
        raise ValueError("plot_thread_differences: no paired runs")
    cells = list(dict.fromkeys(zip(pairs["method"], pairs["variant"], pairs["view"])))
    fig, ax = plt.subplots(figsize=figure_size(0.45 * len(cells) + 1.4), layout="constrained")
    rng = np.random.default_rng(0)  # vertical jitter only, so that equal differences stay visible
    for y, (m, v, w) in enumerate(cells):
        cell = {"method": m, "variant": v, "view": w}
        s = _in_cell(summary, cell)
        half = s["half_width"].iloc[0] if len(s) else np.nan
        seeds = s["seed_rms"].iloc[0] if len(s) and s["n_seed_pairs"].iloc[0] >= stats.MIN_PAIRS else np.nan
        if np.isfinite(half):
            ax.barh(y, 2 * half, left=-half, height=0.6, color="0.88", label="± half-width of the concordance check")
        if np.isfinite(seeds):
            ax.barh(y, 2 * seeds, left=-seeds, height=0.3, color="0.55", label="± RMS Δ between two seeds' runs")
        g = _in_cell(pairs, cell)
        ax.plot(g["diff"], y + rng.uniform(-0.12, 0.12, len(g)), "o", ms=5, color="#1f77b4", zorder=3,
                label=f"one run: {label}" if label else "one run")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(cells)), [f"{method_label(m, v)}, {w}" for m, v, w in cells])
    ax.invert_yaxis()
    ax.set_xlabel(f"Δ {metric_label(str(pairs['metric'].iloc[0]))}")
    legend_below(fig, ncol=1)
    return fig


def study_sentences(pairs: pd.DataFrame, summary: pd.DataFrame, table: pd.DataFrame) -> dict[str, str]:
    """The page's sentences on the study, computed from it: ``moved`` (what the thread count changed),
    ``spread`` (its size beside the seeds and folds), ``check`` (beside the concordance interval) and
    ``conclusion`` (whether the table's conclusion changes)."""
    if pairs.empty:
        return {k: "no paired runs" for k in ("moved", "spread", "check", "conclusion")}
    metric = str(pairs["metric"].iloc[0])
    d = fmt.metric_digits(metric) + 1
    la, lb = threads_label(pairs["threads_a"]), threads_label(pairs["threads_b"])
    aa, ab = threads_adjective(pairs["threads_a"]), threads_adjective(pairs["threads_b"])
    n_runs, n = pairs["run_id"].nunique(), len(pairs)
    worst = pairs.loc[pairs["diff"].abs().idxmax()]
    rms = float(np.sqrt(np.mean(pairs["diff"].to_numpy(dtype=float) ** 2)))
    moved = (f"Over {n_runs} runs ({n} (run, view) scores), {lb} instead of {la} changed {metric_label(metric)} by "
             f"{_small(rms, d)} (root mean square; largest {_small(abs(worst['diff']), d)}: "
             f"{method_label(worst['method'], worst['variant'])}, {worst['view']}, fold {worst['fold']}); "
             f"{int(pairs['identical'].sum())} of {n} scores are equal bit for bit, and {int(pairs['same_best_epoch'].sum())} "
             f"of {n} were scored at the same best epoch.")
    seeds = summary[summary["n_seed_pairs"] >= stats.MIN_PAIRS]
    folds = summary[summary["n_fold"] >= stats.MIN_PAIRS]
    parts = []
    if len(seeds):
        parts.append(f"{_range(100 * seeds['rms_vs_seeds'], 1)} % of the RMS difference between two seeds' runs of "
                     f"one fold ({_range(seeds['seed_rms'], d)})")
    if len(folds):
        parts.append(f"{_range(100 * folds['rms_diff'] / folds['fold_std'], 1)} % of the fold-to-fold std "
                     f"({_range(folds['fold_std'], d)})")
    spread_text = ("Per cell, the RMS thread difference is " + " and ".join(parts) + "." if parts else
                   "The reference archive holds too few runs for a fold-to-fold or seed-to-seed spread.")
    if not len(seeds):
        spread_text += (f" No seed-to-seed spread yet: the reference holds fewer than {stats.MIN_PAIRS} pairs of "
                        "seeds' runs per cell.")
    checked = summary[summary["agrees"].notna()]
    check = ("The concordance check of a re-run (`reporting/analyses/concordance.py`) accepts a cell whose mean lies within "
             "the archive's mean ± 2 std over its (fold, seed) runs, not only equal numbers")
    if len(checked):
        check += (f": its half-width is {_range(checked['half_width'], d)} here, and the largest thread difference "
                  f"of a cell is {_range(100 * checked['max_vs_half'], 1)} % of it. Taken as a re-run, the {ab} runs "
                  f"agree with the {aa} archive on {int(checked['agrees'].astype(bool).sum())} of {len(checked)} cells, "
                  f"and {int(checked['inside'].sum())} of {int(checked['n'].sum())} of their single scores lie inside "
                  f"the interval ({int(checked['inside_a'].sum())} of the same runs' {aa} scores).")
    else:
        check += f"; it needs at least {stats.MIN_PAIRS} archived runs per cell, which the reference lacks here."
    if table.empty:
        concl = "No method has a tested reference in these runs, so no conclusion is compared."
    else:
        changed = table[~table["same"]]
        concl = (f"Tested on the same {int(table['n_pairs'].max())} runs per cell (corrected t-test, Holm over "
                 f"{int(table['holm_m'].iloc[0])} comparisons), the table's conclusion is the same under both thread "
                 f"counts in {len(table) - len(changed)} of {len(table)} rows"
                 + ("." if changed.empty else "; it changes for " + "; ".join(
                     f"{method_label(r.method, r.variant)} on {r.view} ({_verdict_kind(r.verdict_a)} with {la}, "
                     f"{_verdict_kind(r.verdict_b)} with {lb})" for r in changed.itertuples()) + "."))
    return {"moved": moved, "spread": spread_text, "check": check, "conclusion": concl}


def _small(value: float, digits: int) -> str:
    """A difference with `digits` decimals, or one significant digit when it is smaller than that shows."""
    if value != 0 and abs(value) < 0.5 * 10 ** -digits:
        return f"{value:.0e}"
    return fmt.fmt_value(value, digits)


def _range(values: pd.Series, digits: int) -> str:
    """"0.12" or "0.12 to 0.31": the range of `values` in words."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return "–"
    lo, hi = fmt.fmt_value(v.min(), digits), fmt.fmt_value(v.max(), digits)
    return lo if lo == hi else f"{lo} to {hi}"
