"""Degenerate and bad input to the measures: regression tests for defects found by an
independent check (a silent value, a wrong value or an obscure internal error before the fix).
"""

import numpy as np
import pytest
import torch

from reprlign.measures import cka, mutual_knn, procrustes, rdm, rsa


@pytest.fixture
def XY():
    rng = np.random.RandomState(0)
    return rng.randn(30, 5), rng.randn(30, 4)


def test_layer_similarity_indexes_rows_of_frames_and_lists():
    pd = pytest.importorskip("pandas")
    from reprlign.measures import layer_similarity

    rng = np.random.RandomState(0)
    A, B = rng.randn(40, 50), rng.randn(40, 50)
    ref = layer_similarity({"a": A}, {"b": B}, batch_size=8)
    for wrap in (pd.DataFrame, np.ndarray.tolist):
        got = layer_similarity({"a": wrap(A)}, {"b": wrap(B)}, batch_size=8)
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    narrow = layer_similarity({"a": pd.DataFrame(A[:, :5])}, {"b": pd.DataFrame(B[:, :5])},
                              batch_size=8)
    np.testing.assert_allclose(narrow, layer_similarity({"a": A[:, :5]}, {"b": B[:, :5]},
                                                        batch_size=8), rtol=1e-12)
    with pytest.raises(ValueError, match=r"reps_a\['a'\] could not be read"):
        layer_similarity({"a": [[1.0, 2.0], [3.0]]})
    with pytest.raises(TypeError, match=r"reps_b\['b'\] must hold real numbers"):
        layer_similarity({"a": A}, {"b": B + 1j})


@pytest.mark.parametrize("rdm_metric, rows", [
    ("correlation", "identical"), ("cosine", "identical"), ("euclidean", "identical"),
    ("sqeuclidean", "identical"),
    # equal up to scale: the same point for correlation and cosine
    ("correlation", "multiples"), ("cosine", "multiples"),
])
@pytest.mark.parametrize("compare", ["pearson", "cosine"])
def test_rsa_on_stimuli_with_identical_rows_warns(XY, rdm_metric, compare, rows):
    X, Y = XY
    row = np.random.RandomState(1).randn(5) * 100 + 50
    Xs = np.tile(row, (30, 1))
    if rows == "multiples":
        Xs = Xs * np.linspace(0.5, 7.0, 30)[:, None]
    with pytest.warns(RuntimeWarning, match="is undefined: an RDM is"):
        assert rsa(Xs, Y, rdm_metric=rdm_metric, compare=compare) == 0.0


@pytest.mark.parametrize("block_size, error", [(-3, ValueError), (0, ValueError),
                                               (2.5, TypeError)])
def test_block_size_is_checked(XY, block_size, error):
    X, _ = XY
    with pytest.raises(error, match="block_size"):
        mutual_knn(X, X, 5, block_size=block_size)
    with pytest.raises(error, match="block_size"):
        cka(X, X, kernel="rbf", block_size=block_size)


@pytest.mark.parametrize("scale", [1e80, 1e-150, 1e200, 1e-300])
@pytest.mark.parametrize("kwargs", [{}, {"debiased": True}, {"kernel": "rbf"}])
def test_cka_is_scale_invariant_at_extreme_magnitudes(XY, scale, kwargs):
    X, Y = XY
    ref = cka(X, Y, **kwargs)
    assert ref != 0
    assert cka(X * scale, Y, **kwargs) == pytest.approx(ref, rel=1e-10)
    assert cka(X * scale, Y / scale, **kwargs) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("scale", [1e19, 1e25, 1e-19, 1e-30])
def test_cka_float32_is_scale_invariant(XY, scale):
    X, Y = (a.astype(np.float32) for a in XY)
    ref = cka(X, Y)
    assert cka((X * np.float32(scale)), Y) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("measure", [procrustes, lambda X, Y: rsa(X, Y, compare="pearson",
                                                                  rdm_metric="sqeuclidean"),
                                     lambda X, Y: mutual_knn(X, Y, 5, metric="euclidean")],
                         ids=["procrustes", "rsa", "mutual_knn"])
def test_other_measures_are_scale_invariant_at_extreme_magnitudes(XY, measure):
    X, Y = XY
    ref = measure(X, Y)
    for scale in (1e160, 1e-160):
        assert measure(X * scale, Y) == pytest.approx(ref, rel=1e-10)


