"""Fuzzing the triplet estimators, whose samples are triplets (so scikit-learn's common checks,
which fit on (n, k) tables, pass them by): altered triplets, targets and features give the
clean fit; invalid ones give named errors, at fit and after."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reprlign import HumanAlignFinetuner, HumanAlignTransformer

from .oracle import EQUIVALENT, INVALID, SINGLE, expect_error, expect_same, few

N_OBJECTS, D = 10, 4


@st.composite
def problems(draw):
    """Features of 10 objects, 12-30 triplets among them and soft targets."""
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    F = rng.randn(N_OBJECTS, D) * draw(st.sampled_from([1.0, 1e-3, 1e3]))
    m = draw(st.integers(12, 30))
    T = np.array([rng.choice(N_OBJECTS, 3, replace=False) for _ in range(m)])
    return F, T, rng.dirichlet(np.ones(3), m)


def _transformer(F, T, y=None):
    est = HumanAlignTransformer(F, max_epochs=3, random_state=0).fit(T, y)
    return {"Z": est.transform(F), "proba": est.predict_proba(T), "score": est.score(T, y)}


def _finetuner(F, T, y=None):
    net = torch.nn.Sequential(torch.nn.Linear(D, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net.apply(lambda m: m.reset_parameters() if hasattr(m, "reset_parameters") else None)
    est = HumanAlignFinetuner(net, inputs=F, max_epochs=2, early_stopping=False,
                              random_state=0).fit(T, y)
    return {"Z": est.transform(np.arange(N_OBJECTS)), "proba": est.predict_proba(T)}


ESTIMATORS = {"transformer": _transformer, "finetuner": _finetuner}

# Triplets in other containers and integer types: the same fit.
TRIPLET_EQUIVALENT = {
    "list": lambda T: T.tolist(),
    "int32": lambda T: T.astype(np.int32),
    "uint8": lambda T: T.astype(np.uint8),
    "fortran": np.asfortranarray,
    "pandas": EQUIVALENT["pandas"][0],
    "torch": torch.as_tensor,
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("variant", list(TRIPLET_EQUIVALENT))
@few
@given(problem=problems())
def test_triplets_in_any_container_give_the_clean_fit(name, variant, problem):
    F, T, y = problem
    make = TRIPLET_EQUIVALENT[variant]
    expect_same(lambda: ESTIMATORS[name](F, make(T), y), lambda: ESTIMATORS[name](F, T, y),
                rtol=1e-6, atol=1e-7)


FEATURE_VARIANTS = [v for v in EQUIVALENT if "16" not in v and "int" not in v]


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("variant", FEATURE_VARIANTS)
@few
@given(problem=problems())
def test_features_in_any_container_give_the_clean_fit(name, variant, problem):
    F, T, y = problem
    make, clean, (rtol, atol) = EQUIVALENT[variant]
    if rtol == SINGLE[0]:  # float32 features are fitted in float32
        rtol, atol = 5e-3, 5e-3
    else:
        rtol, atol = 1e-6, 1e-7
    expect_same(lambda: ESTIMATORS[name](make(F), T, y),
                lambda: ESTIMATORS[name](clean(F), T, y), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("variant", [v for v in INVALID if v not in ("none",)])
@few
@given(problem=problems())
def test_invalid_features_are_named(name, variant, problem):
    F, T, y = problem
    expect_error(lambda: ESTIMATORS[name](INVALID[variant](F), T, y), "features", "inputs")


BAD_TRIPLETS = {
    "out-of-range": lambda T: np.vstack([T, [[0, 1, N_OBJECTS]]]),
    "negative": lambda T: np.vstack([T, [[0, 1, -1]]]),
    "repeated-object": lambda T: np.vstack([T, [[0, 0, 1]]]),
    "fractional": lambda T: T + 0.5,
    "two-columns": lambda T: T[:, :2],
    "four-columns": lambda T: np.column_stack([T, T[:, 0]]),
    "empty": lambda T: T[:0],
    "integral-floats": lambda T: T.astype(float),  # indices are integers, as in numpy
    "nan": lambda T: np.vstack([T.astype(float), [[0, 1, np.nan]]]),
    "complex": lambda T: T + 0j,
    "strings": lambda T: T.astype(str),
    "objects": lambda T: T.astype(object),
    "1-d": lambda T: T[:, 0],
    "bool": lambda T: T > 3,
    "ragged": lambda T: [[0, 1, 2], [3, 4]],
    "none": lambda T: None,
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("variant", list(BAD_TRIPLETS))
@few
@given(problem=problems())
def test_invalid_triplets_are_named(name, variant, problem):
    F, T, y = problem
    bad = BAD_TRIPLETS[variant](T)
    out = expect_error(lambda: ESTIMATORS[name](F, bad, None), "X", "triplet")
    assert "Traceback" not in str(out.error)


BAD_TARGETS = {
    "too-few-rows": lambda y: y[:-1],
    "two-columns": lambda y: y[:, :2],
    "negative": lambda y: np.vstack([y[:-1], [[1.2, -0.1, -0.1]]]),
    "not-summing-to-one": lambda y: y * 2,
    "nan": lambda y: np.vstack([y[:-1], [[np.nan, 0.5, 0.5]]]),
    "complex": lambda y: y + 0j,
    "strings": lambda y: y.astype(str),
    "3-d": lambda y: y[None],
    "labels-out-of-range": lambda y: np.full(len(y), 3),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("variant", list(BAD_TARGETS))
@few
@given(problem=problems())
def test_invalid_targets_are_named(name, variant, problem):
    F, T, y = problem
    expect_error(lambda: ESTIMATORS[name](F, T, BAD_TARGETS[variant](y)), "y")


@pytest.mark.parametrize("variant", list(BAD_TRIPLETS))
def test_fitted_transformer_names_invalid_triplets(variant):
    rng = np.random.RandomState(0)
    F = rng.randn(N_OBJECTS, D)
    T = np.array([rng.choice(N_OBJECTS, 3, replace=False) for _ in range(20)])
    est = HumanAlignTransformer(F, max_epochs=2, temperature=1.0, random_state=0).fit(T)
    bad = BAD_TRIPLETS[variant](T)
    for method in ("predict_proba", "predict", "score"):
        expect_error(lambda m=method: getattr(est, m)(bad), "X", "triplet")


@pytest.mark.parametrize("variant", [v for v in INVALID if v not in ("none", "scalar")])
def test_fitted_transformer_names_invalid_features_to_transform(variant):
    rng = np.random.RandomState(0)
    F = rng.randn(N_OBJECTS, D)
    T = np.array([rng.choice(N_OBJECTS, 3, replace=False) for _ in range(20)])
    est = HumanAlignTransformer(F, max_epochs=2, temperature=1.0, random_state=0).fit(T)
    expect_error(lambda: est.transform(INVALID[variant](F)), "X")
    expect_error(lambda: est.transform(F[:, :-1]), "features", "X")
