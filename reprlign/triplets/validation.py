"""Validation of triplets, odd-one-out positions and choice distributions.

Shared by every family that takes triplet data (the triplet functions, the
alignment estimators, the temperature fit, the datasets): one place says what a
valid triplet, odd-one-out position and choice distribution is.
:func:`validate_triplets` is also exported from :mod:`reprlign.triplets`.
"""

from __future__ import annotations

import numpy as np

from ..utils._backend import is_torch
from ..utils._validation import as_array, check_in_memory, index_array

__all__ = ["check_distributions", "check_targets", "odd_positions", "validate_triplets"]


def validate_triplets(triplets, n_objects=None, *, name="triplets"):
    """Check triplets and return them as an ``int64`` array of shape (m, 3).

    Parameters
    ----------
    triplets : array-like of shape (m, 3)
        Object indices, 0-based.
    n_objects : int or None
        When given, every index must be in ``[0, n_objects)``.
    name : str
        Name of the argument, used in error messages.

    Returns
    -------
    numpy.ndarray of shape (m, 3), dtype int64

    Raises
    ------
    TypeError
        For a dask array: the triplets are read whole, so compute them first.
    ValueError
        For a wrong shape, floats or booleans, an index out of range or a
        triplet whose objects are not distinct; the message names the first
        offending row.
    TypeError
        For strings (even numeric ones), objects or complex numbers.
    """
    if is_torch(triplets):
        triplets = triplets.detach().cpu().numpy()
    if triplets is None or isinstance(triplets, str | bytes | dict):
        raise ValueError(f"{name} must be an integer array of shape (m, 3), got {triplets!r:.80}")
    check_in_memory(triplets, name)
    try:
        arr = np.asarray(triplets)
    except Exception as exc:
        raise ValueError(f"{name} could not be read as an array: {exc}") from exc
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape (m, 3), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one triplet is needed")
    if arr.dtype.kind in "OSUVc":  # strings (even numeric ones), objects, complex numbers
        raise TypeError(f"{name} must hold integers (object indices), got dtype {arr.dtype}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers (object indices), got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    cols = np.ascontiguousarray(arr.T)  # three contiguous columns: fast vectorised checks
    # Global min/max first (cheap); the offending row is only searched for on failure.
    if cols.min() < 0:
        row = int(np.argmax((cols < 0).any(axis=0)))
        raise ValueError(f"{name} row {row} has a negative index: {arr[row].tolist()}")
    if n_objects is not None and cols.max() >= n_objects:
        row = int(np.argmax((cols >= n_objects).any(axis=0)))
        raise ValueError(
            f"{name} row {row} has an index out of range for {n_objects} objects: "
            f"{arr[row].tolist()}"
        )
    same = cols[0] == cols[1]
    same |= cols[0] == cols[2]
    same |= cols[1] == cols[2]
    if same.any():
        row = int(np.argmax(same))
        raise ValueError(
            f"{name} row {row} does not hold three distinct objects: {arr[row].tolist()}"
        )
    return arr


def odd_positions(y, n_triplets, *, name="y"):
    """Human odd-one-out positions (m,) from ``y`` (None = canonical, last column)."""
    if y is None:
        return np.full(n_triplets, 2, dtype=np.int64)
    y = index_array(y, name)
    if y.shape == (n_triplets, 3):
        raise ValueError(
            f"{name} has shape {y.shape}: that is a choice distribution; pass hard odd-one-out "
            "positions of shape (m,) here (for example y.argmax(axis=1))"
        )
    if y.shape != (n_triplets,):
        raise ValueError(f"{name} must have shape ({n_triplets},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or not np.isin(y, (0, 1, 2)).all():
        raise ValueError(f"{name} must hold odd-one-out positions 0, 1 or 2")
    return y.astype(np.int64)


def check_distributions(p, name, atol=1e-6):
    """Choice distributions (m, 3) as float64, rows non-negative, finite and summing to 1."""
    p = as_array(p, name, "an array of shape (m, 3)")
    if p.dtype.kind in "OSUVc":  # strings (even numeric ones), objects, complex numbers
        raise TypeError(f"{name} must hold real numbers, got dtype {p.dtype}")
    p = p.astype(np.float64, copy=False)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must have shape (m, 3), got {p.shape}")
    if p.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one row is needed")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative probabilities")
    sums = p.sum(axis=1)
    bad = np.abs(sums - 1) > atol
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name} row {row} sums to {sums[row]:.6g}, not 1")
    return p


def check_targets(y, n_triplets, *, name="y"):
    """Training targets of ``n_triplets`` triplets as choice distributions (m, 3).

    ``y`` as the triplet estimators' ``fit`` takes it: None (the last column is
    the odd one out), odd-one-out positions (m,), or choice distributions
    (m, 3). Returns the distributions as float64 (one-hot rows for hard
    labels) and whether the labels were hard.
    """
    if y is None:
        return np.tile(np.array([0.0, 0.0, 1.0]), (n_triplets, 1)), True
    if is_torch(y):
        y = y.detach().cpu().numpy()
    check_in_memory(y, name)
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape != (n_triplets, 3):
            raise ValueError(f"{name} as choice distributions must have shape ({n_triplets}, 3), "
                             f"got {y.shape}")
        return check_distributions(y, name), False
    return np.eye(3)[odd_positions(y, n_triplets, name=name)], True
