"""Bootstrap intervals, permutation tests and the RDM noise ceiling."""

import warnings

import numpy as np
import pytest
import scipy.stats as ss

from reprlign.datasets import load_mur92
from reprlign.measures import (
    bootstrap,
    compare_rdms,
    permutation_test,
    rdm,
    rdm_noise_ceiling,
    rsa,
)


@pytest.fixture(scope="module")
def mur92():
    return load_mur92()


def _corr(X, Y):
    return float(np.corrcoef(X[:, 0], Y[:, 0])[0, 1])


@pytest.mark.parametrize("method, theirs", [("percentile", "percentile"), ("bca", "BCa")])
def test_bootstrap_matches_scipy(rng, method, theirs):
    X = rng.randn(80, 3)
    Y = X + rng.randn(80, 3)
    ours = bootstrap(_corr, X, Y, ci_method=method, n_bootstrap=2000, random_state=0,
                     resample="bootstrap")
    ref = ss.bootstrap((X[:, 0], Y[:, 0]), lambda a, b: np.corrcoef(a, b)[0, 1], paired=True,
                       vectorized=False, method=theirs, n_resamples=2000,
                       random_state=np.random.RandomState(0))
    # Both draw resamples the same way from the same seed, so the intervals agree closely;
    # allow Monte Carlo slack in case scipy changes how it draws.
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.02)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.02)
    assert ours.value == pytest.approx(_corr(X, Y))
    assert ours.distribution.shape == (2000,)


def test_bca_differs_from_percentile_on_skewed_statistic(rng):
    X = rng.randn(60, 4)
    Y = X + 0.3 * rng.randn(60, 4)
    p = bootstrap("cka", X, Y, n_bootstrap=300, random_state=1, ci_method="percentile")
    b = bootstrap("cka", X, Y, n_bootstrap=300, random_state=1, ci_method="bca")
    assert np.array_equal(p.distribution, b.distribution)
    assert (p.low, p.high) != (b.low, b.high)
    assert b.low < b.value < b.high


def test_rdm_bootstrap_drops_pairs_of_a_stimulus_with_itself(rng):
    X = rng.randn(30, 6)
    Y = X + rng.randn(30, 6)
    res = bootstrap("rsa", X, Y, n_bootstrap=50, random_state=3, compare="pearson",
                    resample="bootstrap", ci_method="percentile")
    assert res.value == pytest.approx(rsa(X, Y, compare="pearson"), abs=1e-12)
    # Reproduce the first resample by hand.
    idx = np.random.RandomState(3).randint(0, 30, 30)
    A, B = rdm(X, square=True)[np.ix_(idx, idx)], rdm(Y, square=True)[np.ix_(idx, idx)]
    iu = np.triu_indices(30, 1)
    keep = idx[iu[0]] != idx[iu[1]]
    expected = compare_rdms(A[iu][keep], B[iu][keep], "pearson")
    assert res.distribution[0] == pytest.approx(expected, abs=1e-12)
    # The same through compare_rdms on precomputed (condensed) RDMs.
    res2 = bootstrap("compare_rdms", rdm(X), rdm(Y), n_bootstrap=50, random_state=3,
                     method="pearson", resample="bootstrap", ci_method="percentile")
    assert np.allclose(res2.distribution, res.distribution, atol=1e-12)


@pytest.mark.filterwarnings("ignore:bootstrap. the 95% interval:RuntimeWarning")
@pytest.mark.parametrize("resample", ["subsample", "bootstrap"])
def test_bootstrap_backends(rng, backend, resample):
    X, Y = rng.randn(40, 3), rng.randn(40, 3) + rng.randn(40, 1)
    measures = ["cka", "rsa", "procrustes"] + (["mutual_knn"] if resample == "subsample" else [])
    for measure in measures:
        a = bootstrap(measure, X, Y, n_bootstrap=20, random_state=0, resample=resample)
        b = bootstrap(measure, backend(X), backend(Y), n_bootstrap=20, random_state=0,
                      resample=resample)
        assert np.allclose(a.distribution, b.distribution, atol=backend.tol)
        assert (a.low, a.high, a.ci_method) == pytest.approx((b.low, b.high, b.ci_method))


def test_bootstrap_errors(rng):
    X, Y = rng.randn(40, 3), rng.randn(40, 3)
    with pytest.raises(ValueError, match="ci_method"):
        bootstrap("cka", X, Y, ci_method="student")
    with pytest.raises(ValueError, match="resample"):
        bootstrap("cka", X, Y, resample="jackknife")
    with pytest.raises(ValueError, match="own nearest neighbour"):
        bootstrap("mutual_knn", X, Y, resample="bootstrap")
    with pytest.raises(ValueError, match="half-samples of 3 of the 7 stimuli.*at least 4"):
        bootstrap("cka", X[:7], Y[:7], debiased=True)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap("cka", X, Y, confidence=95)
    with pytest.raises(ValueError, match="measure"):
        bootstrap("kappa", X, Y)
    with pytest.raises(ValueError, match="n_bootstrap"):
        bootstrap("cka", X, Y, n_bootstrap=1)
    with pytest.raises(ValueError, match="same stimuli"):
        bootstrap("cka", X, Y[:5])
    with pytest.raises(MemoryError, match="both 40 x 40 RDMs"):
        bootstrap("rsa", X, Y, max_memory_gb=1e-9)


