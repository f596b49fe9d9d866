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


@pytest.mark.parametrize("metric", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_duplicate_stimuli_have_exactly_equal_rdm_rows(backend, metric):
    # Gram products round differently at different positions of the matrix: without care the
    # distances to a duplicated stimulus differ in the last bits, and ranks break the tie.
    X = np.random.RandomState(0).randn(60, 7)
    X = np.vstack([X, X[:2], X[:1]])  # 60 ~ 0, 61 ~ 1, 62 ~ 0
    D = backend.numpy(rdm(backend(X), metric, square=True))
    for dup, first in ((60, 0), (61, 1), (62, 0)):
        assert (D[dup] == D[first]).all() and (D[:, dup] == D[:, first]).all()
    assert (D == D.T).all() and (np.diag(D) == 0).all()
    assert (squareform(backend.numpy(rdm(backend(X), metric)), checks=False) == D).all()


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean"])
def test_rank_rsa_keeps_the_exact_ties_of_binary_features(backend, metric):
    # Binary features: many Euclidean distances are equal; scipy's pdist keeps them tied.
    rng = np.random.RandomState(0)
    X, Y = rng.randint(0, 2, (40, 10)).astype(float), rng.randn(40, 5)
    ref = spearmanr(pdist(X, metric), pdist(Y, metric))[0]
    got = backend.value(rsa(backend(X), backend(Y), rdm_metric=metric))
    assert abs(got - ref) < 1e-12


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
    with pytest.warns(RuntimeWarning, match="constant"):  # no pair differs: tau-a's formula
        assert compare_rdms(np.ones(6), np.arange(6.0), "tau_a") == 0.0  # gives 0


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


@pytest.mark.parametrize("k", [-40, -15, -3, 0, 7, 30])
def test_correlation_rdm_of_two_features_is_exactly_0_or_2_at_any_scale(k):
    # With two features every correlation is +-1. Rounding in the centring left distances of
    # 1.8e-29 at some scales (1e-15), which Spearman RSA then ranked above the exact zeros.
    Y = np.array([[2956.70598537, 1762.70852147], [-1216.34132965, -1472.87590257],
                  [2385.31192229, 2453.12300043], [651.24896565, -1356.32791281],
                  [-906.39739472, -3.92897946], [-1978.5001432, -522.46729497],
                  [865.8873591, -1157.85183269], [1477.77922196, -1448.46354946],
                  [2228.17161205, 1814.28714419]])
    assert set(np.unique(rdm(Y * 10.0**k)).tolist()) <= {0.0, 2.0}
    X = np.random.RandomState(4).randn(9, 3)
    assert rsa(X, Y * 10.0**k) == pytest.approx(rsa(X, Y), abs=1e-12)


@pytest.mark.parametrize("backend_name", ["numpy", "torch"])
def test_proportional_rows_far_from_zero_give_an_exactly_zero_correlation_rdm(backend_name):
    # Rows k * x0 with x0 at 5 +- 0.001 correlate exactly; the rounding of each row's mean
    # (amplified 5,000 times by the centring) left distances of 1e-24 that tau-a then ranked,
    # returning -0.024 without a warning.
    x0 = np.array([4.99964248, 5.00014845, 5.00099353])
    X = np.outer(np.arange(1.0, 8.0), x0)
    Y = np.random.RandomState(0).randn(7, 3)
    as_input = np.asarray if backend_name == "numpy" else torch.as_tensor
    assert (np.asarray(rdm(as_input(X))) == 0).all()
    for compare in ("spearman", "tau_a", "pearson", "cosine"):
        with pytest.warns(RuntimeWarning, match="undefined"):
            assert float(rsa(as_input(X), as_input(Y), compare=compare)) == 0.0
