"""The main job's expected wall time, from the plan and the archives' recorded run times, per CPU kind.

    python benchmarks/plan_budget.py [--profile quick] [--workers 2]

At the quick profile every run of the book is the twin of an archived run (``BookPlan.archive_check_profile``),
so the archives hold its training time, measured on the CPU kind that made it. For each CPU kind of
the archives this prints the expected ``make book`` time on a quiet 2-core VM:

- the sweep: the plan's runs (``book_plan.all_configs``), longest first as ``mdico book`` orders them,
  packed on `workers` processes (each run goes to the worker free first), each at its archived time
  times the calibration of the latest measured build that has one ("vs archive": that build's training
  time over the archives' times of the same runs; the archives were swept beside other work, so they
  are slower than a quiet build; without a calibration, 1: the archives' own times);
- the pages: the page phase of the latest measured build (``benchmarks/results/book_quick.md``);
- the rest (start, data check, ``jupyter-book build``): that build's wall time less the two.

A run's time on the other CPU kind is its archived time scaled by the larger of two factors: the
median ratio of the two kinds' times over the archived cells made on both (`cpu_factor`; only
``lfmc_paper`` ran on both), and the ratio of the sweeps of one commit measured on both kinds
(`build_factor`). They disagree (the archive's Intel runs were faster, the measured Intel build
slower), so the estimate takes the slower for each kind: a budget should not be met by the
kinder of two measurements. The page phase and the rest are scaled the same way. A run no archive holds has no recorded time: the estimate refuses it, naming the run, since
a budget that guesses is no budget. ``tests/test_benchmarks.py`` fails when the slower kind's
estimate exceeds `BUDGET_S`.
"""

from __future__ import annotations

import argparse
import heapq
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
BUILDS = REPO / "benchmarks" / "results" / "book_quick.md"
BUDGET_S = 600.0
"""The main job's budget: 10 minutes on a quiet 2-core VM of either CPU kind."""
KINDS = ("AMD EPYC", "Intel Xeon")


def cpu_kind(model: str) -> str:
    """The CPU kind of a ``cpu_model`` string: "AMD EPYC" or "Intel Xeon" (else the model itself)."""
    return next((k for k in KINDS if k.split()[0].lower() in str(model).lower()), str(model))


def archived_times() -> pd.DataFrame:
    """One row per archived run (every shipped archive, verified on read): run_id, wall_time_s, kind, cell."""
    from mdico_core.experiments.archives import ARCHIVES
    from mdico_core.reporting.book.archive import read_runs

    frames = []
    for name in ARCHIVES:
        runs = read_runs(name).drop_duplicates("run_id")
        frames.append(runs.assign(archive=name))
    runs = pd.concat(frames, ignore_index=True).drop_duplicates("run_id")
    runs["kind"] = runs["cpu_model"].map(cpu_kind)
    runs["wall_time_s"] = pd.to_numeric(runs["wall_time_s"])
    runs["cell"] = runs[["archive", "method", "variant", "encoder", "settings"]].astype(str).agg("/".join, axis=1)
    return runs[["run_id", "archive", "cell", "kind", "wall_time_s"]]


def cpu_factor(runs: pd.DataFrame, slow: str, fast: str) -> float:
    """The median, over cells with runs of both kinds, of (median time on `slow`) / (median time on `fast`)."""
    med = runs.groupby(["cell", "kind"])["wall_time_s"].median().unstack()
    both = med.dropna(subset=[slow, fast]) if {slow, fast} <= set(med.columns) else med.iloc[:0]
    if both.empty:
        raise ValueError(f"no archived cell ran on both {slow} and {fast}: no factor between them")
    return float((both[slow] / both[fast]).median())


def pack(times: list[float], workers: int) -> float:
    """The wall time of `times` run in the given order, each on the worker free first (``mdico book``'s pool)."""
    free = [0.0] * workers
    for t in times:
        heapq.heappush(free, heapq.heappop(free) + t)
    return max(free)


@dataclass(frozen=True)
class Build:
    """A measured build of ``book_quick.md``'s table of builds."""

    commit: str
    kind: str
    runs: int
    sweep_s: float
    pages_s: float
    wall_s: float
    vs_archive: float | None = None


def measured_builds(path: Path = BUILDS) -> list[Build]:
    """The rows of the "Measured builds" table of `path`, oldest first."""
    section = path.read_text().split("## Measured builds", 1)[-1].split("\n## ", 1)[0]
    out = []
    for line in [ln for ln in section.splitlines() if ln.startswith("|")][2:]:  # below the header and rule
        cells = [c.strip().strip("`*") for c in line.strip().strip("|").split("|")]
        if len(cells) < 8:
            continue
        m, s = cells[6].split(":")
        ratio = float(cells[7]) if re.fullmatch(r"[\d.]+", cells[7]) else None
        out.append(Build(cells[1], cells[2], int(cells[3]), float(cells[4]), float(cells[5]), int(m) * 60 + float(s),
                         ratio))
    if not out:
        raise ValueError(f"{path}: no row in its 'Measured builds' table")
    return out


