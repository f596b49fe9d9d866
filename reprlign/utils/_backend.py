"""Minimal numpy/torch dispatch so one formula serves both back ends.

Only what the lower layers need lives here; torch is imported lazily so that a
numpy-only call never pays for it.
"""

from __future__ import annotations

import sys

import numpy as np


def is_torch(x) -> bool:
    """True when ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def softmax(x, axis=-1):
    """Numerically stable softmax for numpy arrays and torch tensors."""
    if is_torch(x):
        return x.softmax(dim=axis)
    z = x - x.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def row_normalize(x):
    """Scale rows to unit L2 norm; rows of zeros stay zero."""
    if is_torch(x):
        import torch

        return x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def as_index(idx, like):
    """Integer indices in the form that indexes ``like`` (numpy array or tensor)."""
    if is_torch(like):
        import torch

        return torch.as_tensor(np.asarray(idx), dtype=torch.long, device=like.device)
    return np.asarray(idx)
