"""More than two modalities: every method at M = 3, and runs trained on a subset of a dataset's modalities.

The paper validates MDiCo and its competitors with two modalities only (its limitation (i)). Here
every registered method is built on three modalities of a tiny synthetic set, in two layouts (time
series of 4 steps, and static features of one step as mfeat's), and must either train (finite
loss terms that read all three modalities, a few optimiser steps, single-view predictions that do
not move when the other views are perturbed) or refuse at construction with an error naming its
limit (`Method.max_modalities`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mdico_core.cli import build_parser, run_configs
from mdico_core.data import DATASETS, DatasetEntry
from mdico_core.data.synthetic import make_synthetic
from mdico_core.experiments import ResultsStore, RunConfig, execute, run_one, train_config
from mdico_core.experiments.profile import check_modalities, load_profile
from mdico_core.methods import FUSION, METHODS, ProblemSpec, build_method
from mdico_core.methods.anysat import AnySat
from mdico_core.methods.base import Method
from mdico_core.training import TrainConfig, fit, to_tensors

torch.set_num_threads(1)
LAYOUTS = {
    "series": {"A": (4, 2), "B": (4, 3), "C": (4, 5)},
    "static": {"A": (1, 6), "B": (1, 4), "C": (1, 3)},  # mfeat's (1, C) views
}
FEW_STEPS = TrainConfig(max_epochs=2, batch_size=16, max_steps_per_epoch=3, patience=0)


class TinyBackbone(nn.Module):
    """Stands in for AnySat's pretrained backbone (its test seam): AnySat's input dict -> (B, 768)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 768)

    def forward(self, data: dict, patch_size: int, output: str) -> torch.Tensor:
        x = data[next(k for k in data if not k.endswith("_dates"))]
        return self.lin(x.flatten(1).mean(1, keepdim=True))


def _build(name: str, spec: ProblemSpec) -> Method:
    torch.manual_seed(0)
    if name == "anysat":  # no pretrained weights here: the seam, with an explicit band layout per view
        return AnySat(spec, model=TinyBackbone(), band_map={m: ("s1-asc", (0, 1)) for m in spec.shapes})
    return build_method(name, spec, "mlp")


def _data(layout: str, n: int = 48):
    ds = make_synthetic("multiclass", n=n, shapes=LAYOUTS[layout], n_classes=3, seed=0)
    return ProblemSpec.from_dataset(ds), to_tensors(ds.modalities, ds.target)


def _refuses(cls: type[Method], m: int) -> bool:
    return m < cls.min_modalities or (cls.max_modalities is not None and m > cls.max_modalities)


# ------------------------------------------------------------------------------ every method at M = 3
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_trains_on_three_modalities_or_refuses(name: str, layout: str) -> None:
    spec, data = _data(layout)
    cls = METHODS[name]
    if _refuses(cls, 3):
        with pytest.raises(ValueError, match="at most|at least"):
            _build(name, spec)
        return
    method = _build(name, spec)

    # Training-mode terms are finite; eval-mode terms read every one of the three modalities.
    method.train()
    terms = method.losses({"x": data["x"], "y": data["y"]})
    assert terms and all(torch.isfinite(v).all() for v in terms.values())
    x = {m: v.clone().requires_grad_(True) for m, v in data["x"].items()}
    method.eval()
    sum(method.losses({"x": x, "y": data["y"]}).values()).backward()
    for m in LAYOUTS[layout]:
        assert x[m].grad is not None and x[m].grad.abs().sum() > 0, f"{name}: the loss ignores modality {m}"
    method.zero_grad()

    before = {k: v.detach().clone() for k, v in method.state_dict().items()}
    result = fit(method, data, data, FEW_STEPS, seed=0)
    assert result.epochs_run >= 1 and all(np.isfinite(r["val/total"]) for r in result.history)
    assert any(not torch.equal(before[k], v) for k, v in method.state_dict().items())  # the steps ran

    method.eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for view in method.views():
            p = method.predict(data["x"], view)
            assert torch.isfinite(p).all() and p.shape == (48, 3)
            if view == FUSION:  # the fusion references read every modality: each one moves them
                for m in data["x"]:
                    moved = {**data["x"], m: torch.randn(data["x"][m].shape, generator=g)}
                    assert not torch.allclose(method.predict(moved, view), p), f"{name} ignores {m}"
                continue
            own = view.split(":", 1)[0]
            others = {m: torch.randn(v.shape, generator=g) * 5 if m != own else v for m, v in data["x"].items()}
            torch.testing.assert_close(method.predict(others, view), p, rtol=0, atol=0)
            torch.testing.assert_close(method.predict({own: data["x"][own]}, view), p, rtol=0, atol=0)


def test_every_method_states_how_many_modalities_it_takes() -> None:
    for cls in METHODS.values():
        assert isinstance(cls.min_modalities, int) and cls.min_modalities >= 1
        assert cls.max_modalities is None or cls.max_modalities >= cls.min_modalities
        assert cls.modality_support() in ("any", f"{cls.min_modalities} or more",
                                          f"{cls.min_modalities} to {cls.max_modalities}")
    co_learners = {n for n, c in METHODS.items() if c.min_modalities == 2}
    assert co_learners == {"mdico", "dml", "decur", "discomkd", "shaspec"}


