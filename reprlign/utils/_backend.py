"""numpy/torch helpers for the families below the measures, on :mod:`reprlign.utils.backend`.

The back ends themselves live in :mod:`reprlign.utils.backend`; these
functions keep the short spellings the triplet and inspection code use.
"""

from __future__ import annotations

from .backend import get_backend, is_torch

__all__ = ["as_index", "is_torch", "row_normalize", "softmax"]


def softmax(x, axis=-1):
    """Numerically stable softmax for numpy arrays and torch tensors."""
    return get_backend(x).softmax(x, axis=axis)


def row_normalize(x):
    """Scale rows to unit L2 norm; rows of zeros stay zero."""
    return get_backend(x).row_normalize(x)


def as_index(idx, like):
    """Integer indices in the form that indexes ``like`` (numpy array or tensor)."""
    return get_backend(like).index(idx, like)
