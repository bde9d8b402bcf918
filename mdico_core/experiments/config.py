"""Run configurations: `RunConfig`, its run id, and the `TrainConfig` it trains with.

A `RunConfig` names one training run completely: dataset, method, variant, encoder, protocol,
settings, fold, seed and the training budget. Its canonical JSON (sorted keys, no whitespace)
hashes to ``run_id``, the name of its record in the results store, so the same run is never
computed twice and any change of any field (including a new `TrainConfig` default) gives a new id.

Settings: "common" trains every method under the profile's budget; "original" under its official
recipe (``Method.original_recipe``). The recipe is resolved when the configs are built
(`resolve_train`), so ``RunConfig.train`` holds the actual optimiser, learning rate, schedule and
stage settings, and the run id captures them. A method whose official recipe is the common one
resolves to its common run (same id), never to a duplicate.

Which runs a budget profile makes (``load_profile("paper").configs("lfmc", ...)``) is
``profile.py``'s business.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdico_core.options import (  # noqa: F401 (the protocol names, re-exported where they were defined before)
    PROTOCOLS,
    RELEASED_SPLIT_SEED,
    SETTINGS,
    STATISTICS_ON_ALL_ROWS,
    VALIDATES_ON_TEST,
    TrainConfig,
)


def train_config(values: Mapping[str, Any] | TrainConfig | None = None, base: TrainConfig | None = None) -> TrainConfig:
    """A `TrainConfig` from `base` (default: the defaults) with `values` on top.

    Values are coerced to the type of the field's default (``30.0`` epochs -> ``30``), so two
    spellings of one budget hash to the same run id. Unknown keys raise a `ValueError` listing the
    valid ones.
    """
    base = base or TrainConfig()
    if values is None:
        return base
    if isinstance(values, TrainConfig):
        values = dataclasses.asdict(values)
    out = {k: _coerce(k, v) for k, v in _checked(values).items()}
    return dataclasses.replace(base, **out)


def _checked(values: Mapping[str, Any]) -> Mapping[str, Any]:
    valid = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"unknown training settings {unknown}; valid ones: {', '.join(valid)}")
    return values


def _coerce(k: str, v: Any) -> Any:
    """`v` as the type of TrainConfig field `k` (JSON lists back to tuples; stages canonical)."""
    default = getattr(TrainConfig(), k)
    if k == "stages":  # {name: {field: value}} or [[name, [[field, value], ...]], ...]
        items = v.items() if isinstance(v, Mapping) else v
        return tuple(sorted(
            (str(name), tuple(sorted((f, _coerce(f, x)) for f, x in _checked(dict(over)).items() if f != "stages")))
            for name, over in items))
    if v is None or default is None:
        return None if v is None else (int(v) if k == "max_steps_per_epoch" else v)
    if isinstance(default, tuple):
        return tuple(float(x) for x in v)
    if isinstance(default, bool):
        return bool(v)
    if isinstance(default, int):
        if float(v) != int(v):
            raise ValueError(f"training setting {k}={v!r} must be an integer")
        return int(v)
    if isinstance(default, float):
        return float(v)
    return type(default)(v)


def resolve_train(method: str, settings: str, budget: TrainConfig) -> tuple[str, TrainConfig]:
    """(effective settings, TrainConfig) of `method` in `settings` on top of the profile's `budget`.

    "original" applies the method's official recipe (optimiser, learning rate, schedule, monitor,
    checkpoint rule, per-stage settings; a stage's ``epochs_fraction`` becomes that share of the
    budget's max_epochs, at least 1). A method without one (its recipe is the common one) resolves
    to "common" and the budget as it is, so both settings name the same run.
    """
    from mdico_core.methods import get_method, recipe

    cls = get_method(method)
    rec = recipe(cls, settings)
    effective = "original" if settings == "original" and cls.original_recipe is not None else "common"
    cfg = train_config(dict(rec.train), base=budget)
    stages = {}
    for stage, over in rec.stage_train.items():
        over = dict(over)
        fraction = over.pop("epochs_fraction", None)
        if fraction is not None:
            over["max_epochs"] = max(1, round(fraction * budget.max_epochs))
        stages[stage] = over
    if stages:
        cfg = dataclasses.replace(cfg, stages=_coerce("stages", stages))
    return effective, cfg


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a local file (memoised per path, size and modification time)."""
    from mdico_core.data.checksums import file_digest

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"weights file {p} not found; give the path of a local file (nothing is downloaded)")
    return file_digest(p)


