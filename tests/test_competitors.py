"""The competitors of Tables 2-5 behind the one `Method` interface (issue 5).

Every method is checked for the all-but-one setting (a single-modality prediction reads only its
modality), for learning (a few Adam steps lower the loss on a fixed batch), and for running
through `fit` on every task; plus DisCoM-KD's gradient reversal, 3-modality use, and the AnySat
wrapper through its test seam. Budgets are tiny: the whole file runs in seconds on one core.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mdico_core.data import get_dataset_entry, load_dataset
from mdico_core.data.dataset import Normalizer
from mdico_core.data.synthetic import make_synthetic
from mdico_core.methods import METHODS, ProblemSpec, build_method
from mdico_core.methods.anysat import WEIGHTS_URL, AnySat, default_band_map, to_anysat
from mdico_core.methods.base import NotReproducedError
from mdico_core.methods.discomkd import DisCoMKD, grad_reverse
from mdico_core.training import TrainConfig, fit, predict, to_tensors

torch.set_num_threads(1)

PAPER_NAMES = {
    "inputfu": "InputFu", "mmgf": "MMGF", "embracenet": "EmbraceNet", "shaspec": "ShaSpec", "decur": "DeCUR",
    "dml": "DML", "discomkd": "DisCoM-KD", "fmoddrop": "FModDrop", "fcom_av": "FCoM-av", "esensi": "ESensI",
    "anysat": "AnySat",
}
FUSION_METHODS = ["inputfu", "mmgf"]
SINGLE_VIEW = ["embracenet", "shaspec", "decur", "dml", "discomkd", "fmoddrop", "fcom_av", "esensi"]
TRAINABLE = FUSION_METHODS + SINGLE_VIEW  # everything but AnySat, which needs the fake backbone
SMOKE = TrainConfig(max_epochs=1, batch_size=32, max_steps_per_epoch=2, patience=0)


class FakeAnySat(nn.Module):
    """A tiny stand-in for the AnySat backbone (test seam only): records its inputs, returns (B, 768)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 768)
        self.calls: list[dict] = []

    def forward(self, data: dict, patch_size: int, output: str) -> torch.Tensor:
        assert output == "tile"
        self.calls.append({k: v.shape for k, v in data.items()} | {"patch_size": patch_size})
        key = next(k for k in data if not k.endswith("_dates"))
        x = data[key]  # (B, T, C, 1, 1) or (B, C, H, W)
        return self.lin(x.flatten(1).mean(1, keepdim=True) + x.flatten(1)[:, :1])  # (B, 768)


def _data(task: str = "multiclass", n: int = 64, shapes: dict | None = None, seed: int = 0):
    ds = make_synthetic(task, n=n, shapes=shapes, seed=seed)
    return ProblemSpec.from_dataset(ds), to_tensors(ds.modalities, ds.target)


def _build(name: str, spec: ProblemSpec, seed: int = 0, **options):
    torch.manual_seed(seed)
    if name == "anysat":
        return AnySat(spec, model=FakeAnySat(), **options)
    return build_method(name, spec, "tempcnn", **options)


def _total(method, batch) -> float:
    with torch.no_grad():
        return float(sum(method.losses(batch).values()))


def test_registry_names_and_paper_names():
    for name, paper in PAPER_NAMES.items():
        assert name in METHODS, f"{name} is not registered"
        assert METHODS[name].paper_name == paper
        assert METHODS[name].name == name
    assert {n for n in PAPER_NAMES if METHODS[n].fusion} == set(FUSION_METHODS)


@pytest.mark.parametrize("name", SINGLE_VIEW + ["anysat"])
def test_single_modality_prediction_reads_only_its_modality(name):
    spec, data = _data(n=16)
    method = _build(name, spec).eval()
    x = data["x"]
    assert method.views()[:2] == ["S1", "S2"]
    for m in ("S1", "S2"):
        other = "S2" if m == "S1" else "S1"
        with torch.no_grad():
            full = method.predict(x, m)
            alone = method.predict({m: x[m]}, m)
            perturbed = method.predict({**x, other: x[other] + 10 * torch.randn_like(x[other])}, m)
            again = method.predict(x, m)
            own_changed = method.predict({m: x[m] + torch.randn_like(x[m])}, m)
        torch.testing.assert_close(alone, full)
        torch.testing.assert_close(perturbed, full)
        torch.testing.assert_close(again, full)  # eval mode: no sampling left
        assert not torch.allclose(own_changed, full), "the prediction ignores its own modality"


