"""Tests for GrowingMLP / GrowingMLPRegressor: growth in training, schedule, state, contracts."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.utils.estimator_checks import check_param_validation

from reprlign import GrowingMLP, GrowingMLPRegressor
from reprlign.growing._growers import forward, relu_grad1, shortcut_gradient


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
    module, state = clf.net_.module_, clf.net_.optimizer_.state
    params = [*module.weights, *module.biases]
    for key in ("m", "v", "t"):
        assert [state[p][key].shape for p in params] == shapes
    # Per-entry Adam step counts: the last neurons of layer 0 were born at step 15.
    t_in = state[module.weights[0]]["t"]
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
        (dict(growth="gradmx"), "'growth' parameter of GrowingMLP must be a str among"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(activation="gelu"), "'activation' parameter of GrowingMLP must be a str among"),
        (dict(lr=-1.0), r"'lr' parameter of GrowingMLP must be a float in the range \(0.0, inf\)"),
        (dict(hidden_layer_sizes=0), r"'hidden_layer_sizes' parameter of GrowingMLP must be an"),
        (dict(hidden_layer_sizes=(4, 0)), "hidden_layer_sizes must be > 0"),
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
    # partial_fit continues on the new device: module and optimizer state move there.
    restored.partial_fit(X, Y)
    gpu.partial_fit(X, Y)
    np.testing.assert_allclose(restored.predict(X), gpu.predict(X), rtol=1e-5, atol=1e-7)
    state = restored.net_.optimizer_.state
    assert all(t.device.type == "cpu" for s in state.values() for t in s.values())
    assert all(p.device.type == "cpu" for p in restored.net_.module_.parameters())


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
class _RecordingMSE(torch.nn.MSELoss):
    """Records the targets of every loss evaluation (targets = row ids)."""

    seen = []

    def forward(self, out, y):
        self.seen.append(tuple(int(v) for v in y.ravel()))
        return super().forward(out, y)


class _RecordingRegressor(GrowingMLPRegressor):
    _criterion = _RecordingMSE


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
    seen = _RecordingMSE.seen
    seen.clear()
    reg.fit(X, np.arange(60.0))
    # Growth evaluates the loss on the batch of its step again: drop those repeats.
    seq = [b for i, b in enumerate(seen) if i == 0 or b != seen[i - 1]]
    return seq, reg


def test_every_growth_method_sees_the_same_batches():
    ref, fixed = _batch_sequence(growth=None)
    assert len(ref) == fixed.n_steps_ == 24
    assert sorted(sum(ref[:4], ())) == list(range(60))  # an epoch covers every row once
    for growth in ("gradmax", "random", "random_inverse", "zeros"):
        seq, reg = _batch_sequence(growth=growth)
        assert seq == ref, growth
        # Random growth draws from the model generator, never from the data order's.
        np.testing.assert_array_equal(reg.net_.order_generator.get_state(),
                                      fixed.net_.order_generator.get_state())
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


# ------------------------------------------------ engine, fitted state, contracts
@pytest.mark.parametrize("Estimator", [GrowingMLP, GrowingMLPRegressor])
def test_param_validation(Estimator):
    est = Estimator(hidden_layer_sizes=8, initial_hidden_sizes=2, grow_every=2, max_epochs=10)
    check_param_validation(Estimator.__name__, est)


def _small(**kw):
    params = dict(hidden_layer_sizes=8, initial_hidden_sizes=2, grow_by=2, grow_every=4,
                  batch_size=40, max_epochs=6, optimizer="adam", lr=0.05, random_state=0)
    params.update(kw)
    return GrowingMLP(**params)


def test_fitted_state_is_a_live_torch_module():
    X, y = load_iris(return_X_y=True)
    clf = _small().fit(X, y)
    module = clf.net_.module_
    assert isinstance(module, torch.nn.Module)
    # coefs_ / intercepts_ / hidden_sizes_ are read from the module, in sklearn's layout.
    for c, w in zip(clf.coefs_, module.weights, strict=True):
        np.testing.assert_array_equal(c, w.detach().numpy().T)
    for b, p in zip(clf.intercepts_, module.biases, strict=True):
        np.testing.assert_array_equal(b, p.detach().numpy())
    assert clf.hidden_sizes_ == (8,) == (module.weights[0].shape[0],)
    with pytest.raises(AttributeError):
        clf.coefs_ = []
    # The optimizer drives exactly the module's parameters.
    opt_params = {id(p) for g in clf.net_.optimizer_.param_groups for p in g["params"]}
    assert opt_params == {id(p) for p in module.parameters()}
    # partial_fit continues from the live module and optimizer: nothing is rebuilt.
    params_before = [id(p) for p in module.parameters()]
    w_before = module.weights[0].detach().clone()
    clf.partial_fit(X, y)
    assert clf.net_.module_ is module and [id(p) for p in module.parameters()] == params_before
    assert clf.n_steps_ == 6 * 4 + 4 and clf.n_iter_ == 7
    assert not torch.equal(module.weights[0].detach(), w_before)
    unfitted = clone(clf)
    assert not hasattr(unfitted, "net_") and not hasattr(unfitted, "coefs_")


def test_pickle_then_partial_fit_continues_like_the_original():
    # Unpickling restores module, optimizer state (per-entry Adam steps), growth
    # schedule and both generators: the copy trains exactly as the original.
    X, y = load_iris(return_X_y=True)
    clf = _small(hidden_layer_sizes=12, growth="random", growth_batch_size=30)
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.hidden_sizes_ == (8,)  # mid-schedule: 2 -> 4 -> 6 -> 8 after 12 steps
    copy = pickle.loads(pickle.dumps(clf))
    for model in (clf, copy):
        for _ in range(2):
            model.partial_fit(X, y)
    assert copy.hidden_sizes_ == clf.hidden_sizes_ == (12,)
    timeless = [[{k: v for k, v in h.items() if k != "seconds"} for h in m.growth_history_]
                for m in (copy, clf)]
    assert timeless[0] == timeless[1] and len(timeless[0]) == 5
    assert copy.loss_curve_ == clf.loss_curve_
    for a, b in zip(copy.coefs_, clf.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


def test_partial_fit_takes_current_learning_settings():
    X, y = load_iris(return_X_y=True)
    clf = _small(optimizer="sgd", momentum=0.5, weight_decay=0.1)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    clf.set_params(lr=0.01, momentum=0.0, weight_decay=0.0, grow_every=1)
    clf.partial_fit(X, y)
    for group in clf.net_.optimizer_.param_groups:
        assert group["lr"] == 0.01 and group["momentum"] == 0.0 and group["weight_decay"] == 0.0
    # grow_every=1 from step 5 on: one event per step until the final width.
    assert [h["step"] for h in clf.growth_history_] == [4, 5, 6]


def test_regressor_partial_fit_checks_outputs():
    X = np.random.RandomState(0).normal(size=(30, 3))
    reg = GrowingMLPRegressor(hidden_layer_sizes=4, grow_every=2, random_state=0)
    reg.partial_fit(X, X[:, :2])
    with pytest.raises(ValueError, match="y has 1 outputs but the network was fitted with 2"):
        reg.partial_fit(X, X[:, 0])


# ------------------------------------------------------------------ early stopping
def _stopper(**kw):
    params = dict(hidden_layer_sizes=16, initial_hidden_sizes=4, grow_by=4, grow_every=10,
                  lr=0.05, max_epochs=400, early_stopping=True, n_iter_no_change=5,
                  random_state=0)
    params.update(kw)
    return GrowingMLP(**params)


def test_early_stopping_keeps_the_best_grown_epoch():
    X, y = load_iris(return_X_y=True)
    clf = _stopper().fit(X, y)
    hist = clf.net_.history
    # Full batch: one step per epoch, growth complete after step (= epoch) 30.
    assert clf.hidden_sizes_ == (16,) and [h["step"] for h in clf.growth_history_] == [10, 20, 30]
    assert 30 <= clf.best_epoch_ and clf.n_iter_ == clf.best_epoch_ + 5 < 400
    grown = hist[29:, "valid_loss"]
    assert hist[clf.best_epoch_ - 1, "valid_loss"] <= min(grown) * (1 + 1e-4)
    # The kept weights are those of the best epoch: a run of exactly that many
    # epochs (same split, same batches) ends with the same network.
    fixed = _stopper(max_epochs=clf.best_epoch_, n_iter_no_change=1000).fit(X, y)
    np.testing.assert_allclose(fixed.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert len(clf.loss_curve_) == clf.n_steps_ == clf.n_iter_
    # partial_fit continues from there, without validation or stopping.
    clf.partial_fit(X, y)
    assert clf.n_iter_ == clf.best_epoch_ + 6 and "valid_loss" not in clf.net_.history[-1]


def test_early_stopping_waits_for_growth(capsys):
    # Patience 1 would stop at the first epoch without improvement; epochs before
    # the network is fully grown (step 30) do not count.
    X, y = load_iris(return_X_y=True)
    reg = GrowingMLPRegressor(hidden_layer_sizes=16, initial_hidden_sizes=4, grow_by=4,
                              grow_every=10, lr=0.05, max_epochs=400, early_stopping=True,
                              n_iter_no_change=1, random_state=0, verbose=1)
    reg.fit(X[:, :3], X[:, 3])
    assert reg.best_epoch_ >= 30 and reg.n_iter_ >= 31 and reg.hidden_sizes_ == (16,)
    out = capsys.readouterr().out
    assert "GrowingMLPRegressor epoch 1: loss=" in out and "valid_loss=" in out
    assert f"Restoring best model from epoch {reg.best_epoch_}" in out
    assert GrowingMLP(hidden_layer_sizes=4, growth=None, max_epochs=2).fit(
        X, np.arange(150) % 3).best_epoch_ is None
