"""Perturbed top-k (Berthet et al. 2020) and the k-NN overlap loss built on it."""

import numpy as np
import pytest
import torch

from reprlign.losses import knn_overlap_loss, perturbed_topk
from reprlign.measures import mutual_knn


def test_hard_topk_as_the_noise_vanishes(rng):
    x = torch.tensor(rng.randn(6, 30))
    y = perturbed_topk(x, 4, sigma=1e-9, n_samples=3, random_state=0)
    hard = np.zeros((6, 30))
    np.put_along_axis(hard, np.argsort(-x.numpy(), axis=1)[:, :4], 1.0, axis=1)
    np.testing.assert_array_equal(y.numpy(), hard)


def test_soft_indicators_sum_to_k_and_are_seeded(rng):
    x = torch.tensor(rng.randn(3, 10), requires_grad=True)
    y = perturbed_topk(x, 3, sigma=0.5, n_samples=200, random_state=1)
    np.testing.assert_allclose(y.detach().sum(-1).numpy(), 3.0)
    assert float(y.min()) >= 0 and float(y.max()) <= 1 and 0 < float(y[0, 0]) < 1
    again = perturbed_topk(x, 3, sigma=0.5, n_samples=200, random_state=1)
    np.testing.assert_array_equal(y.detach().numpy(), again.detach().numpy())
    torch.manual_seed(5)
    a = perturbed_topk(x, 3, sigma=0.5, n_samples=50)
    torch.manual_seed(5)
    b = perturbed_topk(x, 3, sigma=0.5, n_samples=50)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_perturbed_gradient_matches_finite_differences_of_the_smoothed_objective():
    x = torch.tensor([0.3, -0.2, 0.5, 0.1, 0.0], dtype=torch.float64, requires_grad=True)
    g = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0], dtype=torch.float64)
    sigma, k, h = 0.5, 2, 0.1
    (perturbed_topk(x, k, sigma=sigma, n_samples=100_000, random_state=0) @ g).backward()

    def smoothed(v):  # common random numbers on both sides of each difference
        with torch.no_grad():
            return float(perturbed_topk(v, k, sigma=sigma, n_samples=200_000, random_state=1) @ g)

    eye = torch.eye(5, dtype=torch.float64) * h
    fd = [(smoothed(x.detach() + e) - smoothed(x.detach() - e)) / (2 * h) for e in eye]
    # Monte-Carlo standard errors are about 0.03 (gradient) and 0.015 (differences).
    np.testing.assert_allclose(x.grad.numpy(), fd, atol=0.12)


def test_knn_overlap_loss_is_one_minus_mutual_knn_and_descends(rng):
    Z = rng.randn(40, 6)
    R = rng.randn(40, 6)
    for metric in ("cosine", "euclidean"):
        loss = knn_overlap_loss(torch.tensor(Z), R, k=5, metric=metric, sigma=1e-9, n_samples=2,
                                random_state=0)
        assert loss.item() == pytest.approx(1 - mutual_knn(Z, R, k=5, metric=metric))
    Zt = torch.tensor(Z, requires_grad=True)
    opt = torch.optim.Adam([Zt], lr=0.1)
    for step in range(100):
        opt.zero_grad()
        knn_overlap_loss(Zt, R, k=5, sigma=0.2, n_samples=50, random_state=step).backward()
        opt.step()
    assert mutual_knn(Zt.detach().numpy(), R, k=5) > mutual_knn(Z, R, k=5) + 0.3


@pytest.mark.parametrize("call, match", [
    (lambda x: perturbed_topk(x.numpy(), 2), "torch tensor"),
    (lambda x: perturbed_topk(x, 0), "k must be"),
    (lambda x: perturbed_topk(x, 11), "k must be"),
    (lambda x: perturbed_topk(x, 2, sigma=0), "sigma"),
    (lambda x: perturbed_topk(x, 2, n_samples=0), "n_samples"),
    (lambda x: perturbed_topk(x, 2, random_state="a"), "random_state"),
    (lambda x: perturbed_topk(x + float("nan"), 2), "NaN"),
    (lambda x: knn_overlap_loss(x, np.zeros((4, 2)), k=2), "reference must be"),
    (lambda x: knn_overlap_loss(x, np.zeros((10, 2)), metric="l1"), "metric"),
    (lambda x: knn_overlap_loss(x, np.zeros((10, 2)), k=10), "k must be"),
])
def test_bad_input_is_named(call, match):
    x = torch.randn(10, 10)
    with pytest.raises((ValueError, TypeError), match=match):
        call(x)


@pytest.mark.cuda
def test_cuda_matches_cpu(rng):
    x = torch.tensor(rng.randn(8, 20), requires_grad=True)
    xc = x.detach().cuda().requires_grad_(True)
    g = torch.tensor(rng.randn(8, 20))
    # A CPU generator draws the same noise for both devices.
    for t, grad in ((x, g), (xc, g.cuda())):
        (perturbed_topk(t, 3, sigma=0.3, n_samples=300, random_state=0) * grad).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xc.grad.cpu().numpy(), atol=1e-10)
    R = rng.randn(20, 4)
    a = knn_overlap_loss(x.detach()[:, :6].T.contiguous(), R[:6], k=2, random_state=0)
    b = knn_overlap_loss(xc.detach()[:, :6].T.contiguous(), R[:6], k=2, random_state=0)
    assert a.item() == pytest.approx(b.item(), abs=1e-10)
