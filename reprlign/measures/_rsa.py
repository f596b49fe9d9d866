"""Representational similarity analysis: RDMs, RDM comparators and the exact fast route."""

from __future__ import annotations

import numbers
from functools import partial

import numpy as np

from ..utils._validation import check_features
from ..utils.backend import NUMPY, get_backend
from ._common import center_columns, check_pair, degenerate, gram_products, row_sq_norms
from .registry import COMPARATORS, RDM_METRICS

# Metrics whose RDM is D_ij = u_i + u_j - 2 z_i . z_j: the exact O(n d^2) route applies.
_LINEAR_METRICS = ("correlation", "cosine", "sqeuclidean")


# --------------------------------------------------------------------------- RDMs
def _embedding(X, metric, nx, name="X", first_row=0):
    """``Z`` with ``D_ij = |z_i|^2 + |z_j|^2 - 2 z_i . z_j`` for the linear metrics.

    ``first_row`` is the number of the first row of ``X`` in error messages
    (for a row chunk of a larger array).
    """
    if metric in ("correlation", "cosine"):
        if metric == "correlation":
            X = X - X.mean(axis=1, keepdims=True)
        norms = row_sq_norms(X, nx)
        bad = norms == 0
        if bool(bad.any()):
            rows = np.flatnonzero(nx.to_numpy(bad)) + first_row
            what = "constant" if metric == "correlation" else "all-zero"
            raise ValueError(
                f"{name} has {len(rows)} {what} row(s) (first: {rows[:5].tolist()}): the "
                f"{metric} distance to them is undefined; drop them or use metric='euclidean'"
            )
        return nx.row_normalize(X) * (0.5**0.5)
    # Euclidean distances ignore translation; centring first avoids cancellation.
    Xc = center_columns(X, nx)
    return Xc / X.shape[1] ** 0.5 if metric == "sqeuclidean" else Xc


def rdm(X, metric="correlation", *, square=False):
    """Representational dissimilarity matrix of the stimuli (rows) of ``X``.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n, d)
        One row per stimulus; a tensor is computed on its device.
    metric : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default="correlation"
        * ``"correlation"``: ``1 - r`` with ``r`` the Pearson correlation of two
          rows (rsatoolbox's ``"correlation"``).
        * ``"cosine"``: ``1 - cos`` of the angle between two rows.
        * ``"euclidean"``: the Euclidean distance ``||x_i - x_j||``.
        * ``"sqeuclidean"``: ``||x_i - x_j||^2 / d``; this is what rsatoolbox
          calls ``"euclidean"``.
    square : bool, default=False
        Return the symmetric n x n matrix instead of its upper triangle.

    Returns
    -------
    ndarray or Tensor of shape (n * (n - 1) / 2,) or (n, n)
        The upper triangle row by row (the order of
        :func:`scipy.spatial.distance.squareform` and rsatoolbox), or the
        square matrix with a zero diagonal.

    Raises
    ------
    ValueError
        For a constant row with ``"correlation"`` (or an all-zero row with
        ``"cosine"``), where the distance is undefined.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import rdm
    >>> rdm(np.array([[1.0, 2, 3], [2, 4, 6], [3, 2, 1]]))
    array([0., 2., 2.])
    """
    if metric not in RDM_METRICS:
        raise ValueError(f"metric must be one of {RDM_METRICS}, got {metric!r}")
    if get_backend(X).chunked:
        get_backend(X).refuse("rdm", "has n (n - 1) / 2 entries",
                              "rsa(X, Y, compare='pearson') compares the RDMs of dask arrays "
                              "exactly without forming them; or compute the RDM of a subsample.")
    X = check_features(X, name="X", min_samples=2)
    nx = get_backend(X)
    Z = _embedding(X, metric, nx)
    # In place on the Gram matrix: an n x n RDM is formed without n x n temporaries.
    D = Z @ Z.T
    D *= -2.0
    if metric in ("correlation", "cosine"):
        D += 1.0
    else:
        u = (Z * Z).sum(axis=1)
        D += u[:, None]
        D += u[None, :]
    D = nx.fill_diagonal_(nx.clamp_min_(D, 0), 0)
    if metric == "euclidean":
        D = nx.sqrt(D)
    if square:  # mirror the upper triangle: exactly symmetric, and equal to the vector form
        return nx.symmetrize_upper(D)
    return nx.upper_triangle(D)


