"""Your own multi-modal data, usable by name by every method, the runner and the notebooks.

Three ways in:

1. In memory: ``ds = from_arrays("mydata", {"S1": x1, "S2": x2}, y, "multiclass")`` and
   ``register(ds)``; then ``load_dataset("mydata")`` works in this process.
2. A folder, read by `from_folder` (and registered with ``register(path)``)::

       mydata/
         S1.npy          one file per modality: (N, T, C) series or (N, C, H, W) images, or
         S2.csv          a CSV with one row per sample and columns <band>_t<k> (k = 0..T-1),
                         e.g. B2_t0, B3_t0, B2_t1, B3_t1; bands keep their first-seen order
         target.npy      (N,) or (N, K) multi-label; or target.csv (one column, or K 0/1 columns
                         named after the labels); string class labels are encoded in sorted order
         metadata.csv    optional, N rows (lat, lon, date, ...)
         dataset.yaml    optional: task, name, class_names, nan_policy, description, source, licence

   Modality names are the file stems; every other file must be README*, a dotfile or one of the
   names above.
3. By environment, for worker processes (Dask, process pools) that import the package afresh:
   ``MDICO_DATASETS`` lists, separated by ``os.pathsep`` (":" on Linux), dataset folders, folders
   of dataset folders, or YAML files mapping names to folders::

       datasets:
         mydata: {path: ../data/mydata, task: regression}

   (relative paths are relative to the YAML file). They are registered when ``mdico_core.data``
   first resolves a name, under the dataset.yaml ``name`` or the folder name. A name that is
   already registered (a built-in benchmark) is not replaced: a warning names the clash.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdico_core.data import DATASETS, DatasetEntry, register_dataset
from mdico_core.data.dataset import TASKS, DataValidationError, MultiModalDataset

log = logging.getLogger(__name__)

ENV_DATASETS = "MDICO_DATASETS"
CONFIG_NAMES = ("dataset.yaml", "dataset.yml")
CONFIG_KEYS = ("task", "name", "class_names", "nan_policy", "description", "source", "licence", "paper_name")
ENV_KEYS = ("path", "task", "description", "source", "licence")  # of an entry in an MDICO_DATASETS YAML file
_RESERVED = {"target", "metadata"}
_COLUMN = re.compile(r"^(?P<band>.+)_t(?P<t>\d+)$")


# ---------------------------------------------------------------------------------- arrays
def _numbers(y: np.ndarray, what: str, fix: str) -> np.ndarray:
    """`y` as float32, or a `DataValidationError` naming the first value that is not a number."""
    try:
        return y.astype(np.float32)
    except (TypeError, ValueError):
        bad = next(v for v in y.ravel() if not _is_number(v))
        raise DataValidationError(f"{what}; got text such as {str(bad)!r}; {fix}") from None


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _target(target: Any, task: str, class_names: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
    y, classes = _target_values(target, task, class_names)
    if task in ("binary", "multiclass") and len(y):  # no samples at all: said where the samples are counted
        # a single class makes every score perfect (F1 = accuracy = 100): nothing can be learned or compared
        found = np.unique(y)
        if len(found) < 2:
            raise DataValidationError(f"the {task} target has a single class ({classes[found[0]] if classes and len(found) else found.tolist()}); "
                                      "a classification task needs at least two classes: check the target column, "
                                      "or declare task: regression")
        if task == "binary" and not set(found.tolist()) <= {0, 1}:
            raise DataValidationError(f"a binary target holds 0/1 (or two names); got classes {found.tolist()[:10]}: "
                                      "declare task: multiclass, or map the two classes to 0/1")
    return y, classes


def _target_values(target: Any, task: str, class_names: list[str] | None) -> tuple[np.ndarray, list[str] | None]:
    if task == "multilabel" and isinstance(target, list | tuple) and len({np.size(t) for t in target}) > 1:
        lengths = sorted({int(np.size(t)) for t in target})
        raise DataValidationError(f"the multilabel target's rows have different lengths {lengths[:5]}: give one 0/1 "
                                  "column per label for every sample (an (N, K) array), not lists of label ids")
    y = np.asarray(target)
    if y.dtype == object and any(v is None or (isinstance(v, float) and v != v) for v in y.ravel()):
        n_missing = sum(v is None or (isinstance(v, float) and v != v) for v in y.ravel())
        raise DataValidationError(f"the target has {n_missing} missing value(s) (None / NaN): drop those samples or "
                                  "fill them; a missing label is not a class")
    if np.iscomplexobj(y):
        raise DataValidationError("the target is complex; give real values (e.g. np.abs(y) or y.real)")
    if task == "multilabel":
        return _numbers(y, "multilabel target must be 0/1 numbers, one column per label",
                        "give 0/1 columns named after the labels"), class_names
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]  # a one-column target (e.g. from a CSV)
    if task == "regression":
        return _numbers(y, "regression target must be numbers",
                        "convert it to numbers, or declare a classification task"), None
    if y.dtype.kind in "USO":  # class labels given as names
        if class_names is None:
            class_names = sorted({str(v) for v in y})
        lookup = {c: i for i, c in enumerate(class_names)}
        unknown = sorted({str(v) for v in y} - set(lookup))
        if unknown:
            raise DataValidationError(f"target labels {unknown} are not in class_names {class_names}")
        return np.array([lookup[str(v)] for v in y], dtype=np.int64), class_names
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataValidationError(f"{task} target must hold whole class indices; got non-integer values")
    y = y.astype(np.int64)
    if class_names is None and task == "binary":
        class_names = ["0", "1"]
    return y, class_names


def from_arrays(name: str, modalities: Mapping[str, Any], target: Any, task: str,
                metadata: pd.DataFrame | Mapping[str, Any] | None = None, **kw: Any) -> MultiModalDataset:
    """A `MultiModalDataset` from arrays, validated, with friendly conversions.

    Args:
        name: registry name for the data.
        modalities: modality name -> array-like (N, T, C) series or (N, C, H, W) images
            (converted to float32; a 2-D (N, C) array is an error: add a time axis).
        target: (N,) classes / values, or (N, K) 0/1 labels (multilabel). Class labels may be
            strings; they are encoded in the order of ``class_names`` (default: sorted).
        task: "binary", "multiclass", "multilabel" or "regression".
        metadata: N rows (a DataFrame or a dict of columns), e.g. lat, lon, date.
        **kw: further `MultiModalDataset` fields (class_names, info, split, nan_policy,
            paper_name, source, licence, stand_in).

    Raises:
        DataValidationError: the arrays do not form a dataset (the message says how to fix them).
    """
    if task not in TASKS:
        raise DataValidationError(f"task {task!r} is not one of {TASKS}")
    if not modalities:
        raise DataValidationError("give at least one modality, e.g. {'S1': array of shape (N, T, C)}")
    mods = {}
    for m, x in modalities.items():
        if np.iscomplexobj(x):  # float32 conversion would silently drop the imaginary part
            raise DataValidationError(
                f"modality {m!r} is complex; give real channels, e.g. np.concatenate([x.real, x.imag], axis=-1), "
                "or the amplitude np.abs(x)")
        try:
            mods[str(m)] = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise DataValidationError(f"modality {m!r} is not numeric: {err}") from err
    y, class_names = _target(target, task, kw.pop("class_names", None))
    meta = pd.DataFrame() if metadata is None else pd.DataFrame(metadata).reset_index(drop=True)
    split = kw.pop("split", None)
    return MultiModalDataset(name=name, modalities=mods, target=y, task=task, metadata=meta,
                             class_names=class_names, split=None if split is None else np.asarray(split), **kw)


# ---------------------------------------------------------------------------------- folders
def read_series_csv(path: Path | str) -> np.ndarray:
    """A modality CSV (one row per sample, columns ``<band>_t<k>``) as float32 (N, T, C)."""
    df = pd.read_csv(path)
    bands: list[str] = []
    steps: dict[tuple[str, int], str] = {}
    for col in df.columns:
        m = _COLUMN.match(str(col))
        if m is None:
            raise DataValidationError(
                f"{path}: column {col!r} is not named <band>_t<k> (e.g. B2_t0); a static band is "
                f"<band>_t0 alone")
        band, t = m["band"], int(m["t"])
        if band not in bands:
            bands.append(band)
        steps[(band, t)] = col
    n_t = 1 + max(t for _, t in steps)
    missing = [f"{b}_t{t}" for b in bands for t in range(n_t) if (b, t) not in steps]
    if missing:
        raise DataValidationError(f"{path}: every band needs columns _t0.._t{n_t - 1}; missing {missing[:5]}")
    non_numeric = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise DataValidationError(f"{path}: columns {non_numeric[:5]} are not numeric")
    x = np.stack([df[[steps[(b, t)] for b in bands]].to_numpy(np.float32) for t in range(n_t)], axis=1)
    return x  # (N, T, C)


def _read_config(folder: Path, strict: bool = False) -> dict[str, Any]:
    """The folder's dataset.yaml; `strict`: an unknown (e.g. mistyped) key is an error."""
    for cfg in CONFIG_NAMES:
        if (folder / cfg).is_file():
            data = _yaml(folder / cfg, "dataset.yaml") or {}
            if not isinstance(data, dict):
                raise DataValidationError(f"{folder / cfg} must be a mapping (task: ..., name: ...)")
            if strict:
                _check_keys(data, CONFIG_KEYS, folder / cfg)
            return data
    return {}


