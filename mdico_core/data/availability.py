"""Which data is here, and what runs for each of the paper's benchmarks, and why.

`availability` says whether a registered dataset can be loaded on this machine (its cache files
exist with their pinned size, or its folder outside the cache is set), and if not, how to get it.
`resolve` answers "what runs for paper benchmark X": its real data when present, else the first
present real stand-in of the same task (always labelled "stand-in"), else, where allowed, seeded
synthetic data of the same task, else nothing ("absent"), each with the reason. Everything reads
the typed fields of the registry entries (``kind``, ``stand_in_for``, ``presence``); nothing
here loads or hashes large files unless asked to (``check=True``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mdico_core.data import DatasetEntry, get_dataset_entry, registered

RESOLVED_KINDS = ("real", "stand-in", "synthetic", "absent")  # `Resolution.kind`


@dataclass(frozen=True)
class Availability:
    """Whether one registered dataset is here.

    Attributes:
        present: it can be loaded (as far as can be told without loading it).
        missing: its cache files that are absent, or of the wrong size (or hash, with ``check``).
        note: what its `presence` hook said (e.g. the folder an environment variable names).
        how_to_get: instructions when absent (its own, then each missing cache file's); "" if present.
    """

    present: bool
    missing: tuple[str, ...] = ()
    note: str = ""
    how_to_get: str = ""


def _file_ok(name: str, check: bool) -> bool:
    from mdico_core.data.cache import data_dir, verify
    from mdico_core.data.registry import REGISTRY

    path = data_dir() / name
    entry = REGISTRY.get(name)
    if entry is None:
        return path.is_file()
    if check:
        return verify(path, entry)
    # existence and size: hashing several GB on every page or `info` would be slow; loaders verify
    return path.is_file() and (entry.size is None or path.stat().st_size == entry.size)


def availability(name: str, check: bool = False) -> Availability:
    """Is registered dataset `name` here, and if not, how to get it. Never downloads, never raises for
    absent data (only for an unknown name, with the valid names).

    Args:
        name: registry name.
        check: verify cached files by their hash (slow for large archives); default: size only.
    """
    from mdico_core.data.cache import how_to_get
    from mdico_core.data.registry import REGISTRY

    entry = get_dataset_entry(name)
    verdict, note = None, ""
    if entry.presence is not None:  # data outside the cache (e.g. the TreeSatAI imagery folder)
        try:
            verdict, note = entry.presence()
        except Exception as err:  # a broken environment setting is reported, never raised
            verdict, note = False, f"presence check failed: {err}"
    missing = tuple(f for f in entry.files if not _file_ok(f, check))
    if verdict is not None:
        present = bool(verdict)
    elif entry.files:
        present = not missing
    elif entry.folder is not None:
        present = Path(entry.folder).expanduser().is_dir()
        note = note or ("" if present else f"its folder {entry.folder} does not exist")
    else:  # synthetic data, or a user's loader: nothing to fetch
        present = True
    if present:
        return Availability(True, missing, note)
    lines = [entry.how_to_get] if entry.how_to_get else ([note] if note else [])
    lines += [how_to_get(REGISTRY[f]) for f in missing if f in REGISTRY]
    return Availability(False, missing, note, "\n\n".join(lines) or f"see data/README.md for {name}")


def how_to_get(name: str) -> str:
    """How to get dataset `name` (empty when it is here)."""
    return availability(name).how_to_get


# ---------------------------------------------------------------------------------- benchmarks
def benchmark_of(name: str) -> str | None:
    """The paper benchmark a registered dataset is compared with: itself for a benchmark, the one it
    stands in for for a stand-in; None for synthetic data, data outside the paper and unknown names."""
    entry = registered().get(name)
    if entry is None:
        return None
    if entry.kind == "stand-in":
        return entry.stand_in_for
    return name if entry.kind == "real" and entry.paper_name else None


def replacements(benchmark: str, kind: str) -> list[str]:
    """Registered datasets of `kind` ("stand-in" or "synthetic") that replace `benchmark`, registry order.

    Raises ``ValueError`` when one has another task than the benchmark: a binary benchmark never
    runs on multi-class data.
    """
    reg = registered()
    task = reg[benchmark].task if benchmark in reg else None
    out = []
    for name, e in reg.items():
        if e.kind != kind or e.stand_in_for != benchmark:
            continue
        if task is not None and e.task != task:
            raise ValueError(f"dataset {name!r} ({e.task}) is registered as a {kind} for {benchmark!r} ({task}): "
                             f"a replacement must have its benchmark's task; fix its stand_in_for")
        out.append(name)
    return out


def stand_ins(benchmark: str) -> list[str]:
    """Registered real stand-ins of paper benchmark `benchmark` (same task), in registry order."""
    return replacements(benchmark, "stand-in")


@dataclass(frozen=True)
class Resolution:
    """What runs for one paper benchmark (or dataset) on this machine, and why.

    Attributes:
        benchmark: the name asked for.
        dataset: the registry dataset that runs (the benchmark itself when absent).
        kind: "real", "stand-in", "synthetic" or "absent".
        reason: one sentence saying why.
    """

    benchmark: str
    dataset: str
    kind: str
    reason: str


def resolve(name: str, allow_synthetic: bool = True) -> Resolution:
    """What runs for paper benchmark `name`, and why.

    The rule: the benchmark's own data if present; else its first present real stand-in of the
    same task; else (when `allow_synthetic`) its synthetic dataset; else nothing ("absent"). A
    registered name that nothing replaces resolves to itself, with its own kind, or absent.

    Raises ``ValueError`` for an unregistered name (the message lists the valid names).
    """
    reg = registered()
    if name not in reg:
        raise ValueError(f"unknown dataset {name!r}; registered: {', '.join(sorted(reg))}")
    here = availability(name)
    if here.present:
        why = "its data is here" + (f" ({here.note})" if here.note else "")
        return Resolution(name, name, reg[name].kind, why)
    why = here.note or (f"missing: {', '.join(here.missing)}" if here.missing else "no data")
    absent = f"{name} is not here ({why})"
    for s in stand_ins(name):
        if availability(s).present:
            return Resolution(name, s, "stand-in", f"{absent}; {s} is present: real data of the same task "
                                                   f"({reg[s].task}) standing in for it")
    if allow_synthetic:
        for s in replacements(name, "synthetic"):
            return Resolution(name, s, "synthetic", f"{absent} and no real stand-in is; {s} is seeded synthetic "
                                                    "data of the same task (tests and smoke builds only)")
    return Resolution(name, name, "absent", f"{absent} and no stand-in is" + (
        "" if allow_synthetic else " (synthetic data not allowed here)"))


def resolve_all(names: Iterable[str], allow_synthetic: bool = True) -> dict[str, Resolution]:
    """``{name: resolve(name)}`` for every name, in order."""
    return {n: resolve(n, allow_synthetic) for n in names}


def entry_of(name: str) -> DatasetEntry | None:
    """The registry entry of `name`, or None when it is not registered."""
    return registered().get(name)
