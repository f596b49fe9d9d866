"""RDMs, RDM comparators and RSA: the exact fast route, rsatoolbox oracles, bad input.

Tests that take the ``backend`` fixture run on numpy, torch CPU and CUDA where present.
"""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform
from scipy.stats import kendalltau, pearsonr, spearmanr

from reprlign.measures import cka, compare_rdms, procrustes, rdm, rsa


@pytest.fixture(scope="module")
def tk():
    """rsatoolbox (the test extra): only the oracle tests skip without it."""
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import RDMs, calc_rdm, compare

    class TK:
        def rdm(self, X, method):
            return calc_rdm(Dataset(X), method=method)

        def vec(self, X, method):
            return self.rdm(X, method).get_vectors()[0]

        def compare(self, a, b, method):
            if isinstance(a, np.ndarray):
                a, b = RDMs(a[None]), RDMs(b[None])
            return float(compare(a, b, method=method)[0, 0])

    return TK()


@pytest.fixture(scope="module")
def XY():
    rng = np.random.RandomState(42)
    X = rng.randn(150, 40) + 2.0
    Y = np.tanh(X[:, :25] @ rng.randn(25, 30)) + 0.8 * rng.randn(150, 30)
    return X, Y


# --------------------------------------------------------------------------- RDMs
def test_rdm_matches_scipy_and_rsatoolbox(XY, tk):
    X, _ = XY
    assert np.abs(rdm(X, "correlation") - pdist(X, "correlation")).max() < 1e-12
    assert np.abs(rdm(X, "cosine") - pdist(X, "cosine")).max() < 1e-12
    assert np.abs(rdm(X, "euclidean") - pdist(X, "euclidean")).max() < 1e-10
    assert np.abs(rdm(X, "sqeuclidean") - pdist(X, "sqeuclidean") / 40).max() < 1e-10
    # rsatoolbox's "euclidean" is our "sqeuclidean"; its "correlation" is 1 - corrcoef.
    assert np.abs(rdm(X, "sqeuclidean") - tk.vec(X, "euclidean")).max() < 1e-10
    assert np.abs(rdm(X, "correlation") - tk.vec(X, "correlation")).max() < 1e-10
    D = rdm(X, "euclidean", square=True)
    assert D.shape == (150, 150) and np.all(np.diag(D) == 0) and np.array_equal(D, D.T)
    assert np.abs(squareform(D, checks=False) - rdm(X, "euclidean")).max() == 0


def test_rdm_and_rsa_backends(XY, backend):
    X, Y = XY
    for metric in ("correlation", "cosine", "euclidean", "sqeuclidean"):
        got = backend.numpy(rdm(backend(X), metric))
        assert np.abs(got - rdm(X, metric)).max() < 1e-12
        square = backend.numpy(rdm(backend(X), metric, square=True))
        assert np.abs(square - rdm(X, metric, square=True)).max() < 1e-12
    Xb, Yb = backend(X), backend(Y)
    # the rank routes on tensors (without ties) and the exact route
    for method in ("spearman", "tau_a", "pearson", "cosine"):
        got = backend.value(rsa(Xb, Yb, compare=method))
        assert abs(got - rsa(X, Y, compare=method)) < backend.tol


def test_rdm_errors(XY):
    X, _ = XY
    Xc = X.copy()
    Xc[[3, 7]] = 1.0
    with pytest.raises(ValueError, match=r"2 constant row\(s\) \(first: \[3, 7\]\)"):
        rdm(Xc, "correlation")
    with pytest.raises(ValueError, match="all-zero"):
        rdm(np.vstack([np.zeros(40), X[1:]]), "cosine")
    with pytest.raises(ValueError, match="metric"):
        rdm(X, "mahalanobis")
    with pytest.raises(ValueError, match="NaN"):
        rdm(np.full((3, 2), np.nan))


# --------------------------------------------------------------------------- comparators
@pytest.mark.parametrize(
    "ours, theirs", [("spearman", "spearman"), ("pearson", "corr"), ("cosine", "cosine"),
                     ("tau_a", "tau-a")]
)
@pytest.mark.parametrize("metric", ["euclidean", "correlation"])
def test_comparators_match_rsatoolbox(XY, tk, ours, theirs, metric):
    X, Y = XY
    va, vb = tk.vec(X, metric), tk.vec(Y, metric)
    ref = tk.compare(va, vb, theirs)
    assert abs(compare_rdms(va, vb, ours) - ref) < 1e-10
    ours_metric = "sqeuclidean" if metric == "euclidean" else metric
    assert abs(rsa(X, Y, rdm_metric=ours_metric, compare=ours) - ref) < 1e-10


@pytest.mark.parametrize("method", ["spearman", "tau_a"])
def test_rank_comparators_with_ties_on_every_backend(XY, backend, method):
    X, Y = XY
    a, b = np.round(rdm(X), 1), np.round(rdm(Y), 1)  # many ties
    ref = {"spearman": spearmanr, "tau_a": None}[method]
    got = backend.value(compare_rdms(backend(a), backend(b), method))
    assert abs(got - compare_rdms(a, b, method)) < 1e-10
    if ref is not None:
        assert abs(got - ref(a, b)[0]) < 1e-10


