"""``mdico table`` (ours next to the paper's), ``mdico export`` (a CSV archive) and ``mdico methods``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mdico_core.cli._args import add_results, add_settings, check_names, names
from mdico_core.cli.runs import name_corrupt, open_store
from mdico_core.options import MONITORS


def add_parsers(sub: Any) -> None:
    """The ``table``, ``export`` and ``methods`` subcommands."""
    t = sub.add_parser("table", help="our mean ± std next to the paper's numbers")
    t.add_argument("dataset")
    t.add_argument("--profile", default=None, help="only runs recorded under this profile")
    t.add_argument("--metric", default=None, help="metric (default: f1_weighted or r2)")
    t.add_argument("--markdown", action="store_true", help="print a Markdown table")
    t.add_argument("--all-paper-rows", action="store_true", help="also list the paper's methods we have not run")
    t.add_argument("--archive", default=None, help="read the runs from this `mdico export` CSV, not the store")
    add_settings(t)
    t.add_argument("--monitor", choices=MONITORS, default=None,
                   help="only runs trained with this early-stopping monitor (default: each method's recipe's)")
    add_results(t)
    t.set_defaults(func=cmd_table, parser=t)

    e = sub.add_parser("export", help="write a dataset's run metrics and provenance to a CSV (an archive)")
    e.add_argument("dataset")
    e.add_argument("--out", required=True, help="CSV file to write, e.g. data/archived_runs/lfmc_paper.csv")
    e.add_argument("--profile", required=True, help="the profile whose runs to export (one per file)")
    add_settings(e, default=None)
    add_results(e)
    e.set_defaults(func=cmd_export, parser=e)

    f = sub.add_parser("findings", help="the paper's claims tested on the archives: estimate, interval, power, "
                                        "verdict (the book's 'What replicates' page)")
    f.add_argument("--claims", default=None, help="claim ids, comma-separated, e.g. C1,C3 (default: all)")
    f.add_argument("--archive", default=None,
                   help="only the comparisons on these archives, comma-separated, e.g. lfmc_paper")
    f.add_argument("--markdown", action="store_true", help="print Markdown (the page's sections)")
    f.set_defaults(func=cmd_findings, parser=f)

    v = sub.add_parser("versus", help="your method's runs against an archive: paired with every archived method on "
                                      "the same splits, tested against Individual and MDiCo")
    v.add_argument("archive", help="an archive name (`mdico archive list`), e.g. lfmc_paper")
    v.add_argument("--methods", type=names, required=True, help="your method(s), comma-separated")
    v.add_argument("--method-module", default=None, metavar="MODULE",
                   help="import your method(s) from this module (else $MDICO_METHODS or an entry point)")
    v.add_argument("--metric", default=None, help="metric (default: the dataset's, weighted F1 or R²)")
    add_settings(v)
    v.add_argument("--markdown", action="store_true", help="print Markdown tables")
    add_results(v)
    v.set_defaults(func=cmd_versus, parser=v)

    m = sub.add_parser("methods", help="every method, its variants and its training settings in both settings")
    m.add_argument("--profile", default="paper", help="resolve the budgets of this profile (default: paper)")
    m.add_argument("--dataset", default="lfmc", help="with this dataset's overrides (default: lfmc)")
    m.add_argument("--markdown", action="store_true", help="print a Markdown table")
    m.set_defaults(func=cmd_methods, parser=m)


def cmd_table(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico table``: our mean ± std of a dataset's runs next to the paper's numbers."""
    from mdico_core.reporting.core.tables import compare_with_paper, to_markdown

    check_names(parser, datasets=args.dataset, profile=args.profile)
    if args.archive is not None:
        if not args.archive.strip():  # '' would otherwise fall back to the store, silently
            parser.error("--archive '': give an archive name (`mdico archive list`) or a runs CSV, or leave "
                         "--archive out to read the results store")
        import warnings

        from mdico_core.reporting.book.archive import read_runs

        try:
            with warnings.catch_warnings():  # said below as one line, not as a Python warning
                warnings.simplefilter("ignore")
                df = read_runs(args.archive)
        except (FileNotFoundError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        if df.attrs.get("unverified"):
            print(f"warning: {df.attrs['unverified']}", file=sys.stderr)
        where = args.archive
        df = df[df["dataset"] == args.dataset]
    else:
        store = open_store(args.results, read_only=True)
        df = store.collect(args.dataset)
        name_corrupt(store, args.dataset)
        where = store.root
    if args.profile:
        df = df[df["profile"] == args.profile]
    from mdico_core.experiments.settings import select_settings

    df = select_settings(df, args.settings, args.monitor)  # settings and monitors never pool in one table
    if df.empty:
        how = (f"export them with `mdico export {args.dataset} --profile <name> --out <file>.csv`" if args.archive
               else f"run e.g. `mdico run --dataset {args.dataset}`")
        print(f"no runs of {args.dataset!r} in {where}" + (f" under profile {args.profile!r}" if args.profile else "")
              + f" in {args.settings} settings; {how} (or choose --settings)", file=sys.stderr)
        return 1
    if args.metric is not None:
        known = sorted(df["metric"].dropna().unique())
        if args.metric not in known:
            parser.error(f"unknown metric {args.metric!r}; valid metrics: {', '.join(known)}")
    table = compare_with_paper(df, args.dataset, metric=args.metric, include_missing=args.all_paper_rows)
    tested, test_note = _tested_columns(df, table, args.metric)
    cols = ["paper_method", "variant", "view", "n", "ours", "paper", "diff"]
    if table["protocol"].nunique() > 1 or table["encoder"].nunique() > 1:
        cols[2:2] = ["encoder", "protocol"]
    notes = list(dict.fromkeys(n for n in table["note"].fillna("") if n))  # long notes: footnotes, not a column
    out = table[cols].rename(columns={"paper_method": "method", "diff": "ours - paper"})
    from mdico_core.reporting.core.format import metric_digits

    dg = metric_digits(table["metric"].dropna().iloc[0] if table["metric"].notna().any() else None)
    out["ours - paper"] = [f"{v:+.{dg}f}" if isinstance(v, float) and v == v else "" for v in out["ours - paper"]]
    out = out.join(tested)
    out["note"] = [f"[{notes.index(n) + 1}]" if n else "" for n in table["note"].fillna("")]
    if args.markdown:
        print(to_markdown(out))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_colwidth", 40):
            print(out.to_string(index=False, na_rep=""))
    print(test_note)
    for i, n in enumerate(notes, 1):
        print(f"[{i}] {n}")
    return 0


def _tested_columns(df: Any, table: Any, metric: str | None) -> tuple[Any, str]:
    """Per row of `table` (``compare_with_paper``): the difference to its reference with the corrected 95%
    interval, and the corrected t-test's Holm-adjusted p, as the book's pages test them; and a note on the test."""
    import numpy as np
    import pandas as pd

    from mdico_core.reporting.analyses.stats_table import results_table
    from mdico_core.reporting.core.compare import single_views
    from mdico_core.reporting.core.format import fmt_p, metric_digits

    keys = ["method", "variant", "encoder", "protocol", "view"]
    empty = pd.DataFrame({"vs": "", "Δ [95% CI]": "", "p (Holm)": ""}, index=table.index)
    runs = single_views(df)
    if runs.empty:
        return empty, ""
    res = results_table(runs, metric)
    dg = metric_digits(res["metric"].iloc[0])
    by = {tuple(str(v) for v in r[keys]): r for _, r in res.iterrows()}
    rows = []
    for _, r in table.iterrows():
        hit = by.get(tuple(str(r.get(k)) for k in keys))
        if hit is None or not hit["reference"] or not np.isfinite(hit["diff"]):
            rows.append({"vs": "", "Δ [95% CI]": "", "p (Holm)": ""})
            continue
        ci = "" if not np.isfinite(hit["ci_lo"]) else f" [{hit['ci_lo']:+.{dg}f}, {hit['ci_hi']:+.{dg}f}]"
        rows.append({"vs": hit["reference"].split(",")[0], "Δ [95% CI]": f"{hit['diff']:+.{dg}f}{ci}",
                     "p (Holm)": fmt_p(hit["p_holm"], hit["n_pairs"])})
    m = int(res["holm_m"].iloc[0])
    note = (f"Δ: mean paired difference to the reference over matched (fold, seed) runs, with its corrected 95% "
            f"interval; p: the corrected repeated cross-validation t-test (Nadeau-Bengio), Holm-adjusted across the "
            f"{m} comparisons of this table; no p from fewer than 5 pairs. `mdico findings` gives the verdicts.")
    return pd.DataFrame(rows, index=table.index), note


def cmd_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico export``: a dataset's runs of one profile, with their provenance, to a CSV archive."""
    from mdico_core.data import get_dataset_entry
    from mdico_core.reporting.book.archive import export_runs

    try:
        get_dataset_entry(args.dataset)
    except ValueError as err:
        parser.error(str(err))
    check_names(parser, profile=args.profile)
    from pathlib import Path

    up = Path(args.out).expanduser().parent
    while not up.exists() and up != up.parent:
        up = up.parent
    if not up.is_dir():  # a file where a folder of --out should be
        parser.error(f"--out {args.out}: {up} is a file, not a folder; give a path in a folder")
    store = open_store(args.results)
    try:
        df = export_runs(args.dataset, args.out, profile=args.profile, store=store, settings=args.settings)
    except (ValueError, OSError) as err:
        name_corrupt(store, args.dataset)
        print(f"error: {err}", file=sys.stderr)
        return 1
    name_corrupt(store, args.dataset, lead="warning: not in the archive: ")
    per_run = df.drop_duplicates("run_id")
    print(f"wrote {len(per_run)} runs ({len(df)} rows) of {args.dataset!r} to {args.out}")
    print(per_run.groupby(["method", "variant", "settings"], dropna=False).size().rename("runs").to_string())
    crashed = [f for f in store.failures()
               if f.get("status") != "not_reproduced" and (f.get("config") or {}).get("dataset") == args.dataset]
    if crashed:
        print(f"warning: {len(crashed)} crashed run(s) of {args.dataset!r} are not in the archive; "
              "`mdico status` lists them and a new `mdico run` retries them", file=sys.stderr)
    return 0


def cmd_methods(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico methods``: every method, its variants and its training settings in both settings."""
    import pandas as pd

    from mdico_core.cli.runs import warn_own_methods
    from mdico_core.experiments.settings import methods_table

    warn_own_methods(parser)  # a broken entry point is named; the others are listed
    check_names(parser, datasets=args.dataset, profile=args.profile)
    try:
        table, notes = methods_table(args.profile, args.dataset)
    except ValueError as err:
        parser.error(str(err))
    if args.markdown:
        from mdico_core.reporting.core.tables import to_markdown

        print(to_markdown(table))
        return 0
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_colwidth", 70):
        print(table.drop(columns=["variants", "stages", "sampling"]).to_string(index=False))
    print(f"\nbudgets resolved against profile {args.profile!r}" + (f", dataset {args.dataset!r}" if args.dataset else "")
          + "; '= common': the official recipe is the common one, so both settings name the same runs\n")
    for name, g in table.drop_duplicates(["method", "settings"]).groupby("method", sort=False):
        print(f"{name} (variants: {g['variants'].iloc[0]})")
        for _, r in g.iterrows():
            print(f"  {r['settings']}: stages: {r['stages']}; sampling: {r['sampling']}")
        for line in notes.get(name, []):
            print(f"    - {line}")
    return 0


def cmd_findings(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico findings``: the ledger of the book's "What replicates" page, in a terminal."""
    from dataclasses import replace

    from mdico_core._util import parse_list
    from mdico_core.experiments.archive_io import ArchiveError
    from mdico_core.experiments.archives import get_archive
    from mdico_core.reporting.book.archive import held_words
    from mdico_core.reporting.claims import findings, findings_text

    try:
        chosen = [findings.get_claim(c) for c in parse_list(args.claims)] if args.claims else list(findings.CLAIMS)
        wanted = parse_list(args.archive)
        for name in wanted or ():
            get_archive(name)
    except ValueError as err:
        parser.error(str(err))
    full = chosen
    if wanted:
        chosen = [replace(c, comparisons=tuple(x for x in c.comparisons if x.archive in wanted)) for c in chosen]
        chosen = [c for c in chosen if c.comparisons]
        if not chosen:
            parser.error(f"no claim is tested on {', '.join(wanted)}; archives the claims use: "
                         f"{', '.join(findings.archives_used())}")
        full = [c for c in full if c.id in {k.id for k in chosen}]
    try:
        # the whole claim is tested, then its rows on the archives asked for are shown: a comparison keeps its
        # claim's family (the same interval and p as on the page) whichever archives are chosen
        table = findings.ledger(full)
    except (ArchiveError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if wanted:
        table = table[table["archive"].isin(wanted)].reset_index(drop=True)
    if any(c.id == "C1" for c in chosen) and (table["claim"] == "C1").any():
        print(findings_text.headline_text(table), findings_text.headline_decide(table), sep="\n", end="\n\n")
    if args.markdown:
        print(findings_text.summary_markdown(table, chosen), end="\n\n")
        print(findings_text.rule_markdown(), end="\n\n")
        for claim in chosen:
            print(findings_text.claim_markdown(claim, table), end="\n\n")
        return 0
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_colwidth", 70):
        for claim in chosen:
            rows = table[table["claim"] == claim.id]
            print(f"{claim.id}: {claim.claim} ({claim.source}; evidence: book page {claim.page})")
            print(findings_text.format_ledger(rows).drop(columns=["claim"]).to_string(index=False))
            for u in claim.untestable:
                print(f"  not testable here: {u}")
            print()
    print("Archives: " + "; ".join(held_words(a, code=False) for a in
                                   dict.fromkeys(table["archive"])))
    return 0


def cmd_versus(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico versus``: your runs against an archive, paired (fold, seed) on the same splits and tested."""
    from mdico_core.experiments.archive_io import ArchiveError
    from mdico_core.experiments.archives import get_archive
    from mdico_core.reporting.book.archive import read_runs
    from mdico_core.reporting.claims import versus
    from mdico_core.reporting.core.format import to_markdown

    if args.method_module:
        from mdico_core.methods.external import register_module

        try:
            register_module(args.method_module)
        except ValueError as err:  # MethodCheckError: the class and what to fix
            parser.error(str(err))
    try:
        archive = get_archive(args.archive)
    except ValueError as err:
        parser.error(str(err))
    check_names(parser, methods=args.methods)
    try:
        arch = read_runs(archive.name)
    except (ArchiveError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    store = open_store(args.results, read_only=True)
    mine = versus.runs_in_store(store, archive.dataset, archive.profile, args.methods)
    if mine.empty:
        print(f"error: no runs of {', '.join(args.methods)} on {archive.dataset} at profile {archive.profile} in "
              f"{store.root}; train them with `mdico run --dataset {archive.dataset} --methods {','.join(args.methods)} "
              f"--profile {archive.profile}" + ("" if args.results is None else f" --results {args.results}") + "`",
              file=sys.stderr)
        return 1
    try:
        runs, notes = versus.pair_with_archive(arch, mine, args.settings)
        table = versus.versus_tables(runs, args.methods, args.metric)
    except ValueError as err:  # PairingError, or a metric the runs do not have
        print(f"error: {err}", file=sys.stderr)
        return 1
    shown = versus.format_versus(table)
    ranked = versus.rank_table(runs, args.methods, args.metric)
    import pandas as pd

    print(f"Your runs against archive {archive.name} ({args.settings} settings): corrected repeated cross-validation "
          "t-test on (fold, seed) pairs trained on the same splits, Holm across this table, verdict by the rule of "
          "`mdico findings` (holds / fails / equivalent / inconclusive).")
    for title, frame in (("", shown), ("Every single-modality method of the archive beside yours: the mean over the "
                                       "(fold, seed) pairs yours ran and its rank among them (1 = best), per view (the "
                                       "fusion references see every modality and are not ranked):", ranked)):
        if title:
            print(title)
        if args.markdown:
            print(to_markdown(frame))
        else:
            with pd.option_context("display.width", 250, "display.max_colwidth", 40, "display.max_rows", None):
                print(frame.to_string(index=False))
    for n in notes:
        print(f"note: {n}")
    return 0
