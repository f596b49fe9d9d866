"""Synthetic data with a known ground truth, for tests and examples."""

from __future__ import annotations

import numbers

import numpy as np
from scipy.stats import ortho_group
from sklearn.utils import Bunch

from ..triplets import LEVELS, sample_triplets
from ..triplets._levels import _missing
from ..utils._validation import as_array, check_positive, check_random_state


def make_hierarchical_concepts(
    n_objects=500,
    *,
    n_coarse=4,
    n_fine=5,
    n_components=16,
    n_features=64,
    coarse_scale=2.0,
    fine_scale=1.0,
    object_scale=0.5,
    distortion=3.0,
    noise=0.1,
    random_state=None,
):
    """Objects in a two-level category hierarchy, seen by a "human" and a "model".

    The **human** embedding (``n_components`` dims) is the sum of a coarse
    category centre, a fine category offset and an object-specific part, with
    scales ``coarse_scale > fine_scale > object_scale``: similarity follows the
    hierarchy. The **model** embedding is the human one through a known linear
    map plus noise: ``model = human @ A + noise``, where ``A`` (``n_components``
    x ``n_features``) is a random rotation whose column scales are spread over
    a factor ``distortion`` (so raw model similarities over-weight some human
    dimensions: zero-shot agreement is imperfect, and a learned linear
    transform can undo it).

    Parameters
    ----------
    n_objects : int, default=500
        Number of objects.
    n_coarse, n_fine : int, default=4, 5
        Coarse categories, and fine categories inside each coarse one.
    n_components : int, default=16
        Dimension of the human embedding.
    n_features : int, default=64
        Dimension of the model embedding (``>= n_components``).
    coarse_scale, fine_scale, object_scale : float
        Standard deviations of the three parts of the human embedding.
    distortion : float, default=3.0
        Ratio of the largest to the smallest column scale of ``A`` (>= 1).
    noise : float, default=0.1
        Standard deviation of the noise added to the model embedding.
    random_state : int, RandomState or None
        Seed.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``human`` (n, n_components), ``model`` (n, n_features), ``coarse`` and
        ``fine`` labels (n,) (fine labels are unique across coarse categories),
        and the map ``A``.
    """
    for name, value in [("n_objects", n_objects), ("n_coarse", n_coarse), ("n_fine", n_fine),
                        ("n_components", n_components), ("n_features", n_features)]:
        check_positive(value, name, integer=True)
    for name, value in [("coarse_scale", coarse_scale), ("fine_scale", fine_scale),
                        ("object_scale", object_scale), ("noise", noise)]:
        check_positive(value, name, strict=False)
    if isinstance(distortion, bool) or not isinstance(distortion, numbers.Real):
        raise TypeError(f"distortion must be a number, got {distortion!r}")
    if n_features < n_components:
        raise ValueError(f"n_features ({n_features}) must be >= n_components ({n_components})")
    if n_objects < n_coarse * n_fine:
        raise ValueError(
            f"n_objects ({n_objects}) must be at least n_coarse * n_fine ({n_coarse * n_fine})"
        )
    if not 1 <= distortion < np.inf:
        raise ValueError(f"distortion must be a finite number >= 1, got {distortion}")
    rng = check_random_state(random_state)
    n_classes = n_coarse * n_fine
    fine = np.arange(n_objects) % n_classes  # every fine class is used
    rng.shuffle(fine)
    coarse = fine // n_fine
    coarse_centres = rng.normal(scale=coarse_scale, size=(n_coarse, n_components))
    fine_offsets = rng.normal(scale=fine_scale, size=(n_classes, n_components))
    human = (
        coarse_centres[coarse]
        + fine_offsets[fine]
        + rng.normal(scale=object_scale, size=(n_objects, n_components))
    )
    rotation = ortho_group.rvs(n_features, random_state=rng)[:n_components]
    scales = np.geomspace(1.0, 1.0 / distortion, n_components)
    A = scales[:, None] * rotation
    model = human @ A + rng.normal(scale=noise, size=(n_objects, n_features))
    return Bunch(human=human, model=model, coarse=coarse, fine=fine, A=A)