def _yaml(path: Path, what: str) -> Any:
    """`path` read as YAML; a syntax error is a `DataValidationError` naming the file and the line."""
    from mdico_core._util import read_yaml

    try:
        return read_yaml(path, what)
    except ValueError as err:
        raise DataValidationError(str(err)) from None


def _check_keys(data: Mapping[str, Any], valid: tuple[str, ...], where: Any) -> None:
    import difflib

    for key in data:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataValidationError(f"{where}: unknown key {key!r}{hint}; valid keys: {', '.join(valid)}")


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise DataValidationError(
                f"{path} holds Python objects (dtype object), which are never unpickled (a pickle can run code); "
                f"save numbers, or text labels, instead: np.save({path.name!r}, x.astype(np.float32)) or "
                "y.astype(str)") from None
        raise DataValidationError(f"{path} is not a readable .npy file: {err}") from err
    except EOFError as err:
        raise DataValidationError(f"{path} is empty or truncated; save it again with np.save") from err


def _read_target(folder: Path) -> tuple[np.ndarray, list[str] | None]:
    npy, csv = folder / "target.npy", folder / "target.csv"
    if npy.is_file() and csv.is_file():
        raise DataValidationError(f"{folder}: both target.npy and target.csv; keep one")
    if npy.is_file():
        return _load_npy(npy), None
    if csv.is_file():
        df = pd.read_csv(csv)
        if df.shape[1] == 1:
            return df.iloc[:, 0].to_numpy(), None
        return df.to_numpy(), [str(c) for c in df.columns]  # multilabel: one column per label
    raise DataValidationError(f"{folder}: no target.npy or target.csv; add the (N,) or (N, K) target")