def test_permutation_test(rng):
    X = rng.randn(50, 5)
    related = permutation_test("cka", X, X + 0.5 * rng.randn(50, 5), n_permutations=99,
                               random_state=0)
    assert related.p_value == 0.01 and related.null_distribution.shape == (99,)
    null = permutation_test("cka", X, rng.randn(50, 5), n_permutations=199, random_state=0)
    assert null.p_value > 0.05
    less = permutation_test("rsa", X, X, n_permutations=49, alternative="less", random_state=0,
                            compare="pearson")
    assert less.p_value == 1.0
    with pytest.raises(ValueError, match="alternative"):
        permutation_test("cka", X, X, alternative="bigger")


@pytest.mark.parametrize("method, theirs", [("spearman", "spearman"), ("pearson", "corr"),
                                            ("cosine", "cosine")])
def test_noise_ceiling_matches_rsatoolbox(mur92, method, theirs):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling

    R = mur92.behavior_rdms
    nc = rdm_noise_ceiling(R, method)
    ref = boot_noise_ceiling(rsatoolbox.rdm.RDMs(np.stack([rdm_vec(r) for r in R])), method=theirs)
    assert nc.lower == pytest.approx(ref[0], abs=1e-10)
    assert nc.upper == pytest.approx(ref[1], abs=1e-10)
    assert nc.lower < nc.upper and nc.lower_each.shape == (16,)


def rdm_vec(square):
    return square[np.triu_indices(square.shape[0], 1)]


def test_noise_ceiling_bounds_and_errors(mur92):
    R = mur92.behavior_rdms
    nc = rdm_noise_ceiling(R)
    # The IT RDM predicts the people less well than they predict each other.
    hit = mur92.brain_rdms[mur92.brain_rdm_names.index("hIT")]
    mean_fit = np.mean([compare_rdms(r, hit) for r in R])
    assert 0 < mean_fit < nc.lower
    # Identical people: both bounds are 1.
    same = rdm_noise_ceiling(np.stack([rdm_vec(R[0])] * 3), "pearson")
    assert same.lower == pytest.approx(1.0) and same.upper == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2"):
        rdm_noise_ceiling(R[:1])
    with pytest.raises(ValueError, match="method"):
        rdm_noise_ceiling(R, "kendall")
    bad = R.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rdm_noise_ceiling(bad)


class _Terminal:
    """A stand-in for stderr that says it is a terminal, so tqdm draws its bar."""

    def __init__(self):
        import io

        self.buffer = io.StringIO()

    def write(self, text):
        return self.buffer.write(text)

    def flush(self):
        pass

    def isatty(self):
        return True


@pytest.mark.parametrize("verbose, tty, shown", [(True, True, True), (False, True, False),
                                                 (True, False, False)])
def test_progress_bar_only_when_asked_on_a_terminal(rng, monkeypatch, capsys, verbose, tty, shown):
    import sys

    X = rng.randn(30, 3)
    term = _Terminal()
    if tty:
        monkeypatch.setattr(sys, "stderr", term)
    bootstrap("cka", X, X + rng.randn(30, 3), n_bootstrap=20, random_state=0, verbose=verbose)
    permutation_test("cka", X, X, n_permutations=9, random_state=0, verbose=verbose)
    out = term.buffer.getvalue() + capsys.readouterr().err
    assert ("subsample cka" in out and "permutations cka" in out) == shown


def test_intervals_that_exclude_the_estimate_warn_and_bca_never_falls_back_silently(rng):
    # Biased CKA of independent wide data: every half-sample scores higher than the data.
    X, Y = rng.randn(40, 100), rng.randn(40, 100)
    with pytest.warns(RuntimeWarning) as record:
        ci = bootstrap("cka", X, Y, n_bootstrap=50, random_state=0, ci_method="bca")
    messages = " ".join(str(w.message) for w in record)
    assert "BCa correction is infinite" in messages and ci.ci_method == "basic"
    assert "does not contain the estimate" in messages and not ci.low <= ci.value <= ci.high
    assert ci.bias > 0 and ci.high < ci.value  # the correction moves the interval down
    # Unbiased CKA of the same data: no shift, no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ci = bootstrap("cka", X, Y, n_bootstrap=50, random_state=0, debiased=True,
                       ci_method="bca")
    assert ci.low <= ci.value <= ci.high and ci.ci_method == "bca"
    # The default (basic) interval of the biased estimate warns too, without a fallback.
    with pytest.warns(RuntimeWarning, match="does not contain the estimate"):
        ci = bootstrap("cka", X, Y, n_bootstrap=50, random_state=0)
    assert ci.ci_method == "basic" and ci.high < ci.value
