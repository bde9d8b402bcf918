"""Run configurations and budget profiles.

A `RunConfig` names one training run completely: dataset, method, variant, encoder, protocol,
settings, fold, seed and the training budget. Its canonical JSON (sorted keys, no whitespace)
hashes to ``run_id``, the name of its record in the results store, so the same run is never
computed twice and any change of any field (including a new `TrainConfig` default) gives a new id.

Settings: "common" trains every method under the profile's budget; "original" under its official
recipe (``Method.original_recipe``). The recipe is resolved when the configs are built
(`resolve_train`), so ``RunConfig.train`` holds the actual optimiser, learning rate, schedule and
stage settings, and the run id captures them. A method whose official recipe is the common one
resolves to its common run (same id), never to a duplicate.

A `Profile` is a named budget (``profiles/{smoke,quick,paper}.yaml``, shipped as package data):
which folds and seeds, the default `TrainConfig`, per-dataset overrides, and what the book's main
job covers. ``load_profile("paper").configs("lfmc", ["individual", "mdico"])`` expands to the
list of runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mdico_core.training import TrainConfig

PROTOCOLS = ("paper", "released", "released_validation", "released_statistics")
# The released protocol's two differences from the paper's, each also a protocol of its own so
# that the book can measure it alone: early stopping and checkpoint selection on the test fold,
# and z-score statistics over every row (test folds included).
VALIDATES_ON_TEST = ("released", "released_validation")
STATISTICS_ON_ALL_ROWS = ("released", "released_statistics")
# The released code draws its 10 folds with np.random.seed(10) (``runs_seed: [10]``): shuffle, then
# np.array_split. Our unstratified folds (regression: LFMC) are exactly those (tests/test_lfmc.py);
# classification folds are stratified, so on CropHarvest they are not the authors'.
RELEASED_SPLIT_SEED = 10
SETTINGS = ("common", "original")
# Keys of `dataset_overrides` that change the run grid rather than the TrainConfig.
_GRID_KEYS = ("folds", "n_folds", "seeds")


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
    from mdico_core.data.cache import file_digest

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
        return f"{self.dataset} {self.method}{variant}{mods} {self.encoder} {fold}{split} seed {self.seed}"


# Fields added after run ids were first archived: at None they do not enter the hash.
_HASHED_UNLESS_NONE = ("split_seed", "modalities")


def dataset_modalities(dataset: str) -> list[str]:
    """The modality names of the registered `dataset`: from its registry entry when it documents
    them (no loading), else from the loaded data."""
    from mdico_core.data import get_dataset_entry, load_dataset

    shapes = get_dataset_entry(dataset).shapes
    return list(shapes) if shapes else load_dataset(dataset).modality_names


def check_modalities(dataset: str, modalities: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """`modalities` of `dataset` as `RunConfig` stores them, or None when they are all of them.

    Raises ``ValueError`` listing the dataset's modalities when a name is not one of them.
    """
    names = _names(modalities)
    if names is None:
        return None
    valid = dataset_modalities(dataset)
    unknown = [m for m in names if m not in valid]
    if unknown or not names:
        what = f"unknown modalities {unknown}" if unknown else "an empty modality list"
        raise ValueError(f"dataset {dataset!r}: {what}; valid modalities: {', '.join(valid)}")
    return None if set(names) == set(valid) else tuple(sorted(set(names)))


def _names(value: str | Iterable[str] | None) -> list[str] | None:
    """"a,b" or ["a", "b"] -> ["a", "b"]."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


