"""Repeated triplets: grouping, human choice distributions and the noise ceiling."""

from __future__ import annotations

import warnings

import numpy as np

from ..utils._validation import check_flag
from .validation import odd_positions, validate_triplets


def triplet_groups(triplets):
    """Group id per triplet: equal for the same three objects in any order.

    Use it as ``groups=`` of :class:`sklearn.model_selection.GroupKFold` so
    that repeats of one triplet never straddle train and test.

    Returns
    -------
    numpy.ndarray of shape (m,), int64
        Ids 0..u-1 in the order of the sorted unique object sets.
    """
    t = np.sort(validate_triplets(triplets), axis=1)
    return _unique_rows(t)[1].astype(np.int64)


def _unique_rows(sets):
    """``np.unique(sets, axis=0, return_inverse=True)`` for (m, 3) non-negative ints, faster.

    Each row is packed into one int64 key (21 bits per column) when the indices
    fit, so the sort is over m integers instead of m rows; the order (and so
    the result) is the same lexicographic one.
    """
    if sets.shape[0] and sets.max() < 2**21:
        keys = (sets[:, 0].astype(np.int64) << 42) | (sets[:, 1].astype(np.int64) << 21) \
            | sets[:, 2].astype(np.int64)
        ukeys, inverse = np.unique(keys, return_inverse=True)
        mask = 2**21 - 1
        uniq = np.stack([ukeys >> 42, (ukeys >> 21) & mask, ukeys & mask], axis=1)
        return uniq.astype(sets.dtype), inverse.reshape(-1)
    uniq, inverse = np.unique(sets, axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1)


def aggregate_triplets(triplets, y=None, *, return_inverse=False):
    """Pool repeated triplets into per-triplet human choice distributions.

    Parameters
    ----------
    triplets : array-like of shape (m, 3)
        Object indices; repeats may list the objects in any order.
    y : None or array-like of shape (m,)
        Odd-one-out positions; None means canonical (odd one out last).
    return_inverse : bool, default=False
        Also return, for each input row, the index of its unique triplet.

    Returns
    -------
    unique : numpy.ndarray of shape (u, 3)
        One canonical row per distinct object set: the majority odd one out
        last (an exact tie goes to the object with the smallest index), the
        other two in increasing order.
    proba : numpy.ndarray of shape (u, 3)
        Human choice distribution in the odd-one-out layout of ``unique``.
    counts : numpy.ndarray of shape (u, 3)
        How many responses chose each position as odd one out.
    inverse : numpy.ndarray of shape (m,)
        Only with ``return_inverse=True``.
    """
    return_inverse = check_flag(return_inverse, "return_inverse")
    unique, counts, inverse, _ = _tally(triplets, y)
    proba = counts / counts.sum(axis=1, keepdims=True)
    if return_inverse:
        return unique, proba, counts, inverse
    return unique, proba, counts


def _tally(triplets, y):
    """Unique canonical rows, their counts, and each response's row and odd position in it."""
    t = validate_triplets(triplets)
    odd = odd_positions(y, t.shape[0])
    odd_object = t[np.arange(t.shape[0]), odd]
    sets = np.sort(t, axis=1)
    uniq, inverse = _unique_rows(sets)
    # Position of the chosen odd object within the sorted set.
    sorted_pos = np.argmax(sets == odd_object[:, None], axis=1)
    counts_sorted = np.bincount(3 * inverse + sorted_pos, minlength=3 * uniq.shape[0])
    counts_sorted = counts_sorted.reshape(-1, 3).astype(np.int64)
    majority = counts_sorted.argmax(axis=1)  # ties: first = smallest object id
    orders = np.array([[1, 2, 0], [0, 2, 1], [0, 1, 2]])
    order = orders[majority]
    unique = np.take_along_axis(uniq, order, axis=1)
    counts = np.take_along_axis(counts_sorted, order, axis=1)
    # Where each sorted position went in its canonical row.
    pos = np.argsort(orders, axis=1)[majority[inverse], sorted_pos]
    return unique, counts, inverse, pos


def noise_ceiling(triplets, y=None):
    """Leave-one-out human noise ceiling of repeated odd-one-out judgments.

    Each response is predicted by the majority choice of the *other* responses
    to the same triplet; a tie among their majority choices scores the
    expected value of breaking it uniformly at random. The ceiling is the mean
    over responses. Triplets answered only once have no "others" and are left
    out, with a warning that says how many.

    Parameters
    ----------
    triplets : array-like of shape (m, 3)
        One row per response.
    y : None or array-like of shape (m,)
        Odd-one-out positions; None means canonical.

    Returns
    -------
    float
        About 0.644 on the bundled THINGS noise-ceiling set (chance: 1/3).
    """
    _, counts, inverse, pos = _tally(triplets, y)
    others = counts[inverse].copy()
    others[np.arange(len(pos)), pos] -= 1
    n_others = others.sum(axis=1)
    keep = n_others > 0
    n_single = int((~keep).sum())
    if n_single:
        warnings.warn(
            f"noise_ceiling: {n_single} response(s) to triplets answered only once were left out",
            UserWarning,
            stacklevel=2,
        )
    if not keep.any():
        raise ValueError("triplets: no triplet was answered more than once; the noise ceiling "
                         "needs repeated triplets (the same three objects, any order)")
    others, pos = others[keep], pos[keep]
    is_max = others == others.max(axis=1, keepdims=True)
    score = is_max[np.arange(len(pos)), pos] / is_max.sum(axis=1)
    return float(score.mean())