def test_a_limit_is_refused_at_construction_naming_it() -> None:
    class TwoOnly(Method):
        name, paper_name, max_modalities = "two_only", "TwoOnly", 2

    spec, _ = _data("static")
    with pytest.raises(ValueError, match=r"TwoOnly trains on at most 2 modalities; got 3: \['A', 'B', 'C'\]"):
        TwoOnly(spec)
    assert TwoOnly.modality_support() == "1 to 2"
    one = ProblemSpec({"A": (1, 6)}, "multiclass", 3)
    with pytest.raises(ValueError, match="MDiCo needs at least 2 modalities"):
        build_method("mdico", one, "mlp")


# ------------------------------------------------------------------------------ RunConfig.modalities
def test_modalities_are_normalised_and_hashed() -> None:
    a = RunConfig("toy_multiclass", "mdico", modalities=["S2", "S1", "S2"])
    b = RunConfig("toy_multiclass", "mdico", modalities=("S1", "S2"))
    assert a.modalities == ("S1", "S2") and a.run_id == b.run_id
    assert RunConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    c = RunConfig("toy_multiclass", "mdico", modalities=["S1"])
    assert c.run_id != a.run_id and "on S1" in c.label()
    full = RunConfig("toy_multiclass", "mdico")
    assert "modalities" not in json.loads(full.canonical_json())  # ids archived before the field stay valid
    with pytest.raises(ValueError, match="non-empty"):
        RunConfig("toy_multiclass", "mdico", modalities=[])


def test_profile_checks_the_names_and_folds_all_to_none() -> None:
    smoke = load_profile("smoke")
    runs = smoke.configs("presto_lfmc", "mdico", modalities="S2,S1")
    assert runs and {r.modalities for r in runs} == {("S1", "S2")}
    everything = smoke.configs("presto_lfmc", "mdico", modalities=["ERA5_SRTM", "S2", "S1"])
    assert [r.run_id for r in everything] == [r.run_id for r in smoke.configs("presto_lfmc", "mdico")]
    with pytest.raises(ValueError, match="valid modalities: S1, S2, ERA5_SRTM"):
        smoke.configs("presto_lfmc", "mdico", modalities="S1,L8")
    assert check_modalities("toy_binary", None) is None


def test_cli_run_takes_modalities() -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "--dataset", "presto_lfmc", "--methods", "mdico", "--profile", "smoke",
                              "--modalities", "S1,ERA5_SRTM"])
    _, configs = run_configs(args, args.parser)
    assert configs and all(c.modalities == ("ERA5_SRTM", "S1") for c in configs)
    args = parser.parse_args(["run", "--dataset", "presto_lfmc", "--profile", "smoke", "--modalities", "L8"])
    with pytest.raises(SystemExit) as info:
        run_configs(args, args.parser)
    assert info.value.code == 2


@pytest.fixture
def three_views(monkeypatch: pytest.MonkeyPatch) -> str:
    ds = make_synthetic("multiclass", n=120, shapes=LAYOUTS["static"], n_classes=3, seed=0)
    monkeypatch.setitem(DATASETS, "toy_three", DatasetEntry("toy_three", loader=lambda: ds, task="multiclass"))
    return "toy_three"


def test_runner_trains_on_the_chosen_modalities_only(three_views: str, tmp_path) -> None:
    smoke = train_config({"max_epochs": 1, "max_steps_per_epoch": 2, "batch_size": 32, "patience": 0})
    cfg = RunConfig(three_views, "mdico", encoder="mlp", train=smoke, modalities=("C", "A"), save_features=False)
    rec = run_one(cfg, ResultsStore(tmp_path))
    assert rec["status"] == "done" and list(rec["config"]["modalities"]) == ["A", "C"]
    assert sorted(rec["metrics"]) == ["A", "A:shared", "A:specific", "C", "C:shared", "C:specific"]
    full, _ = execute(RunConfig(three_views, "mdico", encoder="mlp", train=smoke, save_features=False))
    assert {"A", "B", "C"} <= set(full["metrics"])
    assert (rec["n_train"], rec["n_val"], rec["n_test"]) == (full["n_train"], full["n_val"], full["n_test"])
    df = ResultsStore(tmp_path).collect(three_views)
    assert set(df["modalities"]) == {"A,C"}
    bad = RunConfig(three_views, "individual", encoder="mlp", train=smoke, modalities=("A", "Z"))
    with pytest.raises(ValueError, match="valid modalities: A, B, C"):
        execute(bad)


def test_decur_augmentation_keeps_a_one_step_series() -> None:
    from mdico_core.methods.decur import augment

    torch.manual_seed(0)
    x = torch.randn(8, 1, 6)  # mfeat's static views: a time mask would zero the whole sample
    view = augment(x)
    assert (view.abs().sum((1, 2)) > 0).all() and not torch.equal(view, x)
    assert (augment(torch.ones(8, 5, 2)) == 0).any()  # series of several steps keep their time mask
