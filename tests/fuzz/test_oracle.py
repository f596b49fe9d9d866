"""Every measure against an independent float64 oracle, on input drawn across the space of
what users pass: shapes, dtypes (float64, float32, integers), magnitudes from 1e-150 to
1e150, duplicated rows, constant columns and rows, and containers (numpy, lists, pandas,
torch).

The property: a measure either raises a ``ValueError`` / ``TypeError`` naming its argument,
or returns a finite value equal to the oracle's (:mod:`.oracle`) within the dtype's
tolerance, or, where the oracle says the quantity is undefined, warns and returns the
documented value. Never a silent wrong answer.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from reprlign.measures import (
    MinibatchCKA,
    RSAScorer,
    cka,
    layer_similarity,
    mutual_knn,
    procrustes,
    rsa,
)

from . import oracle as ref
from .oracle import fuzz, pairs, run


def _batched_cka(X, Y, batch=4):
    """Minibatch CKA by its definition: unbiased HSICs summed over consecutive batches."""
    hxy = hxx = hyy = 0.0
    X, Y = ref.unit(X), ref.unit(Y)
    for s in range(0, len(X) - batch + 1, batch):
        # (the unbiased HSIC ignores translation: centring only avoids cancellation)
        A, B = ref._centred(X[s:s + batch]), ref._centred(Y[s:s + batch])
        K, L = A @ A.T, B @ B.T
        hxy += ref._hsic(K, L, True)
        hxx += ref._hsic(K, K, True)
        hyy += ref._hsic(L, L, True)
    if hxx <= 0 or hyy <= 0:
        raise ref.Undefined("no variance")
    return [[hxy / np.sqrt(hxx * hyy)]]


UNDEFINED_CKA = (0.0, "is undefined")
# name -> (call, oracle, what an undefined input gives: (value, warning) or an error naming
# the argument, rank-based)
CASES = {
    "cka": (lambda X, Y: cka(X, Y), ref.cka_linear, UNDEFINED_CKA, False),
    "cka-debiased": (lambda X, Y: cka(X, Y, debiased=True),
                     lambda X, Y: ref.cka_linear(X, Y, True), UNDEFINED_CKA, False),
    # (no variance: the median heuristic's error, or, with a bandwidth, the documented 0.0)
    "cka-rbf": (lambda X, Y: cka(X, Y, kernel="rbf"), ref.cka_rbf, UNDEFINED_CKA, False),
    "cka-rbf-debiased": (lambda X, Y: cka(X, Y, kernel="rbf", debiased=True),
                         lambda X, Y: ref.cka_rbf(X, Y, True), UNDEFINED_CKA, False),
    "procrustes": (lambda X, Y: procrustes(X, Y), ref.procrustes, UNDEFINED_CKA, False),
    "procrustes-angular": (lambda X, Y: procrustes(X, Y, measure="angular"),
                           lambda X, Y: ref.procrustes(X, Y, True),
                           (np.pi / 2, "is undefined"), False),
    "mutual_knn": (lambda X, Y: mutual_knn(X, Y, 2), lambda X, Y: ref.mutual_knn(X, Y, 2),
                   (0.0, "is undefined"), True),
    "mutual_knn-euclidean": (lambda X, Y: mutual_knn(X, Y, 2, metric="euclidean"),
                             lambda X, Y: ref.mutual_knn(X, Y, 2, "euclidean"),
                             (0.0, "is undefined"), True),
    "scorer-cka": (lambda X, Y: RSAScorer().score(X, Y), ref.cka_linear, UNDEFINED_CKA, False),
    "minibatch": (lambda X, Y: MinibatchCKA().update(X, Y).result(),
                  lambda X, Y: _batched_cka(X, Y, len(X))[0][0], UNDEFINED_CKA, False),
    "layer_similarity": (lambda X, Y: layer_similarity({"a": X}, {"b": Y}, batch_size=4),
                         _batched_cka, ([[0.0]], "is undefined"), False),
}

# every RSA route: the exact O(n d^2) one (pearson / cosine of the linear metrics) and the
# RDM-forming ones
for _metric in ("correlation", "cosine", "euclidean", "sqeuclidean"):
    for _compare in ("spearman", "pearson", "tau_a", "cosine"):
        CASES[f"rsa-{_metric}-{_compare}"] = (
            lambda X, Y, m=_metric, c=_compare: rsa(X, Y, rdm_metric=m, compare=c),
            lambda X, Y, m=_metric, c=_compare: ref.rsa(X, Y, m, c),
            (0.0, "is undefined"), _compare in ("spearman", "tau_a"))
CASES["scorer-rsa"] = (lambda X, Y: RSAScorer(metric="rsa").score(X, Y), ref.rsa,
                       (0.0, "is undefined"), True)
CASES["scorer-mutual_knn"] = (lambda X, Y: RSAScorer(metric="mutual_knn", k=2).score(X, Y),
                              lambda X, Y: ref.mutual_knn(X, Y, 2), (0.0, "is undefined"), True)

SCALES = {"float64": [-150, -40, 0, 40, 150], "float32": [-15, 0, 15], "int": [0]}
CONTAINERS = {
    "numpy": lambda A: A,
    "list": lambda A: A.tolist(),
    "pandas": lambda A: pd.DataFrame(A, index=np.arange(3, 3 + len(A))),
    "torch": torch.as_tensor,
}


def _integers(A):
    return np.round(A / np.abs(A).max() * 4).astype(np.int64)


@st.composite
def inputs(draw):
    """(X, Y as passed, X, Y as float64 of what the measure sees, dtype name)."""
    X, Y = draw(pairs(min_rows=4, max_rows=10))
    tweak = draw(st.sampled_from(["none", "duplicate", "constant-column", "constant-x",
                                  "parallel-rows"]))
    if tweak == "duplicate":
        X, Y = np.vstack([X, X[:2]]), np.vstack([Y, Y[:2]])
    elif tweak == "constant-column":
        X = np.hstack([X, np.full((len(X), 1), 2.5)])
    elif tweak == "constant-x":
        X = np.tile(X[:1], (len(X), 1))
    elif tweak == "parallel-rows":  # rows that are positive multiples of one another
        X = np.outer(np.arange(1.0, len(X) + 1), X[0])
    dtype = draw(st.sampled_from(list(SCALES)))
    kx, ky = draw(st.sampled_from(SCALES[dtype])), draw(st.sampled_from(SCALES[dtype]))
    if dtype == "int":
        X, Y = _integers(X), _integers(Y)
    else:
        X, Y = (A.astype(dtype) * np.asarray(10.0**k, dtype) for A, k in ((X, kx), (Y, ky)))
    return X, Y, X.astype(np.float64), Y.astype(np.float64), dtype


@pytest.mark.parametrize("case", list(CASES))
@fuzz
@given(data=inputs(), container=st.sampled_from(list(CONTAINERS)))
def test_agrees_with_the_float64_oracle(case, data, container):
    call, oracle, undefined, ranks = CASES[case]
    X, Y, Xs, Ys, dtype = data
    # Ranks of values equal up to rounding come out in either order in float32 or integers.
    assume(not (ranks and dtype != "float64"))
    assume(not (case == "minibatch" and container == "list"))  # a list there is of layers
    if dtype == "float32":  # the documented float32 accuracy needs a spread of 1% of the offset
        assume(Xs.std(axis=0).min() > 1e-2 * np.abs(Xs).max())
        assume(Ys.std(axis=0).min() > 1e-2 * np.abs(Ys).max())
    wrap = CONTAINERS[container]
    out = run(lambda: call(wrap(X), wrap(Y)))
    seen32 = dtype == "float32" and container != "list"  # (a list of numbers is float64)
    ref.TIE_EPS["value"] = np.finfo(np.float32 if seen32 else np.float64).eps
    try:
        want = oracle(Xs, Ys)
    except ref.Undefined:
        want = None
    finally:
        ref.TIE_EPS["value"] = np.finfo(np.float64).eps
    if want is None:  # undefined: a named error, or the documented warning and value
        if isinstance(undefined, str):
            assert out.error is not None and undefined in str(out.error), out
            assert any(n in str(out.error) for n in ("X", "Y", "reps_")), out
        elif out.error is None:
            value, match = undefined
            assert any(match in w for w in out.warnings), out
            # (in the input's precision: pi/2 in float32 for a float32 tensor)
            np.testing.assert_allclose(np.asarray(out.value), value, rtol=1e-6)
        else:
            assert any(n in str(out.error) for n in ("X", "Y", "reps_")), out
        return
    assert out.error is None, f"oracle {want}, measure {out!r}"
    tol = 1e-6 if dtype != "float32" else 2e-3
    v = np.asarray(out.value, dtype=np.float64)
    assert np.isfinite(v).all(), out
    np.testing.assert_allclose(v, np.asarray(want), rtol=tol, atol=tol, err_msg=repr(out))
