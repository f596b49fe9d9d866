"""Centered kernel alignment (CKA): linear in feature space, RBF streamed in row blocks."""

from __future__ import annotations

import numbers

import numpy as np

from ..utils.backend import get_backend
from ._common import (
    center_columns,
    check_pair,
    degenerate,
    feature_space_cheaper,
    gram_products,
    row_sq_norms,
)
from .registry import KERNELS

# Row blocks of the RBF Gram matrices are sized to hold about this many entries.
_BLOCK_ENTRIES = 1 << 22
# The median heuristic looks at the pairwise distances of at most this many rows.
_MEDIAN_ROWS = 2000


def _hsic(tr_kl, k1, l1, dk, dl, n, debiased):
    """HSIC numerator from kernel statistics, up to a factor common to all pairs.

    ``tr_kl = tr(K L)``, ``k1 = K 1`` (row sums, or None where it is 0), ``dk = diag(K)``.
    The biased estimator is ``tr(K H L H)``; the unbiased one (Song et al. 2012,
    eq. 5) is ``tr(K~ L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1`` with
    ``K~ = K - diag(K)``. The factors ``1/(n-1)^2`` and ``1/(n(n-3))`` cancel in
    CKA and are left out. Everything is float64.
    """
    if debiased:
        kt1 = -dk if k1 is None else k1 - dk
        lt1 = -dl if l1 is None else l1 - dl
        return _unbiased(tr_kl, (dk * dl).sum(), kt1.sum(), lt1.sum(), (kt1 * lt1).sum(), n)
    return tr_kl - 2.0 / n * (k1 * l1).sum() + k1.sum() * l1.sum() / n**2


def _unbiased(tr_kl, s_dkdl, s_kt1, s_lt1, s_kt1lt1, n):
    """Song et al.'s unbiased HSIC numerator from its five sums (see :func:`_hsic`)."""
    return tr_kl - s_dkdl + s_kt1 * s_lt1 / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * s_kt1lt1


def _linear_stats_moments(m, debiased):
    """(hxy, hxx, hyy) from the one-pass moments of the dask route.

    The centred ``d x d`` products come from the sums (centring after
    summing); for the unbiased estimator ``K 1 = 0`` as on the feature-space
    route, and the sums over ``diag K`` come from the centred row norms.
    """
    tr_xy, tr_xx, tr_yy = (float(np.vdot(C, C)) for C in
                           (m.centred_xy(), m.centred_xx(), m.centred_yy()))
    if not debiased:
        return tr_xy, tr_xx, tr_yy
    sk, sl, skk, sll, skl = m.centred_row_norms()
    return (
        _unbiased(tr_xy, skl, -sk, -sl, skl, m.n),
        _unbiased(tr_xx, skk, -sk, -sk, skk, m.n),
        _unbiased(tr_yy, sll, -sl, -sl, sll, m.n),
    )


def _finish(hxy, hxx, hyy, ref, nx, name="CKA"):
    """CKA from the three HSIC terms, with the degenerate cases made explicit."""
    for which, h in (("X", hxx), ("Y", hyy)):
        if not bool(h > 0):
            return nx.to_output(degenerate(name, f"{which} has no variance across stimuli"), ref)
    return nx.to_output(hxy / nx.sqrt(hxx * hyy), ref)


def _constant_columns(X, mean, col_sq, nx):
    """Indices of the constant columns of ``X``, from the centred column sums of squares.

    Subtracting a float mean leaves at most a few ulps of ``|mean|`` in a constant
    column (``n`` ulps for a sequential sum), so only columns whose centred sum of
    squares is that small are candidates; they are confirmed exactly (max == min),
    which reads only the candidate columns rather than the whole array.
    """
    n = X.shape[0]
    bound = n * ((n + 4) * nx.eps(X) * nx.abs(nx.float64(mean))) ** 2
    cand = nx.flatnonzero(col_sq <= bound)
    if cand.shape[0]:
        cols = X[:, cand]
        cand = cand[nx.amax(cols, 0) == nx.amin(cols, 0)]
    return cand


