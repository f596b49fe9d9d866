"""Bad input ends in a clear error naming the argument, never in a silent or wrong answer.

Regression tests for defects found by an independent check: each case failed (a
silent result or an obscure internal error) before the fix.
"""

import numpy as np
import pytest
import torch

from reprlign.calibration import expected_calibration_error, reliability_curve
from reprlign.measures import cka, mutual_knn, procrustes, rdm, rsa
from reprlign.triplets import sample_triplets, triplet_similarities


@pytest.fixture
def XY():
    rng = np.random.RandomState(0)
    return rng.randn(30, 5), rng.randn(30, 4)


@pytest.mark.parametrize(
    "call",
    [
        lambda X, Y: cka(X + 1j, Y),
        lambda X, Y: cka(X, Y.astype(np.complex64)),
        lambda X, Y: rdm(X + 1j),
        lambda X, Y: rsa(X + 1j, Y),
        lambda X, Y: procrustes(X, Y + 1j),
        lambda X, Y: mutual_knn(X + 1j, Y, 5),
        lambda X, Y: cka(torch.as_tensor(X + 1j), torch.as_tensor(Y)),
    ],
    ids=["cka", "cka-complex64", "rdm", "rsa", "procrustes", "mutual_knn", "cka-torch"],
)
def test_complex_input_is_a_type_error(XY, call):
    with pytest.raises(TypeError, match="complex"):
        call(*XY)


def test_calibration_rejects_complex_and_empty_input():
    rng = np.random.RandomState(0)
    p = rng.dirichlet(np.ones(3), 10)
    y = rng.randint(0, 3, 10)
    with pytest.raises(TypeError, match="y_prob.*complex"):
        expected_calibration_error(y, p + 0j)
    with pytest.raises(TypeError, match="y_prob.*complex"):
        reliability_curve(y, p.astype(complex))
    with pytest.raises(ValueError, match="y_prob is empty"):
        expected_calibration_error([], np.empty((0, 3)))


@pytest.mark.parametrize("chunk_size, error", [(0, ValueError), (-5, ValueError),
                                               (2.5, TypeError)])
def test_triplet_similarities_chunk_size_is_checked(chunk_size, error):
    Z = np.random.RandomState(0).randn(20, 4)
    with pytest.raises(error, match="chunk_size"):
        triplet_similarities(Z, [[0, 1, 2], [3, 4, 5]], chunk_size=chunk_size)


def test_cluster_border_needs_features_that_separate_objects():
    with pytest.raises(ValueError, match="1 distinct row.*n_clusters=2"):
        sample_triplets(12, 5, method="cluster_border", features=np.ones((12, 3)),
                        random_state=0)


def test_cluster_border_accepts_tensor_features():
    F = np.random.RandomState(0).randn(40, 3)
    from_numpy = sample_triplets(40, 50, method="cluster_border", features=F, random_state=0)
    from_torch = sample_triplets(40, 50, method="cluster_border", features=torch.as_tensor(F),
                                 random_state=0)
    np.testing.assert_array_equal(from_numpy, from_torch)


class TestFitTemperature:
    @pytest.fixture
    def sp(self):
        rng = np.random.RandomState(0)
        return rng.randn(20, 3), rng.dirichlet(np.ones(3), 20)

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_non_finite_similarities(self, sp, bad):
        from reprlign.triplets import fit_temperature

        s, p = sp
        s[3, 1] = bad
        with pytest.raises(ValueError, match="similarities contains NaN or infinite"):
            fit_temperature(s, p)

    def test_equal_similarities_have_no_temperature(self, sp):
        from reprlign.triplets import fit_temperature

        with pytest.raises(ValueError, match="equal within every row"):
            fit_temperature(np.zeros((20, 3)), sp[1])

    @pytest.mark.parametrize("w", [-np.ones(20), np.zeros(20), np.ones(5)])
    def test_bad_weights(self, sp, w):
        from reprlign.triplets import fit_temperature

        with pytest.raises(ValueError, match="weights"):
            fit_temperature(*sp, w)

    @pytest.mark.parametrize("bounds", [(10, 1), (0, 1), (1, np.inf), "ab"])
    def test_bad_bounds(self, sp, bounds):
        from reprlign.triplets import fit_temperature

        with pytest.raises(ValueError, match="bounds"):
            fit_temperature(*sp, bounds=bounds)

    def test_result_at_a_bound_warns(self):
        from reprlign.triplets import fit_temperature

        # Targets sharper than any temperature in the interval can make them.
        s = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        p = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        with pytest.warns(RuntimeWarning, match="edge of bounds"):
            fit_temperature(s, p, bounds=(0.5, 2.0))
