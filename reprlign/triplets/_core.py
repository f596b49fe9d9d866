"""Canonical form, validation and conversion of odd-one-out triplets."""

from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path

import numpy as np

from ..utils._validation import check_flag, index_array
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
    return _canonical(arr, odd_positions(odd_position, arr.shape[0], name="odd_position"))


def _canonical(arr, odd):
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

    Raises
    ------
    ValueError
        For a wrong shape, no rows, floats, a choice outside {1, 2, 3}, an
        object id below 1 (``one_based=True``) or 0, or a row whose objects
        are not distinct; the message names the first offending row.
    TypeError
        For strings (even numeric ones), objects or complex numbers, or a
        ``one_based`` that is not a bool.
    """
    return _from_things(raw, check_flag(one_based, "one_based"), "raw")


def _from_things(raw, one_based, name):
    raw = index_array(raw, name)
    if raw.ndim != 2 or raw.shape[1] < 4:
        raise ValueError(f"{name} must have shape (m, >=4): obj1 obj2 obj3 choice; "
                         f"got {raw.shape}")
    if raw.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one triplet is needed")
    if raw.dtype == bool or not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {raw.dtype}")
    choice = raw[:, 3].astype(np.int64)
    bad = ~np.isin(choice, (1, 2, 3))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name} row {row}: choice must be 1, 2 or 3, got {choice[row]}")
    objects = raw[:, :3].astype(np.int64)
    first = 1 if one_based else 0
    low = (objects < first).any(axis=1)
    if low.any():
        row = int(np.argmax(low))
        hint = " (THINGS ids start at 1; pass one_based=False for 0-based ids)" if first else ""
        raise ValueError(f"{name} row {row} has an object id below {first}: "
                         f"{objects[row].tolist()}{hint}")
    return _canonical(validate_triplets(objects, name=name), choice - 1) - first


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

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        For a file without triplets, with anything but integer columns, with
        rows of different lengths or the wrong number of columns, or with
        invalid triplets; the message names the file (and the row).
    """
    if format not in ("things", "canonical"):
        raise ValueError(f"format must be 'things' or 'canonical', got {format!r}")
    if not isinstance(path, str | PathLike):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"triplet file not found: {path}"
                                + (" (a directory)" if path.is_dir() else ""))
    try:
        with warnings.catch_warnings():  # (an empty file: said below, by name)
            warnings.simplefilter("ignore", UserWarning)
            raw = np.loadtxt(path, dtype=np.int64, comments="#", ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: could not read integer columns: {exc}") from exc
    if raw.size == 0:
        raise ValueError(f"{path}: no triplets in the file")
    if format == "things":
        return _from_things(raw, True, str(path))
    if raw.shape[1] != 3:
        raise ValueError(f"{path}: canonical format needs 3 columns, found {raw.shape[1]}")
    return validate_triplets(raw, name=str(path))