def _linear_stats_features(X, Y, debiased, nx):
    """(hxy, hxx, hyy) on the feature-space route, in as few passes as possible.

    One centred copy per input (no separate max/min passes: constant columns are
    found from the Gram diagonal and zeroed in the d x d products, which is
    exactly what zeroing them before the products gives), ``A'A`` for the Gram
    norms (numpy calls BLAS ``syrk`` for it: half the flops of a GEMM; scipy's
    ``blas.dsyrk`` would skip filling the lower triangle, but scipy links its own
    OpenBLAS, and alternating between its thread pool and numpy's made the
    following GEMM 3x slower on a 2-core machine) and one GEMM for ``X'Y``.
    Products stay in the input dtype; only the d x d results and the scalars
    are float64.
    """
    n = X.shape[0]
    mx, my = nx.col_mean(X), nx.col_mean(Y)
    Xc, Yc = X - mx, Y - my
    C = nx.float64(Xc.T @ Yc)
    Gx, Gy = nx.gram(Xc), nx.gram(Yc)
    cx = _constant_columns(X, mx, Gx.diagonal(), nx)
    cy = _constant_columns(Y, my, Gy.diagonal(), nx)
    # Constant columns: zero their ulp-sized residue, in the copies and in the
    # products' rows and columns (each entry of a product involves two columns only).
    if cx.shape[0]:
        Xc = nx.fill_index(Xc, 1, cx)
        Gx = nx.fill_index(nx.fill_index(Gx, 0, cx), 1, cx)
        C = nx.fill_index(C, 0, cx)
    if cy.shape[0]:
        Yc = nx.fill_index(Yc, 1, cy)
        Gy = nx.fill_index(nx.fill_index(Gy, 0, cy), 1, cy)
        C = nx.fill_index(C, 1, cy)
    tr_xy, tr_xx, tr_yy = nx.evaluate(nx.sqnorm(C), nx.sqnorm(Gx), nx.sqnorm(Gy))
    if not debiased:
        # Centred features: K 1 = Xc (Xc' 1) = 0, so tr(KHLH) = tr(KL).
        return tr_xy, tr_xx, tr_yy
    # K 1 of centred features is 0 (up to rounding); diag(K) = row norms.
    if nx.itemsize(X) == 8:
        dx, dy = nx.rowdot(Xc, Xc), nx.rowdot(Yc, Yc)
    else:
        dx, dy = row_sq_norms(Xc, nx), row_sq_norms(Yc, nx)
    dx, dy = nx.evaluate(dx, dy)
    return (
        _hsic(tr_xy, None, None, dx, dy, n, True),
        _hsic(tr_xx, None, None, dx, dx, n, True),
        _hsic(tr_yy, None, None, dy, dy, n, True),
    )


def _linear_stats(X, Y, debiased, nx):
    """(hxy, hxx, hyy) for linear kernels, cheapest exact route."""
    n, d1 = X.shape
    if feature_space_cheaper(n, d1, Y.shape[1]):
        return _linear_stats_features(X, Y, debiased, nx)
    Xc, Yc = center_columns(X, nx), center_columns(Y, nx)
    tr_xy, tr_xx, tr_yy = gram_products(Xc, Yc, nx)
    if not debiased:
        # Centred features: K 1 = 0, so tr(KHLH) = tr(KL).
        return tr_xy, tr_xx, tr_yy
    # K 1 = Xc (Xc' 1), diag(K) = squared row norms; O(n d) each.
    kx, ky, dx, dy = nx.evaluate(nx.float64(Xc @ Xc.sum(axis=0)), nx.float64(Yc @ Yc.sum(axis=0)),
                                 row_sq_norms(Xc, nx), row_sq_norms(Yc, nx))
    return (
        _hsic(tr_xy, kx, ky, dx, dy, n, True),
        _hsic(tr_xx, kx, kx, dx, dx, n, True),
        _hsic(tr_yy, ky, ky, dy, dy, n, True),
    )


def _median_sigma(X, name, nx):
    """Median heuristic: the median Euclidean distance between distinct rows."""
    n = X.shape[0]
    if n > _MEDIAN_ROWS:  # evenly spaced rows: deterministic and cheap
        X = X[nx.index(np.linspace(0, n - 1, _MEDIAN_ROWS).astype(np.int64), X)]
    sq = (X**2).sum(axis=1)
    # numpy's median: torch's returns the lower middle value
    D = nx.to_numpy(sq[:, None] + sq[None, :] - 2 * (X @ X.T))
    med = float(np.median(np.maximum(D[np.triu_indices(X.shape[0], 1)], 0)))
    if med <= 0:
        raise ValueError(
            f"{name}: the median pairwise distance is 0 (most rows are identical), so the "
            "median heuristic gives no bandwidth; pass sigma explicitly"
        )
    return med**0.5


