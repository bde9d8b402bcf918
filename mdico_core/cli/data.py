"""``mdico data``: the checksum-verified data cache (seed, fetch, status) and the dataset registry
(info, list), one handler per subcommand."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parsers(sub: Any) -> None:
    """The ``data`` subcommand and its own subcommands."""
    d = sub.add_parser("data", help="the data cache and the registered datasets")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="{seed,fetch,status,info,list}")
    ds = dsub.add_parser("seed", help="copy verified files from a folder into the cache")
    ds.add_argument("folder")
    ds.set_defaults(func=cmd_seed, parser=ds)
    df = dsub.add_parser("fetch", help="download a cache file, a dataset's files, or all")
    df.add_argument("name", help="a registry file name, a dataset name, or 'all'")
    df.set_defaults(func=cmd_fetch, parser=df)
    dst = dsub.add_parser("status", help="which registry files are cached and verified")
    dst.set_defaults(func=cmd_status, parser=dst)
    di = dsub.add_parser("info", help="describe a dataset (or all)")
    di.add_argument("name", nargs="?", default=None)
    di.set_defaults(func=cmd_info, parser=di)
    dl = dsub.add_parser("list", help="registered datasets")
    dl.set_defaults(func=cmd_list, parser=dl)


def _wide(rows: int | None = None, width: int = 200, colwidth: int = 70):
    import pandas as pd

    return pd.option_context("display.max_rows", rows, "display.width", width, "display.max_colwidth", colwidth)


def cmd_seed(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico data seed <folder>``: copy every file whose hash matches a registry entry into the cache."""
    from mdico_core.data import cache

    try:
        report = cache.seed(args.folder)
    except FileNotFoundError as err:
        parser.error(str(err))
    except OSError as err:  # the cache folder cannot be written
        print(f"error: {err}", file=sys.stderr)
        return 1
    for key in ("seeded", "present", "missing", "rejected"):
        items = report.get(key, [])
        print(f"{key}: {len(items)}")
        for item in items if key != "present" else []:
            print(f"  {item}")
    return 0


def cmd_fetch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico data fetch <name>``: download (verified) a registry file, a dataset's files, or all."""
    from mdico_core.data import cache, get_dataset_entry
    from mdico_core.data.registry import REGISTRY

    if args.name == "all":
        names = list(REGISTRY)
    elif args.name in REGISTRY:
        names = [args.name]
    else:
        try:
            names = list(get_dataset_entry(args.name).files)
        except ValueError:
            parser.error(f"unknown data file or dataset {args.name!r}; give 'all', a dataset "
                         f"(`mdico data list`) or a registry file (`mdico data status`)")
    errors = 0
    for name in names:
        try:
            print(f"ok   {name}: {cache.fetch(name)}")
        except Exception as err:  # report every file, then fail
            errors += 1
            print(f"FAIL {name}: {err}", file=sys.stderr)
    return 1 if errors else 0


def cmd_status(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico data status``: every registry file, cached or not, verified or not."""
    from mdico_core.data import cache

    with _wide():
        print(cache.status().drop(columns=["url"]).to_string(index=False))
    return 0


def cmd_info(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico data info [name]``: one dataset in detail (how to get it when absent), or all in a table."""
    from mdico_core.data import info, load_dataset

    if args.name is None:
        table = info.describe_all()
        short = [c for c in ("name", "paper_name", "task", "samples", "modalities", "stand_in_for", "present")
                 if c in table.columns]
        with _wide(colwidth=60):
            print(table[short or list(table.columns)].to_string(index=False, na_rep=""))
        print("details and how to get absent data: mdico data info <name>")
        return 0
    try:
        desc = info.describe(args.name)
    except ValueError as err:
        parser.error(str(err))
    for k, v in desc.items():
        if v not in (None, "", [], {}):
            print(f"{k}: {v}")
    if desc.get("present") and desc.get("counts_from") == "data":  # loaded: its Table-1 rows
        with _wide(colwidth=40):
            print("\n" + load_dataset(args.name).summary().to_string(index=False))
    return 0


def cmd_list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``mdico data list``: every registered dataset (built-in, stand-ins, synthetic, your own)."""
    import pandas as pd

    from mdico_core.data import registered

    rows = [{"name": e.name, "paper name": e.paper_name, "task": e.task,
             "stand-in for": e.stand_in_for or "", "description": e.description} for e in registered().values()]
    with _wide(colwidth=90):
        print(pd.DataFrame(rows).sort_values("name").to_string(index=False))
    return 0