@pytest.mark.parametrize("name", FUSION_METHODS)
def test_fusion_references_read_every_modality(name):
    spec, data = _data(n=16)
    method = _build(name, spec).eval()
    assert method.views() == ["fusion"]
    with torch.no_grad():
        p = method.predict(data["x"], "fusion")
        changed = method.predict({**data["x"], "S1": data["x"]["S1"] + 1.0}, "fusion")
    assert p.shape == (16, spec.n_outputs)
    assert not torch.allclose(p, changed), "the fusion ignores a modality"
    with pytest.raises(KeyError, match="missing"):
        method.predict({"S2": data["x"]["S2"]}, "fusion")
    with pytest.raises(ValueError, match="unknown view"):
        method.predict(data["x"], "S1")


def test_inputfu_needs_equal_time_steps():
    spec, _ = _data(n=16, shapes={"A": (6, 2), "B": (12, 3)})
    with pytest.raises(ValueError, match="same number of time steps"):
        build_method("inputfu", spec)


@pytest.mark.parametrize("name", TRAINABLE + ["anysat"])
def test_a_few_adam_steps_lower_the_loss(name):
    spec, data = _data(n=32)
    method = _build(name, spec)
    before = _total(method.eval(), data)
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    method.train()
    torch.manual_seed(1)  # fixes the stochastic training terms (dropout, subsets, sampling)
    for _ in range(8):
        total = torch.stack(list(method.losses(data).values())).sum()
        opt.zero_grad()
        total.backward()
        opt.step()
    after = _total(method.eval(), data)
    assert np.isfinite(after) and after < before, f"{name}: eval loss {before:.4f} -> {after:.4f}"


@pytest.mark.parametrize("task", ["multiclass", "multilabel", "regression"])
@pytest.mark.parametrize("name", TRAINABLE + ["anysat"])
def test_fit_smoke_on_every_task(name, task):
    spec, data = _data(task, n=128)
    method = _build(name, spec)
    result = fit(method, data, data, SMOKE, seed=0)
    assert result.epochs_run == 1 and all(np.isfinite(v) for v in result.history[0].values())
    for view in method.views():
        p = predict(method, data["x"], view)
        assert np.isfinite(p).all()
        if task == "multiclass":
            assert p.shape == (128, spec.n_outputs)
            np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
        elif task == "multilabel":
            assert p.shape == (128, spec.n_outputs) and ((p >= 0) & (p <= 1)).all()
        else:
            assert p.shape == (128,)


@pytest.fixture(scope="module")
def lfmc(real_data):
    """The real LFMC from the cache (the test skips without it; fails under MDICO_REQUIRE_DATA=1)."""
    real_data(*get_dataset_entry("lfmc").files)
    return load_dataset("lfmc")


@pytest.mark.parametrize("name", TRAINABLE)
def test_fit_smoke_on_lfmc(name, lfmc):
    ds = lfmc
    idx = np.arange(min(128, len(ds)))
    sub = ds.subset(idx)
    spec = ProblemSpec.from_dataset(sub)
    data = to_tensors(Normalizer.fit(sub.modalities).transform(sub.modalities), sub.target)
    steps = {s[0] for s in spec.shapes.values() if len(s) == 2}
    if name == "inputfu" and len(steps) > 1:
        with pytest.raises(ValueError):
            _build(name, spec)
        return
    method = _build(name, spec)
    fit(method, data, data, SMOKE, seed=0)
    for view in method.views():
        assert np.isfinite(predict(method, data["x"], view)).all()


def test_gradient_reversal_function():
    x = torch.randn(5, 3, requires_grad=True)
    y = grad_reverse(x, 0.5)
    torch.testing.assert_close(y, x)
    (y * torch.arange(3.0)).sum().backward()
    torch.testing.assert_close(x.grad, -0.5 * torch.arange(3.0).expand(5, 3))


