"""Mutual k-nearest-neighbour alignment (Huh et al. 2024)."""

from __future__ import annotations

import numbers

import numpy as np

from ..utils.backend import get_backend
from ._common import (
    center_columns,
    check_block_size,
    check_pair,
    degenerate,
    nonzero_rows,
    row_sq_norms,
    unit_scale,
)
from .registry import KNN_METRICS as METRICS

_BLOCK_ENTRIES = 1 << 22
# Similarities within this many ulps (of the largest one can be) are tied.
_TIE_ULPS = 256


def _neighbours(X, rows, k, metric, sq, nx, tol):
    """Boolean mask (rows x n) of the k nearest other stimuli of each row in ``rows``.

    Neighbours tied at the k-th place go to the lower stimulus index, so the
    sets are well defined for duplicate stimuli and the same on every back end.
    Similarities within ``tol`` of the k-th largest count as tied: a matrix
    product rounds differently at different positions, so the similarities to
    two duplicate stimuli can differ in their last bits.
    """
    S = X[rows] @ X.T
    if metric == "euclidean":  # nearest = largest -||x - x'||^2 (up to a per-row constant)
        S = 2 * S - sq[None, :]
    idx = np.arange(rows.start, rows.stop)
    S[nx.index(np.arange(len(idx)), S), nx.index(idx, S)] = -np.inf
    kth = nx.kth_largest(S, k)[:, None]
    above = S > kth + tol
    tied = (S >= kth - tol) & ~above
    # the first (k - #above) of the tied entries, by index
    return above | (tied & (tied.cumsum(1) <= k - above.sum(1)[:, None]))


def _all_rows_equal(Z, nx):
    """Whether every row of ``Z`` is the same, to rounding (normalised rows differ by ulps)."""
    spread = nx.absmax(nx.amax(Z, 0) - nx.amin(Z, 0))
    return spread <= 8 * nx.eps(Z) * nx.absmax(Z)


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
    the mutual nearest-neighbour metric. Neighbours tied at the k-th place
    (duplicate stimuli, say) go to the lower stimulus index, on every back end
    (Huh et al.'s code breaks such ties arbitrarily); similarities within 256
    ulps of the largest possible one count as tied, since rounding makes the
    similarities to two duplicate stimuli differ in their last bits. When a representation
    has no neighbour structure at all (every row the same, or for cosine every
    row pointing the same way) the score is undefined: 0.0 is returned with a
    ``RuntimeWarning``; an all-zero row under cosine raises a ``ValueError``.
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
    block_size = check_block_size(block_size) or max(1, _BLOCK_ENTRIES // n)
    (X, _), (Y, _) = unit_scale(X, nx), unit_scale(Y, nx)
    if metric == "cosine":
        for name, Z in (("X", X), ("Y", Y)):
            nonzero_rows(row_sq_norms(Z, nx), name, "all-zero", "cosine similarity",
                         "use metric='euclidean'")
        X, Y = nx.row_normalize(X), nx.row_normalize(Y)
    else:  # distances ignore translation; centring keeps them accurate
        X, Y = center_columns(X, nx), center_columns(Y, nx)
    for name, Z in (("X", X), ("Y", Y)):
        if _all_rows_equal(Z, nx):
            what = "its rows are all equal" + (" up to scale" if metric == "cosine" else "")
            return nx.to_output(degenerate("mutual k-NN", f"{name} has no neighbour structure "
                                           f"({what}, so every neighbour ties)"), X)
    sx = (X**2).sum(axis=1)
    sy = (Y**2).sum(axis=1)
    # rounding of the similarities: a few ulps of the largest magnitude a product can reach
    # (1 for unit rows; 3 max ||x||^2 for 2 x.x' - ||x'||^2)
    tx, ty = ((_TIE_ULPS * nx.eps(Z) * (1.0 if metric == "cosine" else 3 * nx.absmax(sz)))
              for Z, sz in ((X, sx), (Y, sy)))
    total = 0
    for start in range(0, n, block_size):
        rows = slice(start, min(n, start + block_size))
        near_x = _neighbours(X, rows, k, metric, sx, nx, tx)
        near_y = _neighbours(Y, rows, k, metric, sy, nx, ty)
        total += int((near_x & near_y).sum())
    return nx.to_output(total / (n * k), X)
