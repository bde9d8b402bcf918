"""`MultiModalDataset`: the one door every dataset comes through.

A dataset is a dict of modality arrays that share their first axis (samples), a target, a task
type, per-sample metadata and, optionally, an official train/val/test split. Time series are
float32 ``(N, T, C)``; images are float32 ``(N, C, H, W)``.

Everything a training run needs from the data is derived here, from the dataset and a seed:
cross-validation folds (stratified for classification), a validation split carved from the
training part, and per-channel z-score statistics fitted on training rows only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Task = Literal["binary", "multiclass", "multilabel", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "multilabel", "regression")
NanPolicy = Literal["raise", "zero"]


class DataValidationError(ValueError):
    """A dataset's arrays, target or metadata are malformed; the message says how to fix them."""


@dataclass(frozen=True)
class ModalityInfo:
    """What a modality is, for tables and plots (Table 1 of the paper)."""

    sensor: str  # e.g. "Sentinel-1"
    kind: str = "SITS"  # "SITS" (time series) or "image"
    bands: tuple[str, ...] = ()
    resolution: str = ""  # e.g. "10 m"
    temporal: str = ""  # e.g. "1 per month"


@dataclass
class MultiModalDataset:
    """Samples seen through several modalities, with one target.

    Attributes:
        name: registry name (``"lfmc"``, ``"croph_b"``, ...).
        modalities: modality name -> float32 array, ``(N, T, C)`` or ``(N, C, H, W)``.
            NaN is allowed only when ``nan_policy == "zero"``.
        target: ``(N,)`` float32 for regression, ``(N,)`` int64 for binary/multiclass,
            ``(N, K)`` float32 in {0, 1} for multilabel.
        task: one of ``TASKS``.
        metadata: ``N`` rows (site, date, lat, lon, ... when known).
        class_names: names of the classes / labels (classification).
        info: modality name -> ``ModalityInfo``.
        split: optional official split, ``(N,)`` array of "train" / "val" / "test".
        nan_policy: ``"raise"`` rejects NaN inputs; ``"zero"`` sets NaN to 0 after z-scoring
            (the released code's ``fillnan``), i.e. to the training mean of that channel.
        paper_name: how the paper calls it (``"LFMC"``, ``"CropH-b"``, ...).
        source, licence: provenance shown in the book.
        stand_in: True for a real dataset used in place of one of the paper's benchmarks.
    """

    name: str
    modalities: dict[str, np.ndarray]
    target: np.ndarray
    task: Task
    metadata: pd.DataFrame = field(default_factory=pd.DataFrame)
    class_names: list[str] | None = None
    info: dict[str, ModalityInfo] = field(default_factory=dict)
    split: np.ndarray | None = None
    nan_policy: NanPolicy = "raise"
    paper_name: str = ""
    source: str = ""
    licence: str = ""
    stand_in: bool = False

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check shapes, dtypes, NaN and the target; raise `DataValidationError` naming the fix."""
        if self.task not in TASKS:
            raise DataValidationError(f"task {self.task!r} is not one of {TASKS}")
        if len(self.modalities) < 1:
            raise DataValidationError("a dataset needs at least one modality")
        if self.nan_policy not in ("raise", "zero"):
            raise DataValidationError(f"nan_policy {self.nan_policy!r} must be 'raise' or 'zero'")
        n = len(self.target)
        if n == 0:
            raise DataValidationError("the dataset has no samples (the target is empty); give at least one per fold")
        for m, x in self.modalities.items():
            if not isinstance(x, np.ndarray):
                raise DataValidationError(f"modality {m!r}: expected a numpy array, got {type(x).__name__}")
            if x.ndim not in (3, 4):
                raise DataValidationError(
                    f"modality {m!r}: shape {x.shape} has {x.ndim} axes; expected (N, T, C) for a time "
                    "series or (N, C, H, W) for an image (add a time axis of length 1 to static features)"
                )
            if 0 in x.shape[1:]:
                raise DataValidationError(
                    f"modality {m!r}: shape {x.shape} has an axis of length 0; each sample needs at least one "
                    "time step (or pixel) and one channel"
                )
            if x.shape[0] != n:
                raise DataValidationError(
                    f"modality {m!r} has {x.shape[0]} samples but the target has {n}; "
                    "every modality must be paired with the target sample by sample"
                )
            if x.dtype != np.float32:
                raise DataValidationError(
                    f"modality {m!r}: dtype {x.dtype}; convert with x.astype(np.float32)"
                )
            if np.isinf(x).any():
                raise DataValidationError(f"modality {m!r} contains inf; replace it by NaN or a finite value")
            if self.nan_policy == "raise" and np.isnan(x).any():
                k = int(np.isnan(x).any(axis=tuple(range(1, x.ndim))).sum())
                raise DataValidationError(
                    f"modality {m!r} contains NaN in {k} samples and nan_policy='raise'; "
                    "pass nan_policy='zero' to fill NaN with the channel's training mean after z-scoring, "
                    "or clean the array"
                )
        y = self.target
        if self.task == "regression":
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.floating):
                raise DataValidationError(f"regression target must be float (N,), got {y.dtype} {y.shape}")
            if not np.isfinite(y).all():
                raise DataValidationError("regression target contains NaN or inf; drop those samples")
        elif self.task in ("binary", "multiclass"):
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
                raise DataValidationError(
                    f"{self.task} target must be integer class indices (N,), got {y.dtype} {y.shape}"
                )
            k = self.n_classes
            if y.min() < 0 or y.max() >= k:
                raise DataValidationError(f"class indices must lie in [0, {k}); got [{y.min()}, {y.max()}]")
            if self.task == "binary" and k != 2:
                raise DataValidationError(f"binary task needs 2 classes, got {k}")
        else:  # multilabel
            if y.ndim != 2 or not np.isin(y, (0, 1)).all():
                raise DataValidationError(f"multilabel target must be (N, K) of 0/1, got {y.dtype} {y.shape}")
        if len(self.metadata) not in (0, n):
            raise DataValidationError(f"metadata has {len(self.metadata)} rows for {n} samples")
        if self.split is not None:
            if len(self.split) != n or not np.isin(self.split, ("train", "val", "test")).all():
                raise DataValidationError("split must be (N,) of 'train' / 'val' / 'test'")
        unknown = set(self.info) - set(self.modalities)
        if unknown:
            raise DataValidationError(f"info names modalities that do not exist: {sorted(unknown)}")

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return len(self.target)

    @property
    def modality_names(self) -> list[str]:
        return list(self.modalities)

    @property
    def n_classes(self) -> int:
        """Classes (binary/multiclass), labels (multilabel) or 1 (regression)."""
        if self.task == "regression":
            return 1
        if self.task == "multilabel":
            return int(self.target.shape[1])
        if self.class_names is not None:
            return len(self.class_names)
        return int(self.target.max()) + 1

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of each modality: (T, C) or (C, H, W)."""
        return {m: tuple(x.shape[1:]) for m, x in self.modalities.items()}

    def subset(self, idx: np.ndarray) -> MultiModalDataset:
        """The samples `idx`, as a new dataset (arrays are copied)."""
        return MultiModalDataset(
            name=self.name,
            modalities={m: x[idx] for m, x in self.modalities.items()},
            target=self.target[idx],
            task=self.task,
            metadata=self.metadata.iloc[idx].reset_index(drop=True) if len(self.metadata) else self.metadata,
            class_names=self.class_names,
            info=self.info,
            split=None if self.split is None else self.split[idx],
            nan_policy=self.nan_policy,
            paper_name=self.paper_name,
            source=self.source,
            licence=self.licence,
            stand_in=self.stand_in,
        )

    def select(self, modalities: Sequence[str]) -> MultiModalDataset:
        """The same samples seen through `modalities` only, in the dataset's own modality order.

        The arrays are shared, not copied. Raises ``ValueError`` naming the valid modalities when
        one is unknown or none is given.
        """
        wanted = list(dict.fromkeys(modalities))
        unknown = [m for m in wanted if m not in self.modalities]
        if unknown or not wanted:
            what = f"unknown modalities {unknown}" if unknown else "no modality selected"
            raise ValueError(f"dataset {self.name!r}: {what}; valid modalities: {', '.join(self.modalities)}")
        out = copy.copy(self)  # a subset of a validated dataset is valid: no second pass over the arrays
        out.modalities = {m: x for m, x in self.modalities.items() if m in wanted}
        out.info = {m: i for m, i in self.info.items() if m in wanted}
        return out

    # ------------------------------------------------------------------ splits
    def _strata(self) -> np.ndarray | None:
        if self.task in ("binary", "multiclass"):
            return self.target
        return None

    def groups(self, by: str) -> np.ndarray:
        """The metadata column `by` (e.g. ``"site"``) as one group label per sample.

        Raises ``ValueError`` in one line naming the dataset's metadata columns when `by` is not one
        of them, or when a sample has no group.
        """
        if by not in self.metadata.columns:
            have = ", ".join(map(str, self.metadata.columns)) or "none"
            raise ValueError(f"dataset {self.name!r} has no metadata column {by!r} to group folds by (its "
                             f"columns: {have}); add one group label per sample to its metadata, or drop --folds-by")
        labels = self.metadata[by]
        if labels.isna().any():
            raise ValueError(f"dataset {self.name!r}: {int(labels.isna().sum())} samples have no {by!r}; "
                             f"give every sample a group label, or drop --folds-by")
        return labels.astype(str).to_numpy()

    def folds(self, k: int = 10, seed: int = 0, by: str | None = None) -> list[np.ndarray]:
        """`k` disjoint test folds covering every sample; stratified for (multi)class targets.

        `by` names a metadata column (``"site"``): each fold then holds whole groups, so no test
        group is seen in training (`grouped_folds`).
        """
        from sklearn.model_selection import KFold, StratifiedKFold

        if by is not None:
            return grouped_folds(self.groups(by), k, seed)
        if not 2 <= k <= len(self):
            raise ValueError(f"k={k} folds needs 2 <= k <= {len(self)} samples")
        idx = np.arange(len(self))
        strata = self._strata()
        if strata is not None and _min_count(strata) >= k:
            splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
            return [test for _, test in splitter.split(idx, strata)]
        splitter = KFold(k, shuffle=True, random_state=seed)
        return [test for _, test in splitter.split(idx)]

    def split_indices(
        self, fold: int | None, k: int = 10, seed: int = 0, val_fraction: float = 0.1,
        validation: Literal["split", "test"] = "split", by: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(train, val, test) sample indices for one run.

        With an official split (``fold=None``), its train/val/test lists are used; a missing
        val list is carved from train with `seed`. Otherwise fold `fold` of `k` (seeded by
        `seed`) is the test set and validation is a seeded `val_fraction` of the remaining rows
        (stratified for classes). ``validation="test"`` reproduces the released code, which
        early-stops on the test fold. `by` (a metadata column, e.g. ``"site"``) groups the folds
        and the validation split: whole groups go to test, validation or training, so neither the
        test score nor early stopping sees a group the model trained on.
        """
        from sklearn.model_selection import train_test_split

        if fold is None:
            if self.split is None:
                raise ValueError(f"dataset {self.name!r} has no official split; give a fold number")
            train = np.flatnonzero(self.split == "train")
            val = np.flatnonzero(self.split == "val")
            test = np.flatnonzero(self.split == "test")
        else:
            if not 0 <= fold < k:
                raise ValueError(f"fold {fold} is outside 0..{k - 1}")
            folds = self.folds(k, seed, by)
            test = np.sort(folds[fold])
            train = np.setdiff1d(np.arange(len(self)), test)
            val = np.array([], dtype=np.int64)
        if validation == "test" and (fold is not None or len(val) == 0):
            return train, test, test  # the released code; it used an official val list where one exists
        if len(val) == 0 and by is not None:
            train, val = grouped_holdout(self.groups(by), train, val_fraction, seed)
        elif len(val) == 0:
            strata = self._strata()
            s = strata[train] if strata is not None and _min_count(strata[train]) >= 2 else None
            train, val = train_test_split(train, test_size=val_fraction, random_state=seed, stratify=s)
            train, val = np.sort(train), np.sort(val)
        return train, val, test

    # ------------------------------------------------------------------ normalisation
    def fit_normalizer(self, train_idx: np.ndarray) -> Normalizer:
        """Per-channel z-score statistics over the training rows only (NaN skipped)."""
        return Normalizer.fit({m: x[train_idx] for m, x in self.modalities.items()})

    def summary(self) -> pd.DataFrame:
        """A Table-1-like row per modality."""
        rows = []
        for m, x in self.modalities.items():
            inf = self.info.get(m, ModalityInfo(sensor=m))
            rows.append({
                "dataset": self.paper_name or self.name, "modality": m, "sensor": inf.sensor,
                "kind": inf.kind, "resolution": inf.resolution, "temporal": inf.temporal,
                "input shape": tuple(x.shape[1:]), "samples": len(self), "task": self.task,
                "stand-in": self.stand_in,
            })
        return pd.DataFrame(rows)


def grouped_folds(groups: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """`k` test folds of whole groups, balanced in rows; the same `seed` gives the same folds.

    The groups are shuffled by `seed`, then each goes to the fold that holds the fewest rows so far
    (ties: the lowest fold). Like scikit-learn's GroupKFold, folds are balanced in rows rather than
    groups; unlike it, the seed changes which groups share a fold, so seeds give new partitions.
    """
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if not 2 <= k <= len(names):
        raise ValueError(f"k={k} grouped folds needs 2 <= k <= {len(names)} groups")
    order = np.random.default_rng(seed).permutation(len(names))
    rows = np.zeros(k, dtype=np.int64)
    fold_of = np.empty(len(names), dtype=np.int64)
    for g in order:
        f = int(np.argmin(rows))
        fold_of[g] = f
        rows[f] += counts[g]
    sample_fold = fold_of[inverse]
    return [np.flatnonzero(sample_fold == f) for f in range(k)]


def grouped_holdout(groups: np.ndarray, idx: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held out) of the rows `idx`, holding out whole groups until `fraction` of the rows.

    Groups are taken in an order shuffled by `seed` until they hold at least ``fraction`` of the
    rows (at least one group; never all of them).
    """
    names = np.unique(groups[idx])
    if len(names) < 2:
        raise ValueError(f"the training rows hold {len(names)} group; a grouped validation split needs at least 2")
    order = np.random.default_rng(seed).permutation(names)
    held: list[str] = []
    n_held, target = 0, fraction * len(idx)
    in_idx = groups[idx]
    for g in order[:-1]:
        held.append(g)
        n_held += int((in_idx == g).sum())
        if n_held >= target:
            break
    mask = np.isin(in_idx, held)
    return np.sort(idx[~mask]), np.sort(idx[mask])


def _min_count(labels: np.ndarray) -> int:
    """Samples of the rarest class present (classes absent from `labels` do not count)."""
    return int(np.unique(labels, return_counts=True)[1].min())


def _channel_axis(x: np.ndarray) -> int:
    # (N, T, C): channels last; (N, C, H, W): channels at axis 1.
    return 2 if x.ndim == 3 else 1


@dataclass
class Normalizer:
    """Per-channel z-score: ``(x - mean) / std``, then NaN -> 0.

    Statistics are pooled over samples, time steps and pixels, per channel, as the released
    code does, but fitted on training rows only. A constant channel gets std 1.
    """

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]

    @classmethod
    def fit(cls, modalities: Mapping[str, np.ndarray]) -> Normalizer:
        mean, std = {}, {}
        for m, x in modalities.items():
            c = _channel_axis(x)
            axes = tuple(a for a in range(x.ndim) if a != c)
            mu = np.nanmean(x, axis=axes, dtype=np.float64)
            sd = np.nanstd(x, axis=axes, dtype=np.float64)
            sd = np.where(~np.isfinite(sd) | (sd < 1e-8), 1.0, sd)
            mean[m] = np.nan_to_num(mu).astype(np.float32)
            std[m] = sd.astype(np.float32)
        return cls(mean, std)

    def transform(self, modalities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for m, x in modalities.items():
            shape = [1] * x.ndim
            shape[_channel_axis(x)] = -1
            z = (x - self.mean[m].reshape(shape)) / self.std[m].reshape(shape)
            out[m] = np.nan_to_num(z, nan=0.0).astype(np.float32, copy=False)
        return out
