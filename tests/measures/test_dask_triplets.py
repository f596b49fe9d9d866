"""Odd-one-out functions over dask arrays: only the rows the triplets name are computed."""

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

from reprlign.calibration import expected_calibration_error, reliability_curve  # noqa: E402
from reprlign.measures import levels_agreement, odd_one_out_agreement  # noqa: E402
from reprlign.triplets import (  # noqa: E402
    canonicalize,
    choice_kl,
    choice_probabilities,
    fit_temperature,
    from_things,
    noise_ceiling,
    odd_one_out_accuracy,
    odd_one_out_correct,
    predict_odd_one_out,
    rdm_triplets,
    sample_triplets,
    simulate_choices,
    triplet_levels,
    triplet_similarities,
    validate_triplets,
)

N, D, ROWS = 200, 6, 40  # five row chunks of 40 rows
POISONED = 2  # the row chunk of rows 80:120


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    Z = rng.randn(N, D)
    R = Z @ rng.randn(D, 4) + 0.5 * rng.randn(N, 4)  # a reference that mostly agrees
    # triplets that never name an object of the poisoned chunk
    outside = np.setdiff1d(np.arange(N), np.arange(POISONED * ROWS, (POISONED + 1) * ROWS))
    t = np.array([rng.choice(outside, 3, replace=False) for _ in range(300)])
    return Z, R, t


def _dask(A, rows=ROWS):
    return da.from_array(A, chunks=(rows, 4))  # several row chunks, two column chunks


def _watched(A, seen, poisoned=None, rows=ROWS):
    """A dask array that records the blocks computed and raises in row chunk ``poisoned``."""

    def block(b, block_info=None):
        where = block_info[0]["chunk-location"]
        if where[0] == poisoned:
            raise RuntimeError(f"row chunk {where[0]} was computed")
        seen.append(where)
        return b

    return _dask(A, rows).map_blocks(block, dtype=A.dtype)


def _row_chunks(seen):
    """The row chunks of the blocks in ``seen``, after checking that no block was computed twice."""
    blocks = sorted(set(seen))
    assert sorted(seen) == blocks, seen
    return sorted({i for i, _ in blocks})


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("similarity", ["dot", "cosine"])
def test_triplet_functions_equal_numpy(data, similarity):
    Z, _, t = data
    y = np.random.RandomState(1).randint(0, 3, len(t))
    Zd = _dask(Z)
    got = triplet_similarities(Zd, t, similarity=similarity)
    assert isinstance(got, np.ndarray)
    _close(got, triplet_similarities(Z, t, similarity=similarity))
    _close(triplet_similarities(Zd, t, similarity=similarity, chunk_size=7),
           triplet_similarities(Z, t, similarity=similarity))
    _close(choice_probabilities(Zd, t, similarity=similarity, temperature=0.3),
           choice_probabilities(Z, t, similarity=similarity, temperature=0.3))
    np.testing.assert_array_equal(predict_odd_one_out(Zd, t, similarity=similarity),
                                  predict_odd_one_out(Z, t, similarity=similarity))
    for labels in (None, y):
        np.testing.assert_array_equal(odd_one_out_correct(Zd, t, labels, similarity=similarity),
                                      odd_one_out_correct(Z, t, labels, similarity=similarity))
        assert (odd_one_out_accuracy(Zd, t, labels, similarity=similarity)
                == odd_one_out_accuracy(Z, t, labels, similarity=similarity))
    np.testing.assert_array_equal(
        simulate_choices(Zd, t, similarity=similarity, random_state=3),
        simulate_choices(Z, t, similarity=similarity, random_state=3))


def test_agreement_functions_equal_numpy(data):
    Z, R, t = data
    rng = np.random.RandomState(2)
    positions, proba = rng.randint(0, 3, len(t)), rng.dirichlet(np.ones(3), len(t))
    for y in (None, positions, proba):
        want = odd_one_out_agreement(Z, t, y, temperature=0.2)
        got = odd_one_out_agreement(_dask(Z), t, y, temperature=0.2)
        assert got.accuracy == want.accuracy and got.n_triplets == want.n_triplets
        assert (got.kl is None) == (want.kl is None)
        if want.kl is not None:
            assert abs(got.kl - want.kl) < 1e-12
    level = np.array(["coarse", "class_boundary", "subordinate"])[np.arange(len(t)) % 3]
    for kwargs in ({"y": positions, "structural": False}, {"reference": R},
                   {"reference": _dask(R, 25)}):
        want = levels_agreement(Z, t, level, **kwargs)
        got = levels_agreement(_dask(Z), t, level, **kwargs)
        assert got.levels == want.levels and got.answer == want.answer
        _close(got.accuracy, want.accuracy)
        np.testing.assert_array_equal(got.n_triplets, want.n_triplets)


