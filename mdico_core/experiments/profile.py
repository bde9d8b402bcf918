"""Budget profiles: which runs a named budget makes.

A `Profile` is a named budget (``profiles/{smoke,quick,paper}.yaml``, shipped as package data):
which folds and seeds, the default `TrainConfig`, per-dataset overrides, and what the book's main
job covers. ``load_profile("paper").configs("lfmc", ["individual", "mdico"])`` expands to the
list of `RunConfig`s, each method's training settings resolved (``config.resolve_train``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from mdico_core._util import as_fold, as_int, parse_list, read_yaml
from mdico_core.experiments.config import RunConfig, file_sha256, resolve_train, train_config
from mdico_core.options import PROTOCOLS, SETTINGS, TrainConfig

# Keys of `dataset_overrides` that change the run grid rather than the TrainConfig.
_GRID_KEYS = ("folds", "n_folds", "seeds")


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
    if modalities is None:
        return None
    names = parse_list(modalities) or ()  # "" or [] is an empty list, not "all"
    valid = dataset_modalities(dataset)
    unknown = [m for m in names if m not in valid]
    if unknown or not names:
        what = f"unknown modalities {unknown}" if unknown else "an empty modality list"
        raise ValueError(f"dataset {dataset!r}: {what}; valid modalities: {', '.join(valid)}")
    return None if set(names) == set(valid) else tuple(sorted(set(names)))


def check_group_column(dataset: str, column: str) -> None:
    """Raise a one-line ``ValueError`` unless `dataset`'s metadata has the group column `column`."""
    from mdico_core.data import load_dataset

    load_dataset(dataset).groups(column)


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
        folds_by: str | None = None,
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
        modalities (None, or all of them: the whole dataset, the same runs as without it). `folds_by`
        names a metadata column (``"site"``) whose groups the folds and validation split keep whole;
        a dataset without it raises a one-line ``ValueError`` here, before any run trains.
        """
        from mdico_core.data import get_dataset_entry
        from mdico_core.encoders import ENCODERS
        from mdico_core.methods import METHODS, get_method

        get_dataset_entry(dataset)
        names = list(parse_list(methods) or self.methods)
        if names == ["all"]:
            names = sorted(METHODS)
        classes = [get_method(m) for m in names]
        variant_list = list(parse_list(variants) or ["default"])
        for v in variant_list:
            if not any(v in c.variants for c in classes):
                valid = sorted({k for c in classes for k in c.variants})
                raise ValueError(f"unknown variant {v!r} for methods {names}; valid variants: {', '.join(valid)}")
        encoder_list = list(parse_list(encoders) or ["tempcnn"])
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
        if folds_by is not None:
            check_group_column(dataset, folds_by)
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
                                split_seed=split_seed, modalities=subset, settings=effective, folds_by=folds_by,
                                image_weights=image_weights, image_weights_sha256=digest if image_weights else ""))
        return out


def _profile_dir():
    return resources.files("mdico_core.experiments").joinpath("profiles")


def _profile_names() -> list[str]:
    files = _profile_dir()
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def load_profile(name: str) -> Profile:
    """The profile ``profiles/<name>.yaml``; an unknown name, a YAML error or a value of the wrong type raises one
    `ValueError` naming the file (and the line, or the key) and the fix."""

    valid = _profile_names()
    if name not in valid:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(valid)}")
    path = _profile_dir().joinpath(f"{name}.yaml")
    raw = read_yaml(path, "profile")
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a profile is a mapping of keys (seeds: [0, 1], folds: [0], train: ...), "
                         f"got {'an empty file' if raw is None else type(raw).__name__}")
    expected = {"name", "description", "folds", "n_folds", "seeds", "train", "dataset_overrides", "datasets",
                "methods"}
    unknown = sorted(set(raw) - expected)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; valid keys: {', '.join(sorted(expected))}")

    def value_of(key: str, convert: Any, default: Any, form: str) -> Any:
        """`raw[key]` converted, or one error naming the file, the key, the value and the expected form."""
        try:
            return convert(raw.get(key, default))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: key {key!r} = {raw.get(key)!r} is not {form} ({err})") from None

    def mapping(value: Any) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise TypeError(f"a {type(value).__name__}")
        return {k: dict(v or {}) for k, v in value.items()}

    ints = lambda v: tuple(as_int(x) for x in (v if isinstance(v, list | tuple) else [v]))  # noqa: E731
    overrides = value_of("dataset_overrides", mapping, None, "a mapping of dataset -> settings")
    for ds, over in overrides.items():  # fail at load time, not in the middle of a sweep
        budget = {k: v for k, v in over.items() if k not in _GRID_KEYS}
        value_of("dataset_overrides", lambda _, b=budget: train_config(b), None, f"valid training settings for {ds}")
    return Profile(
        name=str(raw.get("name", name)),
        description=str(raw.get("description", "")).strip(),
        folds=value_of("folds", lambda v: tuple(as_fold(x) for x in (v if isinstance(v, list | tuple) else [v])), [0],
                    "a list of folds, e.g. [0, 1, 2]"),
        n_folds=value_of("n_folds", as_int, 10, "an integer, e.g. 10"),
        seeds=value_of("seeds", ints, [0], "a list of integer seeds, e.g. [0, 1]"),
        train=value_of("train", train_config, None, "a mapping of training settings"),
        dataset_overrides=overrides,
        datasets=value_of("datasets", lambda v: tuple(v or ()), None, "a list of dataset names"),
        methods=value_of("methods", lambda v: tuple(v or ()), None, "a list of method names"),
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
