"""Canonical form, validation and conversion of odd-one-out triplets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..utils._validation import check_in_memory
from .validation import odd_positions, validate_triplets


def canonicalize(triplets, odd_position):
    """Reorder triplets so that the odd one out is last.

    Parameters
    ----------
    triplets : array-like of shape (m, 3)
        Object indices in any order.
    odd_position : array-like of shape (m,)
        Position (0, 1 or 2) of the odd one out in each row.

    Returns
    -------
    numpy.ndarray of shape (m, 3)
        The kept pair in its original order, then the odd one out.
    """
    arr = validate_triplets(triplets)
    odd = odd_positions(odd_position, arr.shape[0], name="odd_position")
    # For each odd position, the order of columns that puts it last.
    order = np.array([[1, 2, 0], [0, 2, 1], [0, 1, 2]])[odd]
    return np.take_along_axis(arr, order, axis=1)


def from_things(raw, *, one_based=True):
    """Convert THINGS rows ``obj1 obj2 obj3 choice [...]`` to canonical triplets.

    Parameters
    ----------
    raw : array-like of shape (m, >= 4)
        Object ids in the first three columns and the position of the odd one
        out (``choice``, in {1, 2, 3}) in the fourth; further columns (such as
        a participant id) are ignored.
    one_based : bool, default=True
        Whether object ids start at 1 (as in the THINGS files).

    Returns
    -------
    numpy.ndarray of shape (m, 3)
        0-based canonical triplets, odd one out last.
    """
    check_in_memory(raw, "raw")
    raw = np.asarray(raw)
    if raw.ndim != 2 or raw.shape[1] < 4:
        raise ValueError(f"raw must have shape (m, >=4): obj1 obj2 obj3 choice; got {raw.shape}")
    if not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"raw must hold integers, got dtype {raw.dtype}")
    choice = raw[:, 3].astype(np.int64)
    bad = ~np.isin(choice, (1, 2, 3))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"raw row {row}: choice must be 1, 2 or 3, got {choice[row]}")
    objects = raw[:, :3].astype(np.int64) - (1 if one_based else 0)
    return canonicalize(objects, choice - 1)


def read_triplets(path, *, format="things"):
    """Read triplets from a whitespace- or tab-separated text file.

    Parameters
    ----------
    path : str or Path
        The file; lines starting with ``#`` are comments.
    format : {"things", "canonical"}, default="things"
        ``"things"``: columns ``obj1 obj2 obj3 choice [participant ...]`` with
        1-based objects and choice in {1, 2, 3}. ``"canonical"``: three 0-based
        columns with the odd one out last.

    Returns
    -------
    numpy.ndarray of shape (m, 3)
        Canonical 0-based triplets.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"triplet file not found: {path}")
    try:
        raw = np.loadtxt(path, dtype=np.int64, comments="#", ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: could not read integer columns: {exc}") from exc
    if format == "things":
        return from_things(raw)
    if format == "canonical":
        if raw.shape[1] != 3:
            raise ValueError(f"{path}: canonical format needs 3 columns, found {raw.shape[1]}")
        return validate_triplets(raw, name=str(path))
    raise ValueError(f"format must be 'things' or 'canonical', got {format!r}")