def test_discomkd_adversarial_gradient_is_reversed_for_the_encoder_only():
    spec, data = _data(n=32)
    torch.manual_seed(0)
    method = DisCoMKD(spec).eval()  # eval: no dropout, so both passes see the same function

    def grads(lambd: float) -> tuple[torch.Tensor, torch.Tensor]:
        method.grl_lambda = lambd
        method.zero_grad()
        method.losses(data)["adv"].backward()
        enc = torch.cat([p.grad.flatten() for p in method.invariant.parameters() if p.grad is not None])
        disc = torch.cat([p.grad.flatten() for p in method.disc_adv.parameters()])
        return enc, disc

    enc_rev, disc_rev = grads(1.0)
    enc_plain, disc_plain = grads(-1.0)  # λ = -1: the reversal undone, the plain gradient
    assert enc_rev.abs().sum() > 0 and disc_rev.abs().sum() > 0
    torch.testing.assert_close(enc_rev, -enc_plain)  # the encoder ascends the discriminator's loss
    torch.testing.assert_close(disc_rev, disc_plain)  # the discriminator descends it either way
    # and the specific encoders get nothing from the adversarial term
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in method.specific.parameters())


THREE = {"S1": (12, 2), "S2": (12, 12), "L8": (12, 8)}


@pytest.mark.parametrize("name", TRAINABLE)
def test_three_modalities(name):
    spec, data = _data(n=64, shapes=THREE)
    method = _build(name, spec)
    fit(method, data, data, SMOKE, seed=0)
    views = method.views()
    assert views == (["fusion"] if name in FUSION_METHODS else ["S1", "S2", "L8"])
    for view in views:
        assert np.isfinite(predict(method, data["x"], view)).all()
    if name not in FUSION_METHODS:
        with torch.no_grad():
            alone = method.predict({"L8": data["x"]["L8"]}, "L8")
            torch.testing.assert_close(alone, method.predict(data["x"], "L8"))


def test_shaspec_resamples_unequal_series_and_rejects_images():
    spec, data = _data(n=32, shapes={"A": (6, 2), "B": (12, 5)})
    method = _build("shaspec", spec)
    fit(method, data, data, SMOKE, seed=0)
    assert np.isfinite(predict(method, data["x"], "A")).all()
    img_spec, _ = _data(n=8, shapes={"A": (6, 2), "img": (3, 8, 8)})
    with pytest.raises(ValueError, match="time series"):
        build_method("shaspec", img_spec)


def test_shaspec_mask_path_matches_single_modality_inference():
    spec, data = _data(n=16)
    method = _build("shaspec", spec).eval()
    with torch.no_grad():
        enc = [method.encode(data["x"][m], m) for m in ("S1", "S2")]
        s = torch.stack([e[0] for e in enc], 1)
        f = torch.stack([e[1] for e in enc], 1)
        mask = torch.tensor([[0.0, 1.0]]).expand(16, 2)
        torch.testing.assert_close(method.slots(s, f, mask), method.features(data["x"], "S2"))


@pytest.mark.parametrize("name", ["embracenet", "fmoddrop", "shaspec"])
def test_random_training_mechanisms_follow_the_global_seed(name):
    spec, data = _data(n=32)
    method = _build(name, spec).train()
    losses = []
    for seed in (3, 3, 4, 5, 6):
        torch.manual_seed(seed)
        with torch.no_grad():
            losses.append(float(sum(method.losses(data).values())))
    assert losses[0] == losses[1]
    assert len(set(losses[1:])) > 1, "training-mode losses never vary: the random mechanism is inactive"


def test_fcom_loss_is_the_mean_over_all_subsets():
    spec, data = _data(n=16)
    method = _build("fcom_av", spec).eval()
    with torch.no_grad():
        h = {m: method.embed(data["x"][m], m) for m in ("S1", "S2")}
        copies = [h["S1"], h["S2"], (h["S1"] + h["S2"]) / 2]
        expected = sum(method.task_loss(method.head(c), data["y"]) for c in copies) / 3
        torch.testing.assert_close(method.losses(data)["main"], expected)


def test_dml_mimicry_vanishes_when_peers_agree():
    for task in ("multiclass", "multilabel", "regression"):
        spec, _ = _data(task, n=8)
        method = _build("dml", spec)
        out = torch.randn(8, spec.n_outputs)
        assert float(method.mimicry(out, out)) == pytest.approx(0.0, abs=1e-5)
        assert float(method.mimicry(out, 2 * out + 1.0)) > 1e-3