def build_factor(builds: list[Build], slow: str, fast: str) -> float | None:
    """The median ratio of sweep times, `slow` over `fast`, of the commits measured on both kinds (None: none)."""
    ratios = [a.sweep_s / b.sweep_s for a in builds for b in builds
              if a.commit == b.commit and a.runs == b.runs and a.kind == slow and b.kind == fast]
    return float(pd.Series(ratios).median()) if ratios else None


def kind_factor(runs: pd.DataFrame, builds: list[Build], to: str, source: str) -> float:
    """How much longer a run made on `source` takes on `to`: the larger of `cpu_factor` and `build_factor`."""
    if to == source:
        return 1.0
    measured = build_factor(builds, to, source)
    return max(cpu_factor(runs, to, source), measured if measured is not None else 0.0)


@dataclass(frozen=True)
class Estimate:
    """The expected ``make book`` time of a plan on one CPU kind."""

    kind: str
    runs: int
    training_s: float
    sweep_s: float
    pages_s: float
    rest_s: float

    @property
    def total_s(self) -> float:
        return self.sweep_s + self.pages_s + self.rest_s


def estimate(profile: str = "quick", workers: int = 2) -> list[Estimate]:
    """The expected wall time of the book at `profile`, one `Estimate` per CPU kind of the archives."""
    from mdico_core.reporting.book import book_plan

    runs = archived_times()
    cfgs = book_plan.longest_first(book_plan.all_configs(profile))
    by_id = runs.set_index("run_id")
    missing = [c.run_id for c in cfgs if c.run_id not in by_id.index]
    if missing:
        raise ValueError(f"{len(missing)} run(s) of the {profile} plan have no archived twin, so no recorded "
                         f"time (e.g. {missing[0]}): re-run them as twins of archived runs, or archive them")
    builds = measured_builds()
    last = builds[-1]
    calibrated = [b for b in builds if b.vs_archive is not None]
    out = []
    for kind in KINDS:
        to_kind = {k: kind_factor(runs, builds, kind, k) for k in KINDS}
        # how much faster a quiet build trains than the archives' sweeps did on the same kind (they ran beside
        # other work): measured on one kind, taken as the same on the other
        quiet = calibrated[-1].vs_archive if calibrated else 1.0
        times = [float(by_id.at[c.run_id, "wall_time_s"]) * quiet * to_kind.get(by_id.at[c.run_id, "kind"], 1.0)
                 for c in cfgs]
        page_scale = to_kind.get(last.kind, 1.0)
        rest = max(last.wall_s - last.sweep_s - last.pages_s, 0.0)
        out.append(Estimate(kind, len(cfgs), sum(times), pack(times, workers), last.pages_s * page_scale,
                            rest * page_scale))
    return out


def calibration(results: str | Path) -> tuple[int, float]:
    """(runs, their training time summed in the store `results` / the archives' recorded times of the same runs)."""
    from mdico_core.experiments.store import ResultsStore

    by_id = archived_times().set_index("run_id")["wall_time_s"]
    store = ResultsStore(results)
    frames = [store.collect(d) for d in (p.name for p in Path(results).iterdir() if p.is_dir() and not p.name.startswith("_"))]
    made = pd.concat([f for f in frames if len(f)]).drop_duplicates("run_id") if frames else pd.DataFrame()
    if made.empty or not made["run_id"].isin(by_id.index).any():
        raise ValueError(f"{results}: no run of this store is an archived twin: nothing to calibrate with")
    twins = made[made["run_id"].isin(by_id.index)]
    return len(twins), float(pd.to_numeric(twins["wall_time_s"]).sum() / by_id.loc[twins["run_id"]].sum())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--calibrate", metavar="RESULTS", help="print a build's 'vs archive' (its store) and stop")
    args = ap.parse_args(argv)
    if args.calibrate:
        try:
            n, ratio = calibration(args.calibrate)
        except (ValueError, FileNotFoundError) as err:
            print(f"plan_budget: {err}", file=sys.stderr)
            return 1
        print(f"vs archive: {ratio:.2f} ({n} runs of {args.calibrate} that are archived twins)")
        return 0
    try:
        rows = estimate(args.profile, args.workers)
    except (ValueError, FileNotFoundError) as err:
        print(f"plan_budget: {err}", file=sys.stderr)
        return 1
    print(f"The {args.profile} book on {args.workers} workers (budget {BUDGET_S / 60:.0f} min):")
    print("| CPU kind | runs | training summed | sweep | pages | rest | expected `make book` |")
    print("|---|---|---|---|---|---|---|")
    for e in rows:
        print(f"| {e.kind} | {e.runs} | {e.training_s:.0f} s | {e.sweep_s:.0f} s | {e.pages_s:.0f} s | "
              f"{e.rest_s:.0f} s | **{int(e.total_s // 60)}:{e.total_s % 60:02.0f}** |")
    worst = max(rows, key=lambda e: e.total_s)
    print(f"slower kind: {worst.kind}, {worst.total_s:.0f} s: {'within' if worst.total_s <= BUDGET_S else 'OVER'} "
          "the budget")
    return 0 if worst.total_s <= BUDGET_S else 2


if __name__ == "__main__":
    sys.exit(main())
