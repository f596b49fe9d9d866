"""Levels of abstraction of odd-one-out triplets (AligNet's "Levels")."""

from __future__ import annotations

import numpy as np

from ..utils._validation import as_array, check_in_memory
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
        Labels of every object; ``None`` or a missing value (NaN, ``pd.NA``)
        marks an object outside the hierarchy (its triplets are ``"other"``).

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
    coarse, fine = _labels(coarse, "coarse"), _labels(fine, "fine")
    if coarse.shape != fine.shape or coarse.ndim != 1:
        raise ValueError(f"coarse and fine must be 1-D of equal length, got {coarse.shape} "
                         f"and {fine.shape}")
    if t.max() >= len(coarse):
        raise ValueError(f"triplets index object {t.max()}, but only {len(coarse)} have labels")
    no_coarse = np.array([_missing(x) for x in coarse], dtype=bool)
    no_fine = np.array([_missing(x) for x in fine], dtype=bool)
    c, f = coarse[t], fine[t]
    n_coarse = np.array([len(set(row)) for row in c])
    n_fine = np.array([len(set(row)) for row in f])
    level = np.full(len(t), "other", dtype=object)
    level[(n_coarse == 3)] = "coarse"
    level[(n_coarse == 2)] = "class_boundary"
    level[(n_coarse == 1) & (n_fine == 2)] = "subordinate"
    # An object without a coarse label makes any level unknown; without a fine label,
    # only the subordinate one (within one coarse category the fine labels decide).
    level[no_coarse[t].any(axis=1) | ((n_coarse == 1) & no_fine[t].any(axis=1))] = "other"
    return level.astype(str)


def _labels(values, name):
    """Labels as a 1-D object array (numpy scalars as Python ones: ``1`` and ``1.0`` match)."""
    arr = as_array(values, name, "an array of labels")
    return np.array(arr.tolist() if arr.dtype != object else list(arr), dtype=object) \
        if arr.ndim == 1 else arr.astype(object)


def _missing(x):
    """None, NaN, ``pd.NA`` and ``pd.NaT``: no label."""
    if x is None:
        return True
    try:
        return bool(x != x)
    except TypeError:  # pd.NA: its truth value is ambiguous
        return True
