"""Measures as reductions over row chunks: the moments of two representations in one dask pass.

Linear CKA (biased and unbiased), Procrustes and the exact Pearson/cosine RSA
need only a handful of sums over the stimuli (rows): column sums, the ``d x d``
products ``X'X``, ``Y'Y``, ``X'Y`` and a few sums of squared row norms. Each
is a sum over row chunks, so :func:`moments` computes all of them in one pass
as a dask tree reduction: every task turns one row chunk of each
representation into a packed float64 vector of ``O(d^2)`` numbers, and the
vectors are summed pairwise up a tree. No worker holds more than one row
chunk of each representation (``O(chunk x d)``) and a few packed vectors;
every message is ``O(d^2)`` bytes. Centring happens after the sum, in float64
(:class:`Moments`).

dask is imported only when a dask array is seen.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ._backend import is_torch


def is_dask(x) -> bool:
    """True when ``x`` is a dask array (without importing dask)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


def _floating(A, name):
    """A dask array in a float dtype of at least 32 bits."""
    kind = A.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must hold real numbers, got complex dtype {A.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {A.dtype}")
    if kind != "f":
        return A.astype(np.float64)
    return A.astype(np.float32) if A.dtype.itemsize < 4 else A


def chunked_pair(X, Y, *, min_samples=2, names=("X", "Y")):
    """Two representations of the same stimuli as dask arrays chunked alike.

    At least one of ``X`` and ``Y`` is a dask array; a numpy partner is cut
    into the same row chunks. Both get a single chunk along the columns (a
    rechunk within each row chunk) and their common dtype.

    Raises
    ------
    ValueError
        When the row counts differ, when both are dask arrays whose row chunks
        differ (rechunk one like the other), or with fewer than ``min_samples``
        rows.
    TypeError
        For a torch tensor (move it to numpy or to dask first).
    """
    import dask.array as da

    for name, A in zip(names, (X, Y), strict=True):
        if is_torch(A):
            raise TypeError(f"{name} is a torch tensor and the other representation a dask "
                            "array: pass both as dask arrays (or numpy arrays)")
    arrays = [A if is_dask(A) else np.asarray(A) for A in (X, Y)]
    for name, A in zip(names, arrays, strict=True):
        if A.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n, d), got shape {A.shape}")
        if is_dask(A) and any(np.isnan(c) for c in A.chunks[0]):
            raise ValueError(f"{name} has unknown chunk sizes along its rows; call "
                             f"{name}.compute_chunk_sizes() first")
    X, Y = arrays
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"{names[0]} and {names[1]} must describe the same stimuli (rows): "
                         f"got {X.shape[0]} and {Y.shape[0]} rows")
    ref = X if is_dask(X) else Y
    X, Y = (_floating(A if is_dask(A) else da.from_array(A, chunks=(ref.chunks[0], -1)), name)
            for name, A in zip(names, (X, Y), strict=True))
    if X.chunks[0] != Y.chunks[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must be chunked alike along the rows, so that each task "
            f"reads the same stimuli of both: got row chunks {_brief(X.chunks[0])} and "
            f"{_brief(Y.chunks[0])}; rechunk one like the other, e.g. "
            f"{names[1]} = {names[1]}.rechunk({{0: {names[0]}.chunks[0]}})")
    if X.shape[0] < min_samples:
        raise ValueError(f"{names[0]} needs at least {min_samples} rows, got {X.shape[0]}")
    dtype = np.promote_types(X.dtype, Y.dtype)
    return tuple(A.astype(dtype).rechunk({1: -1}) if A.numblocks[1] > 1 or A.dtype != dtype
                 else A for A in (X, Y))


def _brief(chunks):
    text = str(tuple(int(c) for c in chunks[:4]))
    return text[:-1] + ", ...)" if len(chunks) > 4 else text


