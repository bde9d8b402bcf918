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



# Archived sweeps (data/archived_runs/, and sweeps still running from earlier commits) name their
# records by these ids: a refactor that changes the canonical JSON, a field, a default or a recipe's
# resolution changes them, and must fail here, loudly, rather than silently orphan every record.
PINNED_CANONICAL = (
    '{"dataset":"lfmc","encoder":"tempcnn","fold":0,"image_weights_sha256":"","method":"mdico","n_folds":10,'
    '"protocol":"paper","save_features":true,"seed":0,"settings":"common","train":{"batch_size":128,"beta1":0.9,'
    '"checkpoint":"best","device":"cpu","lr":0.001,"max_epochs":100,"max_steps_per_epoch":null,"min_delta":0.01,'
    '"min_delta_per_modality":false,"momentum":0.0,"monitor":"total","nesterov":false,"optimizer":"adam",'
    '"patience":5,"poly_power":0.9,"schedule":"constant","stages":[],"step_gamma":0.1,"step_milestones":[],'
    '"warmup_epochs":0,"weight_decay":0.0},"variant":"default"}')


def test_run_ids_are_pinned():
    default = RunConfig("lfmc", "mdico")
    assert default.canonical_json() == PINNED_CANONICAL
    assert default.run_id == "773df664c64238ac"
    assert load_profile("quick").configs("lfmc", "mdico")[0].run_id == "173693cba0342b1f"
    assert load_profile("paper").configs("lfmc", "shaspec", settings="original")[0].run_id == "193a9b4124807c2c"
    decur = load_profile("paper").configs("croph_b", "decur", settings="original", split_seed=10, seeds=[2], folds=[3])
    assert decur[0].run_id == "ee9b32c17d381f78"
    assert RunConfig("presto_lfmc", "mdico", modalities=("S2", "S1")).run_id == "f7d5f6b5e9161680"

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


# Fields whose change needs a valid value of their own; the local path of the image weights is the
# one field that is not part of the identity (its digest is).
NEW_VALUES = {"protocol": "released", "fold": None, "settings": "original", "optimizer": "sgd", "schedule": "poly",
              "monitor": "task", "checkpoint": "final", "step_milestones": (0.5,), "stages": (("probe", (("lr", 0.5),)),),
              "image_weights_sha256": "ab" * 32, "modalities": ("S1",), "split_seed": 10, "folds_by": "site"}
NOT_IDENTITY = {"image_weights"}


def test_every_field_changes_the_id():
    a = _base()
    ids = {a.run_id}
    for f in dataclasses.fields(RunConfig):
        if f.name in ("train", *NOT_IDENTITY):
            continue
        new = NEW_VALUES[f.name] if f.name in NEW_VALUES else _changed(getattr(a, f.name))
        ids.add(dataclasses.replace(a, **{f.name: new}).run_id)
    for f in dataclasses.fields(TrainConfig):
        new = NEW_VALUES[f.name] if f.name in NEW_VALUES else _changed(getattr(a.train, f.name))
        ids.add(dataclasses.replace(a, train=dataclasses.replace(a.train, **{f.name: new})).run_id)
    n_fields = len(dataclasses.fields(RunConfig)) - 1 - len(NOT_IDENTITY) + len(dataclasses.fields(TrainConfig))
    assert len(ids) == n_fields + 1


def test_image_weights_are_identified_by_their_digest_not_their_path(tmp_path):
    from mdico_core.experiments.config import verified_weights

    w1, w2, other = tmp_path / "w1.pth", tmp_path / "copy.pth", tmp_path / "other.pth"
    w1.write_bytes(b"weights")
    w2.write_bytes(b"weights")
    other.write_bytes(b"other weights")
    a, b, c = (RunConfig("tsaits", "mdico", image_weights=str(p)) for p in (w1, w2, other))
    assert a.image_weights_sha256 == hashlib.sha256(b"weights").hexdigest()
    assert a.run_id == b.run_id != c.run_id != RunConfig("tsaits", "mdico").run_id
    assert str(w1) not in a.canonical_json()
    assert RunConfig.from_dict({**a.to_dict(), "image_weights": ""}).run_id == a.run_id  # as a record stores it
    assert verified_weights(str(w2), a.image_weights_sha256) == str(w2)
    with pytest.raises(ValueError, match="corrupt"):
        verified_weights(str(other), a.image_weights_sha256)
    with pytest.raises(FileNotFoundError, match="needs the image-encoder weights"):
        verified_weights("", a.image_weights_sha256)
    with pytest.raises(FileNotFoundError, match="not found"):
        RunConfig("tsaits", "mdico", image_weights=str(tmp_path / "absent.pth"))
    with pytest.raises(ValueError, match="only mdico"):
        load_profile("smoke").configs("toy_binary", ["individual"], image_weights=str(w1))
    cfgs = load_profile("smoke").configs("toy_binary", ["mdico"], image_weights=str(w1))
    assert cfgs[0].image_weights_sha256 == a.image_weights_sha256