@dataclass(frozen=True)
class Profile:
    """A named budget, loaded from ``profiles/<name>.yaml``.

    Attributes:
        name, description: as in the YAML.
        folds: test folds run by default; ``None`` inside means the official split.
        n_folds: folds of the cross-validation.
        seeds: seeds run by default.
        train: the default `TrainConfig`.
        dataset_overrides: dataset -> settings on top of `train` (e.g. ``{"lfmc": {"batch_size": 32}}``);
            the keys "folds", "n_folds" and "seeds" change the grid instead (e.g. tsaits:
            ``folds: [null]`` for its official split).
        datasets: what the book's main job covers at this profile.
        methods: ditto.
    """

    name: str
    description: str
    folds: tuple[int | None, ...]
    n_folds: int
    seeds: tuple[int, ...]
    train: TrainConfig
    dataset_overrides: dict = field(default_factory=dict)
    datasets: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()

    def train_for(self, dataset: str) -> TrainConfig:
        """The `TrainConfig` of `dataset`: the profile's, with the dataset's overrides."""
        extra = {k: v for k, v in self.dataset_overrides.get(dataset, {}).items() if k not in _GRID_KEYS}
        return train_config(extra, base=self.train)

    def grid_for(self, dataset: str) -> tuple[tuple[int | None, ...], int, tuple[int, ...]]:
        """(folds, n_folds, seeds) of `dataset`.

        A dataset whose registry entry says ``official_split`` is run on that split (fold None)
        unless the profile names its folds.
        """
        over = self.dataset_overrides.get(dataset, {})
        folds = over.get("folds")
        if folds is None:
            folds = self.folds
            from mdico_core.data import get_dataset_entry

            if get_dataset_entry(dataset).official_split:
                folds = (None,)
        return tuple(folds), int(over.get("n_folds", self.n_folds)), tuple(over.get("seeds", self.seeds))

    def configs(
        self,
        dataset: str,
        methods: str | Sequence[str] | None = None,
        variants: str | Sequence[str] = ("default",),
        encoders: str | Sequence[str] = ("tempcnn",),
        protocol: str = "paper",
        seeds: Sequence[int] | None = None,
        folds: Sequence[int | None] | None = None,
        save_features: bool = True,
        train: Mapping[str, Any] | None = None,
        split_seed: int | None = None,
        modalities: str | Sequence[str] | None = None,
        settings: str = "common",
        image_weights: str = "",
    ) -> list[RunConfig]:
        """Every run of `dataset` x `methods` x `variants` x `encoders` x seeds x folds.

        `methods` may be "all" (every registered method) or None (the profile's). A variant is run
        for the methods that define it; a variant no chosen method defines raises a `ValueError`,
        as do unknown dataset, method and encoder names (each message lists the valid names).
        Runs are ordered seed, fold, method, variant, encoder, so a partial sweep covers whole
        folds first. `settings` is "common" or "original" (each method's official recipe, resolved
        by `resolve_train`; methods whose recipe is the common one give their common runs). `train`
        overrides training settings on top of the resolved ones (e.g. ``{"device": "cuda"}``,
        ``{"monitor": "task"}``). `image_weights` is a local ResNet-50 weights file for the image
        modalities (methods that take ``image_weights``: MDiCo). `split_seed` fixes the data split of
        every run (None: each seed draws its own; the CLI's ``--protocol released`` passes
        `RELEASED_SPLIT_SEED`). `modalities` trains every run on that subset of the dataset's
        modalities (None, or all of them: the whole dataset, the same runs as without it).
        """
        from mdico_core.data import get_dataset_entry
        from mdico_core.encoders import ENCODERS
        from mdico_core.methods import METHODS, get_method

        get_dataset_entry(dataset)
        names = _names(methods) or list(self.methods)
        if names == ["all"]:
            names = sorted(METHODS)
        classes = [get_method(m) for m in names]
        variant_list = _names(variants) or ["default"]
        for v in variant_list:
            if not any(v in c.variants for c in classes):
                valid = sorted({k for c in classes for k in c.variants})
                raise ValueError(f"unknown variant {v!r} for methods {names}; valid variants: {', '.join(valid)}")
        encoder_list = _names(encoders) or ["tempcnn"]
        for e in encoder_list:
            if e.lower() not in ENCODERS:
                raise ValueError(f"unknown encoder {e!r}; valid encoders: {', '.join(sorted(ENCODERS))}")
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
        if settings not in SETTINGS:
            raise ValueError(f"unknown settings {settings!r}; valid settings: {', '.join(SETTINGS)}")
        if image_weights:
            import inspect

            refusing = [c.name for c in classes if "image_weights" not in inspect.signature(c.__init__).parameters]
            if refusing:
                raise ValueError(f"image_weights: methods {refusing} do not take pretrained image-encoder "
                                 f"weights (only mdico does); run them without --image-weights")
            digest = file_sha256(image_weights)
        default_folds, n_folds, default_seeds = self.grid_for(dataset)
        fold_list = list(default_folds if folds is None else folds)
        seed_list = list(default_seeds if seeds is None else seeds)
        # `train` shapes the budget a recipe is resolved on (its stages' epochs), and wins over the recipe
        base = train_config(train, base=self.train_for(dataset))
        resolved = {}
        for cls in classes:
            effective, cfg = resolve_train(cls.name, settings, base)
            resolved[cls.name] = effective, train_config(train, base=cfg)
        subset = check_modalities(dataset, modalities)
        out = []
        for seed in seed_list:
            for fold in fold_list:
                for cls in classes:
                    effective, budget = resolved[cls.name]
                    for v in variant_list:
                        if v not in cls.variants:
                            continue
                        for e in encoder_list:
                            out.append(RunConfig(
                                dataset, cls.name, v, e.lower(), protocol, fold, n_folds, seed, budget, save_features,
                                split_seed=split_seed, modalities=subset, settings=effective,
                                image_weights=image_weights, image_weights_sha256=digest if image_weights else ""))
        return out


