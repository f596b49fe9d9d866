"""dask arrays: the measures as tree reductions over row chunks.

Linear CKA (biased and unbiased), Procrustes and the exact Pearson/cosine RSA
need only a handful of sums over the stimuli (rows): column sums, the
``d x d`` products ``X'X``, ``Y'Y``, ``X'Y`` and a few sums over squared row
norms. Each is a sum over row chunks, so :meth:`DaskBackend.moments` computes
all of them in one pass as a dask tree reduction: every task turns one row
chunk of both representations into a packed float64 vector of ``O(d^2)``
numbers, and the vectors are summed pairwise up a tree. No worker holds more
than one row chunk of each representation (``O(chunk x d)``) and a few
packed vectors; every message is ``O(d^2)`` bytes. Centring happens after the
sum, in float64 (:class:`Moments`). What needs every pair of stimuli at once
(ranks of all dissimilarities, nearest neighbours, RBF Gram matrices) is
refused with an error that names the alternative (:meth:`DaskBackend.refuse`).

dask is imported only when a dask array is seen.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ._base import is_torch
from ._numpy import NumpyBackend


def is_dask(x) -> bool:
    """True when ``x`` is a dask array (without importing dask)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


@dataclass
class Moments:
    """Sums over the rows ``x_i``, ``y_i`` of two representations (float64).

    ``p_i = |x_i|^2`` and ``q_i = |y_i|^2`` are the squared row norms. The rows
    are the chunks' rows after the optional per-row transform and a common
    shift (the first chunk's column means; a column constant there is shifted
    by its value), which every measure computed from these moments ignores;
    the shift keeps the float32 products small, so that centring after the
    sum cancels little, and makes a constant column exactly zero.
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
    row_norms: bool = True  # whether the sums over p and q were taken

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
        if not self.row_norms:
            raise ValueError("these moments were summed with row_norms=False")
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


# --------------------------------------------------------------------------- one chunk
def _layout(d1, d2):
    """(name, shape, start, stop) of every sum in the packed vector, and its length."""
    shapes = {"n": (), "sx": (d1,), "sy": (d2,), "xx": (d1, d1), "yy": (d2, d2),
              "xy": (d1, d2), "p": (), "q": (), "pp": (), "qq": (), "pq": (), "px": (d1,),
              "qx": (d1,), "py": (d2,), "qy": (d2,)}
    out, start = [], 0
    for name, shape in shapes.items():
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


def _transformed(raw, start, transform):
    return raw if transform is None else transform(raw, start)


def _shift(A):
    """The common shift, from the first chunk: its column means, rounded to ``A``'s dtype.

    A column constant within the chunk is shifted by its value exactly, so a
    column constant everywhere becomes exactly zero in every sum.
    """
    shift = A.mean(axis=0, dtype=np.float64).astype(A.dtype)
    constant = (A == A[0]).all(axis=0)
    shift[constant] = A[0, constant]
    return shift


def _chunk_moments(X, Y, rows, *, names, transforms, shifts, row_norms):
    """One row chunk's moments, packed into a (1, P) float64 vector.

    The ``d x d`` products and the weighted column sums run in the chunk's
    dtype (BLAS ``syrk`` for ``A'A``); the squared row norms and everything
    summed across chunks are float64. A NaN or infinite value anywhere in the
    chunk makes its column sums non-finite, so finiteness costs nothing extra.
    ``X`` and ``Y`` come as one-element lists (one column chunk each).
    """
    X, Y = X[0], Y[0]
    start = int(rows[0]) if len(rows) else 0
    A = _transformed(X, start, transforms[0]) - shifts[0]
    B = _transformed(Y, start, transforms[1]) - shifts[1]
    if row_norms:
        p, q = _sq_row_norms(A), _sq_row_norms(B)
        W = np.stack([np.ones_like(p), p, q]).astype(A.dtype)
    else:
        W = np.ones((1, len(A)), dtype=A.dtype)
    wa, wb = W @ A, W @ B  # column sums, and sums weighted by p and by q
    for name, raw, w in ((names[0], X, wa), (names[1], Y, wb)):
        if not np.isfinite(w[0]).all():
            raise _non_finite(raw, name, start)
    layout, size = _layout(A.shape[1], B.shape[1])
    out = np.zeros((1, size))
    cut = {name: out[0, lo:hi].reshape(shape) for name, shape, lo, hi in layout}
    out[0, 0] = len(A)
    cut["sx"][...], cut["sy"][...] = wa[0], wb[0]
    cut["xx"][...] = A.T @ A
    cut["yy"][...] = B.T @ B
    cut["xy"][...] = A.T @ B
    if row_norms:
        for name, value in (("p", p.sum()), ("q", q.sum()), ("pp", p @ p), ("qq", q @ q),
                            ("pq", p @ q), ("px", wa[1]), ("qx", wa[2]), ("py", wb[1]),
                            ("qy", wb[2])):
            cut[name][...] = value
    return out


# --------------------------------------------------------------------------- the back end
class DaskBackend(NumpyBackend):
    """dask arrays, reduced over their row chunks; results come out as Python floats.

    The measures that reduce over chunks ask for :meth:`moments` and finish on
    the client with numpy (the methods inherited from the numpy back end act on
    those float64 sums). Methods that would pull a whole dask array into one
    process refuse instead.
    """

    name = "dask"
    priority = 20
    chunked = True

    @staticmethod
    def owns(x) -> bool:
        return is_dask(x)

    # -- validation and pairing, without computing anything
    def check_features(self, X, *, name="X", min_samples=1):
        """A 2-D dask array of real numbers (ints to float64, float16 to float32).

        Finiteness is checked chunk by chunk during the reduction. A numpy
        partner is validated as the numpy back end does.
        """
        if is_torch(X):
            raise TypeError(f"{name} is a torch tensor and the other representation a dask "
                            "array: pass both as dask arrays (or numpy arrays)")
        if not is_dask(X):
            return super().check_features(X, name=name, min_samples=min_samples)
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n, d), got shape {X.shape}")
        if any(np.isnan(c) for c in X.chunks[0]):
            raise ValueError(f"{name} has unknown chunk sizes along its rows; call "
                             f"{name}.compute_chunk_sizes() first")
        kind = X.dtype.kind
        if kind == "c":
            raise TypeError(f"{name} must hold real numbers, got complex dtype {X.dtype}")
        if kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
        if X.shape[1] == 0:
            raise ValueError(f"{name} has shape {tuple(X.shape)}: no features (columns)")
        if X.shape[0] < min_samples:
            raise ValueError(f"{name} needs at least {min_samples} rows, got {X.shape[0]}")
        if kind != "f":
            return X.astype(np.float64)
        return X.astype(np.float32) if X.dtype.itemsize < 4 else X

    def pair(self, X, Y, names=("X", "Y")):
        """Both as dask arrays with the same row chunks, one column chunk and a common dtype.

        A numpy partner is cut into the dask array's row chunks; two dask
        arrays chunked differently along the rows are refused (each task must
        read the same stimuli of both).
        """
        import dask.array as da

        ref = X if is_dask(X) else Y
        X, Y = (A if is_dask(A) else da.from_array(A, chunks=(ref.chunks[0], -1))
                for A in (X, Y))
        if X.chunks[0] != Y.chunks[0]:
            raise ValueError(
                f"{names[0]} and {names[1]} must be chunked alike along the rows, so that each "
                f"task reads the same stimuli of both: got row chunks {_brief(X.chunks[0])} and "
                f"{_brief(Y.chunks[0])}; rechunk one like the other, e.g. "
                f"{names[1]} = {names[1]}.rechunk({{0: {names[0]}.chunks[0]}})")
        dtype = np.promote_types(X.dtype, Y.dtype)
        return tuple(A.astype(dtype).rechunk({1: -1}) for A in (X, Y))

    # -- the reduction
    def moments(self, X, Y, *, transforms=(None, None), row_norms=True, names=("X", "Y"),
                split_every=None):
        """The :class:`Moments` of two arrays from :meth:`pair`, in one tree reduction.

        Parameters
        ----------
        X, Y : dask.array.Array of shape (n, d1), (n, d2)
        transforms : pair of callables or None
            ``transform(chunk, first_row)`` maps each row chunk of X (and of
            Y) row by row (the RSA embeddings) before the moments; it may
            raise a ``ValueError`` naming rows, counted from ``first_row``.
        row_norms : bool
            Also sum over the squared row norms (the unbiased HSIC and RSA
            need them; biased CKA and Procrustes do not, and skip their cost).
        names : pair of str
            For error messages.
        split_every : int or None
            Partial sums added per step of the tree (dask's default when None).

        Raises
        ------
        ValueError
            When a chunk holds NaN or infinite values, naming its rows; found
            by the task that reads the chunk, so nothing else is materialised.
        """
        import dask
        import dask.array as da

        shifts = []  # from the first chunk of each (one chunk, computed first)
        heads = dask.compute(X[:X.chunks[0][0]], Y[:Y.chunks[0][0]])
        for name, raw, transform in zip(names, heads, transforms, strict=True):
            A = _transformed(raw, 0, transform)
            if not np.isfinite(A.sum(axis=0, dtype=np.float64)).all():
                raise _non_finite(raw, name, 0)
            shifts.append(_shift(A))
        layout, size = _layout(X.shape[1], Y.shape[1])
        rows = da.arange(X.shape[0], chunks=(X.chunks[0],))
        packed = da.blockwise(
            _chunk_moments, "ij", X, "ia", Y, "ib", rows, "i",
            new_axes={"j": size}, adjust_chunks={"i": 1}, concatenate=False,
            dtype=np.float64, meta=np.empty((0, 0)), names=tuple(names),
            transforms=tuple(transforms), shifts=tuple(shifts), row_norms=row_norms,
        )
        total = packed.sum(axis=0, split_every=split_every).compute()
        values = {name: total[lo:hi].reshape(shape) if shape else float(total[lo])
                  for name, shape, lo, hi in layout}
        values["n"] = int(round(values["n"]))
        return Moments(**values, row_norms=row_norms)

    # -- a few rows in one place
    def take_rows(self, X, rows, *, name="X"):
        """The rows ``rows`` of a dask array from :meth:`check_features`, as one numpy array.

        Parameters
        ----------
        X : dask.array.Array of shape (n, d)
        rows : ndarray of int
            Sorted, distinct row indices in ``[0, n)``.
        name : str
            For error messages.

        Returns
        -------
        numpy.ndarray of shape (len(rows), d)

        Only the row chunks that hold one of the rows are read, all in one
        ``dask.compute``, and each task keeps only its rows: memory is
        ``O(len(rows) x d)`` on the client, whatever ``n`` is. The rows are
        checked for NaN and infinite values (rows not asked for are not read).

        Raises
        ------
        ValueError
            When a row read holds NaN or infinite values, naming the first.
        """
        import dask

        rows = np.asarray(rows, dtype=np.int64)
        bounds = np.cumsum((0,) + tuple(X.chunks[0]))
        cut = np.searchsorted(rows, bounds)  # rows[cut[b]:cut[b + 1]] lie in row chunk b
        parts = [X.blocks[b][rows[lo:hi] - bounds[b]]
                 for b, (lo, hi) in enumerate(zip(cut[:-1], cut[1:], strict=True)) if hi > lo]
        out = (np.concatenate(dask.compute(*parts)) if parts
               else np.empty((0, X.shape[1]), dtype=X.dtype))
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            raise ValueError(f"{name} contains NaN or infinite values in {int(bad.sum())} of the "
                             f"{len(rows)} row(s) read (first: row {int(rows[np.argmax(bad)])})")
        return out

    # -- what needs every pair of stimuli, or the whole array in one place
    def refuse(self, what, why, instead):
        """Raise the ``TypeError`` of a computation that does not reduce over row chunks."""
        raise TypeError(f"{what} does not take dask arrays: it {why}, which does not reduce "
                        f"over row chunks. {instead}")

    def asarray(self, x, like=None, dtype=None):
        if is_dask(x):
            self.refuse("this step", "needs the whole array in one process",
                        "Compute a subsample first (X[:m].compute()).")
        return super().asarray(x, like=like, dtype=dtype)

    def to_numpy(self, x):
        return self.asarray(x)

    def rankdata(self, x, rtol=0.0):
        self.refuse("ranking", "sorts all values at once", "Rank a subsample in memory.")

    def kth_largest(self, S, k):
        self.refuse("the k-th largest similarity", "needs every row of the n x n similarities",
                    "Compute it on a subsample in memory.")

    def upper_triangle(self, D, k=1):
        self.refuse("an RDM", "has n (n - 1) / 2 entries", "Compute it on a subsample in memory.")


def _brief(chunks):
    text = str(tuple(int(c) for c in chunks[:4]))
    return text[:-1] + ", ...)" if len(chunks) > 4 else text