# ----------------------------------------------------------------- the two settings
def test_original_settings_of_methods_whose_recipe_is_the_common_one_are_the_common_runs():
    p = load_profile("paper")
    for method in ("mdico", "individual", "inputfu", "mmgf"):
        common = p.configs("lfmc", [method], folds=[0], seeds=[0])
        original = p.configs("lfmc", [method], folds=[0], seeds=[0], settings="original")
        assert [c.run_id for c in common] == [c.run_id for c in original] and original[0].settings == "common"
        task = p.configs("lfmc", [method], folds=[0], seeds=[0], settings="original", train={"monitor": "task"})
        assert task[0].train.monitor == "task" and task[0].run_id not in {c.run_id for c in common}


def test_original_settings_are_resolved_into_the_run_config():
    p = load_profile("paper")
    (sha,) = p.configs("lfmc", ["shaspec"], folds=[0], seeds=[0], settings="original")
    (common,) = p.configs("lfmc", ["shaspec"], folds=[0], seeds=[0])
    assert sha.settings == "original" and sha.run_id != common.run_id
    t = sha.train
    assert (t.optimizer, t.lr, t.momentum, t.nesterov, t.schedule, t.patience, t.checkpoint, t.batch_size) == (
        "sgd", 1e-2, 0.9, True, "poly", 0, "final", 32)  # LFMC keeps the common batch size
    assert t.for_stage("full").max_epochs == 44 and t.for_stage("random").max_epochs == 56
    (smoke,) = load_profile("smoke").configs("lfmc", ["shaspec"], settings="original")
    assert smoke.train.for_stage("full").max_epochs == 1 and smoke.train.for_stage("random").max_epochs == 1
    (decur,) = p.configs("lfmc", ["decur"], folds=[0], seeds=[0], settings="original")
    assert decur.train.for_stage("pretrain").optimizer == "adamw" and decur.train.for_stage("probe").optimizer == "sgd"
    # the resolved numbers survive a round trip through a record, and so does the id
    back = RunConfig.from_dict(json.loads(json.dumps(decur.to_dict())))
    assert back == decur and back.run_id == decur.run_id
    for method, field_, value in [("embracenet", "lr", 1e-4), ("dml", "beta1", 0.5), ("discomkd", "checkpoint", "per_view"),
                                  ("esensi", "min_delta_per_modality", True), ("anysat", "optimizer", "adamw")]:
        (cfg,) = p.configs("lfmc", [method], folds=[0], seeds=[0], settings="original")
        assert getattr(cfg.train, field_) == value, method
    (short,) = p.configs("lfmc", ["shaspec"], folds=[0], seeds=[0], settings="original", train={"max_epochs": 10})
    assert short.train.for_stage("full").max_epochs == 4 and short.train.for_stage("random").max_epochs == 6
    (task,) = p.configs("lfmc", ["discomkd"], folds=[0], seeds=[0], settings="original", train={"monitor": "task"})
    assert task.train.monitor == "task" and task.train.checkpoint == "per_view"  # an explicit setting wins
    with pytest.raises(ValueError, match="valid settings"):
        p.configs("lfmc", ["mdico"], settings="own")


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
    before = {k: v for k, v in a.to_dict().items() if k not in ("split_seed", "modalities", "folds_by", "image_weights")}
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
    from mdico_core.cli import build_parser, run_configs

    parser = build_parser()

    def split_seeds(*argv: str) -> list[tuple[int, int]]:
        args = parser.parse_args(["run", "--dataset", "toy_binary", "--methods", "individual", "--profile", "smoke",
                                  "--seeds", "0,1", "--folds", "0", *argv])
        return [(c.seed, c.effective_split_seed) for c in run_configs(args, parser)[1]]

    assert split_seeds() == [(0, 0), (1, 1)]
    assert split_seeds("--protocol", "released") == [(0, 10), (1, 10)]
    assert split_seeds("--protocol", "released", "--split-seed", "3") == [(0, 3), (1, 3)]
    assert split_seeds("--split-seed", "3") == [(0, 3), (1, 3)]


def test_folds_by_enters_the_run_id_only_when_set() -> None:
    from mdico_core.experiments.config import RunConfig

    plain = RunConfig("lfmc", "mdico")
    assert "folds_by" not in plain.canonical_json()  # the ids of every archived run stay
    sited = RunConfig("lfmc", "mdico", folds_by="site")
    assert sited.run_id != plain.run_id and '"folds_by":"site"' in sited.canonical_json()
    assert "by site" in sited.label()
    with pytest.raises(ValueError, match="folds_by"):
        RunConfig("lfmc", "mdico", folds_by="")
