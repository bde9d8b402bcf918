"""The fit loop: it can overfit a tiny batch, early stopping restores the best epoch, and a seed
fixes every number on CPU."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from mdico_core.data.synthetic import make_synthetic
from mdico_core.methods import ProblemSpec, build_method
from mdico_core.methods.base import Method
from mdico_core.metrics import score
from mdico_core.training import TrainConfig, evaluate_losses, fit, predict, to_tensors

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
    assert result.epochs_run == 150  # patience 0 disables early stopping
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
    mdl = build_method("individual", tiny_spec(), "mlp", dropout=0.0)
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