@pytest.mark.parametrize("method", ["spearman", "tau_a"])
def test_rank_comparators_with_ties(XY, tk, method):
    X, Y = XY
    a, b = np.round(rdm(X), 1), np.round(rdm(Y), 1)  # many ties
    ref = tk.compare(a, b, {"spearman": "spearman", "tau_a": "tau-a"}[method])
    assert abs(compare_rdms(a, b, method) - ref) < 1e-10
    if method == "spearman":
        assert abs(compare_rdms(a, b, method) - spearmanr(a, b)[0]) < 1e-12
    else:  # tau-a = tau-b rescaled by the ties; differs from tau-b here
        assert abs(compare_rdms(a, b, method) - kendalltau(a, b)[0]) > 1e-4


def test_linear_cka_is_cosine_cov_and_procrustes_is_bures(XY, tk):
    X, Y = XY
    a, b = tk.rdm(X, "euclidean"), tk.rdm(Y, "euclidean")
    assert abs(cka(X, Y) - tk.compare(a, b, "cosine_cov")) < 1e-10
    assert abs(procrustes(X, Y) - tk.compare(a, b, "bures")) < 1e-6


def test_compare_rdms_accepts_square_and_checks(XY):
    X, Y = XY
    A, B = rdm(X, square=True), rdm(Y, square=True)
    assert compare_rdms(A, B, "pearson") == pytest.approx(pearsonr(rdm(X), rdm(Y))[0], abs=1e-12)
    with pytest.raises(ValueError, match="not symmetric"):
        compare_rdms(A + np.triu(np.ones_like(A)), B)
    with pytest.raises(ValueError, match="same stimuli"):
        compare_rdms(rdm(X[:10]), rdm(Y[:11]))
    with pytest.raises(ValueError, match="method"):
        compare_rdms(A, B, "kendall")
    with pytest.raises(ValueError, match="NaN"):
        compare_rdms(np.array([0.1, np.nan, 0.3]), np.array([0.1, 0.2, 0.3]))
    with pytest.warns(RuntimeWarning, match="constant"):
        assert compare_rdms(np.ones(6), np.arange(6.0), "pearson") == 0.0
    with pytest.warns(RuntimeWarning, match="constant"):
        assert compare_rdms(np.ones(6), np.arange(6.0), "spearman") == 0.0
    assert compare_rdms(np.ones(6), np.arange(6.0), "tau_a") == 0.0  # defined: no pairs differ


# --------------------------------------------------------------------------- RSA
@pytest.mark.parametrize("metric", ["correlation", "cosine", "sqeuclidean"])
@pytest.mark.parametrize("method", ["pearson", "cosine"])
def test_exact_route_equals_direct(XY, metric, method, backend):
    X, Y = XY

    def exact(A, B):
        return backend.value(rsa(backend(A), backend(B), rdm_metric=metric, compare=method))

    direct = compare_rdms(rdm(X, metric), rdm(Y, metric), method)
    assert abs(exact(X, Y) - direct) < backend.tol
    # Wide features (d > n) take the Gram route inside; same number.
    Xw = np.hstack([X, np.random.RandomState(0).randn(150, 300)])
    direct = compare_rdms(rdm(Xw, metric), rdm(Y, metric), method)
    assert abs(exact(Xw, Y) - direct) < backend.tol


def test_rsa_float32_and_differentiable(XY):
    X, Y = XY
    ref = rsa(X, Y, compare="pearson")
    assert abs(rsa(X.astype(np.float32), Y.astype(np.float32), compare="pearson") - ref) < 1e-5
    Xt = torch.tensor(X, requires_grad=True)
    value = rsa(Xt, torch.tensor(Y), compare="pearson")
    value.backward()
    assert float(Xt.grad.abs().sum()) > 0
    # compare_rdms keeps the graph for Pearson; rank comparators work on tensors too.
    Xt.grad = None
    compare_rdms(rdm(Xt), rdm(Y), "pearson").backward()
    assert float(Xt.grad.abs().sum()) > 0
    for method in ("spearman", "tau_a"):
        got = compare_rdms(rdm(Xt), torch.tensor(rdm(Y)), method)
        assert abs(float(got) - compare_rdms(rdm(X), rdm(Y), method)) < 1e-12


def test_rsa_memory_refusal_and_errors(XY):
    X, Y = XY
    with pytest.raises(MemoryError, match=r"needs about \d+ GB.*compare='pearson'"):
        rsa(X, Y, compare="spearman", max_memory_gb=1e-6)
    with pytest.raises(ValueError, match="same stimuli"):
        rsa(X, Y[:-1])
    with pytest.raises(ValueError, match="rdm_metric"):
        rsa(X, Y, rdm_metric="l1")
    with pytest.raises(ValueError, match="compare"):
        rsa(X, Y, compare="kendall")
    with pytest.raises(ValueError, match="max_memory_gb"):
        rsa(X, Y, max_memory_gb=0)
    const = np.tile(np.arange(5.0), (150, 1))  # every stimulus the same: constant RDM
    with pytest.warns(RuntimeWarning, match="constant"):
        assert rsa(const, Y, rdm_metric="sqeuclidean", compare="pearson") == 0.0
