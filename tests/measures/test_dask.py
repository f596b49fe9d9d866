"""The measures over dask arrays: equal to numpy on a two-worker cluster, refusals, bad input."""

import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")  # the `dask` extra
da = pytest.importorskip("dask.array")

from reprlign import RSAScorer  # noqa: E402
from reprlign.measures import (  # noqa: E402
    bootstrap,
    cka,
    layer_similarity,
    mutual_knn,
    permutation_test,
    procrustes,
    rdm,
    rsa,
)

FEATURE_ROUTES = [
    (cka, {}),
    (cka, {"debiased": True}),
    (procrustes, {}),
    (procrustes, {"measure": "angular"}),
] + [(rsa, {"compare": c, "rdm_metric": m}) for c in ("pearson", "cosine")
     for m in ("correlation", "cosine", "sqeuclidean")]


@pytest.fixture(scope="module")
def client():
    # In-process workers (no sockets, fast to start); two, so tasks really spread.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(900, 24) * 2 + 3
    Y = np.tanh(X @ rng.randn(24, 10) / 4) + 0.5 * rng.randn(900, 10) + 1
    return X, Y


def _dask(A, rows=128):
    return da.from_array(A, chunks=(rows, 7))  # several column chunks too: joined per row chunk


@pytest.mark.parametrize("fn,kwargs", FEATURE_ROUTES,
                         ids=lambda v: getattr(v, "__name__", None) or str(v))
def test_equal_to_numpy_on_two_workers(client, data, fn, kwargs):
    X, Y = data
    want = fn(X, Y, **kwargs)
    with distributed.get_task_stream(client) as stream:
        got = fn(_dask(X), _dask(Y), **kwargs)
    assert isinstance(got, float)
    assert abs(got - want) < 1e-10, (got, want)
    assert len({t["worker"] for t in stream.data}) == 2  # the chunks went to both workers


def test_float32_chunks_match_float64_numpy(client, data):
    X, Y = data
    X32, Y32 = _dask(X.astype(np.float32)), Y.astype(np.float32)  # a numpy partner joins
    for fn, kwargs in FEATURE_ROUTES[1:3] + FEATURE_ROUTES[4:5]:
        want = fn(X.astype(np.float32).astype(np.float64), Y.astype(np.float32).astype(np.float64),
                  **kwargs)
        assert abs(fn(X32, Y32, **kwargs) - want) < 1e-6, (fn.__name__, kwargs)


def test_scorer_and_layer_similarity(client, data):
    X, Y = data
    for scorer in (RSAScorer(), RSAScorer(debiased=True), RSAScorer(metric="procrustes"),
                   RSAScorer(metric="rsa", compare="pearson")):
        assert abs(scorer.score(_dask(X), _dask(Y)) - scorer.score(X, Y)) < 1e-10
    reps_a = {"x": X, "x2": X**2}
    reps_b = {"y": Y, "xy": np.hstack([X, Y])}
    want = layer_similarity(reps_a, reps_b, batch_size=100)
    got = layer_similarity({k: _dask(v, 250) for k, v in reps_a.items()},
                           {"y": Y, "xy": _dask(reps_b["xy"], 300)}, batch_size=100)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="shuffle=True"):
        layer_similarity({"x": _dask(X)}, shuffle=True)


def test_no_variance_is_reported_as_in_numpy(client, data):
    X, Y = data
    C = np.full_like(X, 2.5)
    with pytest.warns(RuntimeWarning, match="no variance"):
        assert cka(_dask(C), _dask(Y)) == 0.0
    with pytest.warns(RuntimeWarning, match="no variance"):
        assert cka(_dask(C), _dask(Y), debiased=True) == 0.0
    with pytest.warns(RuntimeWarning, match="no variance"):
        assert procrustes(_dask(Y), _dask(C)) == 0.0
    X1 = X.copy()
    X1[:, 3] = 4.0  # one constant column is zeroed exactly, as numpy does
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert abs(cka(_dask(X1), _dask(Y)) - cka(X1, Y)) < 1e-12


def test_all_pairs_measures_refuse_and_name_the_alternative(client, data):
    Xd, Yd = _dask(data[0]), _dask(data[1])
    cases = [
        (lambda: rsa(Xd, Yd), "compare='pearson'"),
        (lambda: rsa(Xd, Yd, compare="tau_a"), "compare='pearson'"),
        (lambda: rsa(Xd, Yd, compare="pearson", rdm_metric="euclidean"), "sqeuclidean"),
        (lambda: cka(Xd, Yd, kernel="rbf"), "kernel='linear'"),
        (lambda: mutual_knn(Xd, Yd), "subsample"),
        (lambda: rdm(Xd), "compare='pearson'"),
        (lambda: bootstrap("cka", Xd, Yd), "subsample"),
        (lambda: permutation_test("cka", Xd, data[1]), "subsample"),
        (lambda: RSAScorer().score_ci(Xd, Yd), "subsample"),
        (lambda: RSAScorer(metric="mutual_knn").score(Xd, Yd), "subsample"),
    ]
    for call, alternative in cases:
        with pytest.raises(TypeError, match=f"does not take dask arrays.*{alternative}"):
            call()


def test_bad_input(client, data):
    X, Y = data
    with pytest.raises(ValueError, match="chunked alike along the rows"):
        cka(_dask(X, 100), _dask(Y, 128))
    with pytest.raises(ValueError, match="same stimuli"):
        cka(_dask(X), _dask(Y[:800]))
    X = X.copy()
    X[517, 5] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN .* chunk of rows 512:640 "
                                         r"\(first: row 517\)"):
        cka(_dask(X), _dask(Y))
    Z = data[1].copy()
    Z[300] = 1.0  # a constant row: its correlation distance is undefined, named globally
    with pytest.raises(ValueError, match=r"Y has 1 constant row\(s\) \(first: \[300\]\)"):
        rsa(_dask(data[0]), _dask(Z), compare="pearson")
