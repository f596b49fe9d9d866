"""Fuzzing the triplet functions and the calibration metrics: the float64 oracle on altered
input, named errors on invalid input."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import squareform

from reprlign.calibration import expected_calibration_error, reliability_curve
from reprlign.measures import levels_agreement, odd_one_out_agreement
from reprlign.triplets import fit_temperature, rdm_triplets, sample_triplets, triplet_similarities

from . import oracle as ref
from .oracle import EQUIVALENT, INVALID, expect_error, expect_same, fuzz, run, tables


@st.composite
def features_and_triplets(draw, min_objects=4, max_objects=12):
    Z = draw(tables(min_rows=min_objects, max_rows=max_objects, min_cols=2))
    seed = draw(st.integers(0, 2**16))
    m = draw(st.integers(1, 20))
    rng = np.random.RandomState(seed)
    T = np.array([rng.choice(len(Z), 3, replace=False) for _ in range(m)])
    return Z, T


def _distributions(rng, m):
    return rng.dirichlet(np.ones(3), m)


# --------------------------------------------------------------------------- similarities
@pytest.mark.parametrize("similarity", ["dot", "cosine"])
@pytest.mark.parametrize("variant", list(EQUIVALENT))
@fuzz
@given(ZT=features_and_triplets())
def test_triplet_similarities_agree_with_the_oracle(variant, similarity, ZT):
    make, clean, (rtol, atol) = EQUIVALENT[variant]
    Z, T = ZT
    out = run(lambda: triplet_similarities(make(Z), T, similarity=similarity))
    if similarity == "cosine" and not np.abs(clean(Z))[np.unique(T)].max(axis=1).all():
        assert out.error is not None and "all-zero row" in str(out.error), out
        return  # (rounded to integers, a row can be all zeros: cosine is then undefined)
    assert out.error is None, out
    want = ref.triplet_similarities(clean(Z), T, similarity)
    if similarity == "dot":
        atol *= np.abs(clean(Z)).max() ** 2
    np.testing.assert_allclose(out.value, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("variant", [v for v in INVALID if v not in ("empty",)])
@fuzz
@given(ZT=features_and_triplets())
def test_triplet_functions_name_invalid_features(variant, ZT):
    Z, T = ZT
    bad = INVALID[variant](Z)
    expect_error(lambda: triplet_similarities(bad, T), "Z")
    expect_error(lambda: odd_one_out_agreement(bad, T), "X")


BAD_TRIPLETS = {
    "out-of-range": lambda T, n: np.vstack([T, [[0, 1, n]]]),
    "negative": lambda T, n: np.vstack([T, [[0, 1, -1]]]),
    "float": lambda T, n: T + 0.5,
    "nan": lambda T, n: np.where(T == T[0, 0], np.nan, T),
    "two-columns": lambda T, n: T[:, :2],
    "1-d": lambda T, n: T[0],
    "empty": lambda T, n: T[:0],
    "strings": lambda T, n: T.astype(str),
    "complex": lambda T, n: T + 0j,
    "none": lambda T, n: None,
}


@pytest.mark.parametrize("variant", list(BAD_TRIPLETS))
@fuzz
@given(ZT=features_and_triplets())
def test_invalid_triplets_are_named_errors(variant, ZT):
    Z, T = ZT
    bad = BAD_TRIPLETS[variant](T, len(Z))
    expect_error(lambda: triplet_similarities(Z, bad), "triplets")
    expect_error(lambda: odd_one_out_agreement(Z, bad), "triplets")


@pytest.mark.parametrize("chunk_size", [0, -5, 2.5, "3", None, True])
def test_triplet_similarities_chunk_size_is_named(chunk_size):
    Z, T = np.eye(4), np.array([[0, 1, 2]])
    expect_error(lambda: triplet_similarities(Z, T, chunk_size=chunk_size), "chunk_size")


# --------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("labels", ["none", "positions", "distributions"])
@pytest.mark.parametrize("variant", list(EQUIVALENT))
@fuzz
@given(ZT=features_and_triplets(), k=st.sampled_from([-150, 0, 150]))
def test_odd_one_out_agreement_agrees_with_the_oracle(variant, labels, ZT, k):
    make, clean, (rtol, atol) = EQUIVALENT[variant]
    Z, T = ZT
    Z = Z * 10.0**k if variant in ("pandas", "list", "torch", "fortran") else Z
    rng = np.random.RandomState(len(T))
    y = {"none": None, "positions": rng.randint(0, 3, len(T)),
         "distributions": _distributions(rng, len(T))}[labels]
    out = run(lambda: odd_one_out_agreement(make(Z), T, y))
    if not np.abs(clean(Z))[np.unique(T)].max(axis=1).all():  # an all-zero row, cosine
        assert out.error is not None and "all-zero row" in str(out.error), out
        return
    assert out.error is None, out
    ties_possible = variant in ("int", "torch-int", "float16", "torch-float16", "float32",
                                "torch-float32")
    acc, kl = ref.odd_one_out(clean(Z), T, y)
    if not ties_possible:  # near-equal similarities may order either way in low precision
        assert out.value["accuracy"] == pytest.approx(acc, abs=1e-12)
    assert out.value["n_triplets"] == len(T)
    if labels == "distributions" and k == 0:  # (KL depends on the scale of Z: not at 1e150)
        assert np.isfinite(out.value["kl"])
        assert out.value["kl"] == pytest.approx(kl, rel=max(rtol, 1e-9), abs=max(atol, 1e-9))


LEVELS = np.array(["coarse", "class_boundary", "subordinate", "other"])
EXACT_VARIANTS = [v for v in EQUIVALENT if not any(p in v for p in ("int", "16", "32"))]


@pytest.mark.parametrize("variant", EXACT_VARIANTS)
@fuzz
@given(ZT=features_and_triplets(), seed=st.integers(0, 2**16), answer=st.booleans())
def test_levels_agreement_agrees_with_the_oracle(variant, ZT, seed, answer):
    make, clean, _ = EQUIVALENT[variant]
    Z, T = ZT
    rng = np.random.RandomState(seed)
    level = LEVELS[rng.randint(0, 4, len(T))]
    if answer:  # answers given as positions
        y = rng.randint(0, 3, len(T))
        call = lambda: levels_agreement(make(Z), T, level, y, structural=False)  # noqa: E731
    else:  # answers from a reference representation
        R = rng.randn(len(Z), 3)
        y = np.argmax(ref.triplet_similarities(R / np.linalg.norm(R, axis=1)[:, None], T), 1)
        call = lambda: levels_agreement(make(Z), T, level, reference=make(R))  # noqa: E731
    out = run(call)
    assert out.error is None, out
    res = out.value
    assert sorted(res["levels"]) == sorted(set(level.tolist()))
    for name, acc, count in zip(res["levels"], res["accuracy"], res["n_triplets"], strict=True):
        mask = level == name
        assert count == mask.sum()
        assert acc == pytest.approx(ref.odd_one_out(clean(Z), T[mask], y[mask])[0], abs=1e-12)


@pytest.mark.parametrize("variant", [v for v in INVALID if v not in ("empty",)])
@fuzz
@given(ZT=features_and_triplets())
def test_levels_agreement_names_invalid_representations(variant, ZT):
    Z, T = ZT
    level = LEVELS[np.arange(len(T)) % 3]
    expect_error(lambda: levels_agreement(INVALID[variant](Z), T, level, structural=False),
                 "Z", "X")
    if variant != "none":  # (reference=None: no reference)
        expect_error(lambda: levels_agreement(Z, T, level, reference=INVALID[variant](Z)),
                     "reference")
    expect_error(lambda: levels_agreement(Z, T, level[:-1], structural=False), "level")


# --------------------------------------------------------------------------- temperature
def _loss(s, p, t):
    z = s / t
    z = z - z.max(1, keepdims=True)
    return -(p * (z - np.log(np.exp(z).sum(1, keepdims=True)))).sum(1).mean()


@fuzz
@given(ZT=features_and_triplets(), t_true=st.sampled_from([0.05, 0.7, 3.0]),
       k=st.sampled_from([-6, 0, 6]),
       container=st.sampled_from(["numpy", "list", "torch", "pandas"]))
def test_fit_temperature_minimises_the_loss(ZT, t_true, k, container):
    Z, T = ZT
    s = ref.triplet_similarities(Z, T) * 10.0**k
    rng = np.random.RandomState(len(T))
    z = s / (t_true * 10.0**k)
    p = np.exp(z - z.max(1, keepdims=True))
    p = 0.7 * p / p.sum(1, keepdims=True) + 0.3 * _distributions(rng, len(T))
    wrap = {"numpy": np.asarray, "list": lambda a: a.tolist(), "torch": torch.as_tensor,
            "pandas": pd.DataFrame}[container]
    out = run(lambda: fit_temperature(wrap(s), wrap(p)))
    if out.error is not None:  # only when the rows hold no information
        assert "equal within every row" in str(out.error), out
        assert (np.ptp(s, axis=1) == 0).all()
        return
    t = out.value
    if t < 1.001e-4 or t > 0.999e4:  # at a bound (to the search's tolerance): a warning
        assert any("edge of bounds" in w for w in out.warnings), out
        return
    grid = np.exp(np.linspace(np.log(1e-4), np.log(1e4), 4001))
    best = min(_loss(s, p, g) for g in grid)
    assert _loss(s, p, t) <= best + 1e-7 * max(1.0, abs(best)), (t, out)


BAD_TEMPERATURE_INPUT = {
    "nan": (lambda s, p, w: (np.where(s == s.max(), np.nan, s), p, w), "similarities"),
    "inf": (lambda s, p, w: (np.where(s == s.max(), np.inf, s), p, w), "similarities"),
    "complex": (lambda s, p, w: (s + 1j, p, w), "similarities"),
    "strings": (lambda s, p, w: (s.astype(str), p, w), "similarities"),
    "constant-rows": (lambda s, p, w: (np.zeros_like(s), p, w), "similarities"),
    "wrong-shape": (lambda s, p, w: (s[:, :2], p[:, :2], w), "similarities"),
    "mismatched": (lambda s, p, w: (s, p[1:], w), "target"),
    "not-distributions": (lambda s, p, w: (s, p * 2, w), "target"),
    "negative-target": (lambda s, p, w: (s, p - p.mean(), w), "target"),
    "negative-weights": (lambda s, p, w: (s, p, -w), "weights"),
    "zero-weights": (lambda s, p, w: (s, p, 0 * w), "weights"),
    "nan-weights": (lambda s, p, w: (s, p, w * np.nan), "weights"),
    "short-weights": (lambda s, p, w: (s, p, w[1:]), "weights"),
}


@pytest.mark.parametrize("variant", list(BAD_TEMPERATURE_INPUT))
@fuzz
@given(ZT=features_and_triplets())
def test_fit_temperature_names_invalid_input(variant, ZT):
    Z, T = ZT
    s = ref.triplet_similarities(Z, T)
    p = _distributions(np.random.RandomState(0), len(T))
    make, name = BAD_TEMPERATURE_INPUT[variant]
    s2, p2, w2 = make(s, p, np.ones(len(T)))
    expect_error(lambda: fit_temperature(s2, p2, w2), name)


@pytest.mark.parametrize("bounds", [(10, 1), (0, 1), (-1, 1), (1, np.inf), (np.nan, 1), (1,),
                                    "ab", None, (1, 1)])
def test_fit_temperature_names_invalid_bounds(bounds):
    s = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.5]])
    expect_error(lambda: fit_temperature(s, np.full((2, 3), 1 / 3), bounds=bounds), "bounds")


# --------------------------------------------------------------------------- sampling
@fuzz
@given(n=st.integers(3, 30), m=st.integers(1, 40), seed=st.integers(0, 2**16),
       method=st.sampled_from(["random", "within_class", "between_class", "class_boundary",
                               "cluster_border"]),
       container=st.sampled_from(["numpy", "list", "torch", "pandas"]))
def test_sample_triplets_gives_valid_triplets_or_a_named_error(n, m, seed, method, container):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, max(1, n // 3), n)
    features = rng.randn(n, 3)
    wrap = {"numpy": np.asarray, "list": lambda a: a.tolist(), "torch": torch.as_tensor,
            "pandas": lambda a: pd.DataFrame(a) if a.ndim == 2 else pd.Series(a)}[container]
    out = run(lambda: sample_triplets(n, m, method=method, labels=wrap(labels),
                                      features=wrap(features), random_state=seed))
    if out.error is not None:  # the labels or features cannot make such triplets
        assert any(w in str(out.error) for w in ("labels", "class", "features", "n_clusters")), out
        return
    T = np.asarray(out.value)
    assert T.shape == (m, 3) and T.dtype == np.int64
    assert ((T >= 0) & (T < n)).all()
    assert (T[:, 0] != T[:, 1]).all() and (T[:, 0] != T[:, 2]).all() and (T[:, 1] != T[:, 2]).all()
    L = labels[T]
    if method == "within_class":
        assert (L[:, 0] == L[:, 1]).all() and (L[:, 1] == L[:, 2]).all()
    elif method == "between_class":
        assert (L[:, 0] != L[:, 1]).all() and (L[:, 0] != L[:, 2]).all()
        assert (L[:, 1] != L[:, 2]).all()
    elif method == "class_boundary":
        assert (L[:, 0] == L[:, 1]).all() and (L[:, 2] != L[:, 0]).all()


@pytest.mark.parametrize("n_objects, n_triplets, name", [
    (2, 5, "n_objects"), (0, 5, "n_objects"), (-3, 5, "n_objects"), (2.5, 5, "n_objects"),
    ("10", 5, "n_objects"), (None, 5, "n_objects"), (10, 0, "n_triplets"),
    (10, -1, "n_triplets"), (10, 1.5, "n_triplets"), (10, True, "n_triplets")])
def test_sample_triplets_names_invalid_sizes(n_objects, n_triplets, name):
    expect_error(lambda: sample_triplets(n_objects, n_triplets), name)


@pytest.mark.parametrize("variant", ["nan", "inf", "complex", "strings", "1-d", "3-d",
                                     "no-columns", "torch-nan", "torch-complex"])
def test_cluster_border_names_invalid_features(variant):
    X = np.random.RandomState(0).randn(12, 3)
    expect_error(lambda: sample_triplets(12, 5, method="cluster_border",
                                         features=INVALID[variant](X)), "features")


# --------------------------------------------------------------------------- RDM triplets
@pytest.mark.parametrize("scale", ["std", None])
@fuzz
@given(X=tables(min_rows=4, max_rows=10), temperature=st.sampled_from([0.3, 1.0, 5.0]),
       k=st.sampled_from([-100, 0, 100]), square=st.booleans(),
       container=st.sampled_from(["numpy", "list", "torch"]))
def test_rdm_triplets_agree_with_the_oracle(scale, X, temperature, k, square, container):
    d = ref.rdm(X, "euclidean") * 10.0**k
    n = len(X)
    T = np.array([[i, j, m] for i in range(n) for j in range(i + 1, n)
                  for m in range(j + 1, n)])[:30]
    R = squareform(d) if square else d
    wrap = {"numpy": np.asarray, "list": lambda a: a.tolist(), "torch": torch.as_tensor}
    out = run(lambda: rdm_triplets(wrap[container](R), triplets=T, temperature=temperature,
                                   scale=scale))
    if scale is None and k != 0:  # the softmax of raw distances at 1e100 is all-or-nothing
        assert out.error is None or "temperature" in str(out.error) or "rdms" in str(out.error)
        return
    assert out.error is None, out
    T_out, P = out.value
    np.testing.assert_array_equal(T_out, T)
    D = squareform(d) / (d.std() if scale == "std" else 1.0)
    z = -np.array([[D[j, m], D[i, m], D[i, j]] for i, j, m in T]) / temperature
    z -= z.max(1, keepdims=True)
    want = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(P, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("variant", ["nan", "inf", "complex", "strings", "objects", "empty",
                                     "none", "scalar", "ragged", "asymmetric", "torch-nan",
                                     "torch-complex", "no-columns"])
def test_rdm_triplets_name_invalid_rdms(variant):
    D = squareform(ref.rdm(np.random.RandomState(0).randn(6, 3), "euclidean"))
    if variant == "asymmetric":
        bad = D + np.triu(np.ones_like(D), 1)
    else:
        bad = INVALID[variant](D)
    expect_error(lambda: rdm_triplets(bad, 5, random_state=0), "rdms", "RDM")


# --------------------------------------------------------------------------- calibration
@st.composite
def predictions(draw):
    n = draw(st.integers(1, 40))
    c = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    sharp = draw(st.sampled_from([0.2, 1.0, 20.0]))
    P = rng.dirichlet(np.full(c, sharp), n)
    return rng.randint(0, c, n), P


@pytest.mark.parametrize("variant", ["numpy", "list", "pandas", "torch", "float32", "fortran"])
@fuzz
@given(yP=predictions(), n_bins=st.integers(1, 15))
def test_ece_agrees_with_the_oracle(variant, yP, n_bins):
    y, P = yP
    make = {"numpy": np.asarray, "list": lambda a: a.tolist(), "pandas": pd.DataFrame,
            "torch": torch.as_tensor, "float32": lambda a: a.astype(np.float32),
            "fortran": np.asfortranarray}[variant]
    wrap_y = {"pandas": pd.Series, "torch": torch.as_tensor, "list": list}.get(variant, np.asarray)
    out = run(lambda: expected_calibration_error(wrap_y(y), make(P), n_bins=n_bins))
    if variant == "float32":  # the rounded probabilities are the input
        P = P.astype(np.float32).astype(np.float64)
    assert out.error is None, out
    assert 0.0 <= out.value <= 1.0
    # (a confidence on a bin edge may fall either side of it after float32 rounding)
    if variant != "float32":
        assert out.value == pytest.approx(ref.ece(y, P, n_bins), abs=1e-12)
    expect_same(lambda: reliability_curve(wrap_y(y), make(P), n_bins=n_bins),
                lambda: reliability_curve(y, P, n_bins=n_bins), rtol=1e-6, atol=1e-6)


BAD_PROBA = {
    "nan": (lambda y, P: (y, np.where(P == P.max(), np.nan, P)), "y_prob"),
    "inf": (lambda y, P: (y, np.where(P == P.max(), np.inf, P)), "y_prob"),
    "negative": (lambda y, P: (y, P - 0.5), "y_prob"),
    "not-summing": (lambda y, P: (y, P * 0.5), "y_prob"),
    "complex": (lambda y, P: (y, P + 0j), "y_prob"),
    "strings": (lambda y, P: (y, P.astype(str)), "y_prob"),
    "3-d": (lambda y, P: (y, P[None]), "y_prob"),
    "empty": (lambda y, P: (y[:0], P[:0]), "y_prob"),
    "one-column": (lambda y, P: (y, P[:, :1]), "y_prob"),
    "mismatched": (lambda y, P: (y[1:], P), "y_true"),
    "too-many-labels": (lambda y, P: (np.arange(len(y)) + 100, P), "y_true"),
    "nan-label": (lambda y, P: (np.where(y == y[0], np.nan, y), P), "y_true"),
    "2-d-labels": (lambda y, P: (np.stack([y, y], 1), P), "y_true"),
}


@pytest.mark.parametrize("variant", list(BAD_PROBA))
@fuzz
@given(yP=predictions())
def test_calibration_names_invalid_input(variant, yP):
    y, P = yP
    make, name = BAD_PROBA[variant]
    y2, P2 = make(y, P)
    if (variant == "mismatched" and len(y) == 1) or (
            variant == "too-many-labels" and len(y) <= P.shape[1]):
        return
    expect_error(lambda: expected_calibration_error(y2, P2), name)
    expect_error(lambda: reliability_curve(y2, P2), name)


@pytest.mark.parametrize("n_bins, strategy", [(0, "uniform"), (-2, "uniform"), (2.5, "uniform"),
                                              ("5", "uniform"), (5, "log"), (True, "uniform")])
def test_calibration_names_invalid_binning(n_bins, strategy):
    y, P = np.array([0, 1]), np.array([[0.8, 0.2], [0.4, 0.6]])
    expect_error(lambda: expected_calibration_error(y, P, n_bins=n_bins, strategy=strategy),
                 "n_bins", "strategy")
