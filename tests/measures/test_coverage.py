"""Coverage of the confidence intervals of :func:`bootstrap` on data with known population values.

Two representations of the same stimuli share a Gaussian latent cause,
``X = Z A + E``, ``Y = Z B + F``, so the population values are known: linear
CKA is ``||A'B||_F^2 / (||Sxx||_F ||Syy||_F)`` and the Procrustes similarity is
``||A'B||_* / sqrt(tr Sxx tr Syy)`` with ``Sxx = A'A + s^2 I``; Spearman RSA on
correlation RDMs is the Spearman correlation of the two distances of a pair of
independent stimuli, estimated from 400,000 such pairs. Each replication draws
n stimuli, forms a 95% interval and records whether it covers the population
value.

The short variant runs in CI (a few seconds per measure, 120 replications: a
coverage of 0.95 is then measured to +-0.02, and the test allows three standard
errors). ``REPRLIGN_COVERAGE_REPS=500 python -m pytest tests/measures/test_coverage.py -s``
runs the long variant behind the figures in the user guide and prints the table.
"""

import os
import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr

from reprlign.measures import bootstrap

REPS = int(os.environ.get("REPRLIGN_COVERAGE_REPS", "120"))
N, K, D, NOISE, RESAMPLES = 100, 3, 5, 1.0, 200
MEASURES = {
    "cka (biased)": ("cka", {}),
    "cka (unbiased)": ("cka", {"debiased": True}),
    "rsa (spearman)": ("rsa", {}),
    "procrustes": ("procrustes", {}),
}
TRUTH_KEY = {"cka (biased)": "cka", "cka (unbiased)": "cka", "rsa (spearman)": "rsa",
             "procrustes": "procrustes"}


def _model(seed=0):
    rng = np.random.RandomState(seed)
    A = rng.randn(K, D)
    B = rng.randn(K, D) * np.linspace(0.3, 1.5, D)
    return A, B


def _draw(n, A, B, rng):
    Z = rng.randn(n, K)
    return Z @ A + NOISE * rng.randn(n, D), Z @ B + NOISE * rng.randn(n, D)


@pytest.fixture(scope="module")
def truth():
    A, B = _model()
    Sxx = A.T @ A + NOISE**2 * np.eye(D)
    Syy = B.T @ B + NOISE**2 * np.eye(D)
    Sxy = A.T @ B
    out = {
        "cka": (Sxy**2).sum() / np.sqrt((Sxx**2).sum() * (Syy**2).sum()),
        "procrustes": np.linalg.svd(Sxy, compute_uv=False).sum() / np.sqrt(
            np.trace(Sxx) * np.trace(Syy)),
    }
    rng = np.random.RandomState(1)
    (X1, Y1), (X2, Y2) = _draw(400_000, A, B, rng), _draw(400_000, A, B, rng)

    def corr_dist(P, Q):
        P = P - P.mean(1, keepdims=True)
        Q = Q - Q.mean(1, keepdims=True)
        return 1 - (P * Q).sum(1) / np.sqrt((P * P).sum(1) * (Q * Q).sum(1))

    out["rsa"] = spearmanr(corr_dist(X1, X2), corr_dist(Y1, Y2))[0]
    return out


def coverage(name, truth, reps=REPS, **options):
    """Share of ``reps`` intervals that cover the population value, and of those that
    exclude their own estimate."""
    measure, kwargs = MEASURES[name]
    A, B = _model()
    rng = np.random.RandomState(2)
    covered = excluded = 0
    for r in range(reps):
        X, Y = _draw(N, A, B, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # intervals that exclude the estimate
            ci = bootstrap(measure, X, Y, n_bootstrap=RESAMPLES, random_state=r, **options,
                           **kwargs)
        covered += ci.low <= truth[TRUTH_KEY[name]] <= ci.high
        excluded += not ci.low <= ci.value <= ci.high
    return covered / reps, excluded / reps


def _check(name, cov):
    se = np.sqrt(0.95 * 0.05 / REPS)
    assert abs(cov - 0.95) <= 3 * se, f"{name}: coverage {cov:.3f} over {REPS} replications"


@pytest.mark.parametrize("name", list(MEASURES))
def test_default_interval_covers_the_population_value(name, truth):
    cov, _ = coverage(name, truth)
    _check(name, cov)


def test_table_for_the_user_guide(truth):
    """The long variant's table: each scheme and interval on every measure (printed with -s)."""
    if REPS < 500:
        pytest.skip("the table is made by the long variant (REPRLIGN_COVERAGE_REPS=500)")
    # the default; BCa on the same half-samples; the scheme of earlier versions
    rows = [("subsample", "basic"), ("subsample", "bca"), ("bootstrap", "percentile")]
    print(f"\ncoverage of 95% intervals, {REPS} replications, n={N}, d={D}, "
          f"{RESAMPLES} resamples; population values "
          + ", ".join(f"{k} {v:.4f}" for k, v in truth.items()))
    default = {}
    for resample, method in rows:
        cells = []
        for name in MEASURES:
            cov, exc = coverage(name, truth, resample=resample, ci_method=method)
            cells.append(f"{name} {cov:.3f} (excl. {exc:.2f})")
            if (resample, method) == rows[0]:
                default[name] = cov
        print(f"{resample:>9} {method:>10}: " + "; ".join(cells), flush=True)
    for name, cov in default.items():
        _check(name, cov)
