"""The competitors of Tables 2-5 behind the one `Method` interface (issue 5).

Every method is checked for the all-but-one setting (a single-modality prediction reads only its
modality), for learning (every loss term is live, a few Adam steps lower the loss, adversarial
terms are ascended by the encoders), for its random training mechanisms (seeded, and drawing
what the method's paper and code say), and for running through `fit` on every task in both
settings; plus DisCoM-KD's gradient reversal, DML's mimicry direction, 3-modality use, and the
AnySat wrapper (and its original recipe) through its test seam. Each mechanism check is shown to
fail on a broken version of its method (``BROKEN_*``). Budgets are tiny: the whole file runs in
seconds on one core. The losses themselves are recomputed by hand in ``test_competitor_losses.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mdico_core.data import get_dataset_entry, load_dataset
from mdico_core.data.dataset import Normalizer
from mdico_core.data.synthetic import make_synthetic
from mdico_core.experiments.config import resolve_train
from mdico_core.methods import METHODS, ProblemSpec, build_method
from mdico_core.methods.anysat import WEIGHTS_URL, AnySat, default_band_map, to_anysat
from mdico_core.methods.base import NotReproducedError
from mdico_core.methods.discomkd import DisCoMKD, grad_reverse
from mdico_core.methods.dml import DML
from mdico_core.methods.embracenet import EmbraceNet
from mdico_core.methods.fmoddrop import FModDrop
from mdico_core.methods.shaspec import ShaSpec
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


def _build(name: str, spec: ProblemSpec, seed: int = 0, settings: str = "common", **options):
    torch.manual_seed(seed)
    if name == "anysat":
        return AnySat(spec, model=FakeAnySat(), **options)
    return build_method(name, spec, "tempcnn", settings=settings, **options)


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


def check_learns(method, data) -> None:
    """Every loss term is live, a few Adam steps lower the total, and adversarial terms are contested.

    A term whose weight is 0 is not live; an adversarial term (``adv``) must be ascended by the
    encoders (with the discriminator fixed) and descended by the discriminator (with the encoders
    fixed), which fails when the gradient reversal is undone.
    """
    with torch.no_grad():
        terms = method.eval().losses(data)
    dead = [k for k, v in terms.items() if abs(float(v)) < 1e-6]
    assert not dead, f"loss terms {dead} are 0: their weight or their mechanism is off"
    before = float(sum(terms.values()))
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    method.train()
    torch.manual_seed(1)  # fixes the stochastic training terms (dropout, subsets, sampling)
    for _ in range(8):
        total = torch.stack(list(method.losses(data).values())).sum()
        opt.zero_grad()
        total.backward()
        opt.step()
    after = _total(method.eval(), data)
    assert np.isfinite(after) and after < before, f"eval loss {before:.4f} -> {after:.4f}"
    if "adv" in terms:
        check_adversarial(method, data)


def check_adversarial(method, data) -> None:
    """One SGD step on the adversarial term: the encoder side raises it, the discriminator lowers it."""
    method.eval()  # no dropout: the only change between evaluations is the step
    start = {k: v.clone() for k, v in method.state_dict().items()}
    method.zero_grad()
    method.losses(data)["adv"].backward()
    with torch.no_grad():
        for p in method.parameters():
            if p.grad is not None:
                p -= 0.05 * p.grad
    stepped = {k: v.clone() for k, v in method.state_dict().items()}

    def adv(encoders_from: dict, discriminator_from: dict) -> float:
        method.load_state_dict({k: (discriminator_from if k.startswith("disc_adv") else encoders_from)[k]
                                for k in start})
        with torch.no_grad():
            return float(method.losses(data)["adv"])

    base = adv(start, start)
    assert adv(stepped, start) > base, "the encoders descend the adversarial loss: the gradient reversal is undone"
    assert adv(start, stepped) < base, "the discriminator does not learn to tell the modalities apart"


@pytest.mark.parametrize("name", TRAINABLE + ["anysat"])
def test_every_term_is_live_and_a_few_adam_steps_lower_the_loss(name):
    spec, data = _data(n=32)
    check_learns(_build(name, spec), data)


# The broken versions that the test above must catch.
BROKEN_LEARNING = {"decur": {"decur_weight": 0.0}, "shaspec": {"alpha": 0.0, "beta": 0.0},
                   "discomkd": {"grl_lambda": -1.0}}  # lambda -1: the reversal undone


@pytest.mark.parametrize("name", list(BROKEN_LEARNING))
def test_the_learning_check_fails_on_broken_methods(name):
    spec, data = _data(n=32)
    with pytest.raises(AssertionError):
        check_learns(_build(name, spec, **BROKEN_LEARNING[name]), data)


@pytest.mark.parametrize("settings", ["common", "original"])
@pytest.mark.parametrize("task", ["multiclass", "multilabel", "regression"])
@pytest.mark.parametrize("name", TRAINABLE + ["anysat"])
def test_fit_smoke_on_every_task(name, task, settings):
    spec, data = _data(task, n=128)
    method = _build(name, spec, settings=settings)
    _, cfg = resolve_train(name, settings, SMOKE)
    result = fit(method, data, data, cfg, seed=0)
    stages = method.stages(cfg)
    assert result.epochs_run == len(stages) == len({row["stage"] for row in result.history})
    assert all(np.isfinite(v) for row in result.history for k, v in row.items() if k != "stage")
    assert set(result.best_epochs) >= set(method.plain_views())
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


def _draws(method, n_draws: int = 400) -> list[tuple]:
    """The availability of `n_draws` training batches of 4 samples, one seed each, as tuples of rows."""
    out = []
    for seed in range(n_draws):
        torch.manual_seed(seed)
        if isinstance(method, EmbraceNet):
            mask = method.draw_availability(4, 2, torch.device("cpu"))
        elif isinstance(method, ShaSpec):
            mask = method.draw_mask(4, torch.device("cpu"))
        else:
            subset = method.draw_subset()
            mask = torch.tensor([[float(m in subset) for m in method.modalities]] * 4)
        out.append(tuple(tuple(int(v) for v in row) for row in mask.tolist()))
    return out


def _share(draws: list[tuple], pred) -> float:
    return sum(map(pred, draws)) / len(draws)


# What each mechanism must draw (M = 2), from the method's paper and official code.
def expect_embracenet(draws):  # per batch, p 0.5: every sample keeps one uniform modality; else both
    single = _share(draws, lambda d: all(sum(r) == 1 for r in d))
    assert abs(single - 0.5) < 0.1, f"{single:.2f} of the batches dropped to one modality per sample, not 0.5"
    assert _share(draws, lambda d: all(sum(r) == 2 for r in d)) == pytest.approx(1 - single)
    first = [r[0] for d in draws if all(sum(r) == 1 for r in d) for r in d]
    assert abs(np.mean(first) - 0.5) < 0.1, "the kept modality is not uniform"


def expect_shaspec_common(draws):  # every sample its own uniform non-empty subset
    rows = [r for d in draws for r in d]
    for subset in [(1, 0), (0, 1), (1, 1)]:
        assert abs(rows.count(subset) / len(rows) - 1 / 3) < 0.05, f"subset {subset} not drawn 1/3 of the time"


def expect_shaspec_original(draws):  # one subset per step: size 1 or 2 (1/2 each), then uniform
    assert all(len(set(d)) == 1 for d in draws), "one step must share one subset"
    share = {s: _share(draws, lambda d, s=s: d[0] == s) for s in [(1, 1), (1, 0), (0, 1)]}
    assert abs(share[(1, 1)] - 0.5) < 0.08 and abs(share[(1, 0)] - 0.25) < 0.08 and abs(share[(0, 1)] - 0.25) < 0.08, share


def expect_fmoddrop(draws):  # one uniform non-empty subset per batch
    for subset in [(1, 0), (0, 1), (1, 1)]:
        assert abs(_share(draws, lambda d, s=subset: d[0] == s) - 1 / 3) < 0.08, f"subset {subset} not 1/3"


def check_random_mechanism(method, expect) -> None:
    """Same seed, same training loss; other seeds, other losses; and the draws follow `expect`."""
    spec, data = _data(n=32)
    method.train()
    losses = []
    for seed in (3, 3, 4, 5, 6):
        torch.manual_seed(seed)
        with torch.no_grad():
            losses.append(float(sum(method.losses(data).values())))
    assert losses[0] == losses[1]
    assert len(set(losses[1:])) > 1, "training-mode losses never vary: the random mechanism is inactive"
    expect(_draws(method))


MECHANISMS = {
    "embracenet": ("common", expect_embracenet), "fmoddrop": ("common", expect_fmoddrop),
    "shaspec": ("common", expect_shaspec_common), "shaspec/original": ("original", expect_shaspec_original),
}


@pytest.mark.parametrize("key", list(MECHANISMS))
def test_random_training_mechanisms_follow_the_seed_and_their_distribution(key):
    settings, expect = MECHANISMS[key]
    spec, _ = _data(n=8)
    method = _build(key.split("/")[0], spec, settings=settings)
    if settings == "original":
        method.stage = "random"  # ShaSpec's second stage
    check_random_mechanism(method, expect)


class AllModalitiesShaSpec(ShaSpec):  # the subset forced to all
    def draw_mask(self, B, device):
        return torch.ones(B, len(self.modalities), device=device)


class NoDropFModDrop(FModDrop):  # the modality dropout off
    def draw_subset(self):
        return tuple(self.modalities)


@pytest.mark.parametrize("broken, expect", [
    (lambda spec: AllModalitiesShaSpec(spec), expect_shaspec_common),
    (lambda spec: NoDropFModDrop(spec), expect_fmoddrop),
    (lambda spec: EmbraceNet(spec, p_single=0.0), expect_embracenet),
], ids=["shaspec-subset-forced-to-all", "fmoddrop-dropout-off", "embracenet-p-0"])
def test_the_mechanism_check_fails_on_broken_methods(broken, expect):
    spec, _ = _data(n=8)
    torch.manual_seed(0)
    with pytest.raises(AssertionError):
        check_random_mechanism(broken(spec), expect)


def check_mimicry(make) -> None:
    """DML's D(p_teacher ‖ p_student): 0 when the peers agree, positive otherwise, the KL in the
    direction of the official code (the teacher's distribution weighs the log-ratio), and a constant
    teacher (no gradient reaches it)."""
    for task in ("multiclass", "multilabel", "regression"):
        method = make(_data(task, n=8)[0])
        out = torch.randn(8, method.spec.n_outputs)
        assert float(method.mimicry(out, out)) == pytest.approx(0.0, abs=1e-5)
        assert float(method.mimicry(out, 2 * out + 1.0)) > 1e-3
    method = make(_data("multiclass", n=8)[0])
    g = torch.Generator().manual_seed(0)
    student = torch.randn(8, 4, generator=g, requires_grad=True)
    teacher = (3 * torch.randn(8, 4, generator=g)).requires_grad_()  # sharp vs flat: the two KLs differ
    pt, ps = teacher.softmax(-1), student.softmax(-1)
    kl_teacher_student = float((pt * (pt.log() - ps.log())).sum(-1).mean().detach())
    got = method.mimicry(student, teacher)
    assert float(got.detach()) == pytest.approx(kl_teacher_student, rel=1e-4), "the KL runs in the wrong direction"
    got.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0, "the teacher must be a constant"


def test_dml_mimicry_is_the_kl_to_the_detached_peer():
    check_mimicry(lambda spec: _build("dml", spec))


class ReversedKLDML(DML):  # KL(p_student ‖ p_teacher): also 0 at agreement, but the wrong direction
    def mimicry(self, student, teacher):
        if self.spec.task in ("binary", "multiclass"):
            return F.kl_div(F.log_softmax(teacher.detach(), -1), F.softmax(student, -1), reduction="batchmean")
        return super().mimicry(student, teacher)


def test_the_mimicry_check_fails_on_the_reversed_kl():
    with pytest.raises(AssertionError, match="wrong direction"):
        check_mimicry(ReversedKLDML)


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


def test_anysat_reads_lfmc_landsat8():
    x = torch.arange(2 * 4 * 8, dtype=torch.float32).view(2, 4, 8)  # LFMC L8: red green blue swir nir ndvi ndwi nirv
    key, index = default_band_map({"S1": (4, 3), "L8": (4, 8)})["L8"]
    assert key == "l8" and len(index) == 11
    data = to_anysat(x, key, index)
    assert data["l8"].shape == (2, 4, 11, 1, 1) and data["l8_dates"].shape == (2, 4)
    got = data["l8"][..., 0, 0]
    # AnySat's slots: zeros, B1 (coastal, absent), B2 blue, B3 green, B4 red, B5 NIR, B6 SWIR-1, B7, zeros, B10, zeros
    expected = {2: 2, 3: 1, 4: 0, 5: 4, 6: 3}  # slot -> LFMC channel
    for slot in range(11):
        if slot in expected:
            torch.testing.assert_close(got[:, :, slot], x[:, :, expected[slot]])
        else:
            assert got[:, :, slot].abs().sum() == 0, f"slot {slot} should be a zero band"


def test_anysat_original_recipe_on_a_random_weight_model():
    """AnySat's fine-tuning recipe (AdamW 5e-5, warm-up + cosine, early stopping on the validation
    score with patience 10, best checkpoint), per modality, through the test seam."""
    spec, data = _data("regression", n=96)
    method = AnySat(spec, model=FakeAnySat())
    budget = TrainConfig(max_epochs=30, batch_size=32)
    settings, cfg = resolve_train("anysat", "original", budget)
    assert settings == "original"
    assert (cfg.optimizer, cfg.lr, cfg.schedule, cfg.warmup_epochs, cfg.monitor, cfg.patience, cfg.checkpoint) == (
        "adamw", 5e-5, "warmup_cosine", 20, "score", 10, "best")
    stages = method.stages(cfg)
    assert [(s.name, s.views, s.independent) for s in stages] == [("S1", ("S1",), True), ("S2", ("S2",), True)]
    before = {k: v.clone() for k, v in method.state_dict().items()}
    result = fit(method, data, data, cfg, seed=0)
    rows = {s.name: [r for r in result.history if r["stage"] == s.name] for s in stages}
    for m, hist in rows.items():
        assert 1 <= result.best_epochs[m] <= len(hist) <= 30
        scores = [r["val/monitor_score"] for r in hist]  # negated R², lower is better
        assert scores[result.best_epochs[m] - 1] == min(scores)
        if len(hist) < 30:  # stopped: 10 epochs without improvement on the best
            assert len(hist) - int(np.argmin(scores)) - 1 >= 10
    changed = {k for k, v in method.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("backbones.S1.") for k in changed)  # the whole model fine-tuned, not frozen
    assert any(k.startswith("backbones.S2.") for k in changed)