def from_folder(path: Path | str, task: str | None = None, name: str | None = None) -> MultiModalDataset:
    """The dataset in the folder `path` (layout in the module docstring).

    `task` and `name` default to ``dataset.yaml``'s, then (name only) to the folder name.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder {folder} does not exist")
    cfg = _read_config(folder, strict=True)
    task = task or cfg.get("task")
    if task is None:
        raise DataValidationError(f"{folder}: no task given; pass task= or write 'task: <one of {TASKS}>' "
                                  f"in {folder / CONFIG_NAMES[0]}")
    modalities: dict[str, np.ndarray] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.name.upper().startswith("README") or p.name in CONFIG_NAMES or p.is_dir():
            continue
        stem, ext = p.stem, p.suffix.lower()
        if stem in _RESERVED and ext in (".npy", ".csv"):
            continue
        if stem in modalities and ext in (".npy", ".csv"):
            raise DataValidationError(f"{folder}: modality {stem!r} is given twice (.npy and .csv); keep one")
        if ext == ".npy":
            modalities[stem] = _load_npy(p)
        elif ext == ".csv":
            modalities[stem] = read_series_csv(p)
        else:
            raise DataValidationError(
                f"{p}: unknown extension {p.suffix!r}; modality files are <modality>.npy or <modality>.csv "
                "(move other files out of the dataset folder)")
    if not modalities:
        raise DataValidationError(f"{folder}: no modality file (<modality>.npy or <modality>.csv)")
    y, label_names = _read_target(folder)
    meta = pd.read_csv(folder / "metadata.csv") if (folder / "metadata.csv").is_file() else None
    extra = {k: cfg[k] for k in ("class_names", "nan_policy", "paper_name", "source", "licence") if k in cfg}
    if label_names is not None and task == "multilabel":
        extra.setdefault("class_names", label_names)
    n = {m: len(x) for m, x in modalities.items()}
    if len(set(n.values()) | {len(y)}) > 1:
        raise DataValidationError(f"{folder}: sample counts differ: {n}, target {len(y)}; every file needs N rows")
    extra.setdefault("source", str(cfg.get("source", f"user folder {folder.name}")))
    return from_arrays(name or cfg.get("name") or folder.name, modalities, y, task, meta, **extra)


# ---------------------------------------------------------------------------------- registry
def register(ds_or_loader: MultiModalDataset | Callable[[], MultiModalDataset] | Path | str,
             name: str | None = None, replace: bool = False, **entry: Any) -> DatasetEntry:
    """Make a dataset loadable by name (``load_dataset(name)``, the runner, the notebooks).

    Args:
        ds_or_loader: a dataset, a function returning one, or a dataset folder (read on load).
        name: registry name (default: the dataset's name, or the folder's configured name).
        replace: allow replacing an already registered name (e.g. a built-in benchmark).
        **entry: further `DatasetEntry` fields (description, source, licence, task, ...).
    """
    if isinstance(ds_or_loader, MultiModalDataset):
        ds = ds_or_loader
        name = name or ds.name
        loader: Callable[[], MultiModalDataset] = lambda: ds  # noqa: E731
        entry.setdefault("task", ds.task)
        entry.setdefault("samples", len(ds))
        entry.setdefault("shapes", ds.shapes)
    elif isinstance(ds_or_loader, (str, Path)):
        folder = Path(ds_or_loader).expanduser()
        cfg = _read_config(folder) if folder.is_dir() else {}
        name = name or cfg.get("name") or folder.name
        task = entry.pop("task", None) or cfg.get("task")
        loader = lambda: from_folder(folder, task=task, name=name)  # noqa: E731
        entry.setdefault("task", task or "")
        entry.setdefault("description", cfg.get("description", f"user data in {folder}"))
        entry.setdefault("folder", str(folder))
    elif callable(ds_or_loader):
        if name is None:
            raise ValueError("register(loader) needs name=")
        loader = ds_or_loader
    else:
        raise TypeError(f"register() takes a MultiModalDataset, a loader or a folder, got {type(ds_or_loader).__name__}")
    if not name:
        raise ValueError("a dataset needs a name")
    if name in DATASETS and not replace:
        raise ValueError(f"dataset name {name!r} is already registered; choose another name or pass replace=True")
    entry.setdefault("description", f"user dataset {name}")
    entry.setdefault("source", "user data")
    return register_dataset(DatasetEntry(name=name, loader=loader, **entry))


def _is_dataset_folder(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("target.npy", "target.csv", *CONFIG_NAMES))


def _env_entries(spec: str) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, options) of every dataset named by an ``MDICO_DATASETS`` value."""
    out: list[tuple[Path, dict[str, Any]]] = []
    for item in filter(None, spec.split(os.pathsep)):
        p = Path(item).expanduser()
        if p.is_file() and p.suffix.lower() in (".yaml", ".yml"):
            data = _yaml(p, f"${ENV_DATASETS} file") or {}
            if not isinstance(data, dict) or not isinstance(data.get("datasets") or {}, dict):
                raise DataValidationError(f"{p}: ${ENV_DATASETS} files hold `datasets:` mapping names to "
                                          "{path: <folder>, ...}")
            for ds_name, opts in (data.get("datasets") or {}).items():
                opts = dict(opts or {})
                _check_keys(opts, ENV_KEYS, f"{p}: dataset {ds_name!r}")
                if "path" not in opts:
                    raise DataValidationError(f"{p}: dataset {ds_name!r} needs a path")
                folder = Path(opts.pop("path")).expanduser()
                out.append((folder if folder.is_absolute() else p.parent / folder, {"name": ds_name, **opts}))
        elif p.is_dir() and _is_dataset_folder(p):
            out.append((p, {}))
        elif p.is_dir():
            out += [(sub, {}) for sub in sorted(p.iterdir()) if sub.is_dir() and _is_dataset_folder(sub)]
        else:
            warnings.warn(f"${ENV_DATASETS}: {p} is neither a dataset folder nor a YAML file; ignored", stacklevel=2)
    return out


def register_from_env(spec: str | None = None) -> list[str]:
    """Register the datasets named by `spec` (default ``$MDICO_DATASETS``); returns their names."""
    from mdico_core.data import _import_builtin_loaders

    # Built-in benchmarks first, so that a user folder can never silently shadow one of them.
    _import_builtin_loaders()
    spec = os.environ.get(ENV_DATASETS, "") if spec is None else spec
    names = []
    for folder, opts in _env_entries(spec):
        name = opts.pop("name", None) or _read_config(folder).get("name") or folder.name
        if name in DATASETS and DATASETS[name].folder != str(folder):
            warnings.warn(f"${ENV_DATASETS}: dataset {name!r} ({folder}) clashes with a registered dataset; "
                          "rename it in its dataset.yaml", stacklevel=2)
            continue
        task = opts.pop("task", None)
        register(folder, name=name, replace=True, task=task, **opts)
        names.append(name)
    return names


register_from_env()
