"""numpy arrays on the CPU."""

from __future__ import annotations

import contextlib

import numpy as np

from ._base import Backend, is_torch


class NumpyBackend(Backend):
    """numpy arrays on the CPU; scalars come out as Python floats."""

    name = "numpy"
    priority = 0

    @staticmethod
    def owns(x) -> bool:
        return isinstance(x, np.ndarray | np.generic)

    # -- conversion and placement
    def asarray(self, x, like=None, dtype=None):
        """``x`` as an array (in ``like``'s dtype when given, else ``dtype`` or its own)."""
        if is_torch(x):
            x = x.detach().cpu().numpy()
        dtype = like.dtype if like is not None else dtype
        return np.asarray(x, dtype=dtype)

    def place(self, x, ref):
        """``x`` in this back end, where ``ref`` lives, in its own dtype."""
        return self.asarray(x)

    def to_numpy(self, x):
        return np.asarray(x)

    def index(self, idx, like=None):
        """Integer indices that index this back end's arrays."""
        return np.asarray(idx)

    def detach(self, x):
        return x

    def float64(self, x):
        return np.asarray(x, dtype=np.float64)

    def astype(self, x, dtype):
        return x if x.dtype == dtype else x.astype(dtype)

    def result_type(self, *arrays):
        return np.result_type(*[a.dtype for a in arrays])

    def floating(self, x, name="X"):
        """``x`` in a float dtype of at least 32 bits (ints and bools to float64, float16 to
        float32); strings and complex numbers are a ``TypeError``."""
        x = np.asarray(x)
        if x.dtype != bool and not np.issubdtype(x.dtype, np.number):
            raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
        if np.iscomplexobj(x):
            raise TypeError(f"{name} must hold real numbers, got complex dtype {x.dtype}")
        if not np.issubdtype(x.dtype, np.floating):
            return x.astype(np.float64)
        return x.astype(np.float32) if x.dtype.itemsize < 4 else x

    def to_output(self, value, like=None):
        """The measure's result: a Python float."""
        return float(value)

    def itemsize(self, x):
        return x.itemsize

    def eps(self, x):
        return np.finfo(x.dtype).eps

    def free_memory(self, x):
        """Free bytes on the array's device, or None where ``max_memory_gb`` applies (CPU)."""
        return None

    # -- creation
    def zeros(self, shape, like=None, dtype=np.float64):
        return np.zeros(shape, dtype=dtype)

    def empty(self, shape, like=None, dtype=None):
        return np.empty(shape, dtype=like.dtype if dtype is None else dtype)

    def concat(self, parts):
        return np.concatenate(parts)

    # -- elementwise and reductions
    def sqrt(self, x):
        return np.sqrt(x)

    def abs(self, x):
        return np.abs(x)

    def arccos(self, x):
        return np.arccos(x)

    def clip(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def clamp_min_(self, x, lo):
        """``max(x, lo)``, in place."""
        return np.maximum(x, lo, out=x)

    def clamp_min(self, x, lo):
        """``max(x, lo)`` of a temporary: in place for numpy, a new tensor for autograd."""
        return np.maximum(x, lo, out=x)

    def expm1_(self, x):
        """``exp(x) - 1``, in place where the back end allows it."""
        return np.expm1(x, out=x)

    def isfinite(self, x):
        return np.isfinite(x)

    def amax(self, x, axis):
        return x.max(axis=axis)

    def amin(self, x, axis):
        return x.min(axis=axis)

    def absmax(self, x):
        """The largest magnitude in ``x``, a Python float (0.0 for an empty array)."""
        return float(max(x.max(), -x.min())) if x.size else 0.0

    def flatnonzero(self, mask):
        return np.flatnonzero(mask)

    def sqnorm(self, x):
        """Squared Frobenius norm, one BLAS dot for contiguous input."""
        return np.vdot(x, x)

    def rowdot(self, A, B):
        """``(A * B).sum(axis=1)`` without an (n, d) temporary."""
        return np.einsum("ij,ij->i", A, B)

    def row_norms2(self, A):
        """Squared row norms in float64, by the (more accurate in float32) norm reduction."""
        return np.square(np.linalg.norm(A, axis=1).astype(np.float64))

    def col_mean(self, A):
        return A.mean(axis=0)

    def row_sums(self, A):
        return A.sum(axis=1)

    def matmul(self, A, B, out=None):
        return np.matmul(A, B, out=out)

    @contextlib.contextmanager
    def quiet(self):
        """Silence overflow/invalid warnings where a later check reports them by name."""
        with np.errstate(invalid="ignore", over="ignore"):
            yield

    # -- in-place updates (a tensor that autograd tracks gets a new one)
    def fill_index(self, x, axis, idx, value=0):
        """``x`` with the rows (``axis=0``) or columns (``axis=1``) ``idx`` set to ``value``."""
        if axis == 0:
            x[idx] = value
        else:
            x[:, idx] = value
        return x

    def fill_diagonal_(self, x, value=0):
        np.fill_diagonal(x, value)
        return x

    def zero_diagonals_(self, G):
        """Zero the diagonal of every matrix in a (L, b, b) stack, in place."""
        b = G.shape[1]
        G[:, np.arange(b), np.arange(b)] = 0
        return G

    def symmetrize_upper(self, D):
        """The symmetric matrix whose upper triangle is ``D``'s (exactly symmetric)."""
        il = np.tril_indices(D.shape[0], -1)
        D[il] = D.T[il]
        return D

    # -- linear algebra
    def gram(self, A):
        """``A'A`` in float64; numpy's matmul calls BLAS ``syrk`` for it (half a GEMM's flops)."""
        return np.asarray(A.T @ A, dtype=np.float64)

    def svdvals(self, x):
        return np.linalg.svd(x, compute_uv=False)

    def qr_r(self, x):
        """``R`` of the thin QR decomposition of ``x``."""
        return np.linalg.qr(x, mode="r")

    # -- all pairs of stimuli
    def upper_triangle(self, D, k=1):
        """Entries above the ``k``-th diagonal of a square matrix, row by row.

        The order matches :func:`scipy.spatial.distance.squareform` (and
        rsatoolbox's RDM vectors) for ``k=1``.
        """
        if k == 1 and D.flags.c_contiguous:
            from scipy.spatial.distance import squareform

            # A C loop with no index arrays: much lighter than D[np.triu_indices(n, 1)].
            return squareform(D, checks=False, force="tovector")
        return D[np.triu_indices(D.shape[0], k)]

    def rankdata(self, x, rtol=0.0):
        """Ranks 1..m of a 1-D array, ties get their average rank (float64).

        With ``rtol > 0``, neighbours in sorted order within ``rtol`` of the
        larger magnitude of the two are tied too (values equal up to rounding).
        """
        x = np.asarray(x)
        m = x.shape[0]
        order = np.argsort(x)  # numpy's SIMD sort: far faster than scipy's rankdata
        values = x[order]
        new = np.empty(m, dtype=bool)
        new[0] = True
        if rtol:
            gap = values[1:] - values[:-1]
            size = np.abs(values[1:])
            np.maximum(size, np.abs(values[:-1]), out=size)
            size *= rtol
            np.greater(gap, size, out=new[1:])
            del gap, size
        else:
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

    def kth_largest(self, S, k):
        """The ``k``-th largest entry of each row of ``S``."""
        return -np.partition(-S, k - 1, axis=1)[:, k - 1]

    # -- rows
    def row_normalize(self, x):
        """Rows scaled to unit L2 norm; rows of zeros stay zero.

        Each row is first brought to a largest magnitude in [0.5, 1) by a power of
        two (exact: the result is the same to the last bit), so that its squared
        norm neither overflows (rows beyond about 1e154) nor underflows (below
        about 1e-154) on the way.
        """
        if x.size:
            x = np.ldexp(x, -np.frexp(np.abs(x).max(axis=1, keepdims=True))[1])
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return x / norms

    def softmax(self, x, axis=-1):
        """Numerically stable softmax."""
        z = x - x.max(axis=axis, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=axis, keepdims=True)
        return z
