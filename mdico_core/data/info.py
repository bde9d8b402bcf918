"""What each registered dataset is, and whether it is here: ``mdico data info [<name>]``.

`describe` never downloads and never raises for an absent dataset: it reports it as absent,
with how to get it (``availability.availability``). Sample counts and shapes come from the
loaded data when it is present and ``load`` is True (except for the large benchmarks, whose
entries set ``info_load=False``), otherwise from the paper / the loader's documentation
(``counts_from``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from mdico_core.data import get_dataset_entry, load_dataset, registered
from mdico_core.data.availability import availability


def describe(name: str, load: bool = True, check: bool = False) -> dict[str, Any]:
    """One dataset: paper name, task, kind, samples, modality shapes, provenance, presence, how to get it.

    Args:
        name: registry name.
        load: when the data is present, load it (memoised) for exact samples and shapes.
        check: verify cached files by their hash (slow for large archives); default size only.

    Raises:
        ValueError: `name` is not registered (the message lists the valid names).
    """
    entry = get_dataset_entry(name)
    here = availability(name, check)
    row: dict[str, Any] = {
        "name": entry.name,
        "paper_name": entry.paper_name,
        "task": entry.task,
        "kind": entry.kind,
        "samples": entry.samples,
        "modalities": dict(entry.shapes),
        "counts_from": "documentation" if entry.samples is not None else "",
        "stand_in": entry.kind == "stand-in",
        "stand_in_for": entry.stand_in_for,
        "official_split": entry.official_split,
        "description": entry.description,
        "source": entry.source,
        "licence": entry.licence,
        "files": list(entry.files),
        "present": here.present,
        "missing_files": list(here.missing),
        "how_to_get": here.how_to_get,
        "note": here.note,
        "error": "",
    }
    # Large benchmarks opt out: `info` must not start a multi-minute extraction or a 50 GB read.
    if here.present and load and entry.info_load:
        # hashes checked here, read-only: a corrupt file is reported and left where it is (loading it
        # would make the cache move it aside; repairing belongs to `mdico data fetch`, which writes)
        checked = availability(name, check=True) if not check else here
        if not checked.present:
            row.update(present=False, missing_files=list(checked.missing),
                       error=f"checksum mismatch: {', '.join(checked.missing)} (left in place); "
                             f"`mdico data fetch {name}` moves the corrupt copy aside and gets it again")
            return row
        try:
            ds = load_dataset(name)
        except Exception as err:  # absent or broken data is reported, not raised
            row.update(present=False, error=f"{type(err).__name__}: {err}", how_to_get=here.how_to_get or str(err))
        else:
            row.update(samples=len(ds), modalities=dict(ds.shapes), counts_from="data",
                       task=ds.task, stand_in=row["stand_in"] or ds.stand_in, classes=ds.class_names)
    return row


def describe_all(load: bool = False, check: bool = False) -> pd.DataFrame:
    """`describe` for every registered dataset, one row each (without loading by default)."""
    rows = [describe(n, load=load, check=check) for n in sorted(registered())]
    df = pd.DataFrame(rows)
    df["modalities"] = df["modalities"].map(
        lambda d: ", ".join(f"{m} {tuple(s)}" for m, s in d.items()) if d else "")
    return df[["name", "paper_name", "task", "kind", "samples", "modalities", "counts_from", "stand_in",
               "stand_in_for", "present", "source", "licence", "description", "how_to_get"]]


def modality_table(names: Iterable[str]) -> pd.DataFrame:
    """``MultiModalDataset.summary()`` of each (present) dataset, concatenated, with their bands."""
    parts = []
    for n in names:
        ds = load_dataset(n)
        s = ds.summary()
        s.insert(0, "registry", n)
        s["bands"] = [", ".join(ds.info[m].bands) if m in ds.info else "" for m in s["modality"]]
        s["input shape"] = s["input shape"].astype(str)
        parts.append(s)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


__all__ = ["describe", "describe_all", "modality_table"]
