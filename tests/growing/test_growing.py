"""Tests for GrowingMLP / GrowingMLPRegressor and the GradMax growers."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris

from reprlign import GrowingMLP, GrowingMLPRegressor
from reprlign.growing._growers import (
    StepOptimizer,
    forward,
    gradmax_directions,
    grow_layer,
    init_network,
    relu_grad1,
    shortcut_gradient,
)


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny matrices: extra threads only add contention on a shared machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


# ------------------------------------------------------------------ ReLU trap
def _ts_data(seed=0, n=200):
    rng = np.random.RandomState(seed)
    W1, W2 = rng.uniform(-1, 1, (6, 6)), rng.uniform(-1, 1, (6, 6))
    X = rng.normal(size=(n, 6))
    return X, np.maximum(X @ W1, 0) @ W2


def _ts_model(**kw):
    params = dict(
        hidden_layer_sizes=6,
        initial_hidden_sizes=3,
        grow_by=1,
        grow_every=20,
        use_bias=False,
        optimizer="sgd",
        lr=0.1,
        max_epochs=100,
        dtype="float64",
        random_state=0,
    )
    params.update(kw)
    return GrowingMLPRegressor(**params)


def test_relu_trap_warns_and_collapses_to_zeros():
    X, Y = _ts_data()
    with pytest.warns(UserWarning, match="derivative 0 at 0"):
        trapped = _ts_model(activation="torch_relu").fit(X, Y)
    zeros = _ts_model(activation="torch_relu", growth="zeros").fit(X, Y)
    assert all(h["grad_norm"] == 0 for h in trapped.growth_history_)
    # New incoming weights never move: the new neurons stay dead.
    assert np.all(trapped.coefs_[0][:, 3:] == 0)
    np.testing.assert_allclose(trapped.loss_curve_[:20], zeros.loss_curve_[:20])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        good = _ts_model().fit(X, Y)
    assert all(h["grad_norm"] > 0 for h in good.growth_history_)
    assert np.all(np.any(good.coefs_[0][:, 3:] != 0, axis=0))


def test_zeros_growth_equals_small_network():
    X, Y = _ts_data()
    zeros = _ts_model(growth="zeros").fit(X, Y)
    small = _ts_model(hidden_layer_sizes=3, growth=None).fit(X, Y)
    np.testing.assert_allclose(zeros.loss_curve_, small.loss_curve_, rtol=1e-10)


def test_teacher_student_gradmax_gradient_larger_than_random():
    X, Y = _ts_data()
    gm = _ts_model().fit(X, Y).growth_history_
    rnd = _ts_model(growth="random").fit(X, Y).growth_history_
    assert gm[0]["grad_norm"] > 2 * rnd[0]["grad_norm"]
    assert all(h["max_output_change"] < 1e-12 for h in gm + rnd)
    assert all(h["loss_before"] == pytest.approx(h["loss_after"], abs=1e-12) for h in gm)


def test_callable_activation_checks():
    X, Y = _ts_data()
    with pytest.raises(ValueError, match=r"f\(0\)"):
        _ts_model(activation=torch.sigmoid).fit(X, Y)
    # tanh: f(0) = 0, f'(0) = 1: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _ts_model(activation="tanh", max_epochs=70).fit(X, Y)


# ------------------------------------------------------------ optimizer state
def test_adam_new_entries_get_fresh_state_old_entries_keep_theirs():
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    grads = [torch.randn(3, 4, generator=gen, dtype=torch.float64) for _ in range(5)]
    g_new = torch.randn(5, 4, generator=gen, dtype=torch.float64)

    ours, ref_p = StepOptimizer("adam", 0.01), p0.clone().requires_grad_(True)
    ref = torch.optim.Adam([ref_p], lr=0.01, foreach=False)
    p = p0.clone()
    for g in grads:
        ours.step([p], [g])
        ref_p.grad = g.clone()
        ref.step()
    np.testing.assert_allclose(p.numpy(), ref_p.detach().numpy(), rtol=1e-12)

    # Grow by two rows, then take one more step.
    p = torch.cat([p, torch.zeros(2, 4, dtype=torch.float64)])
    ours.grow(0, 0, 2)
    before = p.clone()
    ours.step([p], [g_new])
    ref_p.grad = g_new[:3].clone()
    ref.step()
    # Old rows: exactly what uninterrupted Adam does.
    np.testing.assert_allclose(p[:3].numpy(), ref_p.detach().numpy(), rtol=1e-12)
    # New rows: exactly a first Adam step, lr * g / (|g| + eps).
    fresh = 0.01 * g_new[3:] / (g_new[3:].abs() + 1e-8)
    np.testing.assert_allclose((before[3:] - p[3:]).numpy(), fresh.numpy(), rtol=1e-10)


def test_sgd_momentum_padding_equals_fresh_state():
    gen = torch.Generator().manual_seed(0)
    opt = StepOptimizer("sgd", 0.1, momentum=0.9)
    p = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    for _ in range(3):
        opt.step([p], [torch.randn(2, 3, generator=gen, dtype=torch.float64)])
    p = torch.cat([p, torch.zeros(2, 1, dtype=torch.float64)], dim=1)
    opt.grow(0, 1, 1)
    g = torch.randn(2, 4, generator=gen, dtype=torch.float64)
    opt.step([p], [g])
    np.testing.assert_allclose(p[:, 3].numpy(), (-0.1 * g[:, 3]).numpy(), rtol=1e-12)
    assert opt.state["buf"][0].shape == (2, 4)


def test_estimator_optimizer_state_follows_growth():
    X, y = load_iris(return_X_y=True)
    clf = GrowingMLP(
        hidden_layer_sizes=(8, 6),
        initial_hidden_sizes=(2, 3),
        grow_by=(2, 1),
        grow_every=5,
        max_epochs=30,
        random_state=0,
    ).fit(X, y)
    assert clf.hidden_sizes_ == (8, 6)
    shapes = [c.T.shape for c in clf.coefs_] + [b.shape for b in clf.intercepts_]
    for key in ("m", "v", "t"):
        assert [a.shape for a in clf._opt_state[key]] == shapes
    # Per-entry Adam step counts: the last neurons of layer 0 were born at step 15.
    t_in = clf._opt_state["t"][0]
    assert t_in[0, 0] == 30 and t_in[-1, 0] == 30 - 15


# ------------------------------------------------------------------ estimator
def test_schedule_and_history():
    X, y = load_iris(return_X_y=True)
    clf = GrowingMLP(
        hidden_layer_sizes=(8, 6),
        initial_hidden_sizes=(2, 3),
        grow_by=(2, 1),
        grow_every=5,
        max_epochs=30,
        random_state=0,
    ).fit(X, y)
    steps = [(h["step"], h["layer"], h["n_new"]) for h in clf.growth_history_]
    assert steps == [(5, 0, 2), (5, 1, 1), (10, 0, 2), (10, 1, 1), (15, 0, 2), (15, 1, 1)]
    assert clf.n_steps_ == 30 and len(clf.loss_curve_) == 30 and clf.n_iter_ == 30
    for h in clf.growth_history_:
        assert set(h) >= {"step", "layer", "n_new", "grad_norm", "loss_before", "loss_after"}
        assert abs(h["loss_before"] - h["loss_after"]) < 1e-5


def test_default_schedule_and_no_growth():
    X, y = load_iris(return_X_y=True)
    clf = GrowingMLP(hidden_layer_sizes=10, random_state=0, max_epochs=100).fit(X, y)
    # Default: a quarter of the width (2), grown in 4 events of ceil(8 / 4) = 2.
    assert clf.coefs_[0].shape == (4, 10) and len(clf.growth_history_) == 4
    fixed = GrowingMLP(hidden_layer_sizes=10, growth=None, random_state=0, max_epochs=5).fit(X, y)
    assert fixed.coefs_[0].shape == (4, 10) and fixed.growth_history_ == []


def test_classifier_learns_and_probabilities():
    X, y = load_iris(return_X_y=True)
    clf = GrowingMLP(hidden_layer_sizes=16, grow_every=25, max_epochs=300, random_state=0)
    clf.fit(X, y)
    assert clf.score(X, y) > 0.95
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_[P.argmax(1)], clf.predict(X))
    labels = np.array(["a", "b", "c"])[y]
    assert set(clf.fit(X, labels).predict(X)) <= {"a", "b", "c"}


def test_regressor_learns_multioutput():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    Y = np.c_[np.sin(X[:, 0]), X[:, 1] * X[:, 2]]
    reg = GrowingMLPRegressor(
        hidden_layer_sizes=32, grow_every=50, max_epochs=400, random_state=0
    ).fit(X, Y)
    assert reg.predict(X).shape == (200, 2) and reg.score(X, Y) > 0.8
    reg1 = clone(reg).set_params(max_epochs=250).fit(X, Y[:, 0])
    assert reg1.predict(X).shape == (200,)


def test_reproducible_and_pickle():
    X, y = load_iris(return_X_y=True)
    kw = dict(
        hidden_layer_sizes=12,
        grow_every=10,
        max_epochs=60,
        batch_size=32,
        random_state=3,
        growth="random",
    )
    a, b = GrowingMLP(**kw).fit(X, y), GrowingMLP(**kw).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X), c.predict_proba(X))
    assert c.growth_history_ == a.growth_history_


def test_partial_fit_continues_schedule():
    X, y = load_iris(return_X_y=True)
    clf = GrowingMLP(
        hidden_layer_sizes=8,
        initial_hidden_sizes=2,
        grow_by=2,
        grow_every=3,
        batch_size=50,
        lr=0.1,
        random_state=0,
    )
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_steps_ == 3 and clf.hidden_sizes_ == (4,)
    for _ in range(3):
        clf.partial_fit(X, y)
    assert clf.n_steps_ == 12 and clf.hidden_sizes_ == (8,)
    assert [h["step"] for h in clf.growth_history_] == [3, 6, 9]
    assert np.mean(clf.loss_curve_[-3:]) < np.mean(clf.loss_curve_[:3])
    # Same result as pickling in the middle.
    other = GrowingMLP(**clf.get_params())
    other.partial_fit(X, y, classes=[0, 1, 2])
    other = pickle.loads(pickle.dumps(other))
    for _ in range(3):
        other.partial_fit(X, y)
    np.testing.assert_allclose(other.coefs_[0], clf.coefs_[0], rtol=1e-6)


def test_verbose_prints(capsys):
    X, y = load_iris(return_X_y=True)
    GrowingMLP(
        hidden_layer_sizes=4,
        initial_hidden_sizes=2,
        grow_by=2,
        grow_every=2,
        max_epochs=3,
        verbose=1,
    ).fit(X, y)
    out = capsys.readouterr().out
    assert "GrowingMLP epoch 3: loss=" in out and "grew layer 0 by 2" in out


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "params,match",
    [
        (dict(hidden_layer_sizes=4, initial_hidden_sizes=8), "smaller than initial"),
        (dict(hidden_layer_sizes=(8, 8), initial_hidden_sizes=(2,)), "has 1 entries"),
        (
            dict(hidden_layer_sizes=64, initial_hidden_sizes=16, grow_every=50, max_epochs=100),
            "growth schedule ends at step 200",
        ),
        (dict(growth="gradmx"), "growth must be one of"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(activation="gelu"), "activation must be one of"),
        (dict(lr=-1.0), "lr must be > 0"),
        (dict(hidden_layer_sizes=0), "hidden_layer_sizes must be > 0"),
        (dict(dtype="float16"), "dtype"),
        (dict(momentum=1.0), "momentum"),
    ],
)
def test_bad_parameters(params, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        GrowingMLP(**params).fit(X, y)


def test_bad_data():
    X, y = load_iris(return_X_y=True)
    X = X.copy()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GrowingMLP().fit(X, y)
    with pytest.raises(ValueError, match="2 classes"):
        GrowingMLP().fit(load_iris().data, np.zeros(150))
    with pytest.raises(ValueError, match="device"):
        GrowingMLP(device="tpu").fit(load_iris().data, y)


# ---------------------------------------------------------------------- CUDA
@pytest.mark.cuda
def test_cpu_cuda_agree():
    X, Y = _ts_data()
    cpu = _ts_model().fit(X, Y)
    gpu = _ts_model(device="cuda").fit(X, Y)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-6, atol=1e-8)
    for a, b in zip(cpu.growth_history_, gpu.growth_history_, strict=True):
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-6)
    # A CUDA-trained model pickles and predicts on the CPU.
    restored = pickle.loads(pickle.dumps(gpu)).set_params(device="cpu")
    np.testing.assert_allclose(restored.predict(X), gpu.predict(X), rtol=1e-6, atol=1e-8)


def test_growth_uses_loss_without_weight_decay():
    # One full-batch step, then growth: the fitted network is the one right after
    # growth, and loss_after is its data loss (log loss), not the penalised loss.
    X, y = load_iris(return_X_y=True)
    clf = GrowingMLP(
        hidden_layer_sizes=4,
        initial_hidden_sizes=2,
        grow_by=2,
        grow_every=1,
        weight_decay=5.0,
        dtype="float64",
        random_state=0,
    )
    clf.partial_fit(X, y, classes=[0, 1, 2])
    (rec,) = clf.growth_history_
    P = clf.predict_proba(X)
    data_loss = -np.mean(np.log(P[np.arange(len(y)), y]))
    penalty = 2.5 * sum((c**2).sum() for c in clf.coefs_)
    assert rec["loss_after"] == pytest.approx(data_loss, rel=1e-10)
    assert penalty > 0.1 * data_loss


# ------------------------------------------------- data order and growth sample
class _RecordingRegressor(GrowingMLPRegressor):
    """Records the targets of every loss evaluation (targets = row ids)."""

    def _loss(self, out, y):
        self.seen_.append(tuple(int(v) for v in y.ravel()))
        return super()._loss(out, y)


def _batch_sequence(**kw):
    X = np.random.RandomState(0).normal(size=(60, 3))
    reg = _RecordingRegressor(
        hidden_layer_sizes=6,
        initial_hidden_sizes=2,
        grow_by=2,
        grow_every=4,
        batch_size=16,
        max_epochs=6,
        optimizer="sgd",
        lr=1e-4,
        random_state=5,
        **kw,
    )
    reg.seen_ = []
    reg.fit(X, np.arange(60.0))
    # Growth evaluates the loss on the batch of its step again: drop those repeats.
    seq = [b for i, b in enumerate(reg.seen_) if i == 0 or b != reg.seen_[i - 1]]
    return seq, reg


def test_every_growth_method_sees_the_same_batches():
    ref, fixed = _batch_sequence(growth=None)
    assert len(ref) == fixed.n_steps_ == 24
    assert sorted(sum(ref[:4], ())) == list(range(60))  # an epoch covers every row once
    for growth in ("gradmax", "random", "random_inverse", "zeros"):
        seq, reg = _batch_sequence(growth=growth)
        assert seq == ref, growth
        # Random growth draws from the model generator, never from the data order's.
        np.testing.assert_array_equal(reg._order_rng_state, fixed._order_rng_state)
    seq, _ = _batch_sequence(growth="gradmax", growth_batch_size=25)
    assert [b for b in seq if len(b) != 25] == ref


def _grown_once(growth_batch_size):
    # Three steps of 50 rows, then growth right after step 3: coefs_ is the network
    # just after growth, which without its new units is the network just before.
    X, y = load_iris(return_X_y=True)
    clf = GrowingMLP(
        hidden_layer_sizes=6,
        initial_hidden_sizes=3,
        grow_by=2,
        grow_every=3,
        batch_size=50,
        growth_batch_size=growth_batch_size,
        optimizer="sgd",
        lr=0.1,
        dtype="float64",
        random_state=0,
    ).partial_fit(X, y, classes=[0, 1, 2])
    return X, y, clf


@pytest.mark.parametrize("growth_batch_size", [150, 1000])
def test_growth_batch_size_whole_data(growth_batch_size):
    X, y, clf = _grown_once(growth_batch_size)
    (rec,) = clf.growth_history_
    W0, W1 = clf.coefs_[0].T, clf.coefs_[1].T
    w = [torch.as_tensor(W0[:3].copy()), torch.as_tensor(W1[:, :3].copy())]
    b = [torch.as_tensor(clf.intercepts_[0][:3].copy()), torch.as_tensor(clf.intercepts_[1])]
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    loss = lambda out: torch.nn.functional.cross_entropy(out, yt)  # noqa: E731
    M = shortcut_gradient(w, b, relu_grad1, 0, Xt, loss).numpy()
    U, s, _ = np.linalg.svd(M)
    new_out = W1[:, 3:]
    target = 0.5 * np.linalg.norm(W1[:, :3], axis=0).mean()
    for k in range(2):
        assert abs(new_out[:, k] @ U[:, k]) / target == pytest.approx(1.0, abs=1e-9)
    # Diagnostics on the whole data as well.
    assert rec["loss_before"] == pytest.approx(
        float(loss(forward(w, b, relu_grad1, Xt))), rel=1e-12
    )
    assert rec["grad_norm"] == pytest.approx(target * np.sqrt((s[:2] ** 2).sum()), rel=1e-9)


def test_growth_batch_size_default_and_subsample():
    X, y, whole = _grown_once(150)
    _, _, batch = _grown_once(None)
    _, _, sub = _grown_once(40)
    # Same training before growth (growth draws nothing from the data order).
    np.testing.assert_array_equal(batch.loss_curve_, whole.loss_curve_)
    np.testing.assert_array_equal(batch.coefs_[0][:, :3], whole.coefs_[0][:, :3])
    # The paper's default uses the last 50-row batch: another M, other directions.
    cos = np.abs(np.sum(batch.coefs_[1][3:] * whole.coefs_[1][3:], axis=1))
    cos /= np.linalg.norm(batch.coefs_[1][3:], axis=1) * np.linalg.norm(whole.coefs_[1][3:], axis=1)
    assert np.all(cos < 0.999)
    losses = {r.growth_history_[0]["loss_before"] for r in (batch, whole, sub)}
    assert len(losses) == 3
    with pytest.raises(ValueError, match="growth_batch_size"):
        GrowingMLP(growth_batch_size=0).fit(X, y)
