"""How much the machine moves a result: the same runs at two thread counts, compared run by run.

The same run (same id, code and seed) reproduces itself bit for bit on one machine with one thread
count; another thread count sums in another order, and training can amplify those last bits into
another epoch and another score. Archive ``lfmc_threads2`` holds Individual and MDiCo on LFMC
(paper profile, 10 folds, seed 0) made with 2 torch threads; its `counterpart`, ``lfmc_paper``, the
same run ids made with 1 (each record's provenance says its ``torch_threads``). From the two as tidy
frames (``archive.read_runs``): `paired_runs` (each run's score under both, and the difference),
`spread` (fold to fold, seed to seed, and the interval of the concordance check of a reader's
re-run), `thread_summary` (the differences beside those spreads) and `conclusions` (MDiCo against
Individual, corrected t-test with Holm, under each thread count: does the verdict change?).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.reporting import concordance, stats
from mdico_core.reporting import format as fmt
from mdico_core.reporting.compare import GROUP, select_metric, single_views
from mdico_core.reporting.format import metric_label
from mdico_core.reporting.plots import figure_size, legend_below, styled
from mdico_core.reporting.stats_table import method_label, results_table

CELL = [k for k in GROUP if k != "metric"]
PAIRS = [*GROUP, "fold", "seed", "run_id", "threads_a", "threads_b", "value_a", "value_b", "diff", "identical",
         "best_epoch_a", "best_epoch_b", "same_best_epoch", "epochs_run_a", "epochs_run_b"]


def _scores(runs: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    d = single_views(select_metric(runs, metric)) if len(runs) else runs
    return d[d["value"].notna()] if len(d) else d


def threads_label(values: Any) -> str:
    """The thread count of a set of runs in words: "1 thread", "2 threads", "1 or 2 threads", "threads not recorded"."""
    found = sorted({int(v) for v in pd.Series(values).dropna()})
    if not found:
        return "threads not recorded"
    return f"{' or '.join(map(str, found))} thread{'s' * (found != [1])}"


def threads_adjective(values: Any) -> str:
    """`threads_label` before a noun: "2-thread", "1- or 2-thread", "unrecorded-thread"."""
    found = sorted({int(v) for v in pd.Series(values).dropna()})
    return "- or ".join(map(str, found)) + "-thread" if found else "unrecorded-thread"


def paired_runs(a: pd.DataFrame, b: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The runs both tidy frames hold (same run id), per single view: each side's score (``value_a``,
    ``value_b``), best epoch and epochs run, its thread count (``threads_a``/``_b``, from ``torch_threads``),
    ``diff`` = b - a, ``identical`` (bit for bit) and ``same_best_epoch``. `metric` None: the dataset's
    primary one. Columns `PAIRS`; raises ``ValueError`` for frames of several metrics."""
    sa = _scores(a, metric)
    if sa.empty:
        return pd.DataFrame(columns=PAIRS)
    if sa["metric"].nunique() != 1:
        raise ValueError(f"paired_runs takes one metric, got {sorted(sa['metric'].unique())}; pass metric=")
    sb = _scores(b, str(sa["metric"].iloc[0]))
    side = ["run_id", "view", "metric", "value", "best_epoch", "epochs_run", "torch_threads"]
    m = sa.reindex(columns=[*GROUP, "fold", "seed", *side[3:], "run_id"]).merge(
        sb.reindex(columns=side), on=["run_id", "view", "metric"], suffixes=("_a", "_b"))
    m = m.rename(columns={"torch_threads_a": "threads_a", "torch_threads_b": "threads_b"})
    m["diff"] = m["value_b"].astype(float) - m["value_a"].astype(float)
    m["identical"] = m["value_a"].astype(float).to_numpy() == m["value_b"].astype(float).to_numpy()
    m["same_best_epoch"] = (m["best_epoch_a"] == m["best_epoch_b"]).fillna(False).astype(bool)
    return m[PAIRS].sort_values(["method", "view", "seed", "fold"], kind="stable", ignore_index=True)


def _seed_pair_diffs(g: pd.DataFrame) -> np.ndarray:
    """Differences between runs of one fold under two seeds, every pair of seeds, every fold."""
    wide = g.pivot_table(index="fold", columns="seed", values="value", aggfunc="first")
    seeds = list(wide.columns)
    d = [wide[s] - wide[t] for i, s in enumerate(seeds) for t in seeds[i + 1:]]
    return pd.concat(d).dropna().to_numpy(dtype=float) if d else np.array([])


def spread(runs: pd.DataFrame, metric: str | None = None, width: float = concordance.WIDTH) -> pd.DataFrame:
    """Per cell of `runs` (tidy, one dataset): the spreads a thread difference is read against.

    Columns: the cell (``GROUP``), ``n_runs``, ``seeds``, ``fold_std`` (std over folds within a seed,
    pooled over seeds: the square root of the mean per-seed variance; ``n_fold`` values), ``seed_rms``
    (root mean square of the difference between two seeds' runs of one fold, over every fold and pair
    of seeds; ``n_seed_pairs``), ``std`` (over every (fold, seed) run), ``low``, ``high`` and
    ``half_width`` (the concordance interval, mean ± `width` std; NaN below ``stats.MIN_PAIRS`` runs).
    """
    d = _scores(runs, metric)
    cols = [*GROUP, "n_runs", "seeds", "n_fold", "fold_std", "n_seed_pairs", "seed_rms", "std", "low", "high",
            "half_width"]
    rows = []
    for key, g in (d.groupby(GROUP, sort=False, dropna=False) if len(d) else []):
        g = g.drop_duplicates(["fold", "seed"])
        per_seed = [s["value"].astype(float) for _, s in g.groupby("seed") if len(s) >= 2]
        fold_std = float(np.sqrt(np.mean([s.var(ddof=1) for s in per_seed]))) if per_seed else np.nan
        pairs = _seed_pair_diffs(g)
        _, low, high = concordance.interval(g["value"], width)
        rows.append({**dict(zip(GROUP, key)), "n_runs": len(g), "seeds": int(g["seed"].nunique()),
                     "n_fold": sum(len(s) for s in per_seed), "fold_std": fold_std, "n_seed_pairs": len(pairs),
                     "seed_rms": float(np.sqrt(np.mean(pairs ** 2))) if len(pairs) else np.nan,
                     "std": float(g["value"].astype(float).std(ddof=1)) if len(g) > 1 else np.nan,
                     "low": low, "high": high, "half_width": (high - low) / 2})
    return pd.DataFrame(rows, columns=cols)