def _rbf_block(X, sq, rows, sigma, nx):
    """Rows ``rows`` of the RBF Gram matrix minus 1 (exactly 0 on the diagonal).

    Centring ignores a constant added to every entry, and ``K - 1 = expm1(.)``
    keeps full relative precision when the bandwidth is wide (``K`` near 1
    everywhere would otherwise cancel catastrophically).
    """
    Xb = X[rows]
    D = nx.clamp_min(sq[rows][:, None] + sq[None, :] - 2 * (Xb @ X.T), 0)
    idx = np.arange(rows.start, rows.stop)
    D[nx.index(np.arange(len(idx)), D), nx.index(idx, D)] = 0
    K = nx.float64(D)
    K *= -1.0 / (2.0 * sigma**2)
    return nx.expm1_(K)


def _rbf_stats(X, Y, sigma_x, sigma_y, debiased, block_size, nx):
    """(hxy, hxx, hyy) for RBF kernels, streamed over row blocks of the Gram matrices."""
    n = X.shape[0]
    sx = (X**2).sum(axis=1)
    sy = (Y**2).sum(axis=1)
    if block_size is None:
        block_size = max(1, _BLOCK_ENTRIES // n)
    tr = nx.zeros(3, like=X)
    kx = nx.zeros(n, like=X)
    ky = nx.zeros(n, like=X)
    for start in range(0, n, block_size):
        rows = slice(start, min(n, start + block_size))
        K = _rbf_block(X, sx, rows, sigma_x, nx)
        L = _rbf_block(Y, sy, rows, sigma_y, nx)
        tr[0] += (K * L).sum()
        tr[1] += (K * K).sum()
        tr[2] += (L * L).sum()
        kx[rows] = K.sum(axis=1)
        ky[rows] = L.sum(axis=1)
    tr, kx, ky = nx.evaluate(tr, kx, ky)
    zeros = kx * 0  # diag of K - 1
    return (
        _hsic(tr[0], kx, ky, zeros, zeros, n, debiased),
        _hsic(tr[1], kx, kx, zeros, zeros, n, debiased),
        _hsic(tr[2], ky, ky, zeros, zeros, n, debiased),
    )


def _check_sigma(sigma):
    if sigma is None:
        return None, None
    if isinstance(sigma, tuple | list):
        if len(sigma) != 2:
            raise ValueError(f"sigma must be a number or a pair (sigma_x, sigma_y), got {sigma!r}")
        sx, sy = sigma
    else:
        sx = sy = sigma
    for s in (sx, sy):
        if s is not None and (
            isinstance(s, bool) or not isinstance(s, numbers.Real) or not np.isfinite(s) or s <= 0
        ):
            raise ValueError(f"sigma must be None or a positive number, got {sigma!r}")
    return sx, sy


def cka(X, Y, *, kernel="linear", debiased=False, sigma=None, block_size=None):
    """Centered kernel alignment between two representations of the same stimuli.

    Parameters
    ----------
    X : array-like, torch.Tensor or dask array of shape (n, d1)
        First representation, one row per stimulus.
    Y : array-like, torch.Tensor or dask array of shape (n, d2)
        Second representation of the same stimuli (``d2`` may differ from ``d1``).
        A torch tensor is computed on its device; a numpy partner is moved there.
        Dask arrays (chunked alike along the rows; a numpy partner is cut
        into the same chunks) are reduced chunk by chunk on the current dask
        cluster for ``kernel="linear"``; ``"rbf"`` refuses them.
    kernel : {"linear", "rbf"}, default="linear"
        ``"linear"`` uses the feature-space form (no n x n matrix unless
        ``d > n``, where the Gram form is cheaper and is used instead);
        ``"rbf"`` streams the Gram matrices in row blocks.
    debiased : bool, default=False
        Use the unbiased HSIC estimator of Song et al. (2012) (needs ``n >= 4``).
        Biased CKA drifts towards 1 when ``d / n`` is large even for independent
        data; the unbiased one stays near 0.
    sigma : None, float or (float, float), default=None
        RBF bandwidth for X and Y. None applies the median heuristic to each
        representation separately: the median Euclidean distance between
        distinct rows (of at most 2,000 evenly spaced rows).
    block_size : int or None, default=None
        Rows of the RBF Gram matrices computed at once (memory
        ``O(block_size x n)``); None picks about 4 million entries per block.

    Returns
    -------
    float or torch.Tensor
        A Python float for numpy and dask input; a 0-d tensor on the input's
        device (differentiable) for torch input. Biased CKA lies in [0, 1]; unbiased
        CKA can be slightly negative. When X or Y has no variance across
        stimuli (all columns constant) CKA is undefined: 0.0 is returned with a
        ``RuntimeWarning``.

    See Also
    --------
    MinibatchCKA : the same estimator accumulated over batches.
    procrustes : orthogonal Procrustes similarity.
    rsa : representational similarity analysis.

    Notes
    -----
    Kornblith et al. (2019), "Similarity of neural network representations
    revisited". With column-centred ``X`` and ``Y``, linear CKA is
    ``||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F)``: ``O(n d^2)`` time and ``O(d^2)``
    memory. The unbiased version replaces each HSIC by Song et al.'s estimator,
    written with ``tr(KL) = ||Y'X||_F^2``, the row norms (``diag K``) and
    ``K 1 = X (X' 1)``, so it needs no n x n matrix either. For numpy input the
    Gram norms use BLAS ``syrk`` (half the flops of ``X'Y``) on one centred copy
    per input, in the input's dtype (float32 stays float32; the d x d products and
    the scalars are float64), and ``K 1`` of centred features is taken as 0.

    For dask input every term is a sum over row chunks: one task per chunk
    forms that chunk's ``d x d`` products, column sums (and, for the unbiased
    estimator, sums over squared row norms) in the chunk's dtype, the partial
    sums are added up a tree in float64, and the centring follows the sum
    (see the user guide's "Beyond one machine").

    For RBF kernels ``k(x, x') = exp(-||x - x'||^2 / (2 sigma^2))``. Kornblith
    et al. scale the bandwidth by a fraction of the median distance and include
    the zero diagonal in the median; here ``sigma=None`` means the median over
    distinct pairs (pass ``sigma`` to choose another bandwidth).

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import cka
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 30)
    >>> Q, _ = np.linalg.qr(rng.randn(30, 30))
    >>> round(cka(X, 3 * X @ Q + 1), 6)
    1.0
    >>> abs(cka(X, rng.randn(200, 30), debiased=True)) < 0.05  # independent: near 0
    True
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if debiased not in (True, False):
        raise TypeError(f"debiased must be a bool, got {debiased!r}")
    X, Y = check_pair(X, Y)
    nx = get_backend(X)
    n = X.shape[0]
    if debiased and n < 4:
        raise ValueError(f"unbiased (debiased=True) CKA needs at least 4 stimuli, got n={n}")
    if kernel == "linear":
        if sigma is not None:
            raise ValueError("sigma applies only to kernel='rbf'")
        if nx.chunked:
            stats = _linear_stats_moments(nx.moments(X, Y, row_norms=debiased), debiased)
        else:
            stats = _linear_stats(X, Y, debiased, nx)
    else:
        if nx.chunked:
            nx.refuse("RBF CKA", "needs the n x n Gram matrices (O(n^2 d) work over pairs of row "
                      "blocks)", "Linear CKA (kernel='linear') is exact over chunks; or compute "
                      "RBF CKA on a subsample in memory.")
        sx, sy = _check_sigma(sigma)
        if block_size is not None and (
            isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral)
            or block_size < 1
        ):
            raise ValueError(f"block_size must be a positive integer or None, got {block_size!r}")
        sx = _median_sigma(X, "X", nx) if sx is None else sx
        sy = _median_sigma(Y, "Y", nx) if sy is None else sy
        stats = _rbf_stats(X, Y, sx, sy, debiased, block_size, nx)
    return _finish(*stats, ref=X, nx=nx)
