"""CKA, Procrustes and mutual k-NN: invariances, Gram-form oracles, back ends, bad input.

Tests that take the ``backend`` fixture (tests/measures/conftest.py) run on numpy,
torch CPU and CUDA where present, against float64 numpy oracles.
"""

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from sklearn.neighbors import NearestNeighbors

from reprlign.measures import cka, mutual_knn, procrustes


# --------------------------------------------------------------------------- oracles
def _center_gram(K):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return H @ K @ H


def _u_center(K):
    """U-centring (Szekely & Rizzo 2014), written independently of the library."""
    n = K.shape[0]
    K = K.copy()
    np.fill_diagonal(K, 0)
    r = K.sum(axis=0)
    U = K - r[:, None] / (n - 2) - r[None, :] / (n - 2) + K.sum() / ((n - 1) * (n - 2))
    np.fill_diagonal(U, 0)
    return U


def _song_hsic(K, L):
    """Song et al. (2012) eq. 5, literally."""
    n = K.shape[0]
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0)
    np.fill_diagonal(Lt, 0)
    one = np.ones(n)
    return (
        np.trace(Kt @ Lt)
        + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * one @ Kt @ Lt @ one
    ) / (n * (n - 3))


def gram_cka(K, L, debiased=False):
    if debiased:
        h = _song_hsic
    else:
        def h(A, B):
            return np.sum(_center_gram(A) * _center_gram(B))
    return h(K, L) / np.sqrt(h(K, K) * h(L, L))


def rbf_gram(X, sigma):
    sq = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return np.exp(-sq / (2 * sigma**2))


@pytest.fixture
def XY(rng):
    X = rng.randn(60, 7) + 3.0
    Y = X @ rng.randn(7, 11) + 0.5 * rng.randn(60, 11)
    return X, Y


# --------------------------------------------------------------------------- CKA
@pytest.mark.parametrize("debiased", [False, True])
def test_feature_space_equals_gram_form(XY, debiased, backend):
    X, Y = XY
    ref = gram_cka(X @ X.T, Y @ Y.T, debiased=debiased)
    assert abs(backend.value(cka(backend(X), backend(Y), debiased=debiased)) - ref) < backend.tol
    # d > n takes the Gram route inside cka: same number.
    Xw = np.hstack([X, np.random.RandomState(1).randn(60, 100)])
    ref = gram_cka(Xw @ Xw.T, Y @ Y.T, debiased=debiased)
    assert abs(backend.value(cka(backend(Xw), backend(Y), debiased=debiased)) - ref) < backend.tol


