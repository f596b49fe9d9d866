"""Orthogonal Procrustes similarity and the angular shape distance."""

from __future__ import annotations

import numpy as np

from ..utils._backend import is_torch, like, sqrt, svdvals, to_float64, to_scalar
from ._common import center_columns, check_pair, degenerate

MEASURES = ("similarity", "angular")


def _reduce_columns(X):
    """An (n, n) matrix with the same inner products between rows as ``X`` (when d > n).

    With ``X' = Q R`` (thin QR), ``X' Y = Q (R Y)`` and ``Q`` has orthonormal
    columns, so singular values of ``X' Y`` are those of ``R Y``: use ``R'``.
    """
    n, d = X.shape
    if d <= n:
        return X
    if is_torch(X):
        import torch

        return torch.linalg.qr(X.T, mode="reduced")[1].T
    return np.linalg.qr(X.T, mode="r").T


def procrustes(X, Y, *, measure="similarity"):
    """Orthogonal Procrustes similarity (or angular distance) between two representations.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n, d1)
        First representation, one row per stimulus.
    Y : array-like or torch.Tensor of shape (n, d2)
        Second representation of the same stimuli.
    measure : {"similarity", "angular"}, default="similarity"
        ``"similarity"``: ``||X~' Y~||_* / (||X~||_F ||Y~||_F)`` in [0, 1]
        (1 when Y is a rotation, reflection, scaling and translation of X);
        ``"angular"``: ``arccos`` of it, a metric in [0, pi/2].

    Returns
    -------
    float or torch.Tensor
        A Python float for numpy input, a 0-d tensor for torch input. When X or
        Y has no variance across stimuli the similarity is undefined: 0.0 (or
        pi/2 for ``"angular"``) is returned with a ``RuntimeWarning``.

    See Also
    --------
    cka : linear CKA, which weighs all directions by their variance squared.

    Notes
    -----
    ``X~`` and ``Y~`` are the column-centred representations and ``||.||_*``
    is the nuclear norm (sum of singular values): the largest
    ``tr(Q' X~' Y~)`` over orthogonal ``Q``, zero-padding the narrower
    representation. The angular distance is the shape metric of Williams et
    al. (2021), "Generalized shape metrics on neural representations". The
    similarity equals the Bures similarity of the two centred linear kernels
    (rsatoolbox's ``bures`` comparison of Euclidean RDMs). When ``d > n`` the
    features are first reduced to ``n`` columns with a QR decomposition, which
    keeps the singular values.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import procrustes
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 5)
    >>> Q, _ = np.linalg.qr(rng.randn(5, 5))
    >>> round(procrustes(X, 2 * X @ Q - 3), 6)
    1.0
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    X, Y = check_pair(X, Y)
    Xc = center_columns(X)
    Yc = center_columns(Y)
    nx = sqrt((to_float64(Xc) ** 2).sum())
    ny = sqrt((to_float64(Yc) ** 2).sum())
    for which, norm in (("X", nx), ("Y", ny)):
        if not bool(norm > 0):
            value = 0.0 if measure == "similarity" else float(np.pi / 2)
            value = degenerate("Procrustes similarity", f"{which} has no variance", value)
            return to_scalar(like(value, X)) if is_torch(X) else value
    M = to_float64(_reduce_columns(Xc).T @ _reduce_columns(Yc))
    sim = svdvals(M).sum() / (nx * ny)
    sim = sim.clamp(0.0, 1.0) if is_torch(sim) else min(1.0, max(0.0, float(sim)))
    if measure == "angular":
        sim = sim.arccos() if is_torch(sim) else float(np.arccos(sim))
    if is_torch(X):
        return to_scalar(sim.to(X.dtype))
    return float(sim)