def test_int_and_float32_chunks_are_read_as_numpy_reads_them(data):
    Z, _, t = data
    Zi = np.round(Z * 3).astype(np.int64)
    _close(triplet_similarities(_dask(Zi), t), triplet_similarities(Zi, t))
    Z32 = Z.astype(np.float32)
    got = triplet_similarities(_dask(Z32), t, similarity="cosine")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, triplet_similarities(Z32, t, similarity="cosine"),
                               rtol=1e-6, atol=1e-6)


def test_only_the_row_chunks_the_triplets_name_are_computed(data):
    Z, R, t = data
    seen = []
    Zw = _watched(Z, seen, poisoned=POISONED)
    level = np.array(["class_boundary", "subordinate"])[np.arange(len(t)) % 2]
    y = np.random.RandomState(4).dirichlet(np.ones(3), len(t))
    # (if any of these computed the whole array, the poisoned chunk would raise)
    _close(triplet_similarities(Zw, t), triplet_similarities(Z, t))
    assert _row_chunks(seen) == [0, 1, 3, 4]  # each needed chunk once
    seen.clear()
    want = odd_one_out_agreement(Z, t, y)
    got = odd_one_out_agreement(Zw, t, y)
    assert got.accuracy == want.accuracy and abs(got.kl - want.kl) < 1e-12
    assert _row_chunks(seen) == [0, 1, 3, 4]  # one read serves the accuracy and the KL
    seen.clear()
    seen_r = []
    got = levels_agreement(Zw, t, level, reference=_watched(R, seen_r, poisoned=POISONED))
    _close(got.accuracy, levels_agreement(Z, t, level, reference=R).accuracy)
    assert _row_chunks(seen) == _row_chunks(seen_r) == [0, 1, 3, 4]  # each read once
    seen.clear()
    predict_odd_one_out(Zw, [[0, 1, 2], [2, 5, 7]])
    assert _row_chunks(seen) == [0]
    # the poison works: a triplet in the poisoned chunk computes it
    with pytest.raises(RuntimeError, match="row chunk 2 was computed"):
        odd_one_out_accuracy(Zw, [[0, 1, POISONED * ROWS + 3]])


def test_nan_is_named_in_the_rows_read_only(data):
    Z, _, t = data
    Z = Z.copy()
    Z[POISONED * ROWS + 5, 1] = np.nan  # in no triplet: not read, no error
    _close(triplet_similarities(_dask(Z), t), triplet_similarities(np.nan_to_num(Z), t))
    row = int(t[7, 1])
    Z[row, 3] = np.inf
    n_read = len(np.unique(t))
    for call, name in ((lambda A: triplet_similarities(A, t), "Z"),
                       (lambda A: odd_one_out_agreement(A, t), "X"),
                       (lambda A: levels_agreement(A, t, ["x"] * len(t), structural=False), "Z"),
                       (lambda A: levels_agreement(data[0], t, ["x"] * len(t), reference=A),
                        "reference")):
        with pytest.raises(ValueError, match=rf"{name} contains NaN or infinite values in 1 of "
                                             rf"the {n_read} row\(s\) read \(first: row {row}\)"):
            call(_dask(Z))
        with pytest.raises(ValueError, match=f"{name} contains NaN or infinite values"):
            call(Z)  # the numpy path names the same problem (over every row)