def test_cka_rbf_bandwidth_follows_the_rescaling(XY):
    X, Y = XY
    ref = cka(X, Y, kernel="rbf", sigma=(2.0, 3.0))
    assert cka(X * 1e200, Y, kernel="rbf", sigma=(2e200, 3.0)) == pytest.approx(ref, rel=1e-10)
    with pytest.raises(ValueError, match="sigma=1.0 is out of range"):
        cka(X * 1e-300, Y, kernel="rbf", sigma=1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_euclidean_rdm_is_exact_for_near_duplicates(dtype):
    from scipy.spatial.distance import pdist

    rng = np.random.RandomState(0)
    Z = (rng.randn(30, 50) * 30).astype(dtype)
    Z[1] = Z[0]
    Z[2] = Z[0] + np.asarray(1e-3, dtype)  # a near duplicate
    D = rdm(Z, "euclidean")
    assert D[0] == 0.0  # the duplicated pair
    ref = pdist(Z.astype(np.float64))
    np.testing.assert_allclose(D, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)
    # Spearman RSA sees the duplicate's zero exactly, tied with the other duplicates' zeros.
    Z[4] = Z[3]
    D = rdm(Z, "euclidean")
    assert (D == 0).sum() == 2


def test_noise_ceiling_checks_its_rdms():
    from scipy.spatial.distance import squareform

    from reprlign.measures import compare_rdms, rdm_noise_ceiling

    rng = np.random.RandomState(0)
    R = np.stack([np.ones(45), rng.rand(45), rng.rand(45)])
    for method in ("pearson", "spearman", "tau_a"):
        with pytest.raises(ValueError, match=r"rdms\[0\] is constant"):
            rdm_noise_ceiling(R, method)
    with pytest.raises(ValueError, match=r"rdms\[1\] is all zeros"):
        rdm_noise_ceiling(np.stack([rng.rand(45), np.zeros(45)]), "cosine")
    with pytest.raises(ValueError, match=r"rdms\[0\] is a square matrix but not symmetric"):
        rdm_noise_ceiling(rng.rand(3, 10, 10))
    with pytest.raises(TypeError, match=r"rdms\[0\] must be a numeric RDM"):
        rdm_noise_ceiling(np.array([["1", "2", "3"], ["2", "3", "1"]]))
    D = squareform(rng.rand(45))
    with pytest.raises(ValueError, match="a is a square matrix with a non-zero diagonal"):
        compare_rdms(D + np.eye(10), D)
    with pytest.raises(ValueError, match=r"rdms\[1\] is a square matrix with a non-zero"):
        rdm_noise_ceiling(np.stack([D, D + np.eye(10)]))


def test_tau_a_of_a_constant_rdm_warns(XY):
    from reprlign.measures import compare_rdms

    r = np.random.RandomState(0).rand(10)
    with pytest.warns(RuntimeWarning, match="tau-a between RDMs is undefined: an RDM is constant"):
        assert compare_rdms(np.ones(10), r, "tau_a") == 0.0
    X, Y = XY
    with pytest.warns(RuntimeWarning, match="tau-a between RDMs is undefined"):
        assert rsa(np.tile(X[:1], (30, 1)), Y, rdm_metric="euclidean", compare="tau_a") == 0.0


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_mutual_knn_without_neighbour_structure_warns(XY, metric):
    X, Y = XY
    same = np.tile(X[:1], (30, 1))
    with pytest.warns(RuntimeWarning, match="mutual k-NN is undefined: X has no neighbour"):
        assert mutual_knn(same, Y, 5, metric=metric) == 0.0
    with pytest.warns(RuntimeWarning, match="mutual k-NN is undefined: Y has no neighbour"):
        assert mutual_knn(X, np.zeros((30, 4)) + 3.0, 5, metric=metric) == 0.0
    if metric == "cosine":  # rows pointing the same way are one point for cosine
        with pytest.warns(RuntimeWarning, match="up to scale"):
            assert mutual_knn(same * np.arange(1, 31)[:, None], Y, 5) == 0.0


def test_mutual_knn_zero_row_under_cosine_is_an_error(XY):
    X, Y = XY
    X = X.copy()
    X[3] = 0
    with pytest.raises(ValueError, match=r"X has 1 all-zero row\(s\) \(first: \[3\]\)"):
        mutual_knn(X, Y, 5)
    assert 0 <= mutual_knn(X, Y, 5, metric="euclidean") <= 1


@pytest.mark.parametrize("call", [
    lambda Z, Y: cka(Z, Y), lambda Z, Y: procrustes(Z, Y), lambda Z, Y: rsa(Z, Y),
    lambda Z, Y: mutual_knn(Z, Y, 5), lambda Z, Y: rdm(Z),
    lambda Z, Y: cka(torch.as_tensor(Z), torch.as_tensor(Y)),
], ids=["cka", "procrustes", "rsa", "mutual_knn", "rdm", "cka-torch"])
def test_features_without_columns_are_a_shape_error(XY, call):
    with pytest.raises(ValueError, match=r"X has shape \(30, 0\): no features"):
        call(np.zeros((30, 0)), XY[1])


def test_rbf_median_heuristic_is_the_median_distance():
    from scipy.spatial.distance import pdist

    from reprlign.measures._cka import _median_sigma
    from reprlign.utils.backend import NUMPY

    X = np.random.RandomState(0).randn(4, 3)  # 6 pairs: the median averages two distances
    d = pdist(X)
    assert _median_sigma(X, "X", NUMPY) == pytest.approx(np.median(d), rel=1e-12)
    assert abs(np.median(d) - np.sqrt(np.median(d**2))) > 1e-3  # the two definitions differ


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("as_input", [np.asarray, torch.as_tensor])
def test_mutual_knn_ties_to_duplicate_stimuli_go_to_the_lower_index(metric, as_input):
    # Rows 10 and 11 duplicate rows 0 and 1. The matrix product rounded the similarities to
    # two duplicates differently, so ties went by rounding, not to the lower index (23 of 1200
    # such cases disagreed with the pair-by-pair definition).
    def reference(Z):
        if metric == "cosine":
            Z = Z / np.linalg.norm(Z, axis=1)[:, None]
            S = np.array([[np.dot(a, b) for b in Z] for a in Z])  # the same arithmetic per pair
        else:
            S = -((Z[:, None] - Z[None]) ** 2).sum(-1)
        np.fill_diagonal(S, -np.inf)
        return [set(r) for r in np.argsort(-S, axis=1, kind="stable")[:, :2]]

    for seed in range(150):
        rng = np.random.RandomState(seed)
        X, Y = rng.randn(10, 4) * 1e-3 + 5, rng.randn(10, 5)
        X, Y = np.vstack([X, X[:2]]), np.vstack([Y, Y[:2]])
        want = np.mean([len(a & b) for a, b in zip(reference(X), reference(Y), strict=True)]) / 2
        assert float(mutual_knn(as_input(X), as_input(Y), 2, metric=metric)) == want, seed
