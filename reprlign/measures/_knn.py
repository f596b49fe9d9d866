"""Mutual k-nearest-neighbour alignment (Huh et al. 2024)."""

from __future__ import annotations

import numbers

import numpy as np

from ..utils.backend import get_backend
from ._common import check_pair
from .registry import KNN_METRICS as METRICS

_BLOCK_ENTRIES = 1 << 22


def _neighbours(X, rows, k, metric, sq, nx):
    """Indices of the k nearest other stimuli for each row in ``rows``."""
    S = X[rows] @ X.T
    if metric == "euclidean":  # nearest = largest -||x - x'||^2 (up to a per-row constant)
        S = 2 * S - sq[None, :]
    idx = np.arange(rows.start, rows.stop)
    S[nx.index(np.arange(len(idx)), S), nx.index(idx, S)] = -np.inf
    return nx.top_k(S, k)


def mutual_knn(X, Y, k=10, *, metric="cosine", block_size=None):
    """Mean overlap of the k-nearest-neighbour sets of each stimulus in X and in Y.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n, d1)
        First representation, one row per stimulus.
    Y : array-like or torch.Tensor of shape (n, d2)
        Second representation of the same stimuli.
    k : int, default=10
        Neighbours per stimulus (itself excluded), ``1 <= k < n``.
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"`` ranks neighbours by inner products of L2-normalised rows,
        as Huh et al. do; ``"euclidean"`` by Euclidean distance.
    block_size : int or None, default=None
        Rows of the n x n similarity matrix computed at once (memory
        ``O(block_size x n)``); None picks about 4 million entries per block.

    Returns
    -------
    float or torch.Tensor
        ``mean_i |N_X(i) & N_Y(i)| / k`` in [0, 1]; a Python float for numpy
        input, a 0-d tensor for torch input. Chance is about ``k / (n - 1)``.

    See Also
    --------
    cka, rsa

    Notes
    -----
    Huh, Cheung, Wang & Isola (2024), "The platonic representation hypothesis":
    the mutual nearest-neighbour metric. Exact ties between neighbour
    similarities (duplicate stimuli) are broken arbitrarily, as in their code.
    The score is a count and is not differentiable.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import mutual_knn
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(300, 20)
    >>> mutual_knn(X, 5 * X, k=10)
    1.0
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    X, Y = check_pair(X, Y)
    nx = get_backend(X)
    if nx.chunked:
        nx.refuse("mutual_knn", "needs the k nearest neighbours of every stimulus among all "
                  "others (O(n^2 d) work over pairs of row blocks)",
                  "Compute it on a subsample in memory (X[idx].compute()), or compare the "
                  "representations with cka, which is exact over chunks.")
    n = X.shape[0]
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k < n:
        raise ValueError(f"k must be an integer with 1 <= k < n = {n}, got {k!r}")
    if block_size is None:
        block_size = max(1, _BLOCK_ENTRIES // n)
    if metric == "cosine":
        X, Y = nx.row_normalize(X), nx.row_normalize(Y)
    sx = (X**2).sum(axis=1)
    sy = (Y**2).sum(axis=1)
    total = 0
    for start in range(0, n, block_size):
        rows = slice(start, min(n, start + block_size))
        near_x = _neighbours(X, rows, k, metric, sx, nx)
        near_y = _neighbours(Y, rows, k, metric, sy, nx)
        # Neighbour sets have no repeats, so counting equal pairs counts the overlap.
        total += int((near_x[:, :, None] == near_y[:, None, :]).sum())
    return nx.to_output(total / (n * k), X)