def make_levels_triplets(coarse, fine, n_per_level=1000, *, random_state=None):
    """Triplets at three levels of abstraction, as in AligNet's *Levels* data.

    * ``"coarse"``: three objects from three different coarse categories
      (no structural answer; the order is random).
    * ``"class_boundary"``: two objects from one coarse category and one from
      another, the latter last.
    * ``"subordinate"``: all three from one coarse category, two from one fine
      category and one from another fine category of the same coarse one, the
      latter last.

    Parameters
    ----------
    coarse, fine : array-like of shape (n_objects,)
        Labels at the two levels; every fine category must lie inside one
        coarse category.
    n_per_level : int, default=1000
        Triplets per level.
    random_state : int, RandomState or None
        Seed.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``triplets`` (3 * n_per_level, 3), ``level`` (names per row) and
        ``levels`` (the three names in order).
    """
    coarse, fine = _labels(coarse, "coarse"), _labels(fine, "fine")
    if coarse.ndim != 1 or coarse.shape != fine.shape:
        raise ValueError(f"coarse and fine must be 1-D of equal length, got {coarse.shape}, "
                         f"{fine.shape}")
    check_positive(n_per_level, "n_per_level", integer=True)
    # (integer codes of the labels: labels of any type, compared as np.unique compares them)
    coarse = np.unique(coarse, return_inverse=True)[1].reshape(-1)
    fine_names, fine = np.unique(fine, return_inverse=True)
    fine = fine.reshape(-1)
    for f in range(len(fine_names)):
        if len(np.unique(coarse[fine == f])) != 1:
            raise ValueError(f"fine category {fine_names[f]} spans several coarse categories")
    if len(np.unique(coarse)) < 3:
        raise ValueError(f"coarse has {len(np.unique(coarse))} categories: the 'coarse' level "
                         "needs three (one object of each of three coarse categories)")
    if np.bincount(coarse).max() < 2:
        raise ValueError("coarse has no category with two objects: the 'class_boundary' level "
                         "needs two objects of one coarse category")
    rng = check_random_state(random_state)
    n = len(coarse)
    parts = [
        sample_triplets(n, n_per_level, method="between_class", labels=coarse, random_state=rng),
        sample_triplets(n, n_per_level, method="class_boundary", labels=coarse, random_state=rng),
        _subordinate(rng, coarse, fine, n_per_level),
    ]
    level = np.repeat(np.array(LEVELS), n_per_level)
    return Bunch(triplets=np.concatenate(parts), level=level, levels=LEVELS)


def _labels(values, name):
    """Class labels as a 1-D numpy array: missing labels (None, NaN) are a ``ValueError``."""
    arr = as_array(values, name, "an array of labels")
    if arr.ndim == 1 and arr.size == 0:
        raise ValueError(f"{name} is empty: at least one label is needed")
    if arr.ndim == 1 and arr.dtype.kind in "fcO":
        missing = [i for i, x in enumerate(arr.tolist()) if _missing(x)]
        if missing:
            raise ValueError(f"{name} has {len(missing)} missing label(s) (None or NaN; the "
                             f"first at position {missing[0]}): every one needs a label")
        if arr.dtype == object:
            try:
                np.unique(arr)
            except TypeError as exc:
                raise TypeError(f"{name}: labels of mixed types cannot be compared "
                                f"({exc})") from exc
    return arr


def _subordinate(rng, coarse, fine, size):
    # One coarse category at a time: class_boundary sampling over its fine labels.
    def usable(c):
        fine_counts = np.unique(fine[coarse == c], return_counts=True)[1]
        return len(fine_counts) >= 2 and fine_counts.max() >= 2

    eligible = [c for c in np.unique(coarse) if usable(c)]
    if not eligible:
        raise ValueError("subordinate triplets need a coarse category with two fine categories, "
                         "one of them with at least two objects")
    which = rng.choice(len(eligible), size)
    out = np.empty((size, 3), dtype=np.int64)
    for w in np.unique(which):
        rows = np.flatnonzero(which == w)
        members = np.flatnonzero(coarse == eligible[w])
        local = sample_triplets(len(members), len(rows), method="class_boundary",
                                labels=fine[members], random_state=rng)
        out[rows] = members[local]
    return out