def test_invalid_arguments_are_named_before_anything_is_computed(data):
    Z, _, t = data
    Zp = _watched(Z, [], poisoned=0)  # every call that computes row chunk 0 raises
    bad = np.vstack([t, [[0, 1, N]]])
    calls = [
        (lambda: triplet_similarities(Zp, bad), ValueError, r"triplets row 300 has an index out"),
        (lambda: odd_one_out_agreement(Zp, bad), ValueError, "out of range for 200 objects"),
        (lambda: odd_one_out_agreement(Zp, t, np.ones((5, 3)) / 3), ValueError,
         r"y as choice distributions must have shape \(300, 3\)"),
        (lambda: odd_one_out_agreement(Zp, t, np.full((len(t), 3), 0.5)), ValueError,
         "target row 0 sums to 1.5"),
        (lambda: odd_one_out_agreement(Zp, t, np.full(len(t), 3)), ValueError,
         "y must hold odd-one-out positions"),
        (lambda: odd_one_out_agreement(Zp, t, np.ones((len(t), 3)) / 3, temperature=0),
         ValueError, "temperature"),
        (lambda: odd_one_out_agreement(Zp, t, similarity="l2"), ValueError, "similarity"),
        (lambda: odd_one_out_correct(Zp, t, np.zeros(3, int)), ValueError, r"y must have shape"),
        (lambda: levels_agreement(Zp, bad, ["x"] * len(bad)), ValueError, "out of range"),
        (lambda: levels_agreement(Zp, t, ["x"] * 3), ValueError, "level must have one entry"),
        (lambda: levels_agreement(Zp, t, ["x"] * len(t), np.full(len(t), 5)), ValueError,
         "y must hold"),
        (lambda: levels_agreement(Z, t, ["x"] * len(t), reference=_dask(Z[:100])), ValueError,
         "out of range for 100 objects"),
        (lambda: triplet_similarities(Zp[:, :0], t), ValueError, "Z has shape .*no features"),
        (lambda: triplet_similarities(Zp[:, 0], t), ValueError, "Z must be 2-D"),
        (lambda: triplet_similarities(Zp + 1j, t), TypeError, "Z must hold real numbers"),
        (lambda: triplet_similarities(Zp[Zp[:, 0] > 0], t), ValueError, "unknown chunk sizes"),
    ]
    for call, error, match in calls:
        with pytest.raises(error, match=match):
            call()


def test_all_zero_rows_are_named_by_object(data):
    Z, _, t = data
    Z = Z.copy()
    Z[t[3, 0]] = 0.0
    for A in (Z, _dask(Z)):
        with pytest.raises(ValueError, match=rf"has 1 all-zero row\(s\) in the triplets "
                                             rf"\(first: \[{t[3, 0]}\]\)"):
            triplet_similarities(A, t, similarity="cosine")


def test_arguments_read_whole_refuse_dask_arrays(data):
    Z, R, t = data
    dt, proba = _dask(t), np.full((len(t), 3), 1 / 3)
    y = np.zeros(len(t), dtype=int)
    labels = np.arange(N) % 4
    rdm = np.abs(Z[:10, None, 0] - Z[None, :10, 0])
    cases = [
        (lambda: triplet_similarities(Z, dt), "triplets"),
        (lambda: odd_one_out_agreement(_dask(Z), dt), "triplets"),
        (lambda: odd_one_out_agreement(_dask(Z), t, da.from_array(proba)), "y"),
        (lambda: odd_one_out_correct(_dask(Z), t, da.from_array(y)), "y"),
        (lambda: levels_agreement(Z, t, da.from_array(np.array(["a"] * len(t)))), "level"),
        (lambda: validate_triplets(dt), "triplets"),
        (lambda: canonicalize(t, da.from_array(y)), "odd_position"),
        (lambda: from_things(_dask(np.c_[t + 1, y + 1])), "raw"),
        (lambda: noise_ceiling(dt), "triplets"),
        (lambda: triplet_levels(t, da.from_array(labels), labels), "coarse"),
        (lambda: choice_kl(da.from_array(proba), proba), "target"),
        (lambda: fit_temperature(da.from_array(proba), proba), "similarities"),
        (lambda: fit_temperature(proba + np.arange(3), proba, da.from_array(y + 1.0)), "weights"),
        (lambda: rdm_triplets(da.from_array(rdm), 5), "rdms"),
        (lambda: sample_triplets(N, 5, method="within_class", labels=da.from_array(labels)),
         "labels"),
        (lambda: sample_triplets(N, 5, method="cluster_border", features=_dask(Z)), "features"),
        (lambda: expected_calibration_error(y, da.from_array(proba)), "y_prob"),
        (lambda: reliability_curve(da.from_array(y), proba), "y_true"),
    ]
    for call, name in cases:
        with pytest.raises(TypeError, match=f"{name} here does not take dask arrays.*compute"):
            call()
