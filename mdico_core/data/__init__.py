"""Datasets: the checksum-verified cache, one loader module per dataset, a registry by name.

``load_dataset("lfmc")`` returns a `MultiModalDataset`. Each loader module registers itself
with `register_dataset`; users register their own data the same way (see ``custom.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mdico_core.data.dataset import (
    TASKS,
    DataValidationError,
    ModalityInfo,
    MultiModalDataset,
    Normalizer,
)

KINDS = ("real", "stand-in", "synthetic")  # what a registered dataset is


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: how to load it, what it is, and how to tell whether it is here.

    Attributes:
        name: registry name, as on the command line.
        loader: builds the dataset (reads through the cache; raises DatasetNotFoundError).
        paper_name: as in the paper ("LFMC", "CropH-b", ...) for one of its benchmarks, else "".
        task: the task type.
        description: one line for ``mdico data info``.
        files: logical names of the cache files it reads (see ``cache.py``).
        source, licence: provenance.
        kind: "real" (a paper benchmark, or real data of your own), "stand-in" (real data of
            another problem with the same task, run in place of a paper benchmark that is absent, always labelled so) or
            "synthetic" (seeded toy data, for tests and smoke builds).
        stand_in_for: for a stand-in or synthetic dataset, the registry name of the paper benchmark
            it replaces (same task).
        views_as: a stand-in's modality -> the benchmark's modality it is compared with, where
            the names differ (e.g. ``{"S2": "L8"}``: its optical series plays LFMC's Landsat-8).
        official_split: True when evaluation uses the dataset's own train/val/test split.
        samples, shapes: sample count and per-sample modality shapes from the paper or the loader's
            documentation (``mdico data info`` shows them without loading).
        presence: data kept outside the cache (an environment variable naming a folder):
            ``presence() -> (True | False | None, note)``; None leaves the answer to `files`.
        how_to_get: what to do when the data is absent, beyond the cache files' own instructions.
        info_load: False for large benchmarks that ``mdico data info`` must not load.
        folder: a user dataset's folder (``custom.register``), None otherwise.
    """

    name: str
    loader: Callable[[], MultiModalDataset]
    paper_name: str = ""
    task: str = ""
    description: str = ""
    files: tuple[str, ...] = ()
    source: str = ""
    licence: str = ""
    kind: str = "real"
    stand_in_for: str | None = None
    views_as: Mapping[str, str] = field(default_factory=dict)
    official_split: bool = False
    samples: int | None = None
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    presence: Callable[[], tuple[bool | None, str]] | None = None
    how_to_get: str = ""
    info_load: bool = True
    folder: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"dataset {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if (self.kind == "stand-in") != bool(self.stand_in_for) and self.kind != "synthetic":
            raise ValueError(f"dataset {self.name!r}: a stand-in names the benchmark it stands in for and only a "
                             f"stand-in does (kind={self.kind!r}, stand_in_for={self.stand_in_for!r}); pass both "
                             "kind='stand-in' and stand_in_for='<benchmark>', or neither")


DATASETS: dict[str, DatasetEntry] = {}
_LOADED: dict[str, MultiModalDataset] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Make `entry` loadable by name (re-registering a name replaces it)."""
    DATASETS[entry.name] = entry
    _LOADED.pop(entry.name, None)
    return entry


def registered() -> dict[str, DatasetEntry]:
    """Every registered dataset by name, the built-in ones included."""
    _import_builtin_loaders()
    return DATASETS


def get_dataset_entry(name: str) -> DatasetEntry:
    """The registry entry `name`; a clear error listing the valid names otherwise."""
    _import_builtin_loaders()
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def load_dataset(name: str, cache: bool = True) -> MultiModalDataset:
    """The registered dataset `name` (memoised per process when `cache`)."""
    entry = get_dataset_entry(name)
    if cache and name in _LOADED:
        return _LOADED[name]
    ds = entry.loader()
    if cache:
        _LOADED[name] = ds
    return ds


def _import_builtin_loaders() -> None:
    # Imported lazily so that `mdico_core.data` stays light and loaders may import it.
    import importlib

    for mod in _BUILTIN_LOADERS:
        importlib.import_module(f"mdico_core.data.{mod}")


_BUILTIN_LOADERS: list[str] = ["synthetic", "lfmc", "cropharvest", "treesatai", "presto", "mfeat", "custom"]  # custom last: it reads $MDICO_DATASETS

__all__ = [
    "DATASETS", "KINDS", "TASKS", "DataValidationError", "DatasetEntry", "ModalityInfo", "MultiModalDataset",
    "Normalizer", "get_dataset_entry", "load_dataset", "register_dataset", "registered",
]
