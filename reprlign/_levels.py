"""Levels of abstraction: agreement of a representation with category structure, per level."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import Bunch

from .datasets._synthetic import LEVELS
from .triplets import odd_one_out_correct, predict_odd_one_out, validate_triplets
from .utils._validation import check_features


def things_levels(*, threshold=0.5):
    """A two-level hierarchy (coarse, fine) of THINGS concepts from its 27 categories.

    A category is a subcategory of another when at least ``threshold`` of its
    members also belong to the other (bird, insect in animal; dessert, fruit,
    vegetable in food; clothing accessory in clothing; kitchen appliance in
    electronic device; kitchen tool in tool, at the default). The other
    categories are coarse. A concept is kept when it falls in exactly one
    coarse category (membership of a subcategory implies its parent) and at
    most one of that category's subcategories; its fine label is that
    subcategory, or ``"<coarse> (other)"``.

    Parameters
    ----------
    threshold : float, default=0.5
        Fraction of shared members that makes a category a subcategory.

    Returns
    -------
    levels : sklearn.utils.Bunch
        ``objects`` (indices of the kept concepts, into the 1,854), ``coarse``
        and ``fine`` (labels of the kept concepts, str arrays), ``parent``
        (dict subcategory -> coarse category), ``concepts`` (the kept words).
    """
    from .datasets import load_things_triplets

    data = load_things_triplets()
    C = data.categories.astype(bool)
    names = list(data.category_names)
    size = C.sum(axis=0)
    overlap = C.T.astype(np.int64) @ C.astype(np.int64)
    parent = {}
    for i in range(len(names)):
        shares = overlap[i] / max(size[i], 1)
        shares[i] = 0
        j = int(np.argmax(shares))
        if shares[j] >= threshold and size[j] > size[i]:
            parent[names[i]] = names[j]
    coarse_names = [c for c in names if c not in parent]
    objects, coarse, fine = [], [], []
    for o in range(C.shape[0]):
        member = [names[k] for k in np.flatnonzero(C[o])]
        tops = {parent.get(c, c) for c in member}
        subs = [c for c in member if c in parent]
        if len(tops) != 1 or len(subs) > 1:
            continue
        top = tops.pop()
        if top not in coarse_names:
            continue
        objects.append(o)
        coarse.append(top)
        fine.append(subs[0] if subs else f"{top} (other)")
    objects = np.asarray(objects, dtype=np.int64)
    return Bunch(objects=objects, coarse=np.asarray(coarse), fine=np.asarray(fine),
                 parent=parent, concepts=[data.concepts[o] for o in objects])


def triplet_levels(triplets, coarse, fine):
    """The level of abstraction of each triplet, from the objects' labels.

    Parameters
    ----------
    triplets : array-like of shape (m, 3)
        Object indices.
    coarse, fine : array-like of shape (n_objects,)
        Labels of every object; use ``None`` (or any value absent from the
        other objects) for objects outside the hierarchy.

    Returns
    -------
    level : ndarray of str, shape (m,)
        ``"coarse"`` (three coarse categories), ``"class_boundary"`` (two
        share a coarse category, the third does not), ``"subordinate"`` (one
        coarse category; two share a fine category, the third does not), or
        ``"other"`` (anything else, or an object without labels).
    """
    t = validate_triplets(triplets)
    coarse, fine = np.asarray(coarse, dtype=object), np.asarray(fine, dtype=object)
    if coarse.shape != fine.shape or coarse.ndim != 1:
        raise ValueError(f"coarse and fine must be 1-D of equal length, got {coarse.shape} "
                         f"and {fine.shape}")
    if t.size and t.max() >= len(coarse):
        raise ValueError(f"triplets index object {t.max()}, but only {len(coarse)} have labels")
    c, f = coarse[t], fine[t]
    labelled = np.all([[x is not None for x in row] for row in c], axis=1) if len(t) else []
    n_coarse = np.array([len(set(row)) for row in c])
    n_fine = np.array([len(set(row)) for row in f])
    level = np.full(len(t), "other", dtype=object)
    level[(n_coarse == 3)] = "coarse"
    level[(n_coarse == 2)] = "class_boundary"
    level[(n_coarse == 1) & (n_fine == 2)] = "subordinate"
    level[~np.asarray(labelled, dtype=bool)] = "other"
    return level.astype(str)


def levels_agreement(Z, triplets, level, y=None, *, structural=True, reference=None,
                     similarity="cosine"):
    """Odd-one-out agreement of a representation with a reference answer, per level.

    Parameters
    ----------
    Z : array-like or torch.Tensor of shape (n_objects, d)
        The representation to evaluate.
    triplets : array-like of shape (m, 3)
        Object indices; without ``y`` the last column is the answer (the
        category structure's odd one out for triplets from
        :func:`reprlign.datasets.make_levels_triplets`, the human choice for
        canonical human triplets).
    level : array-like of shape (m,)
        Level name per triplet (``make_levels_triplets(...).level`` or
        :func:`triplet_levels`).
    y : array-like of shape (m,), optional
        Position of the answer in each row.
    structural : bool, default=True
        Whether the answers come from the category structure (True) or are
        real choices, human or model, that exist at every level (False).
    reference : array-like of shape (n_objects, d'), optional
        A reference representation (a human embedding) whose own odd-one-out
        choices are the answers; excludes ``y``.
    similarity : {"cosine", "dot"}, default="cosine"

    Returns
    -------
    result : sklearn.utils.Bunch
        ``levels`` (names, in ``coarse, class_boundary, subordinate`` order,
        then any others), ``accuracy`` (per level), ``n_triplets`` (per level),
        ``answer`` (``"structure"``, ``"choices"`` or ``"reference"``), ``chance``
        (1/3).

    Notes
    -----
    The levels follow AligNet (Muttenthaler et al. 2024, "Aligning machine and
    human visual representations across abstraction levels"). Coarse triplets
    (three coarse categories) have no answer in the category structure: with
    ``structural=True`` and no ``reference`` their accuracy is NaN, with a
    warning.
    Ties count as wrong (:func:`reprlign.triplets.odd_one_out_correct`).

    Examples
    --------
    >>> from reprlign import levels_agreement
    >>> from reprlign.datasets import make_hierarchical_concepts, make_levels_triplets
    >>> data = make_hierarchical_concepts(random_state=0)
    >>> lv = make_levels_triplets(data.coarse, data.fine, 300, random_state=0)
    >>> res = levels_agreement(data.model, lv.triplets, lv.level, reference=data.human)
    >>> res.levels
    ['coarse', 'class_boundary', 'subordinate']
    >>> bool(res.accuracy.min() > res.chance)
    True
    """
    t = validate_triplets(triplets)
    level = np.asarray(level).astype(str)
    if level.shape != (len(t),):
        raise ValueError(f"level must have one entry per triplet ({len(t)}), got shape "
                         f"{level.shape}")
    if y is not None and reference is not None:
        raise ValueError("give either y or reference, not both")
    if reference is not None:
        R = check_features(reference, name="reference")
        y = predict_odd_one_out(R, t, similarity=similarity)
        answer = "reference"
    else:
        answer = "structure" if structural else "choices"
    correct = odd_one_out_correct(Z, t, y, similarity=similarity)
    names = [lv for lv in LEVELS if lv in set(level)]
    names += sorted(str(lv) for lv in set(level) - set(LEVELS))
    acc, count = [], []
    for lv in names:
        rows = level == lv
        count.append(int(rows.sum()))
        if answer == "structure" and lv == "coarse":
            warnings.warn("coarse triplets have no answer in the category structure: their "
                          "accuracy is NaN (pass y or reference)", stacklevel=2)
            acc.append(np.nan)
        else:
            acc.append(float(correct[rows].mean()))
    return Bunch(levels=names, accuracy=np.asarray(acc), n_triplets=np.asarray(count),
                 answer=answer, chance=1 / 3)
