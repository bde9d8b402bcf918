"""Losses against slow, obvious re-computations (plain loops over anchors, positives, negatives)."""

from __future__ import annotations

import math

import pytest
import torch

from mdico_core.losses import UncertaintyWeighting, info_nce, nt_xent, symmetric_info_nce

torch.set_num_threads(1)

DTYPES = [torch.float32, torch.float64]
TAUS = [0.07, 0.1]
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum() / (a.pow(2).sum().sqrt() * b.pow(2).sum().sqrt())


def slow_info_nce(anchor: torch.Tensor, other: torch.Tensor, tau: float) -> torch.Tensor:
    """Paper Eq. (9), one anchor at a time: positive other[i], negatives other[k], k != i."""
    n = len(anchor)
    total = 0.0
    for i in range(n):
        pos = torch.exp(cosine(anchor[i], other[i]) / tau)
        denom = pos
        for k in range(n):
            if k != i:
                denom = denom + torch.exp(cosine(anchor[i], other[k]) / tau)
        total = total - torch.log(pos / denom)
    return total / n


def slow_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """SimCLR NT-Xent: 2B anchors; each vector's pair is its positive, all others but itself negatives."""
    z = torch.cat([z1, z2])
    n, total = len(z1), 0.0
    for a in range(2 * n):
        p = (a + n) % (2 * n)
        pos = torch.exp(cosine(z[a], z[p]) / tau)
        denom = pos
        for k in range(2 * n):
            if k not in (a, p):
                denom = denom + torch.exp(cosine(z[a], z[k]) / tau)
        total = total - torch.log(pos / denom)
    return total / (2 * n)


def pair(dtype: torch.dtype, n: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=dtype).requires_grad_(),
            torch.randn(n, d, generator=g, dtype=dtype).requires_grad_())


def assert_value_and_grads_close(fast, slow, inputs, dtype) -> None:
    tol = TOL[dtype]
    got = fast(*inputs)
    want = slow(*[x.detach().double().requires_grad_() for x in inputs])
    assert got.dtype == dtype
    assert got.item() == pytest.approx(want.item(), rel=tol, abs=tol)
    g_fast = torch.autograd.grad(got, inputs)
    ref_inputs = [x.detach().double().requires_grad_() for x in inputs]
    g_slow = torch.autograd.grad(slow(*ref_inputs), ref_inputs)
    for gf, gs in zip(g_fast, g_slow):
        torch.testing.assert_close(gf.double(), gs, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tau", TAUS)
def test_info_nce_matches_loops(dtype: torch.dtype, tau: float) -> None:
    a, b = pair(dtype)
    assert_value_and_grads_close(lambda x, y: info_nce(x, y, tau), lambda x, y: slow_info_nce(x, y, tau),
                                 [a, b], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tau", TAUS)
def test_symmetric_info_nce_is_both_anchors(dtype: torch.dtype, tau: float) -> None:
    a, b = pair(dtype, seed=1)
    assert_value_and_grads_close(
        lambda x, y: symmetric_info_nce(x, y, tau),
        lambda x, y: slow_info_nce(x, y, tau) + slow_info_nce(y, x, tau), [a, b], dtype)
    # the two directions differ in general, so the sum is not twice one of them
    assert not math.isclose(info_nce(a, b, tau).item(), info_nce(b, a, tau).item(), rel_tol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tau", TAUS)
def test_nt_xent_matches_loops(dtype: torch.dtype, tau: float) -> None:
    a, b = pair(dtype, seed=2)
    assert_value_and_grads_close(lambda x, y: nt_xent(x, y, tau), lambda x, y: slow_nt_xent(x, y, tau),
                                 [a, b], dtype)


def test_info_nce_ignores_scale_and_rewards_alignment() -> None:
    a, b = pair(torch.float64, seed=3)
    a, b = a.detach(), b.detach()
    assert info_nce(3 * a, 0.5 * b).item() == pytest.approx(info_nce(a, b).item(), rel=1e-12)  # cosine
    assert info_nce(a, a).item() < info_nce(a, b).item()


@pytest.mark.parametrize("dtype", DTYPES)
def test_uncertainty_weighting_by_hand(dtype: torch.dtype) -> None:
    uw = UncertaintyWeighting(["main", "aux", "cont"])
    with torch.no_grad():
        uw.log_vars.copy_(torch.tensor([0.5, -1.0, 2.0]))
    terms = {"main": torch.tensor(1.5, dtype=dtype), "cont": torch.tensor(0.2, dtype=dtype)}
    out = uw.weighted(terms)
    assert set(out) == {"main", "cont"}  # absent terms stay absent
    # Kendall et al. 2018 with s = log sigma^2: exp(-s) * L + s
    assert out["main"].item() == pytest.approx(math.exp(-0.5) * 1.5 + 0.5, rel=1e-6)
    assert out["cont"].item() == pytest.approx(math.exp(-2.0) * 0.2 + 2.0, rel=1e-6)
    # d total / d s_k = -exp(-s_k) L_k + 1; s of an absent term gets no gradient
    sum(out.values()).backward()
    want = torch.tensor([1 - math.exp(-0.5) * 1.5, 0.0, 1 - math.exp(-2.0) * 0.2])
    torch.testing.assert_close(uw.log_vars.grad, want)
