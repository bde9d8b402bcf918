"""RunConfig hashing, profiles and their expansion into runs."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from mdico_core.experiments import PROFILES, RunConfig, configs_for, load_profile, train_config
from mdico_core.training import TrainConfig


def _base() -> RunConfig:
    return RunConfig("toy_multiclass", "mdico", train=train_config({"max_epochs": 3, "batch_size": 32}))


def test_same_config_same_id_and_roundtrip():
    a, b = _base(), _base()
    assert a == b and a.run_id == b.run_id
    assert len(a.run_id) == 16 and int(a.run_id, 16) >= 0
    back = RunConfig.from_dict(a.to_dict())
    assert back == a and back.run_id == a.run_id
    # Canonical: key order of the input and int/float spelling do not matter.
    d = a.to_dict()
    shuffled = {k: d[k] for k in reversed(list(d))}
    shuffled["train"] = {**d["train"], "max_epochs": 3.0, "lr": 1e-3}
    assert RunConfig.from_dict(shuffled).run_id == a.run_id


def _changed(value):
    if isinstance(value, bool):
        return not value
    if value is None:
        return 7
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 0.5
    return value + "_x"


def test_every_field_changes_the_id():
    a = _base()
    ids = {a.run_id}
    for f in dataclasses.fields(RunConfig):
        if f.name == "train":
            continue
        value = getattr(a, f.name)
        if f.name == "protocol":
            new = "released"
        elif f.name == "fold":
            new = None
        elif f.name == "modalities":
            new = ("S1",)
        else:
            new = _changed(value)
        ids.add(dataclasses.replace(a, **{f.name: new}).run_id)
    for f in dataclasses.fields(TrainConfig):
        new_train = dataclasses.replace(a.train, **{f.name: _changed(getattr(a.train, f.name))})
        ids.add(dataclasses.replace(a, train=new_train).run_id)
    n_fields = len(dataclasses.fields(RunConfig)) - 1 + len(dataclasses.fields(TrainConfig))
    assert len(ids) == n_fields + 1


def test_bad_config_values():
    with pytest.raises(ValueError, match="valid protocols"):
        RunConfig("toy_binary", "individual", protocol="nope")
    with pytest.raises(ValueError, match="outside"):
        RunConfig("toy_binary", "individual", fold=10, n_folds=10)
    with pytest.raises(ValueError, match="valid ones"):
        train_config({"epochs": 3})
    with pytest.raises(ValueError, match="integer"):
        train_config({"max_epochs": 2.5})
    with pytest.raises(ValueError, match="unknown run settings"):
        RunConfig.from_dict({"dataset": "toy_binary", "method": "individual", "colour": "red"})


@pytest.mark.parametrize("name", ["smoke", "quick", "paper"])
def test_profiles_load(name):
    p = load_profile(name)
    assert p.name == name and p.description
    assert p.folds and p.seeds and p.datasets and p.methods
    assert isinstance(p.train, TrainConfig)
    assert name in PROFILES and PROFILES[name] == p


def test_paper_profile_is_the_papers_protocol():
    p = load_profile("paper")
    assert p.folds == tuple(range(10)) and p.n_folds == 10 and p.seeds == (0, 1, 2, 3, 4)
    assert (p.train.max_epochs, p.train.patience, p.train.min_delta, p.train.batch_size) == (100, 5, 0.01, 128)
    assert p.train_for("lfmc").batch_size == 32
    assert p.train_for("croph_b").batch_size == 128
    assert p.grid_for("tsaits")[0] == (None,)


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ValueError, match="valid profiles: paper, quick, smoke"):
        load_profile("huge")


def test_configs_expansion():
    cfgs = configs_for("smoke", "toy_multiclass", ["individual", "mdico"], variants=("default", "no_cont"),
                       seeds=[0, 1], folds=[0, 2])
    # individual has only "default": (1 + 2) method-variants x 2 seeds x 2 folds
    assert len(cfgs) == 12 and len({c.run_id for c in cfgs}) == 12
    assert {(c.method, c.variant) for c in cfgs} == {("individual", "default"), ("mdico", "default"),
                                                     ("mdico", "no_cont")}
    assert cfgs[0].seed == 0 and cfgs[0].fold == 0 and cfgs[-1].seed == 1 and cfgs[-1].fold == 2
    smoke = load_profile("smoke")
    assert all(c.train == smoke.train for c in cfgs)
    assert configs_for("smoke", "toy_binary", "all")  # every registered method


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "nope", "methods": ["individual"]}, "valid datasets"),
    ({"dataset": "toy_binary", "methods": ["nope"]}, "valid methods"),
    ({"dataset": "toy_binary", "methods": ["mdico"], "variants": ["nope"]}, "valid variants"),
    ({"dataset": "toy_binary", "methods": ["mdico"], "encoders": ["nope"]}, "valid encoders"),
    ({"dataset": "toy_binary", "methods": ["mdico"], "protocol": "nope"}, "valid protocols"),
])
def test_configs_unknown_names(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_profile("smoke").configs(**kwargs)


def test_split_seed_keeps_old_ids_and_is_apart_from_the_training_seed():
    a = _base()
    assert a.split_seed is None and a.effective_split_seed == a.seed == 0
    # at its default the field stays out of the hash: the id is the one of the config before it existed
    before = {k: v for k, v in a.to_dict().items() if k not in ("split_seed", "modalities")}
    assert a.run_id == hashlib.sha256(json.dumps(before, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    b = dataclasses.replace(a, split_seed=10)
    assert b.run_id != a.run_id and (b.seed, b.split_seed, b.effective_split_seed) == (0, 10, 10)
    assert '"split_seed":10' in b.canonical_json() and RunConfig.from_dict(b.to_dict()) == b
    assert "fold 0 split 10 seed 0" in b.label()
    # a split seed equal to the seed is the default run, under its id
    same = dataclasses.replace(a, seed=10, split_seed=10)
    assert same.split_seed is None and same.run_id == dataclasses.replace(a, seed=10).run_id
    cfgs = configs_for("smoke", "toy_binary", ["individual"], seeds=[0, 1, 10], folds=[0], split_seed=10)
    assert [c.effective_split_seed for c in cfgs] == [10, 10, 10] and [c.split_seed for c in cfgs] == [10, 10, None]


def test_cli_released_protocol_runs_on_the_released_split_seed_unless_given():
    from mdico_core.cli import _configs, build_parser

    parser = build_parser()

    def split_seeds(*argv: str) -> list[tuple[int, int]]:
        args = parser.parse_args(["run", "--dataset", "toy_binary", "--methods", "individual", "--profile", "smoke",
                                  "--seeds", "0,1", "--folds", "0", *argv])
        return [(c.seed, c.effective_split_seed) for c in _configs(args, parser)[1]]

    assert split_seeds() == [(0, 0), (1, 1)]
    assert split_seeds("--protocol", "released") == [(0, 10), (1, 10)]
    assert split_seeds("--protocol", "released", "--split-seed", "3") == [(0, 3), (1, 3)]
    assert split_seeds("--split-seed", "3") == [(0, 3), (1, 3)]