def thread_summary(pairs: pd.DataFrame, reference: pd.DataFrame, width: float = concordance.WIDTH) -> pd.DataFrame:
    """Per cell of `paired_runs`: the thread differences beside the spreads of `reference` (the 1-thread
    archive, every seed of it: `spread`), and the concordance check of the runs of the other thread count
    against it.

    Columns: the cell, ``n`` (paired runs), ``identical``, ``same_best_epoch`` (counts), ``mean_diff``,
    ``rms_diff``, ``max_abs_diff``, the `spread` columns, ``rms_vs_seeds`` (rms_diff / seed_rms),
    ``max_vs_half`` (max_abs_diff / half_width), ``inside`` (runs of the other thread count inside the
    interval, each on its own; ``inside_a``: the same runs of the reference) and ``mark`` / ``agrees``
    (``concordance.check_cell``: their mean inside it).
    """
    if pairs.empty:
        return pd.DataFrame()
    metric = str(pairs["metric"].iloc[0])
    spreads = spread(reference, metric, width)
    ref = _scores(reference, metric)
    rows = []
    for key, g in pairs.groupby(GROUP, sort=False, dropna=False):
        cell = dict(zip(GROUP, key))
        s = _in_cell(spreads, cell)
        sp = s.iloc[0].to_dict() if len(s) else {c: np.nan for c in spreads.columns}
        check = concordance.check_cell(_in_cell(ref, cell)["value"], g["value_b"], width)
        d = g["diff"].to_numpy(dtype=float)
        rows.append({**cell, "n": len(g), "identical": int(g["identical"].sum()),
                     "same_best_epoch": int(g["same_best_epoch"].sum()), "mean_diff": float(d.mean()),
                     "rms_diff": float(np.sqrt(np.mean(d ** 2))), "max_abs_diff": float(np.abs(d).max()),
                     **{k: sp[k] for k in spreads.columns if k not in GROUP},
                     "rms_vs_seeds": float(np.sqrt(np.mean(d ** 2))) / sp["seed_rms"] if sp["seed_rms"] else np.nan,
                     "max_vs_half": float(np.abs(d).max()) / sp["half_width"] if sp["half_width"] else np.nan,
                     "inside": _inside(g["value_b"], sp), "inside_a": _inside(g["value_a"], sp), "agrees": check["agrees"],
                     "mark": check["mark"]})
    return pd.DataFrame(rows)


def _in_cell(frame: pd.DataFrame, cell: dict) -> pd.DataFrame:
    """The rows of `frame` whose columns equal each value of `cell`."""
    return frame[np.logical_and.reduce([frame[k].to_numpy() == v for k, v in cell.items()])]


def _inside(values: pd.Series, interval: dict) -> int | None:
    """How many `values` lie within the interval's ``low`` and ``high`` (None without an interval)."""
    if not np.isfinite(interval["low"]):
        return None
    return int(values.astype(float).between(interval["low"], interval["high"]).sum())


def _verdict_kind(verdict: str) -> str:
    """The conclusion of a verdict without its p: "significantly higher", "no detectable difference", ..."""
    return str(verdict).split(" (")[0]


def conclusions(a: pd.DataFrame, b: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The results table's tested rows (``stats_table.results_table``: each method against its reference,
    corrected t-test, Holm over the table) computed on the runs both frames hold, once from each.

    Columns: the cell, ``reference``, ``n_pairs``, ``diff_a``, ``p_holm_a``, ``verdict_a``, ``diff_b``,
    ``p_holm_b``, ``verdict_b``, ``holm_m`` and ``same`` (the same conclusion: higher / lower / no
    detectable difference / not tested, whatever the p).
    """
    ids = set(a["run_id"]) & set(b["run_id"])
    cols = [*CELL, "metric", "reference", "n_pairs", "diff_a", "p_holm_a", "verdict_a", "diff_b", "p_holm_b", "verdict_b",
            "holm_m", "same"]
    sa, sb = (_scores(f[f["run_id"].isin(ids)], metric) for f in (a, b))
    if sa.empty or sb.empty:
        return pd.DataFrame(columns=cols)
    ta, tb = results_table(sa), results_table(sb)
    keep = ["method", "variant", "encoder", "protocol", "view", "diff", "p_holm", "verdict"]
    m = ta[ta["reference"] != ""].merge(tb[keep], on=keep[:5], suffixes=("_a", "_b"))
    m["same"] = [_verdict_kind(x) == _verdict_kind(y) for x, y in zip(m["verdict_a"], m["verdict_b"])]
    return m[cols].reset_index(drop=True)


# ---------------------------------------------------------------------------------- what the page shows
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
    from mdico_core.reporting.archive import read_runs, resolve_archive

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
    check = ("The concordance check of a re-run (`reporting/concordance.py`) accepts a cell whose mean lies within "
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
