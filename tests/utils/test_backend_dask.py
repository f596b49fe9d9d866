"""The dask back end: one-pass moments, centring after summing, pairing rules, NaN by chunk."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from reprlign.utils.backend import DASK, NUMPY, get_backend, is_dask  # noqa: E402


@pytest.fixture
def pair():
    rng = np.random.RandomState(0)
    X = rng.randn(500, 12) * 3 + 5  # far from centred: centring after summing must hold up
    Y = X[:, :5] ** 2 + rng.randn(500, 5)
    return X, Y


def _paired(X, Y):
    nx = get_backend(X, Y)
    return nx.pair(nx.check_features(X, name="X"), nx.check_features(Y, name="Y"))


def test_dask_arrays_get_the_dask_backend(pair):
    X, Y = pair
    Xd = da.from_array(X, chunks=100)
    assert get_backend(Xd) is DASK and get_backend(Y, Xd) is DASK and get_backend(Y) is NUMPY
    assert DASK.chunked and not NUMPY.chunked and is_dask(Xd) and not is_dask(X)


def test_moments_equal_numpy_in_float64(pair):
    X, Y = pair
    X[:, 4] = 7.25  # a constant column: exactly zero once centred, as on numpy's route
    m = DASK.moments(*_paired(da.from_array(X, chunks=(64, 5)), Y))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Xc[:, 4] = 0
    assert m.n == 500
    for got, want in ((m.centred_xy(), Xc.T @ Yc), (m.centred_xx(), Xc.T @ Xc),
                      (m.centred_yy(), Yc.T @ Yc)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    assert not m.centred_xx()[4].any() and not m.xx[4].any()  # shifted by its value: zeros
    k, l = (Xc**2).sum(1), (Yc**2).sum(1)
    want = (k.sum(), l.sum(), (k * k).sum(), (l * l).sum(), (k * l).sum())
    np.testing.assert_allclose(m.centred_row_norms(), want, rtol=1e-12)


def test_float32_chunks_accumulate_in_float64(pair):
    X, Y = (a.astype(np.float32) for a in pair)
    m = DASK.moments(*_paired(da.from_array(X, chunks=(50, -1)), da.from_array(Y, chunks=50)))
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    want = (X64 - X64.mean(0)).T @ (Y64 - Y64.mean(0))
    assert m.sx.dtype == np.float64
    np.testing.assert_allclose(m.centred_xy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_pairing_rules(pair):
    X, Y = pair
    Xd = da.from_array(X, chunks=(100, 4))
    A, B = _paired(Xd, Y)  # a numpy partner is cut like the dask one; columns joined
    assert is_dask(B) and B.chunks == ((100,) * 5, (5,)) and A.chunks[1] == (12,)
    A, B = _paired(Xd.astype(np.float32), Y.astype(np.int64))
    assert A.dtype == B.dtype == np.float64
    assert _paired(Xd.astype(np.float16), Y.astype(np.float32))[0].dtype == np.float32
    with pytest.raises(ValueError, match=r"chunked alike along the rows.*Y\.rechunk"):
        _paired(Xd, da.from_array(Y, chunks=(50, 5)))
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        _paired(Xd[Xd[:, 0] > 0], Y)
    with pytest.raises(TypeError, match="complex"):
        _paired(Xd.astype(np.complex128), Y)
    with pytest.raises(ValueError, match="2-D"):
        _paired(Xd[:, 0], Y)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="torch tensor"):
        _paired(Xd, torch.from_numpy(Y))


def test_nan_is_found_by_the_chunk_that_holds_it(pair):
    X, Y = pair
    X = X.copy()
    X[301, 3] = np.nan
    X[310, 0] = np.inf
    with pytest.raises(ValueError, match=r"X contains NaN or infinite values in 2 row\(s\) of "
                                         r"the chunk of rows 300:400 \(first: row 301\)"):
        DASK.moments(*_paired(da.from_array(X, chunks=(100, 12)), Y))
    Y = Y.copy()
    Y[7] = np.nan  # in the first chunk, which also gives the shift
    with pytest.raises(ValueError, match="Y contains NaN .* rows 0:100"):
        DASK.moments(*_paired(da.from_array(pair[0], chunks=(100, 12)),
                              da.from_array(Y, chunks=(100, 5))))


def test_what_needs_the_whole_array_refuses(pair):
    Xd = da.from_array(pair[0], chunks=100)
    for call in (lambda: DASK.asarray(Xd), lambda: DASK.rankdata(Xd[:, 0]),
                 lambda: DASK.top_k(Xd, 3), lambda: DASK.upper_triangle(Xd)):
        with pytest.raises(TypeError, match="does not take dask arrays"):
            call()
