"""Triplet splitters: object folds, repeats kept together, use inside sklearn CV."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupKFold, cross_val_score

from reprlign.datasets import load_things_triplets
from reprlign.model_selection import TripletGroupKFold, TripletObjectKFold
from reprlign.triplets import sample_triplets, triplet_groups


def test_object_kfold_holds_out_objects():
    X = sample_triplets(60, 20000, random_state=0)
    cv = TripletObjectKFold(3, shuffle=True, random_state=0)
    summary = cv.summary(X)
    all_test = []
    for f, (train, test) in enumerate(cv.split(X)):
        held_out = np.unique(X[test])
        assert not np.isin(X[train], held_out).any()
        assert len(test) == summary["n_test"][f] and len(train) == summary["n_train"][f]
        all_test.append(test)
    assert (cv.n_dropped_ == summary["n_dropped"]).all()
    assert (summary["n_train"] + summary["n_test"] + summary["n_dropped"] == len(X)).all()
    # Each triplet is a test triplet of at most one fold; about 1/9 of them are tested.
    cat = np.concatenate(all_test)
    assert len(cat) == len(np.unique(cat))
    assert 0.07 < len(cat) / len(X) < 0.16
    # A test triplet's objects all lie in one fold: every mixed triplet is dropped.
    assert (summary["n_dropped"] > 0).all()


def test_object_kfold_shuffle_reproducible():
    X = sample_triplets(40, 3000, random_state=1)
    a = [t.tolist() for _, t in TripletObjectKFold(4, shuffle=True, random_state=5).split(X)]
    b = [t.tolist() for _, t in TripletObjectKFold(4, shuffle=True, random_state=5).split(X)]
    assert a == b


def test_object_kfold_errors():
    with pytest.raises(ValueError, match="n_splits must be an integer >= 2"):
        TripletObjectKFold(1)
    with pytest.raises(ValueError, match="shape \\(m, 3\\)"):
        next(TripletObjectKFold(2).split(np.zeros((5, 3, 4))))
    with pytest.raises(ValueError, match="exceeds the number of objects"):
        next(TripletObjectKFold(5).split(np.array([[0, 1, 2]])))


def test_group_kfold_keeps_repeats_together():
    data = load_things_triplets()
    cv = TripletGroupKFold(5, shuffle=True, random_state=0)
    seen = np.zeros(len(data.triplets), dtype=int)
    for train, test in cv.split(data.triplets):
        assert not np.isin(data.groups[test], data.groups[train]).any()
        seen[test] += 1
        assert len(np.unique(data.groups[test])) == 200
    assert (seen == 1).all()
    # Same partition as GroupKFold over triplet_groups when not shuffled.
    ours = [set(t) for _, t in TripletGroupKFold(5).split(data.triplets)]
    groups = triplet_groups(data.triplets)
    theirs = [set(t) for _, t in GroupKFold(5).split(data.triplets, groups=groups)]
    assert all(len(s) > 0 for s in theirs) and len(ours) == len(theirs)


class _Majority(BaseEstimator):
    """Scores the fraction of test triplets whose objects all appeared in training."""

    def fit(self, X, y=None):
        self.seen_ = np.unique(X)
        return self

    def score(self, X, y=None):
        return float(np.isin(X, self.seen_).all(axis=1).mean())


def test_splitters_work_as_cv_argument():
    X = sample_triplets(50, 5000, random_state=0)
    new_objects = cross_val_score(_Majority(), X, cv=TripletObjectKFold(3, shuffle=True,
                                                                          random_state=0))
    assert (new_objects == 0).all()  # test objects never appear in training
    repeats = cross_val_score(_Majority(), X, cv=TripletGroupKFold(3))
    assert (repeats > 0.9).all()


def test_splitters_are_sklearn_cross_validators():
    from sklearn.model_selection import BaseCrossValidator, check_cv

    X = sample_triplets(30, 600, random_state=0)
    for cls in (TripletGroupKFold, TripletObjectKFold):
        cv = cls(4, shuffle=True, random_state=3)
        assert isinstance(cv, BaseCrossValidator) and check_cv(cv) is cv
        assert cv.get_n_splits() == cv.get_n_splits(X) == 4
        assert repr(cv) == f"{cls.__name__}(n_splits=4, random_state=3, shuffle=True)"
        assert len(list(cv.split(X))) == 4
    # groups is ignored: the repeats are read off X
    a = [t.tolist() for _, t in TripletGroupKFold(3).split(X)]
    b = [t.tolist() for _, t in TripletGroupKFold(3).split(X, groups=np.arange(len(X)))]
    assert a == b
