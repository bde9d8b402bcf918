"""The fit loop: it can overfit a tiny batch, early stopping restores the best epoch, a seed fixes
every number on CPU; optimisers, schedules, stages, monitors and per-view checkpoints do what
`TrainConfig` says; Individual's models train independently."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from mdico_core.data.synthetic import make_synthetic
from mdico_core.methods import ProblemSpec, build_method
from mdico_core.methods.base import Method, Stage
from mdico_core.metrics import score
from mdico_core.training import (
    TrainConfig,
    evaluate_losses,
    fit,
    lr_factor,
    make_optimizer,
    monitor_values,
    predict,
    to_tensors,
    use_view_weights,
    view_score,
)

torch.set_num_threads(1)

SHAPES = {"A": (4, 3), "B": (4, 5)}


def tiny_data(n: int = 16, seed: int = 0, k: int = 3) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(n, *s, generator=g) for m, s in SHAPES.items()}
    return {"x": x, "y": torch.randint(0, k, (n,), generator=g)}


def tiny_spec(k: int = 3) -> ProblemSpec:
    return ProblemSpec(SHAPES, "multiclass", k, tuple([1.0] * k))


@pytest.mark.parametrize("method, term", [("individual", "total"), ("mdico", "main")])
def test_tiny_batch_is_overfitted(method: str, term: str) -> None:
    torch.manual_seed(0)
    mdl = build_method(method, tiny_spec(), "mlp", dropout=0.0)
    data = tiny_data()  # random labels: only memorisation brings the loss down
    before = evaluate_losses(mdl, data)[term]
    cfg = TrainConfig(max_epochs=150, batch_size=16, lr=1e-2, patience=0)
    result = fit(mdl, data, data, cfg, seed=0)
    after = evaluate_losses(mdl, data)[term]
    assert result.epochs_run == 150 * len(mdl.stages(cfg))  # patience 0 disables early stopping
    assert after < before / 10, (before, after)
    labels = predict(mdl, data["x"], "A").argmax(-1)
    assert (labels == data["y"].numpy()).mean() == 1.0


class Drift(Method):
    """A one-parameter method whose training pushes p up by lr per Adam step (constant gradient)
    while its validation loss is (p - target)^2: it improves until p passes target, then worsens."""

    name = "drift"

    def __init__(self, spec: ProblemSpec, target: float):
        super().__init__(spec)
        self.p = nn.Parameter(torch.zeros(1))
        self.target = target

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        if self.training:
            return {"main": -self.p.sum()}
        return {"main": ((self.p - self.target) ** 2).sum()}


def test_early_stopping_restores_the_best_epoch_exactly() -> None:
    spec = ProblemSpec({"a": (1, 1)}, "regression", 1)
    mdl = Drift(spec, target=0.5)
    data = {"x": {"a": torch.zeros(4, 1, 1)}, "y": torch.zeros(4)}
    snapshots: dict[int, dict] = {}
    cfg = TrainConfig(max_epochs=50, batch_size=4, lr=0.1, patience=3, min_delta=1e-3)
    result = fit(mdl, data, data, cfg, seed=0,
                 on_epoch=lambda e, row: snapshots.__setitem__(e, copy.deepcopy(mdl.state_dict())))
    val = [row["val/total"] for row in result.history]
    # p = 0.1 * epoch, so the validation loss bottoms out at epoch 5 and rises for 3 epochs
    assert result.best_epoch == 5 and int(np.argmin(val)) + 1 == 5
    assert result.epochs_run == 8
    assert val[5] > val[4] and val[6] > val[5]
    assert torch.equal(mdl.p, snapshots[5]["p"])
    assert not torch.equal(mdl.p, snapshots[8]["p"])
    assert evaluate_losses(mdl, data)["total"] == val[4]


def test_early_stopping_restores_a_real_model() -> None:
    torch.manual_seed(0)
    mdl = build_method("individual", ProblemSpec({"A": SHAPES["A"]}, "multiclass", 3, (1.0,) * 3), "mlp",
                       dropout=0.0)  # one modality: one stage, whose epochs the snapshots count
    train = tiny_data(32, seed=0)
    y = train["y"].clone()
    y[:8] = (y[:8] + 1) % 3  # a quarter of the validation labels disagree with training
    val = {"x": train["x"], "y": y}
    snapshots: dict[int, dict] = {}
    cfg = TrainConfig(max_epochs=60, batch_size=32, lr=1e-2, patience=3, min_delta=0.0)
    result = fit(mdl, train, val, cfg, seed=0,
                 on_epoch=lambda e, row: snapshots.__setitem__(e, copy.deepcopy(mdl.state_dict())))
    # validation improves while the shared labels are learnt, then memorising the others hurts it
    assert 1 < result.best_epoch < result.epochs_run < cfg.max_epochs
    restored = mdl.state_dict()
    for k, v in snapshots[result.best_epoch].items():
        assert torch.equal(restored[k], v), k
    assert evaluate_losses(mdl, val)["total"] == result.history[result.best_epoch - 1]["val/total"]


def run(seed: int) -> tuple[dict, list]:
    ds = make_synthetic("multiclass", n=96, shapes=SHAPES, n_classes=3, seed=0)
    tr, te = np.arange(64), np.arange(64, 96)
    spec = ProblemSpec.from_dataset(ds, tr)
    train = to_tensors({m: v[tr] for m, v in ds.modalities.items()}, ds.target[tr])
    test = to_tensors({m: v[te] for m, v in ds.modalities.items()}, ds.target[te])
    torch.manual_seed(seed)  # weights and dropout; fit seeds the batch order
    mdl = build_method("mdico", spec, "tempcnn")
    result = fit(mdl, train, test, TrainConfig(max_epochs=2, batch_size=16), seed=seed)
    metrics = {v: score("multiclass", ds.target[te], predict(mdl, test["x"], v)) for v in mdl.views()}
    return metrics, result.history


def test_same_seed_gives_identical_numbers_and_another_seed_differs() -> None:
    m0, h0 = run(0)
    m0b, h0b = run(0)
    m1, h1 = run(1)
    assert m0 == m0b and h0 == h0b  # bit-identical, not approximately equal
    assert h0 != h1


def test_early_stopping_keeps_the_lowest_loss_while_min_delta_decides_when_to_stop():
    from mdico_core.training import EarlyStopping

    stopper = EarlyStopping(patience=3, min_delta=0.01)
    best_epochs, stopped_at = [], None
    for epoch, value in enumerate([1.0, 0.995, 0.992, 0.991, 0.5], start=1):
        stopper.update(value)
        if stopper.improved_best:
            best_epochs.append(epoch)
        if stopper.should_stop:
            stopped_at = epoch
            break
    # each small improvement is kept as the best weights, but none exceeds min_delta: stop after 3
    assert best_epochs == [1, 2, 3, 4] and stopped_at == 4
    never = EarlyStopping(patience=0, min_delta=0.01)
    for value in [1.0, 2.0, 3.0, 4.0]:
        never.update(value)
    assert not never.should_stop


def test_predict_and_features_name_an_unknown_view() -> None:
    from mdico_core.training import features

    method = build_method("mdico", tiny_spec(), "mlp")
    x = tiny_data()["x"]
    for fn in (predict, features):
        with pytest.raises(ValueError, match=r"unknown view 'S3'; valid views: \['A', 'B'"):
            fn(method, x, "S3")


# ----------------------------------------------------------------- TrainConfig, optimisers, schedules
def test_train_config_rejects_unknown_choices() -> None:
    with pytest.raises(ValueError, match="valid: adam, adamw, sgd"):
        TrainConfig(optimizer="lars")
    with pytest.raises(ValueError, match="valid: constant"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="per-view monitor"):
        TrainConfig(checkpoint="per_view")  # with the default monitor "total"
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig(stages=(("probe", (("learning_rate", 0.1),)),))
    probe = TrainConfig(stages=(("probe", (("lr", 0.5), ("optimizer", "sgd"))),)).for_stage("probe")
    assert (probe.lr, probe.optimizer, probe.stages) == (0.5, "sgd", ())
    assert TrainConfig().for_stage("absent") == TrainConfig()


def test_optimizers_carry_their_settings() -> None:
    params = [nn.Parameter(torch.ones(3))]
    sgd = make_optimizer(params, TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4))
    assert isinstance(sgd, torch.optim.SGD)
    assert {k: sgd.param_groups[0][k] for k in ("lr", "momentum", "nesterov", "weight_decay")} == {
        "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}
    adam = make_optimizer(params, TrainConfig(lr=2e-4, beta1=0.5, weight_decay=4e-5))
    assert type(adam) is torch.optim.Adam and adam.param_groups[0]["betas"] == (0.5, 0.999)
    adamw = make_optimizer(params, TrainConfig(optimizer="adamw", weight_decay=1e-6))
    assert type(adamw) is torch.optim.AdamW and adamw.param_groups[0]["weight_decay"] == 1e-6


def test_lr_factors_by_hand() -> None:
    poly = TrainConfig(schedule="poly", poly_power=0.9)
    assert lr_factor(poly, 0, 10, 2) == 1.0 and lr_factor(poly, 5, 10, 2) == pytest.approx(0.5 ** 0.9)
    cos = TrainConfig(schedule="cosine")
    assert lr_factor(cos, 5, 10, 2) == pytest.approx(0.5) and lr_factor(cos, 0, 10, 2) == 1.0
    warm = TrainConfig(schedule="warmup_cosine", warmup_epochs=2, max_epochs=5)  # 4 warm-up steps of 10
    assert [lr_factor(warm, t, 10, 2) for t in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(warm, 7, 10, 2) == pytest.approx(0.5)  # halfway through the 6 cosine steps
    step = TrainConfig(schedule="step", step_milestones=(0.6, 0.8), step_gamma=0.1)
    assert [lr_factor(step, t, 10, 2) for t in (5, 6, 7, 8, 9)] == pytest.approx([1, 0.1, 0.1, 0.01, 0.01])
    assert lr_factor(TrainConfig(), 3, 10, 2) == 1.0


class Ramp(Method):
    """Parameters a and b, each pushed by a constant gradient of 1 in training; eval loss (a - 0.5)^2.

    With plain SGD every step moves a parameter by exactly minus the step's learning rate, so the
    final values spell out the schedule and which stage trained what. A BatchNorm ``bn`` reads the
    input, so that a frozen module's statistics can be watched.
    """

    name = "ramp"

    def __init__(self, spec: ProblemSpec, stage_list=None):
        super().__init__(spec)
        self.a, self.b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm1d(1)
        self.stage_list, self.modes = stage_list, []

    def stages(self, cfg):
        return self.stage_list(cfg) if self.stage_list else super().stages(cfg)

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        self.bn(batch["x"]["a"].reshape(len(batch["y"]), 1))
        if self.training:
            self.modes.append(self.stage)
            return {"main": self.a.sum() + self.b.sum()}
        return {"main": ((self.a - 0.5) ** 2).sum()}


RAMP_SPEC = ProblemSpec({"a": (1, 1)}, "regression", 1)
RAMP_DATA = {"x": {"a": torch.randn(4, 1, 1) + 3}, "y": torch.zeros(4)}  # 2 steps per epoch at batch 2


def test_schedule_is_applied_per_step_over_the_budget() -> None:
    cfg = TrainConfig(max_epochs=5, batch_size=2, optimizer="sgd", lr=0.1, schedule="poly", patience=0,
                      checkpoint="final")
    mdl = Ramp(RAMP_SPEC)
    fit(mdl, RAMP_DATA, RAMP_DATA, cfg)
    expected = -sum(0.1 * (1 - t / 10) ** 0.9 for t in range(10))
    assert mdl.a.item() == pytest.approx(expected, rel=1e-6)


def test_stages_train_their_parameters_and_freeze_the_rest() -> None:
    def two(cfg):
        return [Stage("first", cfg, params=("a",), mode="first"),
                Stage("second", cfg.for_stage("second"), params=("b", "bn"), mode="second")]

    cfg = TrainConfig(max_epochs=2, batch_size=2, optimizer="sgd", lr=0.1, patience=0, checkpoint="final",
                      stages=(("second", (("lr", 0.01), ("max_epochs", 3))),))
    mdl = Ramp(RAMP_SPEC, two)
    bn_before = mdl.bn.running_mean.clone()
    result = fit(mdl, RAMP_DATA, RAMP_DATA, cfg)
    assert mdl.a.item() == pytest.approx(-0.1 * 4) and mdl.b.item() == pytest.approx(-0.01 * 6)
    assert [(r["stage"], r["epoch"]) for r in result.history] == [
        ("first", 1), ("first", 2), ("second", 1), ("second", 2), ("second", 3)]
    assert mdl.modes == ["first"] * 4 + ["second"] * 6 and mdl.stage is None
    assert result.epochs_run == 5 and result.best_epoch == 3
    # bn is frozen in the first stage (eval mode: its statistics stay) and trained in the second
    assert all(p.requires_grad for p in mdl.parameters())
    mdl2 = Ramp(RAMP_SPEC, lambda c: two(c)[:1])
    fit(mdl2, RAMP_DATA, RAMP_DATA, cfg)
    assert torch.equal(mdl2.bn.running_mean, bn_before) and not torch.equal(mdl.bn.running_mean, bn_before)


def test_a_resumed_stage_continues_the_optimiser_and_its_schedule() -> None:
    def chained(resume):
        return lambda cfg: [Stage("one", cfg.for_stage("one"), mode="one"),
                            Stage("two", cfg.for_stage("two"), mode="two", resume=resume)]

    cfg = TrainConfig(batch_size=2, optimizer="sgd", lr=0.1, momentum=0.5, schedule="poly", patience=0,
                      checkpoint="final", stages=(("one", (("max_epochs", 1),)), ("two", (("max_epochs", 2),))))
    velocity, a = 0.0, 0.0
    for t in range(6):  # one momentum buffer and one poly schedule over the 6 steps of both stages
        velocity = 0.5 * velocity + 1.0
        a -= 0.1 * (1 - t / 6) ** 0.9 * velocity
    mdl = Ramp(RAMP_SPEC, chained(True))
    fit(mdl, RAMP_DATA, RAMP_DATA, cfg)
    assert mdl.a.item() == pytest.approx(a, rel=1e-6)
    fresh = Ramp(RAMP_SPEC, chained(False))
    fit(fresh, RAMP_DATA, RAMP_DATA, cfg)
    assert fresh.a.item() != pytest.approx(a, rel=1e-3)  # a new optimiser restarts momentum and schedule


# ----------------------------------------------------------------- monitors and per-view checkpoints
class TwoViews(Method):
    """View A predicts a, view B predicts b - 0.3; Adam pushes both up by lr per step."""

    name = "two_views"

    def __init__(self, spec: ProblemSpec):
        super().__init__(spec)
        self.a, self.b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))

    def views(self) -> list[str]:
        return ["A", "B"]

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        return {"main": -(self.a + self.b).sum() if self.training else (self.a + self.b).sum() * 0}

    def _predict(self, x, view: str) -> torch.Tensor:
        n = len(next(iter(x.values())))
        value = self.a if view == "A" else self.b - 0.3
        return value.expand(n, 1)


TWO_SPEC = ProblemSpec({"A": (1, 1), "B": (1, 1)}, "regression", 1)
TWO_DATA = {"x": {"A": torch.zeros(4, 1, 1), "B": torch.zeros(4, 1, 1)}, "y": torch.tensor([0.0, 1.0, 0.0, 1.0])}


def test_per_view_checkpoints_keep_each_views_best_score() -> None:
    # R² of a constant prediction c is -(0.5 - c)^2 / 0.25: A peaks at a = 0.5 (epoch 5), B at b = 0.8 (epoch 8)
    cfg = TrainConfig(max_epochs=12, batch_size=4, lr=0.1, patience=0, monitor="score", checkpoint="per_view")
    mdl = TwoViews(TWO_SPEC)
    result = fit(mdl, TWO_DATA, TWO_DATA, cfg)
    assert result.best_epochs == {"A": 5, "B": 8} and result.epochs_run == 12
    assert mdl.a.item() == pytest.approx(1.2, rel=1e-4)  # the model itself holds the final weights
    use_view_weights(mdl, result, "A")
    assert mdl.a.item() == pytest.approx(0.5, rel=1e-4)
    assert view_score(mdl, TWO_DATA, "A") == pytest.approx(0.0, abs=1e-6)  # R² of the mean prediction
    use_view_weights(mdl, result, "B")
    assert mdl.b.item() == pytest.approx(0.8, rel=1e-4)


def test_monitors_task_and_score() -> None:
    mdl = TwoViews(TWO_SPEC)
    with torch.no_grad():
        mdl.a.fill_(0.25)
        mdl.b.fill_(1.3)  # view B predicts 1.0
    stage = Stage("main", TrainConfig(monitor="task"))
    value, per_view = monitor_values(mdl, TWO_DATA, stage, {}, 4)
    assert per_view == pytest.approx({"A": (0.25 ** 2 + 0.75 ** 2) / 2, "B": 0.5})  # MSE against y
    assert value == pytest.approx((per_view["A"] + per_view["B"]) / 2)
    value, per_view = monitor_values(mdl, TWO_DATA, Stage("main", TrainConfig(monitor="score")), {}, 4)
    assert per_view == pytest.approx({"A": 0.25 ** 2 / 0.25, "B": 0.5 ** 2 / 0.25})  # -R², lower is better
    value, _ = monitor_values(mdl, TWO_DATA, Stage("main", TrainConfig()), {"val/total": 7.0}, 4)
    assert value == 7.0


def test_min_delta_per_modality() -> None:
    mdl = Drift(ProblemSpec({"a": (1, 1), "b": (1, 1)}, "regression", 1), target=10.0)
    data = {"x": {"a": torch.zeros(4, 1, 1), "b": torch.zeros(4, 1, 1)}, "y": torch.zeros(4)}
    # the validation loss falls by about 2 * 0.1 * (10 - p) per epoch: ~2.0 at first, shrinking below 0.1 * M
    common = fit(Drift(mdl.spec, 10.0), data, data, TrainConfig(max_epochs=200, batch_size=4, lr=0.1, patience=2,
                                                                min_delta=0.05))
    scaled = fit(mdl, data, data, TrainConfig(max_epochs=200, batch_size=4, lr=0.1, patience=2, min_delta=0.05,
                                              min_delta_per_modality=True))
    assert scaled.epochs_run < common.epochs_run


# ----------------------------------------------------------------- Individual: M independent models
def _individual_runs(x_a_noise: float = 0.0, shapes: dict | None = None, seed: int = 0):
    ds = make_synthetic("regression", n=200, shapes=SHAPES, seed=0)
    tr, va = np.arange(150), np.arange(150, 200)
    spec = ProblemSpec.from_dataset(ds, tr)
    x = {m: v.copy() for m, v in ds.modalities.items()}
    x["A"][tr] += x_a_noise * np.random.default_rng(1).standard_normal(x["A"][tr].shape).astype(np.float32)
    train = to_tensors({m: v[tr] for m, v in x.items()}, ds.target[tr])
    val = to_tensors({m: v[va] for m, v in x.items()}, ds.target[va])
    torch.manual_seed(seed)
    both = build_method("individual", spec, "mlp")
    return spec, both, train, val


CFG_IND = TrainConfig(max_epochs=40, batch_size=32, lr=3e-3, patience=3, min_delta=0.0)


def test_individual_modality_keeps_the_epoch_a_single_modality_fit_keeps() -> None:
    spec, both, train, val = _individual_runs()
    alone_spec = dataclasses.replace(spec, shapes={"B": spec.shapes["B"]})
    alone = build_method("individual", alone_spec, "mlp")
    alone.load_state_dict({k: v for k, v in both.state_dict().items() if k in alone.state_dict()})
    res_both = fit(both, train, val, CFG_IND, seed=0)
    res_alone = fit(alone, {"x": {"B": train["x"]["B"]}, "y": train["y"]}, {"x": {"B": val["x"]["B"]},
                                                                          "y": val["y"]}, CFG_IND, seed=0)
    assert [s.name for s in both.stages(CFG_IND)] == ["A", "B"]
    assert res_both.best_epochs["B"] == res_alone.best_epochs["B"] == res_alone.best_epoch
    assert [r for r in res_both.history if r["stage"] == "B"] == res_alone.history
    for k, v in alone.state_dict().items():
        assert torch.equal(both.state_dict()[k], v), k
    # each model stopped on its own validation loss: the A stage's kept epoch is its own minimum
    hist_a = [r["val/total"] for r in res_both.history if r["stage"] == "A"]
    assert res_both.best_epochs["A"] == int(np.argmin(hist_a)) + 1


def test_individual_modality_is_unaffected_by_the_other_modalitys_data() -> None:
    _, clean, train, val = _individual_runs()
    _, noisy, train_n, val_n = _individual_runs(x_a_noise=3.0)
    res_clean, res_noisy = fit(clean, train, val, CFG_IND, seed=0), fit(noisy, train_n, val_n, CFG_IND, seed=0)
    assert [r for r in res_clean.history if r["stage"] == "B"] == [r for r in res_noisy.history if r["stage"] == "B"]
    assert [r for r in res_clean.history if r["stage"] == "A"] != [r for r in res_noisy.history if r["stage"] == "A"]
    for k, v in clean.state_dict().items():
        if ".B." in k:
            assert torch.equal(noisy.state_dict()[k], v), k


def test_per_view_early_stopping_waits_for_the_last_view() -> None:
    # A peaks at epoch 5 and B at epoch 8: with patience 2 training stops at epoch 10, when B is stale too
    cfg = TrainConfig(max_epochs=30, batch_size=4, lr=0.1, patience=2, min_delta=0.0, monitor="score",
                      checkpoint="per_view")
    result = fit(TwoViews(TWO_SPEC), TWO_DATA, TWO_DATA, cfg)
    assert result.best_epochs == {"A": 5, "B": 8} and result.epochs_run == 10
