"""Tests of the GradMax maths: shortcut gradient, growers, the ReLU with derivative 1 at 0."""

import numpy as np
import pytest
import torch

from reprlign.growing._growers import (
    forward,
    gradmax_directions,
    grow_layer,
    init_network,
    relu_grad1,
    shortcut_gradient,
)


def _mse(y):
    return lambda out: ((out - y) ** 2).mean()


def _grow(w, b, n_new, method, X, loss, seed=0):
    """``grow_layer`` on layer 0 with the ReLU of derivative 1 at 0 and scale 0.5."""
    return grow_layer(w, b, relu_grad1, 0, n_new, method, X, loss, scale=0.5,
                      generator=torch.Generator().manual_seed(seed))


def _net(sizes, seed=0, bias=True):
    gen = torch.Generator().manual_seed(seed)
    w, b = init_network(sizes, bias=bias, generator=gen, device="cpu", dtype=torch.float64)
    if bias:  # non-zero biases so that the checks see them
        b = [torch.randn(len(x), generator=gen, dtype=torch.float64) * 0.1 for x in b]
    return w, b


def _data(n=40, d_in=4, d_out=5, seed=1):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d_in, generator=gen, dtype=torch.float64)
    Y = torch.randn(n, d_out, generator=gen, dtype=torch.float64)
    return X, Y


def _shortcut_by_autograd(weights, biases, layer, X, loss_fn):
    """Independent route to M: add an explicit zero shortcut S and differentiate."""
    S = torch.zeros(
        weights[layer + 1].shape[0], weights[layer].shape[1], dtype=X.dtype, requires_grad=True
    )
    h = X
    last = len(weights) - 1
    for i in range(last + 1):
        if i == layer:
            h_prev = h
        z = h @ weights[i].T + biases[i]
        if i == layer + 1:
            z = z + h_prev @ S.T
        h = z if i == last else relu_grad1(z)
    (g,) = torch.autograd.grad(loss_fn(h), S)
    return g


# --------------------------------------------------------------- GradMax math
@pytest.mark.parametrize("sizes,layer", [([4, 3, 5], 0), ([4, 3, 6, 5], 0), ([4, 3, 6, 5], 1)])
def test_shortcut_gradient_matches_explicit_shortcut(sizes, layer):
    w, b = _net(sizes)
    X, Y = _data(d_in=sizes[0], d_out=sizes[-1])
    M = shortcut_gradient(w, b, relu_grad1, layer, X, _mse(Y))
    ref = _shortcut_by_autograd(w, b, layer, X, _mse(Y))
    assert M.shape == (sizes[layer + 2], sizes[layer])
    np.testing.assert_allclose(M.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)


def test_shortcut_gradient_closed_form_one_hidden_layer():
    # One hidden layer, MSE: delta_2 = 2 (out - y) / (n * d_out), M = delta_2^T X.
    w, b = _net([4, 3, 5])
    X, Y = _data()
    out = forward(w, b, relu_grad1, X)
    delta = 2 * (out - Y) / Y.numel()
    M = shortcut_gradient(w, b, relu_grad1, 0, X, _mse(Y))
    np.testing.assert_allclose(M.numpy(), (delta.T @ X).numpy(), rtol=1e-10)


@pytest.mark.parametrize("n_new", [1, 2, 3, 5])
def test_gradmax_growth_exact(n_new):
    # n_new = 5 = d_{l+1}: the columns span the output space, grad norm = target ||M||_F.
    w, b = _net([4, 3, 5])
    X, Y = _data()
    loss = _mse(Y)
    M = shortcut_gradient(w, b, relu_grad1, 0, X, loss).numpy()
    U, s, _ = np.linalg.svd(M)
    old_out = w[1].clone()
    target = 0.5 * np.linalg.norm(old_out.numpy(), axis=0).mean()
    out_before = forward(w, b, relu_grad1, X)

    rec = _grow(w, b, n_new, "gradmax", X, loss)

    assert w[0].shape == (3 + n_new, 4) and w[1].shape == (5, 3 + n_new)
    assert b[0].shape == (3 + n_new,)
    # Incoming weights and bias of the new neurons are exactly zero; old weights untouched.
    assert torch.all(w[0][3:] == 0) and torch.all(b[0][3:] == 0)
    assert torch.equal(w[1][:, :3], old_out)
    # Outgoing columns: top left singular vectors of M (up to sign), scaled to 0.5 x mean norm.
    new_out = w[1][:, 3:].numpy()
    np.testing.assert_allclose(np.linalg.norm(new_out, axis=0), target, rtol=1e-12)
    for k in range(n_new):
        cos = abs(new_out[:, k] @ U[:, k]) / target
        assert cos == pytest.approx(1.0, abs=1e-10)
    # Function preserved.
    out_after = forward(w, b, relu_grad1, X)
    assert float((out_after - out_before).abs().max()) < 1e-12
    assert rec["loss_after"] == pytest.approx(rec["loss_before"], abs=1e-14)
    assert rec["max_output_change"] < 1e-12
    # The incoming gradient is f'(0) W_new^T M, with norm target * sqrt(sum of top sigma^2).
    assert rec["grad_norm"] == pytest.approx(target * np.sqrt((s[:n_new] ** 2).sum()), rel=1e-10)
    if n_new == 5:
        assert rec["grad_norm"] == pytest.approx(target * np.linalg.norm(M), rel=1e-10)


def test_gradmax_beats_every_random_direction():
    w0, b0 = _net([4, 3, 5])
    X, Y = _data()
    gm = _grow([*w0], [*b0], 2, "gradmax", X, _mse(Y))["grad_norm"]
    for seed in range(20):
        rnd = _grow([*w0], [*b0], 2, "random", X, _mse(Y), seed=seed)
        assert rnd["grad_norm"] <= gm + 1e-12
        assert rnd["max_output_change"] < 1e-12


def test_more_new_neurons_than_output_directions():
    # Layer l+1 has 2 units, so only 2 orthonormal directions exist; the third is random.
    w, b = _net([4, 3, 2])
    X, Y = _data(d_out=2)
    M = shortcut_gradient(w, b, relu_grad1, 0, X, _mse(Y))
    U = gradmax_directions(M, 3, torch.Generator().manual_seed(0))
    assert U.shape == (2, 3)
    np.testing.assert_allclose(U.norm(dim=0).numpy(), 1.0, rtol=1e-12)
    rec = _grow(w, b, 3, "gradmax", X, _mse(Y))
    assert rec["max_output_change"] < 1e-12


def test_baselines_initialisation():
    X, Y = _data()
    w, b = _net([4, 3, 5])
    in_norm = 0.5 * w[0].norm(dim=1).mean()
    rec = _grow(w, b, 2, "random_inverse", X, _mse(Y))
    assert torch.all(w[1][:, 3:] == 0) and torch.all(b[0][3:] == 0)
    np.testing.assert_allclose(w[0][3:].norm(dim=1).numpy(), float(in_norm), rtol=1e-12)
    assert rec["grad_norm"] == 0 and rec["max_output_change"] < 1e-12

    w, b = _net([4, 3, 5])
    rec = _grow(w, b, 2, "zeros", X, _mse(Y))
    assert torch.all(w[0][3:] == 0) and torch.all(w[1][:, 3:] == 0) and rec["grad_norm"] == 0


def test_relu_grad1():
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y = relu_grad1(x)
    assert y.tolist() == [0.0, 0.0, 2.0]
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g.tolist() == [0.0, 1.0, 1.0]
