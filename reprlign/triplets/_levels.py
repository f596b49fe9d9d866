"""Levels of abstraction of odd-one-out triplets (AligNet's "Levels")."""

from __future__ import annotations

import numpy as np

from ..utils._validation import check_in_memory
from .validation import validate_triplets

# The three levels, coarsest first: three coarse categories; two share a coarse
# category; one coarse category with two sharing a fine one.
LEVELS = ("coarse", "class_boundary", "subordinate")


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
    check_in_memory(coarse, "coarse")
    check_in_memory(fine, "fine")
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