def verified_weights(path: str, sha256: str) -> str:
    """`path` if it exists and its SHA-256 is `sha256`; a clear error otherwise."""
    if not path:
        raise FileNotFoundError(f"this run needs the image-encoder weights file with SHA-256 {sha256}; pass its "
                                f"path (`mdico run --image-weights PATH`, RunConfig.image_weights)")
    digest = file_sha256(path)
    if digest != sha256:
        raise ValueError(f"weights file {path} has SHA-256 {digest}, not the {sha256} this run was configured "
                         f"with: the file is corrupt or another one; restore the right file")
    return path


@dataclass(frozen=True)
class RunConfig:
    """One training run; its canonical JSON hashes to `run_id`.

    Attributes:
        dataset: registry name ("lfmc", "croph_b", "algae_blooms", "toy_multiclass", ...).
        method: registry name ("individual", "mdico", "inputfu", ...).
        variant: method variant, e.g. MDiCo's "no_cont" or "released".
        encoder: temporal encoder name ("tempcnn", "mlp", ...).
        protocol: "paper" (validation = a seeded 10% of the training folds, z-score statistics
            on training rows) or "released" (validation = the test fold, statistics over all
            rows, as the authors' released code does); "released_validation" and
            "released_statistics" take one of the two differences alone.
        settings: "common" (the profile's budget for every method) or "original" (the method's
            official recipe, already resolved into `train`; see `resolve_train`).
        fold: test fold, or None for the dataset's official split.
        n_folds: folds of the cross-validation.
        seed: seeds the training: initialisation, batch order and dropout; and the data split
            unless `split_seed` is given.
        train: the training budget and optimiser settings.
        save_features: store the test-set features of every view (float16) beside the record.
        split_seed: seeds the data split, i.e. the folds and the inner validation split; None
            (the default) takes `seed`, so each seed is a fresh partition of the data. A split seed
            equal to `seed` is stored as None: one run, one id.
        modalities: train (and evaluate) on these modalities of the dataset only; None: all of
            them. Stored sorted and without repeats, so equal subsets hash equally; the names are
            checked against the dataset by `Profile.configs` and by the runner. A field added after
            run ids were first archived: left out of `canonical_json` while None, so those ids stay.
        image_weights: path of a local pretrained ResNet-50 state dict for the image modalities
            (TreeSatAI-TS's aerial; MDiCo only), never downloaded. Not part of the run id.
        image_weights_sha256: its SHA-256, part of the run id and the provenance (computed from
            the file when only the path is given; checked against the file before training).
        folds_by: a metadata column of the dataset (``"site"``) whose groups the folds and the
            validation split keep whole, so no test group is seen in training; None (the paper's
            protocol): folds of random rows. Left out of `canonical_json` while None.

    The inner validation split follows `split_seed`, not `seed`. The (train, val, test) rows of
    a run are then a function of (split_seed, fold) alone: runs that share a split seed and
    differ in `seed` train on exactly the same rows, so the spread over their seeds is the
    training randomness alone. That is what a fixed split is for: the authors' folds with
    training seeds 0-4, or the same rows on two machines or thread counts. The paper's "10-fold
    cross-validation ... averaged over 5 runs", done as the released code does it (each run's
    seed draws its own folds), is repeated cross-validation instead, each run a new partition;
    that is the default, split_seed None, where the validation split moves with `seed` like the
    folds. A validation split that followed `seed` under a fixed split seed would mix the two
    sources of variance and match neither design.

    `split_seed` (a field added after archives were written) is left out of `canonical_json`
    while None, so the ids of earlier runs, which all drew their split from `seed`, stay valid.
    """

    dataset: str
    method: str
    variant: str = "default"
    encoder: str = "tempcnn"
    protocol: str = "paper"
    fold: int | None = 0
    n_folds: int = 10
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    save_features: bool = True
    split_seed: int | None = None
    modalities: tuple[str, ...] | None = None
    settings: str = "common"
    image_weights: str = ""
    image_weights_sha256: str = ""
    folds_by: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
        if self.settings not in SETTINGS:
            raise ValueError(f"unknown settings {self.settings!r}; valid settings: {', '.join(SETTINGS)}")
        if self.image_weights and not self.image_weights_sha256:
            object.__setattr__(self, "image_weights_sha256", file_sha256(self.image_weights))
        # Frozen dataclass: normalise field types in place so equal runs hash equally.
        object.__setattr__(self, "train", train_config(self.train))
        object.__setattr__(self, "fold", None if self.fold is None else int(self.fold))
        object.__setattr__(self, "n_folds", int(self.n_folds))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "save_features", bool(self.save_features))
        split = None if self.split_seed is None or int(self.split_seed) == self.seed else int(self.split_seed)
        object.__setattr__(self, "split_seed", split)
        if self.modalities is not None:
            names = (self.modalities,) if isinstance(self.modalities, str) else tuple(self.modalities)
            if not names or not all(isinstance(m, str) and m for m in names):
                raise ValueError(f"modalities must be a non-empty list of modality names (or None: all), "
                                 f"got {self.modalities!r}")
            object.__setattr__(self, "modalities", tuple(sorted(set(names))))
        if self.folds_by is not None and (not isinstance(self.folds_by, str) or not self.folds_by):
            raise ValueError(f"folds_by must be a metadata column name or None, got {self.folds_by!r}")
        if self.fold is not None and not 0 <= self.fold < self.n_folds:
            raise ValueError(f"fold {self.fold} is outside 0..{self.n_folds - 1}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dict (the training config nested under "train"; tuples as lists, as read back)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        """Inverse of `to_dict`; unknown keys raise a `ValueError` naming them."""
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise ValueError(f"unknown run settings {unknown}; valid ones: {', '.join(sorted(valid))}")
        d = dict(d)
        d["train"] = train_config(d.get("train"))
        return cls(**d)

    @property
    def effective_split_seed(self) -> int:
        """The seed of the folds and the validation split: `split_seed`, else `seed`."""
        return self.seed if self.split_seed is None else self.split_seed

    def identity(self) -> dict[str, Any]:
        """`to_dict` without the local path of the image weights (their digest identifies them) and
        without the fields of `_HASHED_UNLESS_NONE` that are None."""
        d = self.to_dict()
        d.pop("image_weights")
        for k in _HASHED_UNLESS_NONE:
            if d[k] is None:
                del d[k]
        return d

    def canonical_json(self) -> str:
        """The exact string hashed into `run_id`: `identity` with sorted keys, no whitespace."""
        return json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """First 16 hex characters of the SHA-256 of `canonical_json` (every field counts)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def label(self) -> str:
        """Short human-readable name, for progress bars and logs."""
        fold = "official" if self.fold is None else f"fold {self.fold}"
        variant = "" if self.variant == "default" else f"/{self.variant}"
        split = "" if self.split_seed is None else f" split {self.split_seed}"
        variant += " (original)" if self.settings == "original" else ""
        mods = "" if self.modalities is None else f" on {'+'.join(self.modalities)}"
        split += "" if self.folds_by is None else f" by {self.folds_by}"
        return f"{self.dataset} {self.method}{variant}{mods} {self.encoder} {fold}{split} seed {self.seed}"


# Fields added after run ids were first archived: at None they do not enter the hash.
_HASHED_UNLESS_NONE = ("split_seed", "modalities", "folds_by")