@dataclass
class Moments:
    """Sums over the rows ``x_i``, ``y_i`` of two representations (float64).

    ``p_i = |x_i|^2`` and ``q_i = |y_i|^2`` are the squared row norms. The rows
    are the chunks' rows after the optional per-row transform and a common
    shift (the first chunk's column means), which every measure computed from
    these moments ignores; the shift keeps the float32 products small, so
    that centring after the sum cancels little.
    """

    n: int
    sx: np.ndarray  # sum x_i, (d1,)
    sy: np.ndarray
    xx: np.ndarray  # sum x_i x_i', (d1, d1)
    yy: np.ndarray
    xy: np.ndarray  # sum x_i y_i', (d1, d2)
    p: float  # sum p_i
    q: float
    pp: float  # sum p_i^2
    qq: float
    pq: float  # sum p_i q_i
    px: np.ndarray  # sum p_i x_i, (d1,)
    qx: np.ndarray
    py: np.ndarray  # sum p_i y_i, (d2,)
    qy: np.ndarray

    # -- centred quantities, from the sums (centring after summing)
    def centred_xy(self):
        """``X~'Y~`` for the column-centred representations."""
        return self.xy - np.outer(self.sx, self.sy) / self.n

    def centred_xx(self):
        return self.xx - np.outer(self.sx, self.sx) / self.n

    def centred_yy(self):
        return self.yy - np.outer(self.sy, self.sy) / self.n

    def centred_row_norms(self):
        """Sums over the centred squared row norms ``k_i = |x_i - m_x|^2``, ``l_i``.

        Returns ``(sum k, sum l, sum k^2, sum l^2, sum k l)``, each expanded
        into the moments (``k_i = p_i - 2 x_i . m_x + |m_x|^2``).
        """
        n = self.n
        mx, my = self.sx / n, self.sy / n
        cx, cy = mx @ mx, my @ my
        sk = self.p - n * cx
        sl = self.q - n * cy
        skk = self.pp - 4 * mx @ self.px + 4 * mx @ self.xx @ mx + 2 * cx * self.p - 3 * n * cx**2
        sll = self.qq - 4 * my @ self.qy + 4 * my @ self.yy @ my + 2 * cy * self.q - 3 * n * cy**2
        skl = (self.pq - 2 * my @ self.py - 2 * mx @ self.qx + 4 * mx @ self.xy @ my
               + cy * self.p + cx * self.q - 3 * n * cx * cy)
        return sk, sl, skk, sll, skl


def _layout(d1, d2):
    """Names, shapes and offsets of the moments in the packed vector."""
    shapes = [("n", ()), ("sx", (d1,)), ("sy", (d2,)), ("xx", (d1, d1)), ("yy", (d2, d2)),
              ("xy", (d1, d2)), ("p", ()), ("q", ()), ("pp", ()), ("qq", ()), ("pq", ()),
              ("px", (d1,)), ("qx", (d1,)), ("py", (d2,)), ("qy", (d2,))]
    out, start = [], 0
    for name, shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        out.append((name, shape, start, start + size))
        start += size
    return out, start


def _sq_row_norms(A):
    if A.dtype == np.float64:
        return np.einsum("ij,ij->i", A, A)
    # the norm reduction is far more accurate in float32 than a product
    return np.square(np.linalg.norm(A, axis=1).astype(np.float64))


def _non_finite(raw, name, start):
    """The error for a chunk whose sums are not finite, naming its rows."""
    bad = np.flatnonzero(~np.isfinite(raw).all(axis=1))
    rows = f"rows {start}:{start + len(raw)}"
    if bad.size == 0:  # finite values whose products overflow
        return ValueError(f"{name}: the values in {rows} overflow the sums of the reduction")
    return ValueError(f"{name} contains NaN or infinite values in {bad.size} row(s) of the chunk "
                      f"of {rows} (first: row {start + int(bad[0])})")


def _prepare(raw, name, start, transform, shift):
    A = raw
    if transform is not None:
        try:
            A = transform(A)
        except ValueError as exc:
            raise ValueError(f"in the chunk of rows {start}:{start + len(A)}: {exc}") from exc
    return A - shift if shift is not None else A


