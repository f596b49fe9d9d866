"""Orthogonal Procrustes similarity and the angular shape distance."""

from __future__ import annotations

import numpy as np

from ..utils.backend import get_backend
from ._common import center_columns, check_pair, degenerate
from .registry import PROCRUSTES_MEASURES as MEASURES


def _reduce_columns(X, nx):
    """An (n, n) matrix with the same inner products between rows as ``X`` (when d > n).

    With ``X' = Q R`` (thin QR), ``X' Y = Q (R Y)`` and ``Q`` has orthonormal
    columns, so singular values of ``X' Y`` are those of ``R Y``: use ``R'``.
    """
    n, d = X.shape
    if d <= n:
        return X
    return nx.qr_r(X.T).T


def procrustes(X, Y, *, measure="similarity"):
    """Orthogonal Procrustes similarity (or angular distance) between two representations.

    Parameters
    ----------
    X : array-like, torch.Tensor or dask array of shape (n, d1)
        First representation, one row per stimulus.
    Y : array-like, torch.Tensor or dask array of shape (n, d2)
        Second representation of the same stimuli. Dask arrays are reduced
        chunk by chunk (``X~'Y~`` and the norms are sums over row chunks).
    measure : {"similarity", "angular"}, default="similarity"
        ``"similarity"``: ``||X~' Y~||_* / (||X~||_F ||Y~||_F)`` in [0, 1]
        (1 when Y is a rotation, reflection, scaling and translation of X);
        ``"angular"``: ``arccos`` of it, a metric in [0, pi/2].

    Returns
    -------
    float or torch.Tensor
        A Python float for numpy and dask input, a 0-d tensor for torch input.
        When X or Y has no variance across stimuli the similarity is undefined:
        0.0 (or pi/2 for ``"angular"``) is returned with a ``RuntimeWarning``.

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
    nx = get_backend(X)
    if nx.chunked:  # the centred product and norms from the one-pass moments
        m = nx.moments(X, Y, row_norms=False)
        nx_, ny_ = (np.sqrt(max(0.0, float(np.trace(C)))) for C in (m.centred_xx(),
                                                                    m.centred_yy()))
        cross = m.centred_xy
    else:
        Xc = center_columns(X, nx)
        Yc = center_columns(Y, nx)
        nx_, ny_ = nx.evaluate(nx.sqrt(nx.sqnorm(nx.float64(Xc))),
                               nx.sqrt(nx.sqnorm(nx.float64(Yc))))

        def cross():
            return nx.float64(_reduce_columns(Xc, nx).T @ _reduce_columns(Yc, nx))
    for which, norm in (("X", nx_), ("Y", ny_)):
        if not bool(norm > 0):
            value = 0.0 if measure == "similarity" else float(np.pi / 2)
            return nx.to_output(degenerate("Procrustes similarity", f"{which} has no variance",
                                           value), X)
    sim = nx.clip(nx.svdvals(cross()).sum() / (nx_ * ny_), 0.0, 1.0)
    if measure == "angular":
        sim = nx.arccos(sim)
    return nx.to_output(sim, X)
