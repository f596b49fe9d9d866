"""Argument checks that produce errors naming the argument and the problem."""

from __future__ import annotations

import numbers

import numpy as np

from ._backend import is_torch
from .backend import get_backend, is_dask


def check_features(X, *, name="X", keep_torch=True, dtype=None, min_samples=1):
    """Validate a 2-D table of finite numbers, numpy or torch.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n, d)
        The features.
    name : str
        The argument's name, used in error messages.
    keep_torch : bool
        Return torch tensors unchanged (after the checks); otherwise a tensor is
        copied to a numpy array and checked as one.
    dtype : numpy dtype or None
        Cast numpy input to this floating dtype; None keeps float32/float64 and
        casts anything else to float64.
    min_samples : int
        The smallest number of rows accepted.

    A table without columns is refused; numpy input that is neither float32
    nor float64 becomes float64, torch float16 and bfloat16 become float32.
    A dask array is refused with a ``TypeError`` rather than computed whole
    (the measures that take dask arrays validate them through their back end).

    Returns
    -------
    numpy.ndarray or torch.Tensor
    """
    if is_torch(X) and not keep_torch:
        X = X.detach().cpu().numpy()
    if is_torch(X):
        if X.is_complex():
            raise TypeError(f"{name} must hold real numbers, got complex dtype {X.dtype}")
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n, d), got shape {tuple(X.shape)}")
        _check_columns(X.shape, name)
        if not X.is_floating_point():
            X = X.double()
        elif X.element_size() < 4:  # float16, bfloat16: too coarse for the sums that follow
            X = X.float()
        if not bool(X.isfinite().all()):
            raise ValueError(f"{name} contains NaN or infinite values")
        if X.shape[0] < min_samples:
            raise ValueError(f"{name} needs at least {min_samples} rows, got {X.shape[0]}")
        return X
    if isinstance(X, str | bytes) or X is None:
        raise TypeError(f"{name} must be a 2-D numeric array, got {type(X).__name__}")
    check_in_memory(X, name)
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
    ):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real numbers, got complex dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {arr.shape}")
    _check_columns(arr.shape, name)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise ValueError(f"{name} contains NaN or infinite values in {bad} row(s)")
    if arr.shape[0] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} rows, got {arr.shape[0]}")
    return arr


def check_in_memory(x, name):
    """Refuse a dask array for an argument that is read whole, in one process.

    Converting it with ``np.asarray`` would compute the whole array on the
    client without a word; the ``TypeError`` (the dask back end's refusal)
    says to compute it, or a subsample, first.
    """
    if is_dask(x):
        get_backend(x).refuse(f"{name} here", "needs the whole array in one process",
                              f"Compute it in memory first ({name}.compute(), or a subsample: "
                              f"{name}[:m].compute()).")


def _check_columns(shape, name):
    if shape[1] == 0:
        raise ValueError(f"{name} has shape {tuple(shape)}: no features (columns)")


def check_positive(value, name, *, strict=True, integer=False):
    """Check that ``value`` is a (strictly) positive real or integer scalar."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a number"
        raise TypeError(f"{name} must be {what}, got {value!r}")
    if not np.isfinite(value) or (value <= 0 if strict else value < 0):
        sign = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {sign}, got {value!r}")
    return value


def check_random_state(random_state, name="random_state"):
    """:func:`sklearn.utils.check_random_state`, with an error that names the argument."""
    from sklearn.utils import check_random_state as sk_check_random_state

    if isinstance(random_state, bool):  # (True would seed with 1)
        raise ValueError(f"{name} must be None, an int in [0, 2**32 - 1] or a RandomState, "
                         f"got {random_state!r}")
    try:
        return sk_check_random_state(random_state)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be None, an int in [0, 2**32 - 1] or a RandomState, "
                         f"got {random_state!r} ({exc})") from exc


def check_flag(value, name):
    """``value`` as a bool; anything but a bool (``"no"``, None, 0) is a ``TypeError``."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def as_array(values, name, what="an array"):
    """``values`` (array-like or tensor) as a numpy array, or an error naming ``name``.

    A tensor is detached to the CPU; a dask array is refused
    (:func:`check_in_memory`); None, strings and dicts are a ``TypeError``
    ("``name`` must be ``what``"); ragged nested lists a ``ValueError``. The
    dtype is left to the caller.
    """
    if is_torch(values):
        values = values.detach().cpu().numpy()
    check_in_memory(values, name)
    if values is None or isinstance(values, str | bytes | dict):
        raise TypeError(f"{name} must be {what}, got {type(values).__name__}")
    try:
        return np.asarray(values)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} could not be read as an array: {exc}") from exc


def index_array(values, name):
    """``values`` (array-like or tensor) as an integer numpy array, dtype checked by name.

    Strings, objects and complex numbers are a ``TypeError``, floats and booleans a
    ``ValueError`` (indices and positions are integers); ragged input a ``ValueError``.
    """
    arr = as_array(values, name, "an array of integers")
    if arr.dtype.kind in "OSUVc":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr

