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


# --------------------------------------------------------------------------- measures
# The helpers below serve reprlign.measures: each takes numpy arrays or torch
# tensors and answers in kind, so a formula is written once for both.


def to_float64(x):
    """``x`` in float64 (numpy ``astype`` or torch ``.double()``), on its device."""
    if is_torch(x):
        return x.double()
    return np.asarray(x, dtype=np.float64)


def like(value, ref):
    """``value`` (array-like) as an array of ``ref``'s kind, dtype and device."""
    if is_torch(ref):
        import torch

        return torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
    return np.asarray(value, dtype=ref.dtype)


def to_scalar(x):
    """A Python float from numpy, a 0-d tensor (kept differentiable) from torch."""
    if is_torch(x):
        return x.reshape(())
    return float(x)


def sqrt(x):
    """Elementwise square root that keeps tensors on their device (and in the graph)."""
    if is_torch(x):
        return x.sqrt()
    return np.sqrt(x)


def svdvals(x):
    """Singular values of a 2-D array or tensor."""
    if is_torch(x):
        import torch

        return torch.linalg.svdvals(x)
    return np.linalg.svd(x, compute_uv=False)


def upper_triangle(D, k=1):
    """Entries above the ``k``-th diagonal of a square matrix, row by row.

    The order matches :func:`scipy.spatial.distance.squareform` (and rsatoolbox's
    RDM vectors) for ``k=1``.
    """
    n = D.shape[0]
    if is_torch(D):
        import torch

        mask = torch.ones(n, n, dtype=torch.bool, device=D.device).triu_(k)
        return D[mask]
    if k == 1 and D.flags.c_contiguous:
        from scipy.spatial.distance import squareform

        # A C loop with no index arrays: much lighter than D[np.triu_indices(n, 1)].
        return squareform(D, checks=False, force="tovector")
    return D[np.triu_indices(n, k)]


def rankdata(x):
    """Ranks 1..m of a 1-D array or tensor, ties get their average rank (float64)."""
    if is_torch(x):
        import torch

        values, order = torch.sort(x.detach())
        m = values.shape[0]
        new = torch.ones(m, dtype=torch.bool, device=x.device)
        new[1:] = values[1:] != values[:-1]
        del values
        ranks = torch.empty(m, dtype=torch.float64, device=x.device)
        if int(new.sum()) == m:  # no ties: one scatter, no group ids (memory matters on GPUs)
            ranks[order] = torch.arange(1, m + 1, dtype=torch.float64, device=x.device)
            return ranks
        group = torch.cumsum(new.long(), 0) - 1
        starts = torch.nonzero(new).reshape(-1)
        ends = torch.cat([starts[1:], torch.tensor([m], device=x.device)])
        avg = (starts + ends + 1).double() / 2.0
        ranks[order] = avg[group]
        return ranks
    x = np.asarray(x)
    m = x.shape[0]
    order = np.argsort(x)  # numpy's SIMD sort: far faster than scipy's rankdata
    values = x[order]
    new = np.empty(m, dtype=bool)
    new[0] = True
    np.not_equal(values[1:], values[:-1], out=new[1:])
    del values
    ranks = np.empty(m, dtype=np.float64)
    if np.count_nonzero(new) == m:  # no ties: the common case, one scatter
        ranks[order] = np.arange(1, m + 1, dtype=np.float64)
        return ranks
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], m)
    avg = (starts + ends + 1) / 2.0
    ranks[order] = avg[np.cumsum(new) - 1]
    return ranks


def top_k(S, k):
    """Column indices of the ``k`` largest entries of each row of ``S`` (unordered)."""
    if is_torch(S):
        return S.topk(k, dim=1).indices
    return np.argpartition(-S, k - 1, axis=1)[:, :k]
