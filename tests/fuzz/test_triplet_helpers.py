"""Fuzzing the rest of the triplet toolbox: predictions, choice probabilities and KL, the
canonical form, repeats, levels, the THINGS reader and the teacher chain. Altered input gives
the clean result (or the float64 oracle's), invalid input a named error."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reprlign import teacher_triplets, things_levels
from reprlign.triplets import (
    aggregate_triplets,
    canonicalize,
    choice_kl,
    choice_probabilities,
    from_things,
    noise_ceiling,
    odd_one_out_accuracy,
    odd_one_out_correct,
    predict_odd_one_out,
    read_triplets,
    simulate_choices,
    triplet_groups,
    triplet_levels,
    validate_triplets,
)

from . import oracle as ref
from .oracle import EQUIVALENT, INVALID, expect_error, expect_same, few, fuzz, run
from .test_triplets import BAD_TRIPLETS, features_and_triplets

LOW_PRECISION = ("int", "16", "32")  # variants whose similarities may tie or swap order


# --------------------------------------------------------------------------- predictions
@pytest.mark.parametrize("similarity", ["dot", "cosine"])
@pytest.mark.parametrize("variant", list(EQUIVALENT))
@few
@given(ZT=features_and_triplets(), k=st.sampled_from([-170, 0, 170]), seed=st.integers(0, 99))
def test_predictions_agree_with_the_oracle_at_any_scale(variant, similarity, ZT, k, seed):
    """The order of a triplet's similarities does not depend on the scale of Z: no under- or
    overflow of squared norms and dot products at 1e-170 or 1e170."""
    make, clean, _ = EQUIVALENT[variant]
    Z, T = ZT
    if k and (variant.endswith(("16", "32")) or "int" in variant):
        return  # (beyond the range of these dtypes)
    Z = Z * 10.0**k
    y = np.random.RandomState(seed).randint(0, 3, len(T))
    out = run(lambda: odd_one_out_correct(make(Z), T, y, similarity=similarity))
    if similarity == "cosine" and not np.abs(clean(Z))[np.unique(T)].max(axis=1).all():
        assert out.error is not None and "all-zero row" in str(out.error), out
        return
    assert out.error is None, out
    acc, _ = ref.odd_one_out(clean(Z), T, y, similarity=similarity)
    if not any(p in variant for p in LOW_PRECISION):
        assert out.value.mean() == pytest.approx(acc, abs=1e-12)
        S = ref.triplet_similarities(ref.unit(clean(Z)), T, similarity)
        np.testing.assert_array_equal(
            run(lambda: predict_odd_one_out(make(Z), T, similarity=similarity)).value,
            S.argmax(axis=1))
    expect_same(lambda: odd_one_out_accuracy(make(Z), T, y, similarity=similarity),
                lambda: float(np.mean(out.value)))


@pytest.mark.parametrize("similarity", ["dot", "cosine"])
@pytest.mark.parametrize("variant", [v for v in EQUIVALENT if "16" not in v])
@few
@given(ZT=features_and_triplets(), temperature=st.sampled_from([1e-6, 0.3, 1.0, 50.0]))
def test_choice_probabilities_agree_with_the_oracle(variant, similarity, ZT, temperature):
    make, clean, (rtol, atol) = EQUIVALENT[variant]
    Z, T = ZT
    out = run(lambda: choice_probabilities(make(Z), T, similarity=similarity,
                                           temperature=temperature))
    if similarity == "cosine" and not np.abs(clean(Z))[np.unique(T)].max(axis=1).all():
        assert out.error is not None and "all-zero row" in str(out.error), out
        return
    assert out.error is None, out
    S = ref.triplet_similarities(clean(Z), T, similarity) / temperature
    want = np.exp(S - S.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(out.value.sum(1), 1.0, rtol=1e-5)
    if temperature >= 0.3 and not any(p in variant for p in LOW_PRECISION):
        np.testing.assert_allclose(out.value, want, rtol=max(rtol, 1e-9), atol=max(atol, 1e-12))


@pytest.mark.parametrize("container", ["numpy", "torch", "float32"])
@pytest.mark.parametrize("call", ["similarities", "probabilities", "simulate"])
def test_dot_products_beyond_the_range_are_named(container, call):
    """Features near 1e160 (1e20 in float32) have dot products beyond the dtype's range: a
    named error, not NaN probabilities and overflow warnings."""
    from reprlign.triplets import triplet_similarities

    Z = np.random.RandomState(0).randn(6, 3) * (1e20 if container == "float32" else 1e160)
    Z = {"numpy": np.asarray, "torch": torch.as_tensor,
         "float32": lambda a: a.astype(np.float32)}[container](Z)
    T = np.array([[0, 1, 2], [3, 4, 5]])
    fn = {"similarities": triplet_similarities, "probabilities": choice_probabilities,
          "simulate": lambda Z, T: simulate_choices(Z, T, random_state=0)}[call]
    out = expect_error(lambda: fn(Z, T), "Z")
    assert "overflow" in str(out.error)
    # ... while the functions that only compare similarities work at any scale
    assert run(lambda: odd_one_out_accuracy(Z, T)).error is None


@pytest.mark.parametrize("variant", [v for v in INVALID if v not in ("empty",)])
@fuzz
@given(ZT=features_and_triplets())
def test_prediction_functions_name_invalid_features(variant, ZT):
    Z, T = ZT
    bad = INVALID[variant](Z)
    for fn in (predict_odd_one_out, odd_one_out_correct, odd_one_out_accuracy,
               choice_probabilities, simulate_choices):
        expect_error(lambda fn=fn: fn(bad, T), "Z")


@pytest.mark.parametrize("variant", list(BAD_TRIPLETS))
@fuzz
@given(ZT=features_and_triplets())
def test_invalid_triplets_are_named_everywhere(variant, ZT):
    Z, T = ZT
    bad = BAD_TRIPLETS[variant](T, len(Z))
    labels = np.arange(len(Z)) % 3
    knowing_n = [lambda: validate_triplets(bad, len(Z)), lambda: predict_odd_one_out(Z, bad),
                 lambda: odd_one_out_correct(Z, bad),
                 lambda: simulate_choices(Z, bad, random_state=0),
                 lambda: triplet_levels(bad, labels, labels)]
    # (without the number of objects, an index past the last object is no error)
    others = [lambda: triplet_groups(bad), lambda: aggregate_triplets(bad),
              lambda: noise_ceiling(bad), lambda: canonicalize(bad, np.zeros(len(T), int))]
    for call in knowing_n + ([] if variant == "out-of-range" else others):
        out = expect_error(call, "triplets")
        if variant in ("strings", "complex"):  # never parsed or cut to the real part
            assert isinstance(out.error, TypeError), out


BAD_POSITIONS = {
    "float": (lambda y: y + 0.5, ValueError), "float-integral": (lambda y: y * 1.0, ValueError),
    "nan": (lambda y: np.where(y == y[0], np.nan, y), ValueError),
    "three": (lambda y: np.where(y == y[0], 3, y), ValueError),
    "negative": (lambda y: np.where(y == y[0], -1, y), ValueError),
    "bool": (lambda y: y > 0, ValueError), "short": (lambda y: y[1:], ValueError),
    "2-d": (lambda y: y[:, None], ValueError), "scalar": (lambda y: 1, ValueError),
    "distributions": (lambda y: np.eye(3)[y], ValueError),
    "strings": (lambda y: y.astype(str), TypeError), "complex": (lambda y: y + 0j, TypeError),
    "objects": (lambda y: y.astype(object), TypeError), "none-string": (lambda y: "1", TypeError),
    "torch-float": (lambda y: torch.as_tensor(y * 1.0), ValueError),
}


@pytest.mark.parametrize("variant", list(BAD_POSITIONS))
@fuzz
@given(ZT=features_and_triplets())
def test_invalid_odd_positions_are_named(variant, ZT):
    Z, T = ZT
    y = np.arange(len(T)) % 3
    make, kind = BAD_POSITIONS[variant]
    bad = make(y)
    for call, name in [(lambda: canonicalize(T, bad), "odd_position"),
                       (lambda: aggregate_triplets(T, bad), "y"),
                       (lambda: odd_one_out_correct(Z, T, bad), "y"),
                       (lambda: odd_one_out_accuracy(Z, T, bad), "y")]:
        out = expect_error(call, name)
        assert isinstance(out.error, kind), out


@pytest.mark.parametrize("container", ["list", "torch", "pandas", "uint8"])
@fuzz
@given(ZT=features_and_triplets(), seed=st.integers(0, 99))
def test_triplet_containers_give_the_clean_result(container, ZT, seed):
    Z, T = ZT
    y = np.random.RandomState(seed).randint(0, 3, len(T))
    wrap = {"list": lambda a: a.tolist(), "torch": torch.as_tensor,
            "pandas": lambda a: pd.DataFrame(a, index=np.arange(len(a)) + 5) if a.ndim == 2
            else pd.Series(a, index=np.arange(len(a)) + 5),
            "uint8": lambda a: a.astype(np.uint8)}[container]
    for fn in (lambda t, y: canonicalize(t, y), lambda t, y: aggregate_triplets(t, y),
               lambda t, y: triplet_groups(t), lambda t, y: odd_one_out_correct(Z, t, y),
               lambda t, y: simulate_choices(Z, t, random_state=seed)):
        expect_same(lambda fn=fn: fn(wrap(T), wrap(y)), lambda fn=fn: fn(T, y))


# --------------------------------------------------------------------------- simulate
@fuzz
@given(ZT=features_and_triplets(), seed=st.integers(0, 2**16),
       temperature=st.sampled_from([1e-9, 1.0, 1e6]))
def test_simulate_choices_is_seeded_and_canonical(ZT, seed, temperature):
    Z, T = ZT
    a = run(lambda: simulate_choices(Z, T, temperature=temperature, random_state=seed))
    b = run(lambda: simulate_choices(Z, T, temperature=temperature,
                                     random_state=np.random.RandomState(seed)))
    assert a.error is None, a
    np.testing.assert_array_equal(a.value, b.value)
    np.testing.assert_array_equal(np.sort(a.value, axis=1), np.sort(T, axis=1))
    if temperature == 1e-9:  # the deterministic answer: the most similar pair is kept
        S = ref.triplet_similarities(Z, T)
        clear = np.sort(S, axis=1)[:, -1] - np.sort(S, axis=1)[:, -2] > 1e-6
        odd = T[np.arange(len(T)), S.argmax(axis=1)]
        np.testing.assert_array_equal(a.value[clear, 2], odd[clear])


@pytest.mark.parametrize("random_state", ["seed", -1, 2.5, 2**40, True, torch.Generator()])
def test_simulate_choices_names_random_state(random_state):
    Z, T = np.eye(4), np.array([[0, 1, 2]])
    expect_error(lambda: simulate_choices(Z, T, random_state=random_state), "random_state")


# --------------------------------------------------------------------------- choice_kl
def _kl(p, q, eps):
    q = np.maximum(q, eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.where(p > 0, p * (np.log(p) - np.log(q)), 0).sum(1).mean())


@st.composite
def distributions(draw):
    m = draw(st.integers(1, 15))
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    p, q = rng.dirichlet(np.ones(3), m), rng.dirichlet(np.ones(3) * 0.3, m)
    zeros = draw(st.sampled_from(["none", "target", "proba", "both"]))
    if zeros in ("target", "both"):
        p[0] = [0.0, 0.25, 0.75]
    if zeros in ("proba", "both"):
        q[-1] = [0.0, 0.0, 1.0]
    return p, q


@pytest.mark.parametrize("container", ["numpy", "list", "pandas", "torch", "float32",
                                       "torch-grad"])
@fuzz
@given(pq=distributions(), eps=st.sampled_from([1e-12, 0.0, 1e-3]))
def test_choice_kl_agrees_with_the_oracle(container, pq, eps):
    p, q = pq
    wrap = {"numpy": np.asarray, "list": lambda a: a.tolist(), "pandas": pd.DataFrame,
            "torch": torch.as_tensor, "float32": lambda a: a.astype(np.float32),
            "torch-grad": lambda a: torch.tensor(a, requires_grad=True)}[container]
    out = run(lambda: choice_kl(wrap(p), wrap(q), eps=eps))
    assert out.error is None, out
    if container == "float32":
        p, q = p.astype(np.float32).astype(float), q.astype(np.float32).astype(float)
    want = _kl(p, q, eps)
    floored = ((p > 0) & ((q < eps) | (q == 0))).any()
    assert any("below eps" in w for w in out.warnings) == floored, out
    if np.isinf(want):
        assert out.value == np.inf
    else:
        assert out.value == pytest.approx(want, rel=1e-9, abs=1e-12)


BAD_DISTRIBUTIONS = {
    "nan": (lambda p: np.where(p == p.max(), np.nan, p), ValueError),
    "inf": (lambda p: np.where(p == p.max(), np.inf, p), ValueError),
    "negative": (lambda p: p - 0.5, ValueError), "not-summing": (lambda p: p * 2, ValueError),
    "two-columns": (lambda p: p[:, :2], ValueError), "1-d": (lambda p: p[0], ValueError),
    "3-d": (lambda p: p[None], ValueError), "empty": (lambda p: p[:0], ValueError),
    "ragged": (lambda p: [[0.5, 0.5], [1.0, 0.0, 0.0]], ValueError),
    "strings": (lambda p: p.astype(str), TypeError),
    "complex": (lambda p: p + 0j, TypeError), "objects": (lambda p: p.astype(object), TypeError),
    "none": (lambda p: None, TypeError), "dict": (lambda p: {}, TypeError),
    "torch-complex": (lambda p: torch.as_tensor(p) + 0j, TypeError),
}


@pytest.mark.parametrize("variant", list(BAD_DISTRIBUTIONS))
@fuzz
@given(pq=distributions())
def test_choice_kl_names_invalid_distributions(variant, pq):
    p, q = pq
    make, kind = BAD_DISTRIBUTIONS[variant]
    for call, name in [(lambda: choice_kl(make(p), q), "target"),
                       (lambda: choice_kl(p, make(q)), "proba")]:
        out = expect_error(call, name)
        assert isinstance(out.error, kind), out
    if len(p) > 1:
        expect_error(lambda: choice_kl(p[1:], q), "target", "proba")


@pytest.mark.parametrize("eps", [-1e-12, 1.0, 2.0, np.nan, np.inf, "1e-12", None, True])
def test_choice_kl_names_eps(eps):
    p = np.full((2, 3), 1 / 3)
    expect_error(lambda: choice_kl(p, p, eps=eps), "eps")


# --------------------------------------------------------------------------- repeats
@st.composite
def repeated_triplets(draw):
    """A few distinct triplets answered several times, objects in shuffled order."""
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    n, u = draw(st.integers(3, 8)), draw(st.integers(1, 5))
    sets = np.array([rng.choice(n, 3, replace=False) for _ in range(u)])
    rows = sets[rng.randint(0, u, draw(st.integers(1, 25)))]
    rows = np.array([rng.permutation(r) for r in rows])
    return rows, rng.randint(0, 3, len(rows))


def _noise_ceiling(T, y):
    """Leave-one-out majority of the other responses to the same set, ties in expectation."""
    odd = T[np.arange(len(T)), y]
    keys = [tuple(sorted(r)) for r in T]
    scores = []
    for i, key in enumerate(keys):
        others = [odd[j] for j in range(len(T)) if j != i and keys[j] == key]
        if others:
            counts = {o: others.count(o) for o in key}
            top = max(counts.values())
            best = [o for o in key if counts[o] == top]
            scores.append((odd[i] in best) / len(best))
    return float(np.mean(scores)) if scores else None


@fuzz
@given(Ty=repeated_triplets())
def test_repeats_agree_with_the_oracle(Ty):
    T, y = Ty
    keys = [frozenset(r) for r in T]
    groups = run(lambda: triplet_groups(T)).value
    for i in range(len(T)):  # same id exactly for the same three objects
        assert ((groups == groups[i]) == np.array([k == keys[i] for k in keys])).all()
    canon = run(lambda: canonicalize(T, y)).value
    np.testing.assert_array_equal(canon[:, 2], T[np.arange(len(T)), y])
    np.testing.assert_array_equal(np.sort(canon, 1), np.sort(T, 1))
    unique, proba, counts, inverse = run(lambda: aggregate_triplets(T, y,
                                                                    return_inverse=True)).value
    assert counts.sum() == len(T) and len(unique) == len(set(keys))
    np.testing.assert_allclose(proba.sum(1), 1.0)
    odd = T[np.arange(len(T)), y]
    for r in range(len(unique)):  # each position's count: the responses naming that object
        rows = inverse == r
        assert frozenset(unique[r]) == keys[np.argmax(rows)]
        for q in range(3):
            assert counts[r, q] == (odd[rows] == unique[r, q]).sum()
    want = _noise_ceiling(T, y)
    out = run(lambda: noise_ceiling(T, y))
    if want is None:
        assert out.error is not None and "triplets" in str(out.error), out
    else:
        assert out.value == pytest.approx(want, abs=1e-12)
        single = sum(keys.count(k) == 1 for k in keys)
        assert any("answered only once" in w for w in out.warnings) == (single > 0)


@pytest.mark.parametrize("flag", ["yes", None, 1, 0.0])
def test_boolean_switches_are_named(flag):
    T = np.array([[0, 1, 2]])
    expect_error(lambda: aggregate_triplets(T, return_inverse=flag), "return_inverse")
    expect_error(lambda: from_things([[1, 2, 3, 1]], one_based=flag), "one_based")


# --------------------------------------------------------------------------- levels
MISSING = [None, np.nan, pd.NA, float("nan")]


@fuzz
@given(seed=st.integers(0, 2**16), n=st.integers(4, 12), m=st.integers(1, 20),
       container=st.sampled_from(["numpy", "list", "pandas", "torch", "strings"]),
       missing=st.booleans())
def test_triplet_levels_agree_with_the_oracle(seed, n, m, container, missing):
    rng = np.random.RandomState(seed)
    coarse = rng.randint(0, 3, n)
    fine = coarse * 10 + rng.randint(0, 2, n)
    T = np.array([rng.choice(n, 3, replace=False) for _ in range(m)])
    c_obj, f_obj = list(coarse), list(fine)
    if missing:  # missing labels: an object outside the hierarchy
        c_obj[0], f_obj[1] = MISSING[seed % 4], MISSING[(seed + 1) % 4]
        container = "objects"
    wrap = {"numpy": np.asarray, "list": list, "pandas": pd.Series, "torch": torch.as_tensor,
            "strings": lambda a: np.asarray(a).astype(str),
            "objects": lambda a: pd.Series(a, dtype=object)}[container]
    out = run(lambda: triplet_levels(T, wrap(c_obj if missing else coarse),
                                     wrap(f_obj if missing else fine)))
    assert out.error is None, out
    for row, level in zip(T, out.value, strict=True):
        if missing and (0 in row or (1 in row and len(set(coarse[row])) == 1)):
            assert level == "other"
            continue
        nc, nf = len(set(coarse[row])), len(set(fine[row]))
        want = {3: "coarse", 2: "class_boundary"}.get(nc, "subordinate" if nf == 2 else "other")
        assert level == want


@pytest.mark.parametrize("threshold", [0, -0.5, 1.5, np.nan, "0.5", None, True])
def test_things_levels_names_threshold(threshold):
    expect_error(lambda: things_levels(threshold=threshold), "threshold")


# --------------------------------------------------------------------------- THINGS files
@st.composite
def things_rows(draw):
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    m = draw(st.integers(1, 12))
    objects = np.array([rng.choice(np.arange(1, 30), 3, replace=False) for _ in range(m)])
    return np.column_stack([objects, rng.randint(1, 4, m), rng.randint(0, 9, m)])


@fuzz
@given(raw=things_rows(), container=st.sampled_from(["numpy", "list", "pandas", "torch"]))
def test_from_things_and_read_triplets_agree(tmp_path_factory, raw, container):
    wrap = {"numpy": np.asarray, "list": lambda a: a.tolist(), "pandas": pd.DataFrame,
            "torch": torch.as_tensor}[container]
    out = run(lambda: from_things(wrap(raw)))
    assert out.error is None, out
    T = out.value
    np.testing.assert_array_equal(T[:, 2], raw[np.arange(len(raw)), raw[:, 3] - 1] - 1)
    np.testing.assert_array_equal(np.sort(T, 1), np.sort(raw[:, :3], 1) - 1)
    np.testing.assert_array_equal(from_things(raw - [1, 1, 1, 0, 0], one_based=False), T)
    path = tmp_path_factory.mktemp("things") / "triplets.txt"
    path.write_text("# obj1 obj2 obj3 choice participant\n"
                    + "\n".join("\t".join(map(str, r)) for r in raw) + "\n")
    np.testing.assert_array_equal(read_triplets(path), T)
    np.testing.assert_array_equal(read_triplets(str(path)), T)
    canon = path.with_name("canonical.txt")
    canon.write_text("\n".join(" ".join(map(str, r)) for r in T))
    np.testing.assert_array_equal(read_triplets(canon, format="canonical"), T)


BAD_FILES = {
    "empty": "", "comments-only": "# nothing\n# here\n", "garbage": "hello world\n",
    "floats": "1.5 2 3 1\n", "three-columns": "1 2 3\n4 5 6\n", "ragged": "1 2 3 1\n1 2 3\n",
    "choice-4": "1 2 3 4\n", "object-0": "0 2 3 1\n", "negative": "-1 2 3 1\n",
    "repeated-object": "1 1 3 1\n", "nan": "1 2 nan 1\n", "csv": "1,2,3,1\n",
    "header": "a b c d\n1 2 3 1\n", "huge": "1 2 99999999999999999999 1\n",
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_triplet_files_are_named(tmp_path, case):
    path = tmp_path / f"{case}.txt"
    path.write_text(BAD_FILES[case])
    for fmt in ("things", "canonical"):
        if case == "three-columns" and fmt == "canonical":
            continue  # (a valid canonical file)
        out = expect_error(lambda fmt=fmt: read_triplets(path, format=fmt), str(path))
        assert not out.warnings, out


def test_missing_files_and_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_triplets(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="a directory"):
        read_triplets(tmp_path)
    for path in (None, 3, ["a.txt"]):
        expect_error(lambda path=path: read_triplets(path), "path")
    expect_error(lambda: read_triplets(tmp_path / "nope.txt", format="csv"), "format")


BAD_RAW = {
    "choice-0": ([[1, 2, 3, 0]], ValueError), "object-0": ([[0, 2, 3, 1]], ValueError),
    "repeated": ([[1, 1, 3, 1]], ValueError), "three-columns": ([[1, 2, 3]], ValueError),
    "floats": ([[1.0, 2, 3, 1]], ValueError), "empty": (np.zeros((0, 4), int), ValueError),
    "1-d": ([1, 2, 3, 1], ValueError), "ragged": ([[1, 2, 3, 1], [1, 2]], ValueError),
    "strings": ([["1", "2", "3", "1"]], TypeError), "complex": ([[1, 2, 3, 1j]], TypeError),
    "none": (None, TypeError),
}


@pytest.mark.parametrize("case", list(BAD_RAW))
def test_from_things_names_raw(case):
    raw, kind = BAD_RAW[case]
    out = expect_error(lambda: from_things(raw), "raw")
    assert isinstance(out.error, kind), out


# --------------------------------------------------------------------------- teacher
@pytest.mark.parametrize("similarity", ["dot", "cosine"])
@pytest.mark.parametrize("variant", ["list", "pandas-index", "strided", "torch", "float32"])
@few
@given(Z=ref.tables(min_rows=6, max_rows=12, min_cols=2), seed=st.integers(0, 2**16),
       method=st.sampled_from(["random", "cluster_border"]))
def test_teacher_triplets_give_the_clean_result(variant, similarity, Z, seed, method):
    make, clean, (rtol, atol) = EQUIVALENT[variant]
    if similarity == "dot" and np.abs(Z).max() > 10:
        Z = Z / np.abs(Z).max()  # (dot probabilities at 1e3 are one-hot either way)
    call = lambda Z: teacher_triplets(Z, 7, method=method, similarity=similarity,  # noqa: E731
                                      temperature=0.5, random_state=seed)
    out = expect_same(lambda: call(make(Z)), lambda: call(clean(Z)),
                      rtol=max(rtol, 1e-9), atol=max(atol, 1e-12))
    if out.error is None:  # seeded: the same draw again
        np.testing.assert_array_equal(call(clean(Z))[0], out.value[0])


@pytest.mark.parametrize("variant", [v for v in INVALID if v != "empty"])
def test_teacher_triplets_names_invalid_tables(variant):
    Z = np.random.RandomState(0).randn(8, 3)
    expect_error(lambda: teacher_triplets(INVALID[variant](Z), 5, random_state=0), "teacher")


BAD_TEACHER_ARGS = {
    "objects-2d": (dict(objects=[[0, 1], [2, 3]]), "objects"),
    "objects-empty": (dict(objects=np.array([], dtype=int)), "pool"),
    "objects-floats": (dict(objects=[0.0, 1.0, 2.0]), "objects"),
    "objects-strings": (dict(objects=["0", "1", "2"]), "objects"),
    "objects-negative": (dict(objects=[-1, 1, 2]), "objects"),
    "objects-out-of-range": (dict(objects=[0, 1, 99]), "objects"),
    "objects-two": (dict(objects=[0, 1, 1]), "pool"),
    "n_triplets": (dict(n_triplets=0), "n_triplets"),
    "n_triplets-float": (dict(n_triplets=2.5), "n_triplets"),
    "temperature": (dict(temperature=0.0), "temperature"),
    "similarity": (dict(similarity="euclidean"), "similarity"),
    "method": (dict(method="within_class"), "method"),
    "random_state": (dict(random_state="seed"), "random_state"),
    "scale": (dict(teacher_scale=1e160), "teacher"),
}


@pytest.mark.parametrize("case", list(BAD_TEACHER_ARGS))
def test_teacher_triplets_names_invalid_arguments(case):
    kw, name = BAD_TEACHER_ARGS[case]
    kw = dict(kw)
    Z = np.random.RandomState(0).randn(8, 3) * kw.pop("teacher_scale", 1.0)
    n = kw.pop("n_triplets", 5)
    expect_error(lambda: teacher_triplets(Z, n, **kw), name)
