"""Agreement of a representation with category structure, per level of abstraction."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import Bunch

from ..triplets import LEVELS
from ..triplets._choices import (
    _check_similarity,
    _correct,
    _features_and_triplets,
    _pair_columns,
    _referenced_rows,
    _stack,
)
from ..triplets.validation import odd_positions
from ..utils._torch import to_numpy
from ..utils._validation import check_in_memory


def levels_agreement(Z, triplets, level, y=None, *, structural=True, reference=None,
                     similarity="cosine"):
    """Odd-one-out agreement of a representation with a reference answer, per level.

    Parameters
    ----------
    Z : array-like, torch.Tensor or dask array of shape (n_objects, d)
        The representation to evaluate. A dask array is not computed whole:
        only the row chunks holding an object of ``triplets`` are read, once,
        and only those rows are kept (memory ``O(n_referenced_objects x d)``).
    triplets : array-like of shape (m, 3)
        Object indices; without ``y`` the last column is the answer (the
        category structure's odd one out for triplets from
        :func:`reprlign.datasets.make_levels_triplets`, the human choice for
        canonical human triplets).
    level : array-like of shape (m,)
        Level name per triplet (``make_levels_triplets(...).level`` or
        :func:`reprlign.triplets.triplet_levels`).
    y : array-like of shape (m,), optional
        Position of the answer in each row.
    structural : bool, default=True
        Whether the answers come from the category structure (True) or are
        real choices, human or model, that exist at every level (False).
    reference : array-like, torch.Tensor or dask array of shape (n_objects, d'), optional
        A reference representation (a human embedding) whose own odd-one-out
        choices are the answers; excludes ``y``. A dask array is read as
        ``Z`` is, at the rows the triplets name only.
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
    _check_similarity(similarity)
    Z, t = _features_and_triplets(Z, triplets, name="Z")
    check_in_memory(level, "level")
    level = np.asarray(level).astype(str)
    if level.shape != (len(t),):
        raise ValueError(f"level must have one entry per triplet ({len(t)}), got shape "
                         f"{level.shape}")
    if y is not None and reference is not None:
        raise ValueError("give either y or reference, not both")
    odd = None if y is None else odd_positions(y, len(t))
    if reference is not None:
        R, _ = _features_and_triplets(reference, t, name="reference")
        # every argument is checked before a dask Z or reference is read
        cols = _pair_columns(*_referenced_rows(R, t, name="reference"), similarity,
                             name="reference")
        odd = to_numpy(_stack(cols)).argmax(axis=1)
        answer = "reference"
    else:
        answer = "structure" if structural else "choices"
    correct = _correct(_pair_columns(*_referenced_rows(Z, t, name="Z"), similarity, name="Z"),
                       odd)
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