# ------------------------------------------------------------------ AnySat
def test_anysat_without_weights_is_not_reproduced(monkeypatch, tmp_path):
    monkeypatch.delenv("MDICO_ANYSAT_WEIGHTS", raising=False)
    monkeypatch.delenv("MDICO_ANYSAT_CODE", raising=False)
    spec, _ = _data(n=8)
    with pytest.raises(NotReproducedError, match="not reproduced: needs the pretrained weights") as err:
        build_method("anysat", spec)
    assert WEIGHTS_URL in str(err.value)
    monkeypatch.setenv("MDICO_ANYSAT_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(NotReproducedError, match="absent.pth"):
        build_method("anysat", spec)
    weights = tmp_path / "AnySat.pth"
    weights.write_bytes(b"")
    with pytest.raises(NotReproducedError, match="model code"):  # weights alone: the code is missing
        build_method("anysat", spec, weights_path=str(weights))


def test_anysat_band_reordering_and_dates():
    x = torch.arange(2 * 3 * 12, dtype=torch.float32).view(2, 3, 12)  # (B, T, C), CropHarvest S2 layout
    key, index = default_band_map({"S2": (3, 12)})["S2"]
    data = to_anysat(x, key, index)
    assert key == "s2" and data["s2"].shape == (2, 3, 10, 1, 1)
    torch.testing.assert_close(data["s2"][:, :, 8, 0, 0], x[:, :, 9])  # B11 skips B9
    torch.testing.assert_close(data["s2_dates"], torch.tensor([[0.0, 182.5, 365.0]] * 2))
    s1 = to_anysat(torch.ones(2, 3, 2), *default_band_map({"S1": (3, 2)})["S1"])
    assert "s1-asc" in s1 and s1["s1-asc"].shape == (2, 3, 2, 1, 1)
    zero_band = to_anysat(torch.ones(2, 3, 2), "s1", (0, 1, -1))["s1"]
    assert zero_band[:, :, 2].abs().sum() == 0 and zero_band[:, :, :2].min() == 1
    with pytest.raises(ValueError, match="band_map"):
        default_band_map({"radar": (3, 4)})


def test_anysat_wrapper_fine_tunes_one_copy_per_modality():
    spec, data = _data(n=16)
    fake = FakeAnySat()
    method = AnySat(spec, model=fake)
    assert method.backbones["S1"] is not method.backbones["S2"] and method.backbones["S1"] is not fake
    method.eval()
    with torch.no_grad():
        method.predict({"S1": data["x"]["S1"]}, "S1")
    call = method.backbones["S1"].calls[-1]
    assert call["s1-asc"] == (16, 12, 2, 1, 1) and call["s1-asc_dates"] == (16, 12) and call["patch_size"] == 10
    method.train()
    method.losses(data)["main"].backward()
    assert method.backbones["S2"].lin.weight.grad is not None  # fine-tuned, not frozen


FAKE_HUBCONF = '''
import torch
from torch import nn


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 768)


class AnySat(nn.Module):
    def __init__(self, flash_attn=True):
        super().__init__()
        self.model = _Net()

    def forward(self, x, scale, output="tile"):
        key = next(k for k in x if not k.endswith("_dates"))
        return self.model.lin(x[key].flatten(1).mean(1, keepdim=True))


def anysat(pretrained=False, **kwargs):
    assert not pretrained, "the wrapper must never ask the hub to download"
    return AnySat(**kwargs)
'''


def test_anysat_loads_local_code_and_weights(tmp_path):
    """The real loading path, offline: a local hub directory (fake model code) and a local checkpoint."""
    code = tmp_path / "anysat_code"
    code.mkdir()
    (code / "hubconf.py").write_text(FAKE_HUBCONF)
    state = {"lin.weight": torch.full((768, 1), 0.5), "lin.bias": torch.zeros(768)}
    torch.save(state, tmp_path / "AnySat.pth")
    spec, data = _data(n=8)
    method = build_method("anysat", spec, weights_path=str(tmp_path / "AnySat.pth"), code_path=str(code))
    torch.testing.assert_close(method.backbones["S2"].model.lin.weight, state["lin.weight"])
    with torch.no_grad():  # the newer hub API takes `scale`, which the wrapper detects
        assert method.eval().predict({"S2": data["x"]["S2"]}, "S2").shape == (8, spec.n_outputs)
    (code / "hubconf.py").write_text("import hydra_is_not_installed_here\n")
    with pytest.raises(NotReproducedError, match="dependencies"):
        build_method("anysat", spec, weights_path=str(tmp_path / "AnySat.pth"), code_path=str(code))