def _as_vector(a, name):
    """An RDM as its upper-triangle vector: 1-D passes, a square symmetric matrix is cut."""
    nx = get_backend(a)
    try:
        a = nx.floating(nx.asarray(a), name=name)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric RDM: {exc}") from exc
    if a.ndim == 2:
        if a.shape[0] != a.shape[1]:
            raise ValueError(
                f"{name} must be an RDM vector (1-D) or a square matrix, got shape "
                f"{tuple(a.shape)}"
            )
        asym = float(nx.abs(nx.detach(a - a.T)).max())
        if asym > 1e-8 * max(1.0, float(abs(a).max())):
            raise ValueError(f"{name} is a square matrix but not symmetric: not an RDM")
        a = nx.upper_triangle(a)
    elif a.ndim != 1:
        raise ValueError(f"{name} must be 1-D or a square matrix, got shape {tuple(a.shape)}")
    if not bool(nx.isfinite(a).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    if a.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 dissimilarities (3 stimuli)")
    return a


def _pearson(a, b, nx, what="Pearson correlation between RDMs"):
    a = nx.float64(a)
    b = nx.float64(b)
    a = a - a.mean()
    b = b - b.mean()
    saa, sbb = a @ a, b @ b  # BLAS dot products: no temporaries
    if not bool(saa > 0) or not bool(sbb > 0):
        return degenerate(what, "an RDM is constant")
    return (a @ b) / nx.sqrt(saa * sbb)


def _tau_a(a, b, nx):
    """Kendall's tau-a from scipy's O(m log m) tau-b and the tie counts."""
    from scipy.stats import kendalltau

    a = nx.to_numpy(a).astype(np.float64, copy=False)
    b = nx.to_numpy(b).astype(np.float64, copy=False)
    m = a.shape[0]
    n0 = m * (m - 1) / 2

    def ties(v):
        _, counts = np.unique(v, return_counts=True)
        return float((counts * (counts - 1.0) / 2).sum())

    t1, t2 = ties(a), ties(b)
    if t1 == n0 or t2 == n0:  # a constant RDM: no concordant or discordant pairs
        return 0.0
    tau_b = kendalltau(a, b, variant="b").statistic
    return float(tau_b * np.sqrt((n0 - t1) * (n0 - t2)) / n0)


def _compare_vectors(a, b, method, nx):
    if method == "pearson":
        return _pearson(a, b, nx)
    if method == "spearman":
        return _pearson(nx.rankdata(a), nx.rankdata(b), nx, "Spearman correlation between RDMs")
    if method == "cosine":
        a, b = nx.float64(a), nx.float64(b)
        saa, sbb = (a * a).sum(), (b * b).sum()
        if not bool(saa > 0) or not bool(sbb > 0):
            return degenerate("cosine similarity between RDMs", "an RDM is all zeros")
        return (a * b).sum() / nx.sqrt(saa * sbb)
    return _tau_a(a, b, nx)


def compare_rdms(a, b, method="spearman"):
    """Similarity of two RDMs over their upper triangles.

    Parameters
    ----------
    a, b : array-like or torch.Tensor
        RDMs of the same stimuli, as upper-triangle vectors (the output of
        :func:`rdm`) or square symmetric matrices.
    method : {"spearman", "pearson", "tau_a", "cosine"}, default="spearman"
        * ``"spearman"``: Pearson correlation of the ranks (ties get their
          average rank; rsatoolbox's ``"spearman"``).
        * ``"pearson"``: Pearson correlation (rsatoolbox's ``"corr"``).
        * ``"tau_a"``: Kendall's tau-a, ties count neither way (rsatoolbox's
          ``"tau-a"``); computed in ``O(m log m)`` on the CPU.
        * ``"cosine"``: cosine similarity of the dissimilarity vectors.

    Returns
    -------
    float or torch.Tensor
        A Python float for numpy input, a 0-d tensor for torch input. A
        constant RDM makes the correlations undefined: 0.0 is returned with a
        ``RuntimeWarning``.

    See Also
    --------
    rdm, rsa, rdm_noise_ceiling

    Examples
    --------
    >>> from reprlign.measures import compare_rdms
    >>> compare_rdms([0.1, 0.5, 0.9], [1.0, 2.0, 8.0])
    1.0
    """
    if method not in COMPARATORS:
        raise ValueError(f"method must be one of {COMPARATORS}, got {method!r}")
    a = _as_vector(a, "a")
    b = _as_vector(b, "b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"a and b must be RDMs of the same stimuli: {a.shape[0]} and {b.shape[0]} entries"
        )
    nx = get_backend(a, b)
    a, b = nx.pair(a, b)
    return nx.to_output(_compare_vectors(a, b, method, nx), a)


# --------------------------------------------------------------------------- RSA
def _pair_sums(Za, Zb, nx):
    """Sums over pairs i < j of D_a, D_b, D_a^2, D_b^2 and D_a D_b, in O(n d^2).

    With ``D_ij = u_i + u_j - 2 z_i . z_j`` and ``D_ii = 0``, a sum over i < j is
    half the sum over all (i, j), and every full sum reduces to row norms,
    column sums and ``||Za' Zb||_F^2``.
    """
    n = Za.shape[0]
    u, v, sa, sb, ga, gb = nx.evaluate(
        row_sq_norms(Za, nx), row_sq_norms(Zb, nx),
        nx.float64(Za.sum(axis=0)), nx.float64(Zb.sum(axis=0)),
        nx.float64(Za @ Za.sum(axis=0)), nx.float64(Zb @ Zb.sum(axis=0)),  # G 1
    )
    fab, faa, fbb = gram_products(Za, Zb, nx)

    def full(u, v, gu, gv, f):  # sum_ij D_a D_b
        return 2 * n * (u * v).sum() + 2 * u.sum() * v.sum() - 4 * (u * gv).sum() \
            - 4 * (v * gu).sum() + 4 * f

    s1a = n * u.sum() - (sa * sa).sum()
    s1b = n * v.sum() - (sb * sb).sum()
    return (
        s1a,
        s1b,
        full(u, u, ga, ga, faa) / 2,
        full(v, v, gb, gb, fbb) / 2,
        full(u, v, ga, gb, fab) / 2,
    )


def _chunk_embedding(A, first_row, *, metric, name):
    """The embedding of one row chunk on the dask route.

    Row by row as :func:`_embedding`; for ``"sqeuclidean"`` only the scaling,
    since centring each chunk on its own mean would move chunks apart (the
    reduction's common shift stands in for the centring).
    """
    if metric == "sqeuclidean":
        return A / A.shape[1] ** 0.5
    return _embedding(A, metric, NUMPY, name, first_row)


def _pair_sums_moments(m):
    """:func:`_pair_sums` from the one-pass moments of the embeddings (the dask route).

    The same expansion, with ``sum_i u_i (G_b 1)_i = s_b . sum_i u_i zb_i``; RDMs
    of these metrics ignore a common shift of the embedding, so the shifted
    moments give the same sums.
    """
    n = m.n

    def full(su, sv, suv, su_gv, sv_gu, f):
        return 2 * n * suv + 2 * su * sv - 4 * su_gv - 4 * sv_gu + 4 * f

    return (
        n * m.p - m.sx @ m.sx,
        n * m.q - m.sy @ m.sy,
        full(m.p, m.p, m.pp, m.sx @ m.px, m.sx @ m.px, np.vdot(m.xx, m.xx)) / 2,
        full(m.q, m.q, m.qq, m.sy @ m.qy, m.sy @ m.qy, np.vdot(m.yy, m.yy)) / 2,
        full(m.p, m.q, m.pq, m.sy @ m.py, m.sx @ m.qx, np.vdot(m.xy, m.xy)) / 2,
    )


def _exact_rsa(X, Y, metric, method, nx):
    n = X.shape[0]
    if nx.chunked:
        transforms = tuple(partial(_chunk_embedding, metric=metric, name=name)
                           for name in ("X", "Y"))
        s1a, s1b, saa, sbb, sab = _pair_sums_moments(nx.moments(X, Y, transforms=transforms))
    else:
        Za, Zb = _embedding(X, metric, nx, "X"), _embedding(Y, metric, nx, "Y")
        s1a, s1b, saa, sbb, sab = _pair_sums(Za, Zb, nx)
    m = n * (n - 1) / 2
    if method == "cosine":
        if not bool(saa > 0) or not bool(sbb > 0):
            return degenerate("cosine similarity between RDMs", "an RDM is all zeros")
        return sab / nx.sqrt(saa * sbb)
    va, vb = m * saa - s1a**2, m * sbb - s1b**2
    # Relative to the scale of the sums, a variance this small is rounding noise.
    if not bool(va > 1e-12 * m * saa) or not bool(vb > 1e-12 * m * sbb):
        return degenerate("Pearson correlation between RDMs", "an RDM is constant")
    return (m * sab - s1a * s1b) / nx.sqrt(va * vb)


def _rank_memory(n, X, nx):
    """Bytes a rank comparison needs: both rank vectors, a sort's indices and copies."""
    m = n * (n - 1) // 2
    return m * (8 + 8 + 8 + 2 * nx.itemsize(X))


def _check_memory(n, X, method, max_memory_gb, nx):
    need = _rank_memory(n, X, nx)
    limit = nx.free_memory(X)
    if limit is not None:
        where = f"the {limit / 1e9:.1f} GB free on {X.device}"
    else:
        limit = max_memory_gb * 1e9
        where = f"max_memory_gb={max_memory_gb}"
    if need > limit:
        raise MemoryError(
            f"{method} RSA on n={n:,} stimuli ranks {n * (n - 1) // 2:,} dissimilarities per RDM "
            f"and needs about {need / 1e9:.0f} GB, more than {where}. Use compare='pearson' "
            "(or 'cosine') with a correlation, cosine or sqeuclidean RDM: it is exact in "
            "O(n d^2) and forms no RDM; or subsample the stimuli; or raise max_memory_gb"
        )


def rsa(X, Y, *, rdm_metric="correlation", compare="spearman", max_memory_gb=20.0):
    """Representational similarity analysis: compare the RDMs of two representations.

    Parameters
    ----------
    X : array-like, torch.Tensor or dask array of shape (n, d1)
        First representation, one row per stimulus.
    Y : array-like, torch.Tensor or dask array of shape (n, d2)
        Second representation of the same stimuli. Dask arrays are reduced
        chunk by chunk on the exact route (``compare="pearson"`` or
        ``"cosine"`` with a correlation, cosine or squared-Euclidean RDM); the
        other combinations need all pairs of stimuli at once and refuse them.
    rdm_metric : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default="correlation"
        Dissimilarity used for both RDMs (see :func:`rdm`).
    compare : {"spearman", "pearson", "tau_a", "cosine"}, default="spearman"
        RDM comparator (see :func:`compare_rdms`).
    max_memory_gb : float, default=20.0
        Rank comparators need every dissimilarity in memory; when the estimate
        exceeds this (on the CPU; the free memory on a CUDA device), a
        ``MemoryError`` says how much is needed and what to use instead,
        before anything is allocated.

    Returns
    -------
    float or torch.Tensor
        A Python float for numpy input, a 0-d tensor for torch input.

    See Also
    --------
    rdm, compare_rdms, cka

    Notes
    -----
    Kriegeskorte, Mur & Bandettini (2008), "Representational similarity
    analysis". For ``compare="pearson"`` or ``"cosine"`` with a correlation,
    cosine or squared-Euclidean RDM, the comparison is computed exactly without
    forming either RDM: such an RDM is ``D_ij = u_i + u_j - 2 z_i . z_j``, so the
    sums over pairs that Pearson and cosine need reduce to row norms, column
    sums and ``||Za' Zb||_F^2`` (``O(n d^2)`` time, ``O(d^2)`` memory). Rank
    comparators need all ``n (n - 1) / 2`` entries.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import rsa
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(50, 10)
    >>> round(rsa(X, 2 * X + 1, compare="pearson"), 6)
    1.0
    """
    if rdm_metric not in RDM_METRICS:
        raise ValueError(f"rdm_metric must be one of {RDM_METRICS}, got {rdm_metric!r}")
    if compare not in COMPARATORS:
        raise ValueError(f"compare must be one of {COMPARATORS}, got {compare!r}")
    if isinstance(max_memory_gb, bool) or not isinstance(max_memory_gb, numbers.Real) or not (
        max_memory_gb > 0
    ):
        raise ValueError(f"max_memory_gb must be a positive number, got {max_memory_gb!r}")
    X, Y = check_pair(X, Y, min_samples=3)
    nx = get_backend(X)
    if compare in ("pearson", "cosine") and rdm_metric in _LINEAR_METRICS:
        return nx.to_output(_exact_rsa(X, Y, rdm_metric, compare, nx), X)
    if nx.chunked:
        nx.refuse(f"RSA with compare={compare!r} and rdm_metric={rdm_metric!r}",
                  f"needs all n (n - 1) / 2 dissimilarities at once ({compare} ranks or reads "
                  "them all)" if compare in ("spearman", "tau_a") else
                  "needs every Euclidean distance (a square root of each pair)",
                  "compare='pearson' (or 'cosine') with rdm_metric='correlation', 'cosine' or "
                  "'sqeuclidean' is exact over chunks; or compute this RSA on a subsample in "
                  "memory.")
    n = X.shape[0]
    if compare in ("spearman", "tau_a"):
        _check_memory(n, X, compare, max_memory_gb, nx)
    if compare == "spearman":
        # One RDM at a time: only its ranks are kept while the other is formed.
        ra = nx.rankdata(rdm(X, rdm_metric))
        rb = nx.rankdata(rdm(Y, rdm_metric))
        return nx.to_output(_pearson(ra, rb, nx, "Spearman correlation between RDMs"), X)
    return nx.to_output(_compare_vectors(rdm(X, rdm_metric), rdm(Y, rdm_metric), compare, nx),
                        X)