def make_heavy_tailed(
    X,
    y,
    *,
    n_train=None,
    n_frequent=3,
    p=0.9,
    min_per_class=5,
    n_test_per_class=None,
    random_state=None,
):
    """Split a labelled data set into a heavy-tailed train set and a balanced test set.

    The OKO imbalance protocol (Muttenthaler et al., ICLR 2024): ``n_frequent``
    classes (chosen at random) share probability mass ``p`` of the training
    set, the other classes share ``1 - p``, and every class keeps at least
    ``min_per_class`` training examples (so the realised mass of the frequent
    classes can be a little below ``p``: it is returned as ``p_effective``).
    The test set is balanced and disjoint from the training set.

    Parameters
    ----------
    X : array-like of shape (n, ...)
        Inputs (rows are examples).
    y : array-like of shape (n,)
        Class labels.
    n_train : int, optional
        Size of the training set; default 20 per class on average.
    n_frequent : int, default=3
        Number of frequent classes.
    p : float, default=0.9
        Mass of the frequent classes, in (0, 1).
    min_per_class : int, default=5
        Smallest number of training examples of any class.
    n_test_per_class : int, optional
        Test examples per class; default: as many as every class can spare.
    random_state : int, RandomState or None
        Seed.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X_train``, ``y_train``, ``X_test``, ``y_test``, the row indices
        ``train_index`` and ``test_index`` into ``X``, ``frequent_classes``,
        ``train_counts`` (per class, in ``classes`` order), ``classes`` and
        ``p_effective``.
    """
    X = as_array(X, "X", "an array of examples")
    if X.ndim == 0:
        raise ValueError(f"X must have one row per example, got a scalar {X!r}")
    y = _labels(y, "y")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per example), got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    check_positive(p, "p")
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    classes, y_idx = np.unique(y, return_inverse=True)
    y_idx = y_idx.reshape(-1)
    n_classes = len(classes)
    if n_classes < 2:
        raise ValueError(f"y has {n_classes} class(es): the protocol needs at least 2 (frequent "
                         "and rare ones)")
    check_positive(n_frequent, "n_frequent", integer=True)
    if not 1 <= n_frequent < n_classes:
        raise ValueError(f"n_frequent must be in [1, {n_classes - 1}], got {n_frequent}")
    check_positive(min_per_class, "min_per_class", integer=True)
    n_train = 20 * n_classes if n_train is None else n_train
    check_positive(n_train, "n_train", integer=True)
    rng = check_random_state(random_state)
    frequent = np.sort(rng.choice(n_classes, n_frequent, replace=False))
    n_rare = n_classes - n_frequent
    rare_each = max(min_per_class, int(np.floor((1 - p) * n_train / n_rare)))
    freq_total = n_train - rare_each * n_rare
    if freq_total < n_frequent * min_per_class:
        raise ValueError(f"n_train={n_train} is too small for {n_classes} classes with "
                         f"min_per_class={min_per_class}")
    counts = np.full(n_classes, rare_each)
    counts[frequent] = freq_total // n_frequent
    counts[frequent[: freq_total % n_frequent]] += 1
    available = np.bincount(y_idx, minlength=n_classes)
    spare = available - counts
    if (spare < 1).any():
        c = int(np.argmax(spare < 1))
        raise ValueError(f"y: class {classes[c]} has {available[c]} examples; the protocol needs "
                         f"{counts[c]} for training and at least one for testing")
    n_test = int(spare.min()) if n_test_per_class is None else n_test_per_class
    check_positive(n_test, "n_test_per_class", integer=True)
    if n_test > spare.min():
        raise ValueError(f"n_test_per_class={n_test} exceeds what every class can spare "
                         f"({int(spare.min())})")
    train_idx, test_idx = [], []
    for c in range(n_classes):
        members = rng.permutation(np.flatnonzero(y_idx == c))
        train_idx.append(members[: counts[c]])
        test_idx.append(members[counts[c] : counts[c] + n_test])
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    return Bunch(
        X_train=X[train_idx], y_train=y[train_idx], X_test=X[test_idx], y_test=y[test_idx],
        train_index=train_idx, test_index=test_idx,
        frequent_classes=classes[frequent], train_counts=counts, classes=classes,
        p_effective=float(counts[frequent].sum() / counts.sum()),
    )
