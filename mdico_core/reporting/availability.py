"""Which data runs for each paper benchmark, whether it is here, how to get it; the data overview tables.

Data resolution (``resolve_dataset``): a paper benchmark runs on its real data when present, else on
a real stand-in (always labelled as such), else, where the book plan allows it, on labelled
synthetic data, else not at all (the page then shows the paper's numbers and how to get the data).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from mdico_core.reporting import paper

# Used only when the registry names no stand-in (``DatasetEntry.stand_in_for``): the Presto
# algae-bloom series share CropHarvest's array layout and band order.
FALLBACK_STAND_INS = {"croph_b": ("algae_blooms",), "croph_m": ("algae_blooms",), "lfmc": ("presto_lfmc",)}
SYNTHETIC = {"croph_b": "toy_binary", "croph_m": "toy_multiclass", "tsaits": "toy_multilabel",
             "lfmc": "toy_regression"}
KINDS = ("real", "stand-in", "synthetic", "absent")


def registered() -> dict:
    from mdico_core.data import DATASETS, _import_builtin_loaders

    _import_builtin_loaders()
    return DATASETS


def dataset_available(name: str) -> bool:
    """True when registry dataset `name` can be loaded: its cache files exist (or it has none).

    Only existence is checked, so that pages do not re-hash gigabytes; the loader verifies checksums.
    """
    from mdico_core.data import cache, get_dataset_entry

    try:
        entry = get_dataset_entry(name)
    except ValueError:
        return False
    hook = entry.extra.get("present")  # loaders with data outside the cache: (True | False | None, why)
    if callable(hook):
        answer = hook()
        answer = answer[0] if isinstance(answer, tuple) else answer
        if answer is not None:
            return bool(answer)
    if entry.files:
        return all((cache.data_dir() / f).is_file() for f in entry.files)
    if entry.extra.get("synthetic") or name.startswith("toy_") or entry.source == "synthetic":
        return True
    try:  # a loader without declared files (e.g. a user's own data): try it
        from mdico_core.data import load_dataset

        load_dataset(name)
        return True
    except (FileNotFoundError, OSError):
        return False


def stand_ins(name: str) -> tuple[str, ...]:
    """Registered real datasets that stand in for paper benchmark `name` (registry first)."""
    reg = registered()
    named = tuple(k for k, e in reg.items() if e.stand_in_for == name)
    return named or tuple(k for k in FALLBACK_STAND_INS.get(name, ()) if k in reg)


def dataset_kind(name: str) -> str:
    """"real", "stand-in" or "synthetic" for a registry dataset (by its registry entry)."""
    entry = registered().get(name)
    if name.startswith("toy_") or (entry is not None and entry.source == "synthetic"):
        return "synthetic"
    if entry is not None and entry.stand_in_for:
        return "stand-in"
    return "real"


def resolve_dataset(name: str, allow_synthetic: bool = True) -> tuple[str, str]:
    """(registry name to run, kind) for a paper benchmark or a registry name."""
    if name not in paper.BENCHMARKS:
        if name not in registered():
            raise ValueError(f"unknown dataset {name!r}; paper benchmarks: {', '.join(paper.BENCHMARKS)}; "
                             f"registered: {', '.join(sorted(registered()))}")
        return (name, dataset_kind(name)) if dataset_available(name) else (name, "absent")
    if name in registered() and dataset_available(name):
        return name, "real"
    for s in stand_ins(name):
        if dataset_available(s):
            return s, "stand-in"
    if allow_synthetic and SYNTHETIC.get(name) in registered():
        return SYNTHETIC[name], "synthetic"
    return name, "absent"


def resolve_all(names: Iterable[str], allow_synthetic: bool = True) -> dict[str, tuple[str, str]]:
    """``{paper name: (registry name, kind)}`` for every name."""
    return {n: resolve_dataset(n, allow_synthetic) for n in names}


def how_to_get(name: str) -> str:
    """How to get dataset `name`: the loader's note, then each missing cache file's instructions."""
    from mdico_core.data import cache, get_dataset_entry
    from mdico_core.data.registry import REGISTRY

    e = get_dataset_entry(name)
    lines = []
    extra = e.extra.get("how_to_get") if isinstance(e.extra, dict) else None
    if extra:
        lines.append(str(extra))
    for f in e.files:
        if f in REGISTRY and not (cache.data_dir() / f).is_file():
            lines.append(cache.how_to_get(REGISTRY[f]))
    return "\n\n".join(lines) or f"see data/README.md for {name}"


def dataset_status(include_synthetic: bool = False) -> pd.DataFrame:
    """Every registered dataset: paper name, task, role, present here, samples, source, licence."""
    rows = []
    for name, e in registered().items():
        if not include_synthetic and dataset_kind(name) == "synthetic":
            continue
        if name in paper.TABLES:
            role = f"paper benchmark ({paper.TABLES[name]})"
        elif e.stand_in_for:
            role = f"stand-in for {e.stand_in_for}"
        else:
            role = "extra"
        samples = e.extra.get("samples") if isinstance(e.extra, dict) else None
        rows.append({"dataset": name, "paper name": e.paper_name, "task": e.task, "role": role,
                     "present": "yes" if dataset_available(name) else "no", "samples": samples, "source": e.source,
                     "licence": e.licence, "description": e.description})
    return pd.DataFrame(rows, columns=["dataset", "paper name", "task", "role", "present", "samples", "source",
                                       "licence", "description"])


def modality_table(names: Iterable[str]) -> pd.DataFrame:
    """``MultiModalDataset.summary()`` of each (present) dataset, concatenated, with bands."""
    from mdico_core.data import load_dataset

    parts = []
    for n in names:
        ds = load_dataset(n)
        s = ds.summary()
        s.insert(0, "registry", n)
        s["bands"] = [", ".join(ds.info[m].bands) if m in ds.info else "" for m in s["modality"]]
        s["input shape"] = s["input shape"].astype(str)
        parts.append(s)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
