"""Every competitor's loss recomputed by hand on a tiny batch, from its own submodules.

As ``test_mdico.py`` does for MDiCo (and pytorch-metric-learning for its losses): each formula of a
method's docstring is rewritten here with plain loops and elementary operations, and compared with
the vectorised ``losses``. Models are in eval mode (no dropout, BatchNorm by its running
statistics) unless a random training mechanism is pinned by replacing its draw.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mdico_core.methods import ProblemSpec, build_method

torch.set_num_threads(1)

SHAPES = {"A": (4, 3), "B": (4, 5)}
N, K = 8, 3
WEIGHTS = (1.0, 2.0, 0.5)


def spec(task: str = "multiclass", weights: tuple | None = WEIGHTS) -> ProblemSpec:
    if task == "regression":
        return ProblemSpec(SHAPES, task, 1, None, target_mean=50.0, target_std=10.0)
    if task == "multilabel":
        return ProblemSpec(SHAPES, task, K)
    return ProblemSpec(SHAPES, task, K, weights)


def batch(task: str = "multiclass", seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(N, *s, generator=g) for m, s in SHAPES.items()}
    if task == "regression":
        y = 50 + 10 * torch.randn(N, generator=g)
    elif task == "multilabel":
        y = (torch.rand(N, K, generator=g) > 0.5).float()
    else:
        y = torch.arange(N) % K
    return {"x": x, "y": y}


def model(name: str, task: str = "multiclass", weights: tuple | None = WEIGHTS, **options):
    torch.manual_seed(0)
    m = build_method(name, spec(task, weights), "mlp", dropout=0.0, **options)
    for mod in m.modules():  # non-trivial running statistics, so eval-mode BatchNorm is not the identity
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) and mod.running_mean is not None:
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


# ----------------------------------------------------------------- elementary pieces
def log_softmax_row(row: torch.Tensor) -> torch.Tensor:
    return row - torch.log(sum(torch.exp(v) for v in row))


def hand_task(out: torch.Tensor, y: torch.Tensor, task: str = "multiclass", weights=WEIGHTS,
              smoothing: float = 0.0) -> torch.Tensor:
    """TaskLoss by hand: class-weighted CE (weighted mean), label-smoothed CE, BCE, or MSE on z-scores."""
    if task == "regression":
        return sum((out[i, 0] - (y[i] - 50.0) / 10.0) ** 2 for i in range(len(y))) / len(y)
    if task == "multilabel":
        total = 0.0
        for i in range(len(y)):
            for k in range(out.shape[1]):
                p = 1 / (1 + math.exp(-float(out[i, k])))
                total -= float(y[i, k]) * math.log(p) + (1 - float(y[i, k])) * math.log(1 - p)
        return torch.tensor(total / y.numel())
    num, den = 0.0, 0.0
    for i in range(len(y)):
        logp = log_softmax_row(out[i])
        w = 1.0 if weights is None else weights[int(y[i])]
        nll = -logp[int(y[i])]
        if smoothing:
            nll = (1 - smoothing) * nll - smoothing * sum(logp) / len(logp)
        num, den = num + w * nll, den + w
    return num / den


def hand_ce(out: torch.Tensor, label: int) -> torch.Tensor:
    return sum(-log_softmax_row(out[i])[label] for i in range(len(out))) / len(out)


def hand_bn(bn: torch.nn.Module, h: torch.Tensor) -> torch.Tensor:
    """Eval-mode BatchNorm by its formula."""
    out = (h - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    return out * bn.weight + bn.bias if bn.affine else out


def hand_mlp_head(head: torch.nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    """The CoM-views head Linear → BN → ReLU → Dropout → Linear, in eval mode."""
    return head[4](hand_bn(head[1], head[0](h)).clamp_min(0))


def assert_close(got: torch.Tensor, want, rel: float = 1e-5) -> None:
    want = want.detach() if isinstance(want, torch.Tensor) else want
    assert float(got.detach()) == pytest.approx(float(want), rel=rel, abs=1e-7)


# ----------------------------------------------------------------- ShaSpec
def hand_shaspec(mdl, b, mask: torch.Tensor, fill: str, ring: bool, masked: bool):
    mods = list(SHAPES)
    s = {m: mdl.shared(mdl.proj[m](b["x"][m])) for m in mods}
    f = {m: mdl.specific[m](b["x"][m]) for m in mods}
    slots = []
    for i in range(N):
        avail = [m for k, m in enumerate(mods) if mask[i, k] == 1]
        fill_vec = s[avail[0]][i] if fill == "first" else sum(s[m][i] for m in avail) / len(avail)
        row = []
        for m in mods:
            if m in avail:
                row.append(s[m][i] + mdl.compose(torch.cat([s[m][i], f[m][i]])))
            else:
                row.append(fill_vec)
        slots.append(torch.cat(row))
    main = hand_task(mdl.head(torch.stack(slots)), b["y"])
    pairs = [(0, 1), (1, 0)] if ring else [(0, 1)]
    dom = 0.0
    for i, j in pairs:
        used = [n for n in range(N) if not masked or (mask[n, i] == 1 and mask[n, j] == 1)]
        if used:
            dom += sum((s[mods[i]][n] - s[mods[j]][n]).abs().mean() for n in used) / len(used)
    ces, count = 0.0, 0
    for n in range(N):
        for k, m in enumerate(mods):
            if not masked or mask[n, k] == 1:
                ces += -log_softmax_row(mdl.mod_classifier(f[m][n]))[k]
                count += 1
    return {"main": main, "dom": 0.1 * dom, "mod": 0.02 * ces / count}


@pytest.mark.parametrize("settings", ["common", "original"])
def test_shaspec_training_loss_by_hand(settings, monkeypatch):
    mdl = model("shaspec", settings=settings)
    mdl.train()  # dropout is 0 and BatchNorm uses the batch statistics, the same ones here as by hand
    b = batch()
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]] * 2)  # (N, M), mixed subsets
    monkeypatch.setattr(mdl, "draw_mask", lambda B, device: mask)
    original = settings == "original"
    with torch.no_grad():
        terms = mdl.losses(b)
        want = hand_shaspec(mdl, b, mask, fill="first" if original else "mean", ring=original, masked=not original)
    for name in ("main", "dom", "mod"):
        assert_close(terms[name], want[name])


def test_shaspec_eval_loss_is_the_expectation_over_subsets():
    mdl = model("shaspec")
    b = batch()
    subsets = [torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])]
    with torch.no_grad():
        mains = [hand_shaspec(mdl, b, sub.expand(N, 2), "mean", False, False)["main"] for sub in subsets]
        want = hand_shaspec(mdl, b, torch.ones(N, 2), "mean", False, False)
        terms = mdl.losses(b)
    assert_close(terms["main"], sum(mains) / 3)
    assert_close(terms["dom"], want["dom"])
    assert_close(terms["mod"], want["mod"])


# ----------------------------------------------------------------- DeCUR
def hand_cross_correlation(a: torch.Tensor, b: torch.Tensor) -> list[list[torch.Tensor]]:
    def standardise(z):
        cols = []
        for j in range(z.shape[1]):
            col = z[:, j]
            mean = sum(col) / len(col)
            std = math.sqrt(float(sum((v - mean) ** 2 for v in col)) / len(col))
            cols.append([(v - mean) / (std + 1e-5) for v in col])
        return cols  # [feature][sample]
    sa, sb = standardise(a), standardise(b)
    return [[sum(sa[i][n] * sb[j][n] for n in range(len(a))) / len(a) for j in range(len(sb))] for i in range(len(sa))]


def hand_bt(c, rows, target: float, lambd: float) -> torch.Tensor:
    total = 0.0
    for i in rows:
        for j in rows:
            total = total + ((c[i][j] - target) ** 2 if i == j else lambd * c[i][j] ** 2)
    return total


def test_decur_loss_by_hand():
    p, k = 6, 4
    mdl = model("decur", proj_dim=p, dim_common=k)
    b = batch()
    with torch.no_grad():
        h = {m: mdl.encoders[m](b["x"][m]) for m in SHAPES}
        z = {m: mdl.projectors[m](h[m]) for m in SHAPES}  # eval: both views are the input itself
        intra = sum(hand_bt(hand_cross_correlation(z[m], z[m]), range(p), 1.0, 0.0051) for m in SHAPES)
        c = hand_cross_correlation(z["A"], z["B"])
        cross = (hand_bt(c, range(k), 1.0, 0.0051) + hand_bt(c, range(k, p), 0.0, 0.0051)) / 2
        decur = (intra + cross) / 3  # M + 1 = 3: the official mean of intra_1, intra_2 and cross
        main = sum(hand_task(mdl.heads[m](h[m]), b["y"]) for m in SHAPES) / 2
        terms = mdl.losses(b)
    assert_close(terms["main"], main)
    assert_close(terms["decur"], decur / p, rel=1e-4)
    mdl.stage = "pretrain"  # the original recipe's stages: DeCUR alone at its own scale, then the probes
    assert_close(mdl.losses(b)["decur"], decur, rel=1e-4)
    mdl.stage = "probe"
    assert_close(mdl.losses(b)["main"], 2 * main)


# ----------------------------------------------------------------- EmbraceNet
def test_embracenet_losses_by_hand(monkeypatch):
    mdl = model("embracenet")
    b = batch()
    with torch.no_grad():
        dock = {m: F.relu(mdl.docking[m][0](mdl.encoders[m](b["x"][m]))) for m in SHAPES}
        single = [hand_task(mdl.head(dock[m]), b["y"]) for m in SHAPES]
        assert_close(mdl.losses(b)["main"], sum(single) / 2)  # eval: the mean single-modality loss
        mdl.train()  # BatchNorm by the batch statistics now, by hand as in the model
        dock = {m: F.relu(mdl.docking[m][0](mdl.encoders[m](b["x"][m]))) for m in SHAPES}
        one_hot = torch.tensor([[1, 0], [0, 1]] * (N // 2))
        monkeypatch.setattr(mdl, "draw_availability", lambda B, M, device: one_hot)
        picked = torch.stack([dock["A"][i] if one_hot[i, 0] else dock["B"][i] for i in range(N)])
        assert_close(mdl.losses(b)["main"], hand_task(mdl.head(picked), b["y"]))


def test_embracement_copies_each_coordinate_from_an_available_modality():
    mdl = model("embracenet")
    docks = torch.stack([torch.full((N, 256), 1.0), torch.full((N, 256), 2.0)], 1)  # (B, M, c)
    torch.manual_seed(0)
    both = mdl.embrace(docks, torch.ones(N, 2))
    only_b = mdl.embrace(docks, torch.tensor([[0.0, 1.0]]).expand(N, 2))
    assert set(both.unique().tolist()) == {1.0, 2.0}
    assert 0.4 < float((both == 1.0).float().mean()) < 0.6  # each coordinate uniform over available ones
    assert torch.equal(only_b, torch.full((N, 256), 2.0))


# ----------------------------------------------------------------- ESensI, MMGF, InputFu, FCoM-av
def test_esensi_loss_by_hand():
    mdl = model("esensi")
    b = batch()
    with torch.no_grad():
        want = sum(hand_task(hand_mlp_head(mdl.head, mdl.encoders[m](b["x"][m]) + mdl.awareness[m]), b["y"])
                   for m in SHAPES)  # the sum, not the mean, as the reference code
        assert_close(mdl.losses(b)["main"], want)


def test_mmgf_loss_by_hand():
    mdl = model("mmgf")
    b = batch()
    with torch.no_grad():
        h = [mdl.encoders[m](b["x"][m]) for m in SHAPES]  # each (B, 128)
        logits = mdl.gate(torch.cat(h, 1))  # (B, 2*128): modality A's 128 gates, then B's
        fused = torch.zeros(N, 128)
        for i in range(N):
            for d in range(128):
                a, c = float(logits[i, d]), float(logits[i, 128 + d])
                wa = math.exp(a) / (math.exp(a) + math.exp(c))
                fused[i, d] = wa * h[0][i, d] + (1 - wa) * h[1][i, d]
        assert_close(mdl.losses(b)["main"], hand_task(hand_mlp_head(mdl.head, fused), b["y"]))


def test_inputfu_loss_by_hand():
    shapes = {"A": (4, 3), "B": (4, 5)}
    mdl = model("inputfu")
    b = batch()
    with torch.no_grad():
        x = torch.stack([torch.stack([torch.cat([b["x"]["A"][i, t], b["x"]["B"][i, t]]) for t in range(4)])
                         for i in range(N)])  # (B, T, 8): channels of every time step concatenated
        assert x.shape == (N, 4, sum(s[1] for s in shapes.values()))
        assert_close(mdl.losses(b)["main"], hand_task(hand_mlp_head(mdl.head, mdl.encoder(x)), b["y"]))


@pytest.mark.parametrize("val_loss", ["subsets", "full"])
def test_fcom_validation_loss(val_loss):
    mdl = model("fcom_av", val_loss=val_loss)
    b = batch()
    with torch.no_grad():
        h = {m: mdl.norms[m](mdl.encoders[m](b["x"][m])) for m in SHAPES}
        copies = [h["A"], h["B"], (h["A"] + h["B"]) / 2] if val_loss == "subsets" else [(h["A"] + h["B"]) / 2]
        fused = torch.cat(copies)
        y = b["y"].repeat(len(copies))
        assert_close(mdl.losses(b)["main"], hand_task(hand_mlp_head(mdl.head, fused), y))


# ----------------------------------------------------------------- FModDrop
def hand_encoder_layer(layer, seq: torch.Tensor) -> torch.Tensor:
    """nn.TransformerEncoderLayer (post-norm, ReLU, eval) on one sequence (L, D), by its formulas."""
    D, H = seq.shape[1], layer.self_attn.num_heads
    w, bias = layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias
    q, k, v = (seq @ w[i * D:(i + 1) * D].T + bias[i * D:(i + 1) * D] for i in range(3))
    d = D // H
    heads = []
    for h in range(H):
        qh, kh, vh = q[:, h * d:(h + 1) * d], k[:, h * d:(h + 1) * d], v[:, h * d:(h + 1) * d]
        scores = qh @ kh.T / math.sqrt(d)  # (L, L)
        heads.append(torch.softmax(scores, -1) @ vh)
    attn = layer.self_attn.out_proj(torch.cat(heads, -1))
    x = layer.norm1(seq + attn)
    return layer.norm2(x + layer.linear2(F.relu(layer.linear1(x))))


@pytest.mark.parametrize("val_loss", ["subsets", "full"])
def test_fmoddrop_loss_by_hand(val_loss, monkeypatch):
    mdl = model("fmoddrop", val_loss=val_loss)
    b = batch()
    layer = mdl.transformer.layers[0]
    with torch.no_grad():
        tok = {m: mdl.norms[m](mdl.encoders[m](b["x"][m])) + mdl.modality_embedding[m] for m in SHAPES}

        def subset_loss(subset):  # the CLS output over [CLS, available tokens]: absent ones are dropped
            cls = torch.stack([hand_encoder_layer(layer, torch.stack([mdl.cls, *[tok[m][i] for m in subset]]))[0]
                               for i in range(N)])
            return hand_task(hand_mlp_head(mdl.head, cls), b["y"])

        subsets = [("A",), ("B",), ("A", "B")] if val_loss == "subsets" else [("A", "B")]
        assert_close(mdl.losses(b)["main"], sum(subset_loss(s) for s in subsets) / len(subsets), rel=1e-4)
        mdl.train()
        for mod in mdl.modules():  # training mode without dropout: the drawn subset's loss alone
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 0.0
        layer.self_attn.dropout = 0.0  # attention dropout is a float of the attention module, not a Dropout
        monkeypatch.setattr(mdl, "draw_subset", lambda: ("B",))
        mdl.head[1].eval()  # BatchNorm by its running statistics, as `hand_mlp_head`
        tok = {m: mdl.norms[m](mdl.encoders[m](b["x"][m])) + mdl.modality_embedding[m] for m in SHAPES}
        assert_close(mdl.losses(b)["main"], subset_loss(("B",)), rel=1e-4)


# ----------------------------------------------------------------- DisCoM-KD
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_discomkd_each_term_by_hand(task):
    mdl = model("discomkd", task=task)
    b = batch(task)
    with torch.no_grad():
        want = {k: 0.0 for k in ("task", "aux", "adv", "mod", "orth")}
        for k, m in enumerate(SHAPES):
            proj = mdl.inv_proj[m]
            sha = hand_bn(proj[1], proj[0](mdl.invariant[m](b["x"][m]))).clamp_min(0)
            h = mdl.specific[m](b["x"][m])
            spe, unu = h[:, :64], h[:, 64:]
            want["task"] += hand_task(mdl.heads[m](torch.cat([sha, spe], 1)), b["y"], task)
            want["aux"] += hand_task(mdl.aux_head(sha), b["y"], task) + hand_task(mdl.aux_head(spe), b["y"], task)
            want["adv"] += hand_ce(mdl.disc_adv(sha), k)  # the reversal acts on the gradient only
            want["mod"] += hand_ce(mdl.disc_spe(spe), k) + hand_ce(mdl.disc_unu(unu), k)

            def cos(u, v):
                return sum(abs(float(u[i] @ v[i]) / (float(u[i].norm()) * float(v[i].norm()))) for i in range(N)) / N
            want["orth"] += cos(spe, unu) + cos(spe, sha)
        terms = mdl.losses(b)
    for name, value in want.items():
        assert_close(terms[name], value / 2, rel=1e-4)


# ----------------------------------------------------------------- DML
def hand_kl(teacher: torch.Tensor, student: torch.Tensor) -> float:
    """KL(p_teacher ‖ p_student) of softmax outputs, summed over classes, mean over samples."""
    total = 0.0
    for i in range(len(teacher)):
        pt, ps = torch.softmax(teacher[i], -1), torch.softmax(student[i], -1)
        total += sum(float(pt[c]) * (math.log(float(pt[c])) - math.log(float(ps[c]))) for c in range(len(pt)))
    return total / len(teacher)


@pytest.mark.parametrize("settings", ["common", "original"])
def test_dml_loss_by_hand(settings):
    weights = None if settings == "original" else WEIGHTS  # smoothing checked without class weights
    mdl = model("dml", weights=weights, settings=settings)
    b = batch()
    with torch.no_grad():
        out = {m: mdl.heads[m](mdl.encoders[m](b["x"][m])) for m in SHAPES}
        smoothing = 0.1 if settings == "original" else 0.0
        task = [hand_task(out[m], b["y"], weights=weights, smoothing=smoothing) for m in SHAPES]
        mimic = [hand_kl(out["B"], out["A"]), hand_kl(out["A"], out["B"])]  # network A mimics B, and B mimics A
        scale = 1 if settings == "original" else 2  # the sum: each network's gradient is that of its own loss
        terms = mdl.losses(b)
    assert_close(terms["main"], sum(task) / scale)
    assert_close(terms["mimic"], sum(mimic) / scale, rel=1e-4)


def test_dml_mimicry_of_other_tasks_by_hand():
    reg = model("dml", task="regression")
    s, t = torch.randn(N, 1), torch.randn(N, 1)
    assert_close(reg.mimicry(s, t), sum((s[i, 0] - t[i, 0]) ** 2 for i in range(N)) / N)
    ml = model("dml", task="multilabel")
    s, t = torch.randn(N, K), torch.randn(N, K)
    kl = 0.0
    for i in range(N):
        for k in range(K):
            pt, ps = torch.sigmoid(t[i, k]), torch.sigmoid(s[i, k])
            kl += float(pt * torch.log(pt / ps) + (1 - pt) * torch.log((1 - pt) / (1 - ps)))
    assert_close(ml.mimicry(s, t), kl / (N * K), rel=1e-4)
