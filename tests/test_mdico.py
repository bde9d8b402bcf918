"""MDiCo: every loss term recomputed by hand from the model's own feature spaces, single-modality
inference, every variant, M = 3 modalities, and the documented differences of ``released``."""

from __future__ import annotations

import math

import pytest
import torch

from mdico_core.methods import ProblemSpec, build_method
from mdico_core.methods.mdico import MDiCo

torch.set_num_threads(1)

SHAPES = {"A": (4, 3), "B": (4, 5)}
N, K = 8, 3
WEIGHTS = (1.0, 2.0, 0.5)


def spec(task: str = "multiclass", shapes: dict | None = None) -> ProblemSpec:
    shapes = shapes or SHAPES
    if task == "regression":
        return ProblemSpec(shapes, task, 1, None, target_mean=50.0, target_std=10.0)
    return ProblemSpec(shapes, task, K, WEIGHTS)


def batch(task: str = "multiclass", shapes: dict | None = None, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    shapes = shapes or SHAPES
    x = {m: torch.randn(N, *s, generator=g) for m, s in shapes.items()}
    y = (50 + 10 * torch.randn(N, generator=g)) if task == "regression" else torch.arange(N) % K
    return {"x": x, "y": y}


def model(variant: str = "default", task: str = "multiclass", shapes: dict | None = None,
          encoder: str = "mlp", seed: int = 0, **options) -> MDiCo:
    torch.manual_seed(seed)
    return build_method("mdico", spec(task, shapes), encoder, variant, **options)


# ----------------------------------------------------------------- hand computations
def hand_features(mdl: MDiCo, x: torch.Tensor, m: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(z_sha, z_spe, z_unu) straight from the submodules, not through `encode`."""
    h_uni = mdl.unique[m](x)  # (B, 128)
    h_com = mdl.common[m](x) if mdl.common is not None else h_uni
    lin, bn = mdl.shared_proj[m][0], mdl.shared_proj[m][1]
    # eval-mode BatchNorm by its formula
    h = lin(h_com)
    h = (h - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    return h.clamp_min(0), h_uni[:, :64], h_uni[:, 64:]


def hand_pred_loss(out: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    if task == "regression":  # squared error on the z-scored target, mean over samples
        return sum((out[i, 0] - (y[i] - 50.0) / 10.0) ** 2 for i in range(len(y))) / len(y)
    # class-weighted cross-entropy: weighted mean, normalised by the weights of the targets
    num, den = 0.0, 0.0
    for i in range(len(y)):
        logp = out[i] - torch.log(torch.exp(out[i]).sum())
        num = num - WEIGHTS[int(y[i])] * logp[int(y[i])]
        den += WEIGHTS[int(y[i])]
    return num / den


def hand_ce(out: torch.Tensor, label: int) -> torch.Tensor:
    return sum(-(out[i, label] - torch.log(torch.exp(out[i]).sum())) for i in range(len(out))) / len(out)


def hand_info_nce(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    total = 0.0
    for i in range(len(a)):
        sims = [torch.dot(a[i], b[k]) / (a[i].norm() * b[k].norm()) / tau for k in range(len(b))]
        total = total - (sims[i] - torch.log(sum(torch.exp(s) for s in sims)))
    return total / len(a)


def hand_nt_xent(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    z = torch.cat([a, b])
    n, total = len(a), 0.0
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        sims = {k: torch.dot(z[i], z[k]) / (z[i].norm() * z[k].norm()) / tau for k in range(2 * n) if k != i}
        total = total - (sims[p] - torch.log(sum(torch.exp(s) for s in sims.values())))
    return total / (2 * n)


# ----------------------------------------------------------------- the loss terms
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_each_loss_term_by_hand(task: str) -> None:
    mdl = model(task=task).eval()
    b = batch(task)
    terms = mdl.losses(b)
    assert set(terms) == {"main", "aux", "cont", "mod"}
    with torch.no_grad():
        z = {m: hand_features(mdl, b["x"][m], m) for m in SHAPES}
        for m in SHAPES:  # the model's own forward gives the same feature spaces
            for got, want in zip(mdl.encode(b["x"][m], m), z[m]):
                torch.testing.assert_close(got, want)
        y = b["y"]
        main = sum(hand_pred_loss(mdl.heads[m](torch.cat([z[m][0], z[m][1]], 1)), y, task) for m in SHAPES) / 2
        aux = sum(hand_pred_loss(mdl.aux_head(z[m][s]), y, task) for m in SHAPES for s in (0, 1)) / 2
        cont = hand_info_nce(z["A"][0], z["B"][0], 0.07) + hand_info_nce(z["B"][0], z["A"][0], 0.07)
        mod = sum(hand_ce(mdl.disc_spe(z[m][1]), k) + hand_ce(mdl.disc_unu(z[m][2]), k)
                  for k, m in enumerate(SHAPES)) / 2
    for name, want in {"main": main, "aux": aux, "cont": cont, "mod": mod}.items():
        assert terms[name].item() == pytest.approx(float(want), rel=1e-5), name


def test_shared_features_are_nonnegative_and_d_is_64() -> None:
    mdl = model().eval()
    z_sha, z_spe, z_unu = mdl.encode(batch()["x"]["A"], "A")
    assert z_sha.shape == z_spe.shape == z_unu.shape == (N, 64)
    assert (z_sha >= 0).all()  # ReLU ends the shared projection


# ----------------------------------------------------------------- single-modality inference
@pytest.mark.parametrize("view", ["A", "A:shared", "A:specific"])
def test_prediction_reads_only_its_modality(view: str) -> None:
    mdl = model().eval()
    b = batch()
    with torch.no_grad():
        full = mdl.predict(b["x"], view)
        alone = mdl.predict({"A": b["x"]["A"]}, view)
        perturbed = mdl.predict({"A": b["x"]["A"], "B": 100 * torch.randn_like(b["x"]["B"])}, view)
        other = mdl.predict({"A": b["x"]["A"] + 1.0}, view)
    assert torch.equal(full, alone) and torch.equal(full, perturbed)
    assert not torch.allclose(full, other)  # it does read its own modality
    torch.testing.assert_close(full.sum(-1), torch.ones(N))  # probabilities


def test_views_and_unknown_view_error() -> None:
    mdl = model()
    assert mdl.views() == ["A", "B", "A:shared", "A:specific", "B:shared", "B:specific"]
    with pytest.raises(ValueError, match="valid views"):
        mdl.predict(batch()["x"], "C")


# ----------------------------------------------------------------- variants and M = 3
# rel_raw_target needs a dataset with a released config (LFMC): test_released_lfmc_config_alone
@pytest.mark.parametrize("variant", [v for v in MDiCo.variants if v != "rel_raw_target"])
def test_every_variant_builds_and_trains_one_step(variant: str) -> None:
    mdl = model(variant, encoder="tempcnn")
    b = batch()
    mdl.train()
    opt = torch.optim.Adam(mdl.parameters(), lr=1e-3)
    terms = mdl.losses(b)
    dropped = {"no_mod": "mod", "no_aux": "aux", "no_cont": "cont"}.get(variant)
    assert set(terms) == {"main", "aux", "cont", "mod"} - {dropped}
    total = torch.stack(list(terms.values())).sum()
    assert torch.isfinite(total)
    before = [p.detach().clone() for p in mdl.parameters()]
    total.backward()
    opt.step()
    assert any(not torch.equal(p0, p1) for p0, p1 in zip(before, mdl.parameters()))
    mdl.eval()
    for view in mdl.views():
        assert torch.isfinite(mdl.predict(b["x"], view)).all()


def test_variant_structures() -> None:
    assert model("shared_encoders").common is None
    assert model("no_unused").disc_unu is None
    mdl = model("weighted").eval()
    with torch.no_grad():
        mdl.weighting.log_vars.copy_(torch.tensor([0.3, -0.2, 0.1, 0.0]))
        weighted = mdl.losses(batch())
        mdl.weighting = None
        plain = mdl.losses(batch())
    for k, s in zip(["main", "aux", "cont", "mod"], [0.3, -0.2, 0.1, 0.0]):
        assert weighted[k].item() == pytest.approx(math.exp(-s) * plain[k].item() + s, rel=1e-5)


def test_unused_features_only_feed_the_unused_discriminator() -> None:
    mdl = model("no_unused").eval()
    b = batch()
    with torch.no_grad():
        z = {m: hand_features(mdl, b["x"][m], m) for m in SHAPES}
        mod = sum(hand_ce(mdl.disc_spe(z[m][1]), k) for k, m in enumerate(SHAPES)) / 2
    assert mdl.losses(b)["mod"].item() == pytest.approx(float(mod), rel=1e-5)


def test_unpaired_changes_only_the_contrastive_term() -> None:
    # with dropout off, train-mode BatchNorm is permutation-invariant, so permuting a modality
    # together with its labels leaves the per-modality terms unchanged and breaks only the pairs
    paired, unpaired = model(dropout=0.0), model("unpaired", dropout=0.0)
    unpaired.load_state_dict(paired.state_dict())
    b = batch()
    torch.manual_seed(1)
    lp, lu = paired.train().losses(b), unpaired.train().losses(b)
    for k in ("main", "aux", "mod"):
        assert lu[k].item() == pytest.approx(lp[k].item(), rel=1e-5), k
    assert lu["cont"].item() != pytest.approx(lp["cont"].item(), rel=1e-3)
    # and at evaluation nothing is permuted
    le_p, le_u = paired.eval().losses(b), unpaired.eval().losses(b)
    assert le_u["cont"].item() == pytest.approx(le_p["cont"].item(), rel=1e-6)


def test_three_modalities_by_hand() -> None:
    shapes = {"A": (4, 3), "B": (4, 5), "C": (4, 2)}
    mdl = model(shapes=shapes).eval()
    b = batch(shapes=shapes)
    terms = mdl.losses(b)
    assert mdl.disc_spe.out_features == 3
    with torch.no_grad():
        z = {m: hand_features(mdl, b["x"][m], m) for m in shapes}
        pairs = [("A", "B"), ("A", "C"), ("B", "C")]
        cont = sum(hand_info_nce(z[i][0], z[j][0], 0.07) + hand_info_nce(z[j][0], z[i][0], 0.07)
                   for i, j in pairs) / 3
        mod = sum(hand_ce(mdl.disc_spe(z[m][1]), k) + hand_ce(mdl.disc_unu(z[m][2]), k)
                  for k, m in enumerate(shapes)) / 3
        main = sum(hand_pred_loss(mdl.heads[m](torch.cat([z[m][0], z[m][1]], 1)), b["y"], "multiclass")
                   for m in shapes) / 3
    assert terms["cont"].item() == pytest.approx(float(cont), rel=1e-5)
    assert terms["mod"].item() == pytest.approx(float(mod), rel=1e-5)
    assert terms["main"].item() == pytest.approx(float(main), rel=1e-5)
    for m in shapes:
        assert mdl.predict({m: b["x"][m]}, m).shape == (N, K)


def test_one_modality_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        model(shapes={"A": (4, 3)})


# ----------------------------------------------------------------- the released variant
def test_released_variant_differs_where_documented() -> None:
    default, released = model(), model("released")
    released.load_state_dict(default.state_dict())
    assert released.tau == 0.1 and default.tau == 0.07
    default.eval(), released.eval()
    b = batch()
    ld, lr = default.losses(b), released.losses(b)
    with torch.no_grad():
        z = {m: hand_features(released, b["x"][m], m) for m in SHAPES}
        # NT-Xent over both modalities' 2B vectors, counted once per ordered pair, summed
        cont = 2 * hand_nt_xent(z["A"][0], z["B"][0], 0.1)
        # the second discriminator reads the shared features; the extra 1/2 of its loss_batch
        mod = 0.5 * sum(hand_ce(released.disc_spe(z[m][1]), k) + hand_ce(released.disc_unu(z[m][0]), k)
                        for k, m in enumerate(SHAPES)) / 2
    assert lr["main"].item() == pytest.approx(ld["main"].item(), rel=1e-6)
    assert lr["aux"].item() == pytest.approx(0.5 * ld["aux"].item(), rel=1e-6)
    assert lr["cont"].item() == pytest.approx(float(cont), rel=1e-5)
    assert lr["mod"].item() == pytest.approx(float(mod), rel=1e-5)


@pytest.mark.parametrize("variant, unused_gets_gradient", [("default", True), ("released", False)])
def test_unused_half_gradient(variant: str, unused_gets_gradient: bool) -> None:
    mdl = model(variant).train()
    total = torch.stack(list(mdl.losses(batch()).values())).sum()
    total.backward()
    for m in SHAPES:
        proj = mdl.unique[m].proj  # the last linear layer of E^uni: rows 64: make z_unu
        assert (proj.weight.grad[64:].abs().sum() > 0) == unused_gets_gradient
        assert proj.weight.grad[:64].abs().sum() > 0


@pytest.mark.parametrize("encoder", ["tempcnn", "mlp", "transformer", "convtran", "lstm"])
def test_every_temporal_encoder_runs_inside_mdico(encoder: str) -> None:
    mdl = model(encoder=encoder).train()
    terms = mdl.losses(batch())
    torch.stack(list(terms.values())).sum().backward()
    assert all(torch.isfinite(v) for v in terms.values())
    assert mdl.eval().predict(batch()["x"], "B").shape == (N, K)


# ----------------------------------------------------------------- the released variant on LFMC
def lfmc_spec() -> ProblemSpec:
    return ProblemSpec(SHAPES, "regression", 1, None, target_mean=50.0, target_std=10.0, extra={"dataset": "lfmc"})


def test_released_variant_on_lfmc_takes_the_released_config() -> None:
    torch.manual_seed(0)
    mdl = build_method("mdico", lfmc_spec(), "mlp", "released").eval()
    default = build_method("mdico", lfmc_spec(), "mlp").eval()
    elsewhere = model("released", task="regression")  # a dataset without a released config
    assert isinstance(mdl.unique["A"][1], torch.nn.LayerNorm) and isinstance(mdl.common["B"][1], torch.nn.LayerNorm)
    assert not isinstance(default.unique["A"], torch.nn.Sequential)
    assert not isinstance(elsewhere.unique["A"], torch.nn.Sequential)
    b = batch("regression")
    with torch.no_grad():
        z = {m: hand_features(mdl, b["x"][m], m) for m in SHAPES}
        for m in SHAPES:  # every embedding is layer-normalised: zero mean, unit variance over its 128 features
            h = mdl.unique[m](b["x"][m])
            torch.testing.assert_close(h.mean(-1), torch.zeros(N), atol=1e-5, rtol=0)
        mu, sigma = 103.9868, 39.562313  # the released norm-mse: the head predicts raw LFMC
        main = sum(sum(((mdl.heads[m](torch.cat([z[m][0], z[m][1]], 1))[i, 0] - mu) / sigma - (b["y"][i] - mu) / sigma)
                       ** 2 for i in range(N)) / N for m in SHAPES) / 2
        assert mdl.losses(b)["main"].item() == pytest.approx(float(main), rel=1e-5)
        raw = mdl.heads["A"](torch.cat(z["A"][:2], 1))[:, 0]
        torch.testing.assert_close(mdl.predict({"A": b["x"]["A"]}, "A"), raw)  # no de-normalisation


def test_image_weights_reach_only_the_image_encoders(monkeypatch) -> None:
    import mdico_core.methods.mdico as mdico_module

    calls = []
    real = mdico_module.build_encoder

    def recording(name, shape, **options):
        calls.append((tuple(shape), options))
        return real("mlp", (4, 3)) if len(shape) == 3 else real(name, shape, **options)

    monkeypatch.setattr(mdico_module, "build_encoder", recording)
    shapes = {"img": (4, 8, 8), "A": (4, 3)}
    for variant, conv1 in (("default", "adapt"), ("released", "fresh")):
        calls.clear()
        build_method("mdico", ProblemSpec(shapes, "multiclass", K, WEIGHTS), "mlp", variant, image_weights="w.pth")
        image = [o for s, o in calls if len(s) == 3]
        series = [o for s, o in calls if len(s) == 2]
        assert len(image) == 2 and all(o == {"weights_path": "w.pth", "conv1_init": conv1} for o in image)
        assert len(series) == 2 and all("weights_path" not in o for o in series)


# ----------------------------------------------------------------- each released difference alone
REL_TERMS = {"rel_tau": ("cont",), "rel_contrastive": ("cont",), "rel_disc_shared": ("mod",),
             "rel_halves": ("aux", "mod")}


@pytest.mark.parametrize("variant, changed", sorted(REL_TERMS.items()))
def test_each_released_difference_changes_only_its_terms(variant: str, changed: tuple[str, ...]) -> None:
    default, one = model(), model(variant)
    one.load_state_dict(default.state_dict())
    default.eval(), one.eval()
    b = batch()
    ld, lo = default.losses(b), one.losses(b)
    for term in ld:
        same = lo[term].item() == pytest.approx(ld[term].item(), rel=1e-6)
        assert same != (term in changed), (variant, term)


def test_released_is_every_difference_at_once() -> None:
    released = model("released")
    combined = model(tau=0.1, contrastive="released", disc_second_on="shared", halve_aux_mod=True)
    combined.load_state_dict(released.state_dict())
    released.eval(), combined.eval()
    b = batch()
    for term, value in released.losses(b).items():
        assert combined.losses(b)[term].item() == pytest.approx(value.item(), rel=1e-6)


def test_released_lfmc_config_alone() -> None:
    torch.manual_seed(0)
    norm = build_method("mdico", lfmc_spec(), "mlp", "rel_norm")
    raw = build_method("mdico", lfmc_spec(), "mlp", "rel_raw_target")
    assert isinstance(norm.unique["A"][1], torch.nn.LayerNorm) and not isinstance(raw.unique["A"], torch.nn.Sequential)
    assert norm.task_loss.raw_target is None and raw.task_loss.raw_target is not None
    with pytest.raises(ValueError, match="raw units only on"):
        model("rel_raw_target", task="regression")  # a dataset without a released config