def _chunk_moments(X, Y, rows, *, names, transforms, shifts):
    """One row chunk's moments, packed into a (1, P) float64 vector.

    The ``d x d`` products and the weighted column sums run in the chunk's
    dtype (BLAS ``syrk`` for ``A'A``); the squared row norms and everything
    summed across chunks are float64. A NaN or infinite value anywhere in the
    chunk makes its column sums non-finite, so finiteness costs nothing extra.
    """
    start = int(rows[0]) if len(rows) else 0
    A = _prepare(X, names[0], start, transforms[0], shifts[0])
    B = _prepare(Y, names[1], start, transforms[1], shifts[1])
    p, q = _sq_row_norms(A), _sq_row_norms(B)
    W = np.stack([np.ones_like(p), p, q]).astype(A.dtype)
    wa, wb = W @ A, W @ B  # (3, d): column sums, sums weighted by p and by q
    for name, raw, w in ((names[0], X, wa), (names[1], Y, wb)):
        if not np.isfinite(w[0]).all():
            raise _non_finite(raw, name, start)
    values = {
        "n": len(A), "sx": wa[0], "sy": wb[0],
        "xx": A.T @ A, "yy": B.T @ B, "xy": A.T @ B,
        "p": p.sum(), "q": q.sum(), "pp": p @ p, "qq": q @ q, "pq": p @ q,
        "px": wa[1], "qx": wa[2], "py": wb[1], "qy": wb[2],
    }
    layout, size = _layout(A.shape[1], B.shape[1])
    out = np.empty((1, size))
    for name, _shape, lo, hi in layout:
        out[0, lo:hi] = np.ravel(values[name])
    return out


def moments(X, Y, *, transform=None, names=("X", "Y"), split_every=None):
    """The :class:`Moments` of two dask arrays chunked alike, in one tree reduction.

    Parameters
    ----------
    X, Y : dask.array.Array of shape (n, d1), (n, d2)
        From :func:`chunked_pair`: the same row chunks, one column chunk each.
    transform : callable or None
        Applied to every row chunk of both (a per-row map, such as the RSA
        embeddings), before the moments. A ``ValueError`` it raises is
        re-raised with the chunk's rows.
    names : pair of str
        For error messages.
    split_every : int or None
        Partial sums combined per step of the tree (dask's default when None).

    Returns
    -------
    Moments

    Raises
    ------
    ValueError
        When a chunk holds NaN or infinite values, naming its rows; found by
        the task that reads the chunk, so nothing else is materialised.
    """
    import dask
    import dask.array as da

    transforms = (transform, transform)
    # The shift: the first chunk's column means after the transform (one chunk, computed first).
    head = [A[:A.chunks[0][0]] for A in (X, Y)]
    head = dask.compute(*head)
    shifts = []
    for name, raw in zip(names, head, strict=True):
        A = _prepare(raw, name, 0, transform, None)
        mean = A.mean(axis=0, dtype=np.float64)
        if not np.isfinite(mean).all():
            raise _non_finite(raw, name, 0)
        shifts.append(mean.astype(A.dtype))
    layout, size = _layout(X.shape[1], Y.shape[1])
    rows = da.arange(X.shape[0], chunks=(X.chunks[0],))
    packed = da.blockwise(
        _chunk_moments, "ij", X, "ia", Y, "ib", rows, "i",
        new_axes={"j": size}, adjust_chunks={"i": 1}, concatenate=True,
        dtype=np.float64, meta=np.empty((0, 0)),
        names=tuple(names), transforms=transforms, shifts=tuple(shifts),
    )
    total = packed.sum(axis=0, split_every=split_every).compute()
    values = {name: total[lo:hi].reshape(shape) if shape else float(total[lo])
              for name, shape, lo, hi in layout}
    values["n"] = int(round(values["n"]))
    return Moments(**values)
