"""Cross-validation splitters for data whose samples are triplets.

Two questions need two splitters (user guide: :ref:`triplets`):

* *Does the alignment generalise to new triplets of known objects?* Keep the
  repeats of one triplet (the same three objects, answered by many people) in
  one fold: :class:`TripletGroupKFold`, or equivalently
  ``GroupKFold`` with ``groups=triplet_groups(X)``.
* *Does it generalise to new objects?* :class:`TripletObjectKFold` splits the
  objects; a triplet is tested only when all three of its objects are held
  out and trained on only when none is.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import BaseCrossValidator, KFold

from .triplets import triplet_groups, validate_triplets
from .utils._validation import check_random_state, index_array

__all__ = ["TripletGroupKFold", "TripletObjectKFold"]


def __dir__():  # tab completion shows the splitters, not the helpers they import
    return sorted(__all__)


def _check_n_splits(n_splits):
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")


def _triplets_of(X):
    X = index_array(X, "X")
    if X.ndim != 2 or X.shape[1] != 3:
        raise ValueError(
            f"X must be triplets of object indices, shape (m, 3); got shape {X.shape}. "
            "Splitting by object needs indices, not per-triplet features."
        )
    return validate_triplets(X, name="X")


class _TripletSplitter(BaseCrossValidator):
    """What the triplet splitters share: parameters and a KFold over what they deal out.

    ``split``, the repr and scikit-learn's metadata routing come from
    :class:`~sklearn.model_selection.BaseCrossValidator`.
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        _check_n_splits(n_splits)
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds."""
        return self.n_splits

    def _kfold(self):
        rs = self.random_state if self.shuffle else None
        if rs is not None:
            check_random_state(rs)  # (KFold's own error does not name it)
        return KFold(self.n_splits, shuffle=self.shuffle, random_state=rs)

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` row indices of ``X``; ``groups`` is ignored (derived from X).

        ``X`` is checked before the first fold: triplets of object indices,
        shape (m, 3).
        """
        _triplets_of(X)
        return super().split(X, y, groups)


class TripletGroupKFold(_TripletSplitter):
    """K-fold over triplets that keeps every repeat of a triplet in one fold.

    Repeats are rows with the same three objects in any order (see
    :func:`reprlign.triplets.triplet_groups`). The distinct triplets are dealt
    into folds as by :class:`~sklearn.model_selection.KFold`, in order of first
    appearance in ``X`` (or shuffled), so fold sizes follow the number of
    distinct triplets, not of responses.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds (>= 2).
    shuffle : bool, default=False
        Shuffle the distinct triplets before dealing them into folds.
    random_state : int, RandomState or None
        Seed of the shuffle.

    Examples
    --------
    >>> from reprlign.datasets import load_things_triplets
    >>> from reprlign.model_selection import TripletGroupKFold
    >>> X = load_things_triplets().triplets
    >>> train, test = next(TripletGroupKFold(5).split(X))
    >>> len(train) + len(test) == len(X)
    True
    """

    def _iter_test_masks(self, X=None, y=None, groups=None):
        ids = triplet_groups(_triplets_of(X))
        # Number groups by first appearance, so unshuffled folds follow the row order of X
        # (as KFold does) rather than the sorted order of the object sets.
        _, first = np.unique(ids, return_index=True)
        ids = np.argsort(np.argsort(first))[ids]
        n_groups = ids.max() + 1
        if n_groups < self.n_splits:
            raise ValueError(
                f"n_splits={self.n_splits} exceeds the number of distinct triplets in X "
                f"({n_groups})"
            )
        for _, test_groups in self._kfold().split(np.arange(n_groups)):
            yield np.isin(ids, test_groups)


class TripletObjectKFold(_TripletSplitter):
    """K-fold over *objects*: test triplets contain only held-out objects.

    The objects that occur in ``X`` are dealt into ``n_splits`` folds. For
    fold ``f`` a triplet is a test triplet when all three objects are in
    ``f``, a training triplet when none is, and is left out of both otherwise
    ("mixed"). With k folds about ``1/k^3`` of the triplets are test triplets
    of some fold, and most are dropped from each split: this is the price of
    testing generalisation to new objects.

    How many were dropped is not silent: after :meth:`split`, ``n_dropped_``
    holds the number of mixed triplets per fold, and :meth:`summary` returns
    the train / test / dropped counts per fold without splitting.

    Parameters
    ----------
    n_splits : int, default=5
        Number of object folds (>= 2).
    shuffle : bool, default=False
        Shuffle the objects before dealing them into folds.
    random_state : int, RandomState or None
        Seed of the shuffle.

    Attributes
    ----------
    n_dropped_ : numpy.ndarray of shape (n_splits,)
        Mixed triplets left out of each fold by the last call to :meth:`split`.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.model_selection import TripletObjectKFold
    >>> from reprlign.triplets import sample_triplets
    >>> X = sample_triplets(60, 5000, random_state=0)
    >>> cv = TripletObjectKFold(3, shuffle=True, random_state=0)
    >>> for train, test in cv.split(X):
    ...     held_out = np.unique(X[test])
    ...     assert not np.isin(X[train], held_out).any()
    """

    def _fold_masks(self, X):
        t = _triplets_of(X)
        objects, where = np.unique(t, return_inverse=True)
        if len(objects) < self.n_splits:
            raise ValueError(
                f"n_splits={self.n_splits} exceeds the number of objects in X ({len(objects)})"
            )
        fold_of = np.empty(len(objects), dtype=np.int64)
        for f, (_, test_obj) in enumerate(self._kfold().split(objects)):
            fold_of[test_obj] = f
        folds = fold_of[where.reshape(t.shape)]
        for f in range(self.n_splits):
            in_f = folds == f
            yield in_f.all(axis=1), ~in_f.any(axis=1)

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` row indices of ``X``; ``groups`` is ignored.

        Raises
        ------
        ValueError
            Before the first fold, when a fold would have no test triplets
            (none of its triplets has all three objects in it) or no training
            triplets: too few triplets for ``n_splits`` object folds.
            :meth:`summary` gives the counts without raising.
        """
        masks = list(self._fold_masks(X))
        for f, (test, train) in enumerate(masks):
            if not test.any() or not train.any():
                what = "test" if not test.any() else "training"
                n_objects = len(np.unique(_triplets_of(X)))
                raise ValueError(
                    f"X: fold {f} of n_splits={self.n_splits} object folds has no {what} "
                    f"triplets ({len(test)} triplets over {n_objects} objects); use fewer "
                    "splits or more triplets (summary(X) gives the counts)")
        dropped = []
        for test, train in masks:
            dropped.append(int(len(test) - test.sum() - train.sum()))
            self.n_dropped_ = np.array(dropped)
            yield np.flatnonzero(train), np.flatnonzero(test)

    def summary(self, X):
        """Per-fold counts of train, test and dropped (mixed) triplets.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{"n_train": ..., "n_test": ..., "n_dropped": ...}``, each of shape (n_splits,).
        """
        arr = np.array(
            [(tr.sum(), te.sum(), len(te) - te.sum() - tr.sum()) for te, tr in self._fold_masks(X)],
            dtype=np.int64,
        )
        return {"n_train": arr[:, 0], "n_test": arr[:, 1], "n_dropped": arr[:, 2]}
