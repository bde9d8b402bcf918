"""Datasets: the checksum-verified cache, one loader module per dataset, a registry by name.

``load_dataset("lfmc")`` returns a `MultiModalDataset`. Each loader module registers itself
with `register_dataset`; users register their own data the same way (see ``custom.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mdico_core.data.dataset import (
    TASKS,
    DataValidationError,
    ModalityInfo,
    MultiModalDataset,
    Normalizer,
)


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: how to load it and what to say about it.

    Attributes:
        name: registry name, as on the command line.
        loader: builds the dataset (reads through the cache; raises DatasetNotFoundError).
        paper_name: as in the paper ("LFMC", "CropH-b", ...), or "" for data not in the paper.
        task: the task type.
        description: one line for ``mdico data info``.
        files: logical names of the cache files it reads (see ``cache.py``).
        source, licence: provenance.
        stand_in_for: registry name of the paper benchmark it stands in for, if any.
        official_split: True when evaluation uses the dataset's own train/val/test split.
    """

    name: str
    loader: Callable[[], MultiModalDataset]
    paper_name: str = ""
    task: str = ""
    description: str = ""
    files: tuple[str, ...] = ()
    source: str = ""
    licence: str = ""
    stand_in_for: str | None = None
    official_split: bool = False
    extra: dict = field(default_factory=dict)


DATASETS: dict[str, DatasetEntry] = {}
_LOADED: dict[str, MultiModalDataset] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Make `entry` loadable by name (re-registering a name replaces it)."""
    DATASETS[entry.name] = entry
    _LOADED.pop(entry.name, None)
    return entry


def get_dataset_entry(name: str) -> DatasetEntry:
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
    "DATASETS", "TASKS", "DataValidationError", "DatasetEntry", "ModalityInfo", "MultiModalDataset",
    "Normalizer", "get_dataset_entry", "load_dataset", "register_dataset",
]
