"""triplet_kl and triplet_cross_entropy against the numpy definitions of reprlign.triplets."""

import numpy as np
import pytest
import torch

from reprlign.losses import triplet_cross_entropy, triplet_kl
from reprlign.triplets import choice_kl, choice_probabilities, triplet_similarities


@pytest.fixture
def data(rng):
    Z = rng.randn(30, 4)
    t = np.array([rng.choice(30, 3, replace=False) for _ in range(50)])
    p = choice_probabilities(rng.randn(30, 4), t, temperature=0.7)
    return Z, t, p


def test_kl_equals_choice_kl_and_soft_ce_gradient(data):
    Z, t, p = data
    s = torch.tensor(triplet_similarities(Z, t), requires_grad=True)
    loss = triplet_kl(s, p, temperature=0.5)
    q = choice_probabilities(Z, t, temperature=0.5)
    assert float(loss) == pytest.approx(choice_kl(p, q), rel=1e-10)
    loss.backward()
    # Same gradient as the soft-label cross-entropy (KL minus the target's entropy).
    s2 = s.detach().clone().requires_grad_(True)
    ce = -(torch.as_tensor(p) * (s2 / 0.5).log_softmax(1)).sum(1).mean()
    ce.backward()
    np.testing.assert_allclose(s.grad.numpy(), s2.grad.numpy(), atol=1e-12)


def test_kl_weights_reductions_and_zero_at_the_target(data):
    Z, t, p = data
    s = torch.tensor(triplet_similarities(Z, t))
    w = np.arange(1, len(t) + 1, dtype=float)
    per = triplet_kl(s, p, reduction="none")
    assert per.shape == (len(t),) and bool((per >= 0).all())
    assert float(triplet_kl(s, p, weights=w)) == pytest.approx(float((per * torch.tensor(w)).sum()
                                                                     / w.sum()))
    assert float(triplet_kl(s, p, reduction="sum")) == pytest.approx(float(per.sum()))
    own = choice_probabilities(Z, t, temperature=2.0)
    assert float(triplet_kl(s, own, temperature=2.0)) == pytest.approx(0.0, abs=1e-12)


def test_learnable_temperature_gets_a_gradient(data):
    Z, t, p = data
    s = torch.tensor(triplet_similarities(Z, t))
    log_tau = torch.zeros((), dtype=torch.float64, requires_grad=True)
    triplet_kl(s, p, temperature=log_tau.exp()).backward()
    assert log_tau.grad is not None and float(log_tau.grad) != 0


def test_cross_entropy_is_kl_to_one_hot_targets(data):
    Z, t, _ = data
    s = torch.tensor(triplet_similarities(Z, t))
    odd = np.arange(len(t)) % 3
    ce = triplet_cross_entropy(s, odd, temperature=0.3)
    assert float(ce) == pytest.approx(float(triplet_kl(s, np.eye(3)[odd], temperature=0.3)))
    canonical = triplet_cross_entropy(s)  # None: the last column is the odd one out
    assert float(canonical) == pytest.approx(float(triplet_cross_entropy(s, np.full(len(t), 2))))
    assert float(triplet_cross_entropy(torch.zeros(5, 3))) == pytest.approx(np.log(3))


@pytest.mark.parametrize("call, match", [
    (lambda s, p: triplet_kl(s.numpy(), p), "torch tensor"),
    (lambda s, p: triplet_kl(s[:, :2], p), r"shape \(m, 3\)"),
    (lambda s, p: triplet_kl(s, p[:-1]), "target has shape"),
    (lambda s, p: triplet_kl(s, p * 2), "sums to"),
    (lambda s, p: triplet_kl(s, -p), "non-negative"),
    (lambda s, p: triplet_kl(s, p, temperature=0), "temperature"),
    (lambda s, p: triplet_kl(s, p, reduction="max"), "reduction"),
    (lambda s, p: triplet_kl(s, p, weights=np.ones(3)), "weights"),
    (lambda s, p: triplet_cross_entropy(s, np.full(len(s), 3)), "positions 0, 1 or 2"),
    (lambda s, p: triplet_cross_entropy(s, np.zeros(len(s))), "integer positions"),
])
def test_bad_input_is_named(data, call, match):
    Z, t, p = data
    s = torch.tensor(triplet_similarities(Z, t))
    with pytest.raises((ValueError, TypeError), match=match):
        call(s, p)


@pytest.mark.cuda
def test_cuda_matches_cpu(data):
    Z, t, p = data
    s = torch.tensor(triplet_similarities(Z, t), requires_grad=True)
    sc = s.detach().cuda().requires_grad_(True)
    a, b = triplet_kl(s, p, temperature=0.5), triplet_kl(sc, p, temperature=0.5)
    a.backward()
    b.backward()
    assert float(a) == pytest.approx(float(b), rel=1e-6)
    np.testing.assert_allclose(s.grad.numpy(), sc.grad.cpu().numpy(), atol=1e-8)
