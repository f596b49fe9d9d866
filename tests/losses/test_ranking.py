"""Soft ranks (Blondel et al. 2020): exact limits, the projection they solve, gradients."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.stats import rankdata, spearmanr

from reprlign.losses import soft_rank, soft_rsa_loss, soft_spearman
from reprlign.measures import rdm


def _permutahedron_constraints(n):
    """sum mu = sum rho, and every subset S sums to at most the |S| largest entries of rho."""
    rho = np.arange(n, 0, -1.0)
    cons = [{"type": "eq", "fun": lambda m: m.sum() - rho.sum()}]
    for mask in range(1, 2**n - 1):
        idx = [i for i in range(n) if mask >> i & 1]
        cap = rho[: len(idx)].sum()
        cons.append({"type": "ineq", "fun": lambda m, idx=idx, cap=cap: cap - m[idx].sum()})
    return cons


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_exact_ranks_as_smoothing_vanishes(rng, regularization):
    x = rng.randn(4, 40)
    x[0, 5] = x[0, 6] = x[0, 7]  # ties get the average rank, as in rankdata
    r = soft_rank(torch.tensor(x), regularization_strength=1e-4, regularization=regularization)
    np.testing.assert_allclose(r.numpy(), rankdata(x, axis=-1), atol=1e-8)
    down = soft_rank(torch.tensor(x), regularization_strength=1e-4, descending=True,
                     regularization=regularization)
    np.testing.assert_allclose(down.numpy(), rankdata(-x, axis=-1), atol=1e-8)


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_large_smoothing_tends_to_the_mean_rank_and_rows_keep_their_sum(rng, regularization):
    x = torch.tensor(rng.randn(3, 9))
    for eps in (0.1, 1.0, 10.0):
        r = soft_rank(x, regularization_strength=eps, regularization=regularization)
        np.testing.assert_allclose(r.sum(-1).numpy(), 45.0)
        assert float(r.min()) >= 1 - 1e-9 and float(r.max()) <= 9 + 1e-9
    flat = soft_rank(x, regularization_strength=1e6, regularization=regularization)
    np.testing.assert_allclose(flat.numpy(), 5.0, atol=1e-3)


def test_l2_soft_ranks_are_the_euclidean_projection_onto_the_permutahedron(rng):
    n, eps = 5, 0.7
    for _ in range(3):
        x = rng.randn(n)
        z = x / eps
        res = minimize(lambda m, z=z: 0.5 * ((m - z) ** 2).sum(), np.full(n, 3.0),
                       jac=lambda m, z=z: m - z, constraints=_permutahedron_constraints(n),
                       method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
        r = soft_rank(torch.tensor(x), regularization_strength=eps)
        np.testing.assert_allclose(r.numpy(), res.x, atol=1e-5)


def test_kl_soft_ranks_are_the_kl_projection_onto_the_permutahedron(rng):
    n, eps = 5, 0.7
    for _ in range(3):
        x = rng.randn(n)
        b = np.exp(x / eps)

        def kl(m, b=b):
            return (m * np.log(m / b) - m + b).sum()

        res = minimize(kl, np.full(n, 3.0), jac=lambda m, b=b: np.log(m / b),
                       constraints=_permutahedron_constraints(n), bounds=[(1e-9, None)] * n,
                       method="SLSQP", options={"ftol": 1e-13, "maxiter": 500})
        r = soft_rank(torch.tensor(x), regularization_strength=eps, regularization="kl")
        np.testing.assert_allclose(r.numpy(), res.x, atol=1e-4)


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_gradcheck(rng, regularization):
    x = torch.tensor(rng.randn(3, 12), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: soft_rank(t, regularization_strength=0.4, regularization=regularization), (x,))


def test_soft_spearman_tends_to_spearmanr_and_trains(rng):
    a = rng.randn(200)
    b = a + rng.randn(200)
    x = torch.tensor(a, requires_grad=True)
    rho = soft_spearman(x, b, regularization_strength=1e-7)
    assert rho.item() == pytest.approx(spearmanr(a, b).statistic, abs=1e-10)
    smooth = soft_spearman(x, b, regularization_strength=0.05)
    smooth.backward()
    assert float(x.grad.abs().sum()) > 0
    # Batched rows are correlated separately.
    both = soft_spearman(torch.tensor(np.stack([a, b])), np.stack([b, a]),
                         regularization_strength=1e-7)
    np.testing.assert_allclose(both.numpy(), spearmanr(a, b).statistic)


def test_soft_rsa_loss_matches_exact_rsa_and_descends(rng):
    target_features = rng.randn(25, 6)
    target = rdm(target_features)
    Z = torch.tensor(rng.randn(25, 6), requires_grad=True)
    exact = 1 - spearmanr(rdm(Z.detach().numpy()), target).statistic
    assert soft_rsa_loss(Z, target, regularization_strength=1e-3).item() == pytest.approx(exact)
    # Square and vector forms of the target agree; the identical RDM gives 0.
    square = rdm(target_features, square=True)
    assert soft_rsa_loss(Z, square).item() == pytest.approx(soft_rsa_loss(Z, target).item())
    assert float(soft_rsa_loss(torch.tensor(target_features), target, regularization_strength=1e-3)
                 ) == pytest.approx(0, abs=1e-12)
    opt = torch.optim.Adam([Z], lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        soft_rsa_loss(Z, target).backward()
        opt.step()
    after = 1 - spearmanr(rdm(Z.detach().numpy()), target).statistic
    assert after < exact - 0.3


@pytest.mark.parametrize("call, match", [
    (lambda: soft_rank(np.zeros(3)), "torch tensor"),
    (lambda: soft_rank(torch.zeros(3, dtype=torch.long)), "floating point"),
    (lambda: soft_rank(torch.tensor([1.0, float("nan")])), "NaN"),
    (lambda: soft_rank(torch.zeros(3), regularization_strength=0), "regularization_strength"),
    (lambda: soft_rank(torch.zeros(3), regularization="entropy"), "regularization must be"),
    (lambda: soft_spearman(torch.zeros(3), [1, 2]), "target has shape"),
    (lambda: soft_rsa_loss(torch.zeros(4, 2), np.zeros(5)), "upper triangle"),
    (lambda: soft_rsa_loss(torch.zeros(3, 2), np.arange(9.0).reshape(3, 3)), "not symmetric"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.cuda
@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_cuda_matches_cpu(rng, regularization):
    x = torch.tensor(rng.randn(3, 50), requires_grad=True)
    xc = x.detach().cuda().requires_grad_(True)
    g = torch.tensor(rng.randn(3, 50))
    for t, grad in ((x, g), (xc, g.cuda())):
        (soft_rank(t, regularization_strength=0.3, regularization=regularization) * grad
         ).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xc.grad.cpu().numpy(), atol=1e-10)
