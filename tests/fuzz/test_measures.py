"""Fuzzing the measures: every pair measure on altered, invalid and degenerate input."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reprlign.measures import (
    MinibatchCKA,
    RSAScorer,
    bootstrap,
    cka,
    compare_rdms,
    layer_similarity,
    mutual_knn,
    permutation_test,
    procrustes,
    rdm,
    rdm_noise_ceiling,
    rsa,
)

from .oracle import (
    EQUIVALENT,
    EXACT,
    INVALID,
    close,
    expect_documented,
    expect_error,
    expect_same,
    few,
    fuzz,
    pairs,
    run,
    tables,
)


def _value(res):
    return res.value


def _bunch(res):
    return {"value": res.value, "low": res.low, "high": res.high}


class Case:
    """A measure of two representations, what it promises, and the name its errors use."""

    def __init__(self, call, *, low=0.0, high=1.0, degenerate=(0.0, "is undefined"),
                 scale=True, shift=True, constant_column=True, min_rows=2, name="X",
                 ranks=False, lists=True, atol=0.0):
        self.call, self.low, self.high, self.ranks = call, low, high, ranks
        # the unbiased HSIC cancels terms of order 1 to values near 0: ~1e-9 absolute
        self.atol = atol
        self.lists = lists
        self.degenerate, self.scale, self.shift = degenerate, scale, shift
        self.constant_column, self.min_rows, self.name = constant_column, min_rows, name


CASES = {
    "cka": Case(lambda X, Y: cka(X, Y)),
    "cka-debiased": Case(lambda X, Y: cka(X, Y, debiased=True), low=-1.0, min_rows=4,
                         atol=1e-8),
    "cka-rbf": Case(lambda X, Y: cka(X, Y, kernel="rbf")),
    "procrustes": Case(lambda X, Y: procrustes(X, Y)),
    "procrustes-angular": Case(lambda X, Y: procrustes(X, Y, measure="angular"), high=np.pi / 2,
                               degenerate=(np.pi / 2, "is undefined")),
    "rsa": Case(lambda X, Y: rsa(X, Y), low=-1.0, shift=False, constant_column=False,
                min_rows=3, ranks=True),
    "rsa-euclidean-pearson": Case(lambda X, Y: rsa(X, Y, rdm_metric="euclidean",
                                                   compare="pearson"), low=-1.0, min_rows=3),
    "rsa-sqeuclidean-cosine": Case(lambda X, Y: rsa(X, Y, rdm_metric="sqeuclidean",
                                                    compare="cosine"), low=-1.0, min_rows=3),
    "rsa-cosine-tau": Case(lambda X, Y: rsa(X, Y, rdm_metric="cosine", compare="tau_a"),
                           low=-1.0, shift=False, constant_column=False, min_rows=3,
                           ranks=True),
    "mutual_knn": Case(lambda X, Y: mutual_knn(X, Y, 1), shift=False, constant_column=False,
                       ranks=True),
    "mutual_knn-euclidean": Case(lambda X, Y: mutual_knn(X, Y, 1, metric="euclidean"),
                                 ranks=True),
    "scorer": Case(lambda X, Y: RSAScorer(metric="procrustes").score(X, Y)),
    # a list passed to MinibatchCKA.update is a list of layers
    "minibatch": Case(lambda X, Y: MinibatchCKA().update(X, Y).result(), low=-1.0, min_rows=4,
                      name="X_batch", scale=False, lists=False, atol=1e-8),
    "layer_similarity": Case(lambda X, Y: layer_similarity({"a": X}, {"b": Y}, batch_size=4),
                             low=-1.0, min_rows=4, name="reps_a", scale=False, atol=1e-8),
    "bootstrap": Case(lambda X, Y: _bunch(bootstrap("cka", X, Y, n_bootstrap=8, random_state=0)),
                      degenerate=None, min_rows=4, low=-np.inf, high=np.inf),
    "permutation": Case(lambda X, Y: _value(permutation_test("procrustes", X, Y,
                                                             n_permutations=8, random_state=0)),
                        degenerate=(0.0, "degenerate"), min_rows=2),
}
IDS = list(CASES)


@pytest.mark.parametrize("case, variant", [
    (case, variant) for case in IDS for variant in EQUIVALENT
    if (CASES[case].lists or variant != "list")
    # Ranks of values closer than float32 resolves (neighbours, dissimilarities) fall either
    # way in low precision: rank measures are checked against the float64 oracle instead.
    and not (CASES[case].ranks and EQUIVALENT[variant][2] != EXACT)])
@few
@given(XY=pairs(min_rows=4))
def test_equivalent_input_gives_the_same_answer(case, variant, XY):
    make, clean, (rtol, atol) = EQUIVALENT[variant]
    X, Y = XY
    call = CASES[case].call
    if rtol > EXACT[0]:
        # float32 keeps about 7 digits of the features; an offset 5,000 times their spread
        # leaves 3 (the documented accuracy), and neighbours whose similarities differ by less
        # than that come out in either order.
        assume(X.std(axis=0).min() > 1e-2 * np.abs(X).max())
    expect_same(lambda: call(make(X), make(Y)), lambda: call(clean(X), clean(Y)),
                rtol=rtol, atol=max(atol, CASES[case].atol))


@pytest.mark.parametrize("variant", list(INVALID))
@pytest.mark.parametrize("case", IDS)
@few
@given(XY=pairs(min_rows=4))
def test_invalid_input_is_a_named_error(case, variant, XY):
    X, Y = XY
    c = CASES[case]
    expect_error(lambda: c.call(INVALID[variant](X), Y), c.name)
    if not (variant == "none" and case in ("minibatch", "layer_similarity")):  # None: X itself
        expect_error(lambda: c.call(X, INVALID[variant](Y)), "Y", "reps_b")


@pytest.mark.parametrize("case", IDS)
@fuzz
@given(XY=pairs(min_rows=2), cut=st.integers(1, 3))
def test_mismatched_and_too_few_stimuli_are_named_errors(case, XY, cut):
    X, Y = XY
    c = CASES[case]
    if X.shape[0] > cut:
        expect_error(lambda: c.call(X, Y[:-cut]), "Y", "rows", "stimuli", "batch")
    expect_error(lambda: c.call(X[:1], Y[:1]), c.name, "rows", "stimuli", "at least", "n =")
    if X.shape[0] < c.min_rows:
        out = run(lambda: c.call(X, Y))
        assert out.error is not None, out


@pytest.mark.parametrize("case", IDS)
@fuzz
@given(XY=pairs(min_rows=4))
def test_answer_lies_in_the_documented_range(case, XY):
    c = CASES[case]
    out = run(lambda: c.call(*XY))
    if out.error is None:
        v = np.asarray(out.value if not isinstance(out.value, dict) else out.value["value"])
        assert np.isfinite(v).all() and (v >= c.low - 1e-9).all() and (v <= c.high + 1e-9).all()


@pytest.mark.parametrize("case", IDS)
@fuzz
@given(XY=pairs(min_rows=4), k=st.sampled_from([-660, -300, -100, 100, 300, 660]))
def test_scale_invariance_at_any_magnitude(case, XY, k):
    # Powers of two (2^660 ~ 1e200) scale exactly: a power of ten would round the input,
    # and ill-conditioned quantities (correlations of rows at 5 +- 0.001) would follow.
    c = CASES[case]
    X, Y = XY
    if not c.scale:  # minibatch CKA: float32 Gram matrices may overflow; that is an error
        out = run(lambda: c.call(X * 2.0**k, Y))
        if out.error is not None:
            assert "NaN or infinite" in str(out.error) or "overflow" in str(out.error)
        return
    expect_same(lambda: c.call(X * 2.0**k, Y * 2.0 ** (-k // 2)), lambda: c.call(X, Y),
                rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", [c for c in IDS if CASES[c].shift])
@fuzz
@given(XY=pairs(min_rows=4), shift=st.sampled_from([-3.0, 1e3]))
def test_translation_and_constant_columns_change_nothing(case, XY, shift):
    c = CASES[case]
    X, Y = XY
    expect_same(lambda: c.call(X + shift * np.abs(X).max(), Y), lambda: c.call(X, Y),
                rtol=1e-6, atol=1e-8)
    if c.constant_column:
        Xc = np.hstack([X, np.full((X.shape[0], 1), shift)])
        expect_same(lambda: c.call(Xc, Y), lambda: c.call(X, Y), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", [c for c in IDS if CASES[c].degenerate])
@fuzz
@given(XY=pairs(min_rows=4), row=st.integers(0, 3))
def test_no_variance_gives_the_documented_answer(case, XY, row):
    c = CASES[case]
    X, Y = XY
    same = np.tile(X[row], (X.shape[0], 1))
    value, match = c.degenerate
    if case == "layer_similarity":
        value = [[value]]
    # Documented errors: correlation / cosine distances to a constant (all-zero) row, and
    # the RBF median heuristic without distinct rows.
    named = case.startswith("rsa") or case in ("mutual_knn", "cka-rbf")
    expect_documented(lambda: c.call(same, Y), value, match, error_names=("X",) if named else ())


@pytest.mark.parametrize("case", IDS)
@fuzz
@given(XY=pairs(min_rows=4), row=st.integers(0, 3))
def test_duplicate_stimuli_give_a_finite_answer(case, XY, row):
    c = CASES[case]
    X, Y = XY
    X, Y = np.vstack([X, X[row]]), np.vstack([Y, Y[row]])
    out = run(lambda: c.call(X, Y))
    if out.error is not None:  # one feature: every row constant for the correlation distance
        assert case == "rsa" and min(X.shape[1], Y.shape[1]) == 1, out
        return
    v = np.asarray(out.value if not isinstance(out.value, dict) else out.value["value"])
    assert np.isfinite(v).all() and (v >= c.low - 1e-9).all() and (v <= c.high + 1e-9).all()


# --------------------------------------------------------------------------- RDMs
@pytest.mark.parametrize("variant", list(EQUIVALENT))
@pytest.mark.parametrize("metric", ["correlation", "cosine", "euclidean", "sqeuclidean"])
@few
@given(X=tables(min_rows=3))
def test_rdm_of_equivalent_input(metric, variant, X):
    make, clean, (rtol, atol) = EQUIVALENT[variant]
    scale = np.abs(clean(X)).max() ** (2 if metric == "sqeuclidean" else 1)
    expect_same(lambda: rdm(make(X), metric, square=True),
                lambda: rdm(clean(X), metric, square=True), rtol=rtol,
                atol=atol * (1 if metric in ("correlation", "cosine") else scale))


@pytest.mark.parametrize("variant", list(INVALID))
@fuzz
@given(X=tables(min_rows=3))
def test_rdm_of_invalid_input(variant, X):
    expect_error(lambda: rdm(INVALID[variant](X)), "X")


@pytest.mark.parametrize("metric", ["correlation", "cosine", "euclidean", "sqeuclidean"])
@fuzz
@given(X=tables(min_rows=3), k=st.sampled_from([-150, -40, 40, 150]),
       dup=st.integers(0, 2))
def test_rdm_matches_pairwise_distances(metric, X, k, dup):
    """At any magnitude, duplicates exactly 0 and every entry close to scipy's."""
    from scipy.spatial.distance import pdist

    X = np.vstack([X, X[dup]]) * 10.0**k
    out = run(lambda: rdm(X, metric))
    if out.error is not None:  # constant rows under correlation, all-zero rows under cosine
        assert metric in ("correlation", "cosine") and "X has" in str(out.error)
        return
    D = out.value
    n = X.shape[0]
    assert D[n * dup - dup * (dup + 1) // 2 + (n - 1 - dup - 1)] == 0.0  # (dup, n-1)
    ref = pdist(X / 10.0**k, "cosine" if metric == "cosine" else
                "correlation" if metric == "correlation" else "euclidean")
    if metric == "sqeuclidean":
        ref = ref**2 / X.shape[1]
    factor = {"euclidean": 10.0**k, "sqeuclidean": 10.0 ** (2 * k)}.get(metric, 1.0)
    # correlation and cosine distances lie in [0, 2]: scipy's carry rounding noise of 1e-16
    atol = 1e-12 if metric in ("correlation", "cosine") else 1e-9 * ref.max()
    np.testing.assert_allclose(D / factor, ref, rtol=1e-7, atol=atol)


@pytest.mark.parametrize("method", ["spearman", "pearson", "tau_a", "cosine"])
@pytest.mark.parametrize("variant", [v for v in EQUIVALENT if "int" not in v])
@few
@given(X=tables(min_rows=4), Y=tables(min_rows=4))
def test_compare_rdms_of_equivalent_input(method, variant, X, Y):
    make, clean, (rtol, atol) = EQUIVALENT[variant]
    n = min(len(X), len(Y))
    a, b = rdm(X[:n], "euclidean", square=True), rdm(Y[:n], "euclidean")
    expect_same(lambda: compare_rdms(make(a), b, method),
                lambda: compare_rdms(clean(a), b, method), rtol=rtol, atol=atol)


@pytest.mark.parametrize("variant", [v for v in INVALID if v not in ("1-d", "torch-1-d")])
@pytest.mark.parametrize("method", ["spearman", "cosine"])
@fuzz
@given(X=tables(min_rows=4))
def test_compare_rdms_and_noise_ceiling_of_invalid_input(method, variant, X):
    a = rdm(X, "euclidean", square=True)
    b = rdm(X[::-1].copy(), "euclidean", square=True)
    expect_error(lambda: compare_rdms(INVALID[variant](a), b, method), "a")
    expect_error(lambda: rdm_noise_ceiling(INVALID[variant](np.stack([a, b])), method), "rdms")


@pytest.mark.parametrize("method", ["spearman", "pearson", "tau_a", "cosine"])
@fuzz
@given(X=tables(min_rows=4), k=st.sampled_from([-200, 200]), s=st.integers(2, 4))
def test_noise_ceiling_is_scale_invariant_and_bounded(method, X, k, s):
    rng = np.random.RandomState(len(X))
    rdms = np.stack([rdm(X + rng.randn(*X.shape), "euclidean") for _ in range(s)])
    ref = run(lambda: rdm_noise_ceiling(rdms, method))
    scaled = rdms * 10.0 ** (k * np.arange(1, s + 1)[:, None] / s)
    out = run(lambda: rdm_noise_ceiling(scaled, method))
    close(ref.value, out.value, 1e-7, 1e-9)
    assert -1 - 1e-9 <= out.value["lower"] <= out.value["upper"] <= 1 + 1e-9
    assert not math.isnan(out.value["lower"])