def _plain_feature_space_cka(X, Y, debiased):
    """Oracle: full GEMMs for every product (no syrk), K 1 and row norms in float64."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n = X.shape[0]
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)

    def hsic(tr, A, B):
        if not debiased:
            return tr
        ka, kb = Xc_sum(A), Xc_sum(B)
        da, db = (A**2).sum(1), (B**2).sum(1)
        kt, lt = ka - da, kb - db
        return (tr - (da * db).sum() + kt.sum() * lt.sum() / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * (kt * lt).sum())

    def Xc_sum(A):
        return A @ A.sum(0)

    gxy = (np.dot(Xc.T.copy(), Yc) ** 2).sum()
    gxx = (np.dot(Xc.T.copy(), Xc) ** 2).sum()
    gyy = (np.dot(Yc.T.copy(), Yc) ** 2).sum()
    return hsic(gxy, Xc, Yc) / np.sqrt(hsic(gxx, Xc, Xc) * hsic(gyy, Yc, Yc))


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
def test_syrk_route_equals_plain_gemm(rng, debiased, order, backend):
    # d1 != d2, an offset mean, one constant column in X; C- and F-ordered input.
    X = rng.randn(300, 40) * rng.uniform(0.1, 3.0, 40) + 5.0
    X[:, 7] = 2.5
    Y = np.tanh(X @ rng.randn(40, 23) / 10) + 0.5 * rng.randn(300, 23) - 1.0
    ref = _plain_feature_space_cka(X, Y, debiased)
    Xo, Yo = np.asarray(X, order=order), np.asarray(Y, order=order)
    assert Xo.flags.f_contiguous == (order == "F")

    def got(A, B):
        return backend.value(cka(backend(A), backend(B), debiased=debiased))

    assert abs(got(Xo, Yo) - ref) < backend.tol
    # The same without the constant column: it contributes nothing.
    assert abs(got(np.delete(Xo, 7, axis=1), Yo) - ref) < backend.tol
    # float32 stays float32 in the products; the result is within float32 tolerance.
    got32 = got(Xo.astype(np.float32), Yo.astype(np.float32))
    assert abs(got32 - ref) < 1e-5
    # Non-contiguous input (a column slice) takes the same route.
    wide = np.hstack([Xo, rng.randn(300, 5)])
    assert abs(got(wide[:, :40], Yo) - ref) < backend.tol


def test_gram_equals_full_gemm(rng):
    from reprlign.utils.backend import NUMPY

    _gram = NUMPY.gram

    for A in (rng.randn(50, 9), np.asfortranarray(rng.randn(50, 9))):
        G = _gram(A)
        full = np.dot(A.T.copy(), A)  # a plain GEMM (the operands no longer share a buffer)
        assert np.allclose(G, full, rtol=1e-13, atol=1e-12)
        assert np.array_equal(G, G.T)
        assert abs(np.vdot(G, G) - (full**2).sum()) < 1e-12 * (full**2).sum()
    G32 = _gram(A.astype(np.float32))
    assert G32.dtype == np.float64
    assert abs(np.vdot(G32, G32) / (full**2).sum() - 1) < 1e-5


def test_constant_columns_all_or_with_large_offset(rng):
    X = rng.randn(200, 5)
    Y = rng.randn(200, 6)
    # Constant columns with a large offset (ulp residue after centring) change nothing.
    Xb = np.hstack([X, np.full((200, 2), 1e8 / 3)])
    for debiased in (False, True):
        assert abs(cka(Xb, Y, debiased=debiased) - cka(X, Y, debiased=debiased)) < 1e-12
        with pytest.warns(RuntimeWarning, match="X has no variance"):
            assert cka(np.full((200, 4), 1e8 / 3), Y, debiased=debiased) == 0.0
        with pytest.warns(RuntimeWarning, match="Y has no variance"):
            assert cka(X, np.full((200, 3), -7.1, dtype=np.float32), debiased=debiased) == 0.0


def test_song_estimator_equals_u_centering(rng):
    X, Y = rng.randn(30, 4), rng.randn(30, 6)
    K, L = X @ X.T, Y @ Y.T
    n = 30
    assert np.isclose(_song_hsic(K, L), np.sum(_u_center(K) * _u_center(L)) / (n * (n - 3)))


@pytest.mark.parametrize("debiased", [False, True])
def test_invariances(XY, rng, debiased, backend):
    X, Y = XY
    Q, _ = np.linalg.qr(rng.randn(7, 7))

    def c(A, B, debiased=debiased):
        return backend.value(cka(backend(A), backend(B), debiased=debiased))

    assert c(X, X @ Q) == pytest.approx(1.0, abs=1e-12)
    base = c(X, Y)
    assert c(7.5 * X, Y) == pytest.approx(base, abs=1e-12)
    assert c(X - 100.0, Y + 4.0) == pytest.approx(base, abs=1e-10)
    assert c(X @ Q, Y) == pytest.approx(base, abs=1e-12)
    # Not invariant to a general invertible linear map.
    A = np.diag([1.0, 1, 1, 1, 1, 1, 30]) @ rng.randn(7, 7)
    assert c(X, X @ A) < 0.9
    assert c(X, Y, False) == pytest.approx(c(Y, X, False), abs=1e-14)


def test_bias_on_independent_wide_data():
    # float32 keeps it fast; the effect is far larger than float32 rounding.
    rng = np.random.default_rng(0)
    X = rng.random((1000, 10_000), dtype=np.float32)
    Y = rng.random((1000, 10_000), dtype=np.float32)
    assert cka(X, Y) > 0.9
    assert abs(cka(X, Y, debiased=True)) < 0.1


@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_streamed_equals_gram(XY, debiased, backend):
    X, Y = XY
    ref = gram_cka(rbf_gram(X, 2.0), rbf_gram(Y, 5.0), debiased=debiased)
    for block in (1, 7, None):
        got = cka(backend(X), backend(Y), kernel="rbf", sigma=(2.0, 5.0), debiased=debiased,
                  block_size=block)
        assert abs(backend.value(got) - ref) < backend.tol


def test_rbf_median_heuristic_and_wide_bandwidth(XY, backend):
    X, Y = XY
    dx = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))[np.triu_indices(60, 1)]
    dy = np.sqrt(((Y[:, None] - Y[None]) ** 2).sum(-1))[np.triu_indices(60, 1)]
    ref = gram_cka(rbf_gram(X, np.median(dx)), rbf_gram(Y, np.median(dy)))
    Xb, Yb = backend(X), backend(Y)
    # The two distance formulas round differently: sigma agrees to ~1e-15 relative.
    assert abs(backend.value(cka(Xb, Yb, kernel="rbf")) - ref) < 1e-8
    # As sigma grows, RBF CKA tends to linear CKA (Kornblith et al. 2019).
    assert backend.value(cka(Xb, Yb, kernel="rbf", sigma=1e4)) == pytest.approx(cka(X, Y),
                                                                                 abs=1e-6)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
def test_answers_in_kind_and_mixed_partners(XY, kernel, debiased, backend):
    X, Y = XY
    ref = cka(X, Y, kernel=kernel, debiased=debiased)
    got = backend.value(cka(backend(X), backend(Y), kernel=kernel, debiased=debiased))
    assert abs(got - ref) < backend.tol
    # A numpy partner joins the other input's back end (and device).
    assert abs(backend.value(cka(backend(X), Y, kernel=kernel, debiased=debiased)) - ref) < (
        backend.tol)
    assert abs(backend.value(cka(X, backend(Y), kernel=kernel, debiased=debiased)) - ref) < (
        backend.tol)
    got32 = cka(backend(X.astype(np.float32)), backend(Y.astype(np.float32)), kernel=kernel,
                debiased=debiased)
    assert abs(backend.value(got32) - ref) < 1e-4


def test_torch_cka_is_differentiable(XY):
    X, Y = XY
    Xt = torch.tensor(X, requires_grad=True)
    value = cka(Xt, torch.tensor(Y), debiased=True)
    value.backward()
    assert Xt.grad is not None and torch.isfinite(Xt.grad).all()
    assert float(Xt.grad.abs().sum()) > 0
    # A constant column (zeroed out of place in the products) and the RBF kernel keep the graph.
    Xc = torch.tensor(np.hstack([X, np.full((60, 1), 3.0)]), requires_grad=True)
    for kernel in ("linear", "rbf"):
        Xc.grad = None
        cka(Xc, torch.tensor(Y), kernel=kernel, debiased=True).backward()
        assert torch.isfinite(Xc.grad).all() and float(Xc.grad.abs().sum()) > 0


def test_float32_numpy_input(XY):
    X, Y = XY
    assert abs(cka(X.astype(np.float32), Y.astype(np.float32)) - cka(X, Y)) < 1e-5


def test_cka_degenerate_input(XY):
    X, Y = XY
    const = np.ones((60, 3)) * 0.1
    with pytest.warns(RuntimeWarning, match="X has no variance"):
        assert cka(const, Y) == 0.0
    with pytest.warns(RuntimeWarning, match="Y has no variance"):
        assert cka(X, const, debiased=True) == 0.0
    # A constant column next to informative ones changes nothing.
    Xc = np.hstack([X, np.full((60, 1), 0.3)])
    assert cka(Xc, Y) == pytest.approx(cka(X, Y), abs=1e-12)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        cka(Xn, Y)
    Yi = Y.copy()
    Yi[0, 0] = np.inf
    with pytest.raises(ValueError, match="Y contains NaN or infinite"):
        cka(X, Yi)
    with pytest.raises(ValueError, match="same stimuli"):
        cka(X, Y[:-1])
    with pytest.raises(ValueError, match="at least 4 stimuli"):
        cka(X[:3], Y[:3], debiased=True)
    with pytest.raises(ValueError, match="kernel"):
        cka(X, Y, kernel="poly")
    with pytest.raises(ValueError, match="sigma"):
        cka(X, Y, kernel="rbf", sigma=-1.0)
    with pytest.raises(ValueError, match="sigma"):
        cka(X, Y, sigma=1.0)
    with pytest.raises(ValueError, match="median pairwise distance is 0"):
        cka(np.vstack([np.zeros((59, 2)), np.ones((1, 2))]), Y, kernel="rbf")
    with pytest.raises(ValueError, match="2-D"):
        cka(X[:, 0], Y)


# --------------------------------------------------------------------------- Procrustes
def _procrustes_oracle(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    R, _ = orthogonal_procrustes(Xc, Yc)
    return np.trace(R.T @ Xc.T @ Yc) / (np.linalg.norm(Xc) * np.linalg.norm(Yc))


def test_procrustes_matches_orthogonal_procrustes(rng, backend):
    X, Y = rng.randn(50, 6), rng.randn(50, 6)
    Y = Y + X

    def p(A, B, **kw):
        return backend.value(procrustes(backend(A), backend(B), **kw))

    assert abs(p(X, Y) - _procrustes_oracle(X, Y)) < backend.tol
    assert p(X, Y, measure="angular") == pytest.approx(
        np.arccos(_procrustes_oracle(X, Y)), abs=backend.tol
    )
    Q, _ = np.linalg.qr(rng.randn(6, 6))
    assert p(X, -2 * X @ Q + 7) == pytest.approx(1.0, abs=1e-12)
    assert p(X, X @ np.diag([1, 1, 1, 1, 1, 50.0])) < 0.9


def test_procrustes_wide_features_and_different_widths(rng, backend):
    X, Y = rng.randn(20, 50), rng.randn(20, 35)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    ref = np.linalg.svd(Xc.T @ Yc, compute_uv=False).sum() / (
        np.linalg.norm(Xc) * np.linalg.norm(Yc))
    assert abs(backend.value(procrustes(backend(X), backend(Y))) - ref) < backend.tol


def test_torch_procrustes_is_differentiable(rng):
    X, Y = rng.randn(30, 4), rng.randn(30, 4)
    Xt = torch.tensor(X, requires_grad=True)
    procrustes(Xt, torch.tensor(Y + X)).backward()
    assert float(Xt.grad.abs().sum()) > 0


def test_procrustes_degenerate(rng):
    with pytest.warns(RuntimeWarning, match="no variance"):
        assert procrustes(np.ones((10, 2)), rng.randn(10, 3)) == 0.0
    with pytest.warns(RuntimeWarning, match="no variance"):
        assert procrustes(np.ones((10, 2)), rng.randn(10, 3), measure="angular") == pytest.approx(
            np.pi / 2)
    with pytest.raises(ValueError, match="measure"):
        procrustes(rng.randn(10, 2), rng.randn(10, 2), measure="cosine")


# --------------------------------------------------------------------------- mutual k-NN
def _knn_oracle(X, Y, k, metric):
    def nbrs(Z):
        if metric == "cosine":
            Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        idx = NearestNeighbors(n_neighbors=k + 1).fit(Z).kneighbors(Z)[1]
        return [set(row[row != i][:k]) for i, row in enumerate(idx)]

    return np.mean([len(a & b) / k for a, b in zip(nbrs(X), nbrs(Y), strict=True)])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_mutual_knn_matches_brute_force(rng, metric, backend):
    X = rng.randn(120, 8)
    Y = X[:, :5] + 0.7 * rng.randn(120, 5)
    ref = _knn_oracle(X, Y, 7, metric)
    assert 0.1 < ref < 0.9
    for block in (1, 13, None):
        got = mutual_knn(backend(X), backend(Y), 7, metric=metric, block_size=block)
        assert backend.value(got) == pytest.approx(ref)


def test_mutual_knn_extremes_and_errors(rng):
    X = rng.randn(100, 6)
    assert mutual_knn(X, X * 3.0, k=5) == 1.0
    # Independent representations: overlap near chance k / (n - 1).
    assert mutual_knn(X, rng.randn(100, 6), k=5) < 0.15
    with pytest.raises(ValueError, match="k must be"):
        mutual_knn(X, X, k=100)
    with pytest.raises(ValueError, match="k must be"):
        mutual_knn(X, X, k=0)
    with pytest.raises(ValueError, match="metric"):
        mutual_knn(X, X, metric="manhattan")
