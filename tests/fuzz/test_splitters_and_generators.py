"""Fuzzing the triplet splitters and the synthetic data generators: folds that keep their
promises or a named error, the same seed the same data, bad sizes and labels named."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reprlign.datasets import make_heavy_tailed, make_hierarchical_concepts, make_levels_triplets
from reprlign.model_selection import TripletGroupKFold, TripletObjectKFold
from reprlign.triplets import triplet_levels

from .oracle import expect_error, expect_same, fuzz, run
from .test_triplets import BAD_TRIPLETS

CONTAINERS = {"list": lambda a: a.tolist(), "torch": torch.as_tensor,
              "pandas": lambda a: pd.DataFrame(a, index=np.arange(len(a)) + 3),
              "uint16": lambda a: a.astype(np.uint16), "fortran": np.asfortranarray}


@st.composite
def triplet_sets(draw):
    """Triplets over n objects, repeats included, as sklearn would pass them."""
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    n, m = draw(st.integers(3, 15)), draw(st.integers(1, 60))
    T = np.array([rng.choice(n, 3, replace=False) for _ in range(m)])
    if draw(st.booleans()) and m > 1:  # repeats, in another order
        T[rng.randint(0, m, m // 2)] = T[0][::-1]
    return T


def _splits(cv, X):
    return [[tr.tolist(), te.tolist()] for tr, te in cv.split(X)]


@pytest.mark.parametrize("splitter", [TripletGroupKFold, TripletObjectKFold])
@fuzz
@given(T=triplet_sets(), n_splits=st.integers(2, 5), shuffle=st.booleans(),
       seed=st.integers(0, 2**16))
def test_splitters_keep_their_promises_or_name_the_problem(splitter, T, n_splits, shuffle,
                                                           seed):
    cv = splitter(n_splits, shuffle=shuffle, random_state=seed if shuffle else None)
    out = run(lambda: _splits(cv, T))
    if out.error is not None:  # too few distinct triplets or objects, or an empty fold
        assert "n_splits" in str(out.error) and "X" in str(out.error), out
        return
    folds = out.value
    assert len(folds) == n_splits
    keys = np.array([hash(frozenset(r)) for r in T])
    seen = np.zeros(len(T), dtype=int)
    for train, test in folds:
        train, test = np.array(train, dtype=int), np.array(test, dtype=int)
        assert len(test) and len(train) and not set(train) & set(test)
        seen[test] += 1
        if splitter is TripletGroupKFold:  # repeats never straddle train and test
            assert not set(keys[train]) & set(keys[test])
            assert len(train) + len(test) == len(T)
        else:  # test objects never seen in training
            assert not set(T[train].ravel()) & set(T[test].ravel())
    assert (seen <= 1).all() and (splitter is TripletObjectKFold or (seen == 1).all())
    if splitter is TripletObjectKFold:
        summary = cv.summary(T)
        assert [len(te) for _, te in folds] == summary["n_test"].tolist()
        assert (cv.n_dropped_ == summary["n_dropped"]).all()
    assert _splits(splitter(n_splits, shuffle=shuffle,
                            random_state=seed if shuffle else None), T) == folds


@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("splitter", [TripletGroupKFold, TripletObjectKFold])
@fuzz
@given(T=triplet_sets())
def test_splitters_give_the_clean_folds_for_any_container(splitter, container, T):
    expect_same(lambda: _splits(splitter(2), CONTAINERS[container](T)),
                lambda: _splits(splitter(2), T))


@pytest.mark.parametrize("variant", [v for v in BAD_TRIPLETS if v != "out-of-range"]
                         + ["features", "3-d", "scalar", "ragged"])
@pytest.mark.parametrize("splitter", [TripletGroupKFold, TripletObjectKFold])
def test_splitters_name_X_when_it_is_not_triplets(splitter, variant):
    T = np.array([[0, 1, 2], [3, 4, 5], [0, 4, 2], [1, 3, 5]])
    bad = {"features": lambda T, n: np.random.RandomState(0).randn(4, 5),
           "3-d": lambda T, n: T[None], "scalar": lambda T, n: 3,
           "ragged": lambda T, n: [[0, 1, 2], [1, 2]]}.get(variant, BAD_TRIPLETS.get(variant))
    out = expect_error(lambda: list(splitter(2).split(bad(T, 6))), "X")
    if variant in ("strings", "complex"):
        assert isinstance(out.error, TypeError), out


@pytest.mark.parametrize("n_splits", [1, 0, -2, 2.5, "3", None, True, 3.0])
@pytest.mark.parametrize("splitter", [TripletGroupKFold, TripletObjectKFold])
def test_splitters_name_n_splits(splitter, n_splits):
    expect_error(lambda: splitter(n_splits), "n_splits")


@pytest.mark.parametrize("random_state", ["seed", -1, 2.5, 2**40])
@pytest.mark.parametrize("splitter", [TripletGroupKFold, TripletObjectKFold])
def test_splitters_name_random_state(splitter, random_state):
    T = np.array([[0, 1, 2], [3, 4, 5], [0, 4, 2], [1, 3, 5], [0, 1, 3], [2, 4, 5]])
    expect_error(lambda: list(splitter(2, shuffle=True, random_state=random_state).split(T)),
                 "random_state")


def test_object_folds_do_not_allocate_by_the_largest_index():
    """Object ids are labels: an id of 10**12 costs nothing (it was an array of that size)."""
    T = np.array([[0, 1, 2], [3, 4, 10**12], [0, 2, 1], [4, 3, 10**12]])
    folds = _splits(TripletObjectKFold(2), T)
    assert sorted(te for _, tes in folds for te in tes) == [0, 1, 2, 3]


# --------------------------------------------------------------------------- generators
CONCEPTS = dict(n_objects=30, n_coarse=3, n_fine=2, n_components=4, n_features=6)


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


@fuzz
@given(seed=st.integers(0, 2**32 - 1), n_objects=st.integers(6, 40), n_coarse=st.integers(1, 3),
       n_fine=st.integers(1, 3), n_per_level=st.integers(1, 20))
def test_generators_honour_random_state(seed, n_objects, n_coarse, n_fine, n_per_level):
    kw = dict(n_objects=max(n_objects, n_coarse * n_fine), n_coarse=n_coarse, n_fine=n_fine,
              n_components=3, n_features=5)
    a = make_hierarchical_concepts(**kw, random_state=seed)
    _same(a, make_hierarchical_concepts(**kw, random_state=np.random.RandomState(seed)))
    assert not np.array_equal(a.human, make_hierarchical_concepts(**kw,
                                                                  random_state=seed ^ 1).human)
    levels = run(lambda: make_levels_triplets(a.coarse, a.fine, n_per_level, random_state=seed))
    if levels.error is not None:  # too few coarse or fine categories for a level
        assert any(w in str(levels.error) for w in ("coarse", "fine")), levels
        return
    _same(levels.value, make_levels_triplets(a.coarse, a.fine, n_per_level,
                                             random_state=seed))
    T = levels.value["triplets"]
    np.testing.assert_array_equal(triplet_levels(T, a.coarse, a.fine), levels.value["level"])


@pytest.mark.parametrize("container", ["list", "strings", "torch", "pandas", "objects"])
@fuzz
@given(seed=st.integers(0, 2**16))
def test_make_levels_triplets_takes_labels_of_any_kind(container, seed):
    data = make_hierarchical_concepts(**CONCEPTS, random_state=seed)
    wrap = {"list": list, "strings": lambda a: np.char.add("c", a.astype(str)),
            "torch": torch.as_tensor, "pandas": lambda a: pd.Series(a, index=a * 0 + 7),
            "objects": lambda a: np.array([f"k{v}" for v in a], dtype=object)}[container]
    expect_same(lambda: make_levels_triplets(wrap(data.coarse), wrap(data.fine), 5,
                                             random_state=seed),
                lambda: make_levels_triplets(data.coarse, data.fine, 5, random_state=seed))


BAD_CONCEPTS = {
    **{f"{k}={v!r}": ({k: v}, k) for k in ("n_objects", "n_coarse", "n_fine", "n_components",
                                            "n_features") for v in (0, -1, 2.5, "4", None, True)},
    **{f"{k}={v!r}": ({k: v}, k) for k in ("coarse_scale", "fine_scale", "object_scale",
                                            "noise") for v in (-1.0, np.nan, np.inf, "1", None)},
    **{f"distortion={v!r}": ({"distortion": v}, "distortion")
       for v in (0.5, np.nan, np.inf, "3", None)},
    "too-few-objects": ({"n_objects": 5}, "n_objects"),
    "too-few-features": ({"n_features": 3}, "n_features"),
    "random_state": ({"random_state": "seed"}, "random_state"),
    "random_state-negative": ({"random_state": -1}, "random_state"),
}


@pytest.mark.parametrize("case", list(BAD_CONCEPTS))
def test_make_hierarchical_concepts_names_bad_arguments(case):
    kw, name = BAD_CONCEPTS[case]
    expect_error(lambda: make_hierarchical_concepts(**{**CONCEPTS, **kw}), name)


def _labels():
    data = make_hierarchical_concepts(**CONCEPTS, random_state=0)
    return data.coarse, data.fine


BAD_LEVEL_LABELS = {
    "short": (lambda c, f: (c[:-1], f), "coarse"), "2-d": (lambda c, f: (c[:, None], f[:, None]),
                                                         "coarse"),
    "none": (lambda c, f: (None, f), "coarse"), "empty": (lambda c, f: (c[:0], f[:0]), "coarse"),
    "nan": (lambda c, f: (np.where(c == 0, np.nan, c), f), "coarse"),
    "missing-fine": (lambda c, f: (c, np.array([None, *f[1:]], dtype=object)), "fine"),
    "two-coarse": (lambda c, f: (c % 2, f), "coarse"),
    "fine-spans": (lambda c, f: (c, f % 2), "fine"),
    "singletons": (lambda c, f: (np.arange(len(c)), np.arange(len(c))), "coarse"),
    "no-subordinate": (lambda c, f: (c, c), "subordinate"),
    "mixed-types": (lambda c, f: (np.array([1, "a", *c[2:]], dtype=object), f), "coarse"),
}


@pytest.mark.parametrize("case", list(BAD_LEVEL_LABELS))
def test_make_levels_triplets_names_bad_labels(case):
    make, name = BAD_LEVEL_LABELS[case]
    coarse, fine = make(*_labels())
    expect_error(lambda: make_levels_triplets(coarse, fine, 5, random_state=0), name)


@pytest.mark.parametrize("n_per_level", [0, -1, 2.5, "10", None, True])
def test_make_levels_triplets_names_n_per_level(n_per_level):
    expect_error(lambda: make_levels_triplets(*_labels(), n_per_level), "n_per_level")


@st.composite
def labelled(draw):
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    n_classes = draw(st.integers(2, 6))
    per_class = draw(st.integers(8, 40))
    y = np.repeat(np.arange(n_classes), per_class)
    X = rng.randn(len(y), 2, 2)  # (images: rows are examples, any trailing shape)
    return X, rng.permutation(y)


@fuzz
@given(Xy=labelled(), seed=st.integers(0, 2**32 - 1), p=st.sampled_from([0.5, 0.9]),
       container=st.sampled_from(["numpy", "list", "torch", "pandas-y", "strings"]))
def test_make_heavy_tailed_keeps_its_protocol(Xy, seed, p, container):
    X, y = Xy
    n_classes = len(np.unique(y))
    kw = dict(n_train=10 * n_classes, n_frequent=1, p=p, min_per_class=2, random_state=seed)
    out = run(lambda: make_heavy_tailed(X, y, **kw))
    if out.error is not None:  # a class too small for its share of training and a test
        assert "y" in str(out.error) or "n_train" in str(out.error), out
        return
    d = out.value
    assert not set(d["train_index"]) & set(d["test_index"])
    np.testing.assert_array_equal(d["X_train"], X[d["train_index"]])
    np.testing.assert_array_equal(np.bincount(d["y_test"]),
                                  np.full(n_classes, len(d["y_test"]) // n_classes))
    assert d["train_counts"].min() >= 2 and d["train_counts"].sum() == 10 * n_classes
    _same(d, make_heavy_tailed(X, y, **{**kw, "random_state": np.random.RandomState(seed)}))
    wrap_x, wrap_y = {"numpy": (np.asarray, np.asarray),
                      "list": (lambda a: a.tolist(), lambda a: a.tolist()),
                      "torch": (torch.as_tensor, torch.as_tensor),
                      "pandas-y": (np.asarray, lambda a: pd.Series(a, index=a * 0 + 5)),
                      "strings": (np.asarray, lambda a: a.astype(str))}[container]
    other = run(lambda: make_heavy_tailed(wrap_x(X), wrap_y(y), **kw))
    assert other.error is None, other
    for key in ("train_index", "test_index", "train_counts"):
        np.testing.assert_array_equal(other.value[key], d[key])


BAD_HEAVY_TAILED = {
    "X-none": (dict(X=None), "X"), "X-scalar": (dict(X=3.0), "X"),
    "X-ragged": (dict(X=[[1.0, 2.0], [3.0]]), "X"), "X-short": (dict(X="short"), "X"),
    "y-none": (dict(y=None), "y"), "y-2d": (dict(y="2d"), "y"), "y-nan": (dict(y="nan"), "y"),
    "y-one-class": (dict(y="one"), "y"), "y-empty": (dict(X="empty", y="empty"), "y"),
    "p-0": (dict(p=0.0), "p"), "p-1": (dict(p=1.0), "p"), "p-nan": (dict(p=np.nan), "p"),
    "p-string": (dict(p="0.9"), "p"), "p-none": (dict(p=None), "p"),
    "n_frequent-0": (dict(n_frequent=0), "n_frequent"),
    "n_frequent-all": (dict(n_frequent=4), "n_frequent"),
    "n_frequent-float": (dict(n_frequent=1.5), "n_frequent"),
    "n_frequent-string": (dict(n_frequent="1"), "n_frequent"),
    "n_frequent-none": (dict(n_frequent=None), "n_frequent"),
    "n_train-0": (dict(n_train=0), "n_train"), "n_train-float": (dict(n_train=2.5), "n_train"),
    "n_train-too-small": (dict(n_train=3), "n_train"),
    "n_train-too-large": (dict(n_train=10**6), "y"),
    "min_per_class": (dict(min_per_class=0), "min_per_class"),
    "n_test_per_class": (dict(n_test_per_class=10**6), "n_test_per_class"),
    "random_state": (dict(random_state="seed"), "random_state"),
}


@pytest.mark.parametrize("case", list(BAD_HEAVY_TAILED))
def test_make_heavy_tailed_names_bad_arguments(case):
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(4), 30)
    X = rng.randn(len(y), 3)
    kw = dict(BAD_HEAVY_TAILED[case][0])
    special = {"short": X[1:], "empty": X[:0], "2d": y[:, None], "one": np.zeros_like(y),
               "nan": np.where(y == 0, np.nan, y)}
    for key in ("X", "y"):
        if isinstance(kw.get(key), str):
            kw[key] = special[kw[key]]
    args = {"X": X, "y": y, "n_frequent": 1, "n_train": 40, **kw}
    expect_error(lambda: make_heavy_tailed(args.pop("X"), args.pop("y"), **args),
                 BAD_HEAVY_TAILED[case][1])