def _profile_dir():
    return resources.files("mdico_core.experiments").joinpath("profiles")


def _profile_names() -> list[str]:
    files = _profile_dir()
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def load_profile(name: str) -> Profile:
    """The profile ``profiles/<name>.yaml``; an unknown name raises a `ValueError` listing valid ones."""
    import yaml

    valid = _profile_names()
    if name not in valid:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(valid)}")
    raw = yaml.safe_load(_profile_dir().joinpath(f"{name}.yaml").read_text())
    expected = {"name", "description", "folds", "n_folds", "seeds", "train", "dataset_overrides", "datasets",
                "methods"}
    unknown = sorted(set(raw) - expected)
    if unknown:
        raise ValueError(f"profile {name!r}: unknown keys {unknown}; valid keys: {', '.join(sorted(expected))}")
    overrides = {k: dict(v or {}) for k, v in (raw.get("dataset_overrides") or {}).items()}
    for over in overrides.values():  # fail at load time, not in the middle of a sweep
        train_config({k: v for k, v in over.items() if k not in _GRID_KEYS})
    return Profile(
        name=raw.get("name", name),
        description=str(raw.get("description", "")).strip(),
        folds=tuple(raw.get("folds", [0])),
        n_folds=int(raw.get("n_folds", 10)),
        seeds=tuple(int(s) for s in raw.get("seeds", [0])),
        train=train_config(raw.get("train")),
        dataset_overrides=overrides,
        datasets=tuple(raw.get("datasets") or ()),
        methods=tuple(raw.get("methods") or ()),
    )


class _Profiles(Mapping):
    """Read-only mapping name -> `Profile`, loaded on first access (so new YAML files show up)."""

    def __getitem__(self, name: str) -> Profile:
        return load_profile(name)

    def __iter__(self):
        return iter(_profile_names())

    def __len__(self) -> int:
        return len(_profile_names())

    def __repr__(self) -> str:
        return f"PROFILES({', '.join(self)})"


PROFILES: Mapping[str, Profile] = _Profiles()


def configs_for(profile: str, dataset: str, methods: str | Sequence[str] | None = None, **kwargs: Any) -> list[RunConfig]:
    """``load_profile(profile).configs(dataset, methods, **kwargs)``."""
    return load_profile(profile).configs(dataset, methods, **kwargs)
