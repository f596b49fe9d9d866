"""One back-end switch: a formula is written once and runs on numpy arrays or torch tensors.

``nx = get_backend(X, Y)`` returns the namespace object of the inputs (the
pattern of POT's ``ot.backend.get_backend``): :data:`NUMPY` for numpy input,
:data:`TORCH` when any input is a torch tensor (a numpy partner then joins the
tensor's device and dtype through :meth:`Backend.asarray`). Arithmetic, ``@``,
``.T``, indexing and ``sum``/``mean`` with ``axis=`` are shared by both array
types and are used directly; the namespace holds only what differs: float64
casts, scalar output (a Python float from numpy, a 0-d tensor on the input's
device, still in the autograd graph, from torch), in-place updates that must
stay autograd-safe, linear algebra, ranks, top-k, the RDM triangle, and where
the data lives.

Why a small namespace and not array-api-compat (which scikit-learn vendors):
the measures need a dozen operations that the array API standard does not have
(top-k, ranks with average ties, the condensed upper triangle, in-place
diagonal fills that autograd accepts, BLAS ``syrk`` through numpy's ``A.T @ A``,
free device memory), so every one of them would still need its own branch; and
the standard's wrapped numpy namespace adds a Python call layer to each
operation, which the bootstrap pays a thousand times per interval on small
resamples. Here each back end is one class; numpy calls go straight to numpy.

Adding a back end (a chunked dask one, say) is one subclass and one
:func:`register_backend` call: it declares which inputs it owns
(:meth:`Backend.owns`) and its ``priority`` against the others (a numpy
partner joins it), implements the methods below for its array type, and may
defer work: the measures pass each group of reductions they need together
(the ``d x d`` products, column sums and row norms) through
:meth:`Backend.evaluate` before turning them into a number, so a lazy back end
computes them in one pass over the row chunks, and operations that need every
pair of stimuli at once (:meth:`rankdata`, :meth:`upper_triangle`,
:meth:`top_k`) can refuse with an error that names the exact alternative.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np


def is_torch(x) -> bool:
    """True when ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class Backend:
    """The operations the measures need that numpy and torch spell differently."""

    name = "base"
    #: Among the inputs of one call, the back end of highest priority wins.
    priority = 0

    @staticmethod
    def owns(x) -> bool:  # pragma: no cover - every concrete back end defines it
        raise NotImplementedError

    def __repr__(self):
        return f"<reprlign backend {self.name!r}>"

    def check_features(self, X, *, name="X", min_samples=1):
        """Validate a 2-D table of finite numbers (see :func:`reprlign.utils.check_features`).

        A back end whose arrays that function does not know overrides this.
        """
        from ._validation import check_features

        return check_features(X, name=name, min_samples=min_samples)

    def pair(self, X, Y):
        """Both inputs in this back end, where the owned one lives, in their common dtype."""
        ref = X if self.owns(X) else Y
        X, Y = self.place(X, ref), self.place(Y, ref)
        dtype = self.result_type(X, Y)
        return self.astype(X, dtype), self.astype(Y, dtype)

    def evaluate(self, *values):
        """Materialise values computed together (a lazy back end computes them in one pass)."""
        return values if len(values) != 1 else values[0]


# --------------------------------------------------------------------------- numpy
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
        """``x`` in a float dtype of at least 32 bits (ints to float64, float16 to float32)."""
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.number):
            raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
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

    def rankdata(self, x):
        """Ranks 1..m of a 1-D array, ties get their average rank (float64)."""
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

    def top_k(self, S, k):
        """Column indices of the ``k`` largest entries of each row of ``S`` (unordered)."""
        return np.argpartition(-S, k - 1, axis=1)[:, :k]

    # -- rows
    def row_normalize(self, x):
        """Rows scaled to unit L2 norm; rows of zeros stay zero."""
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return x / norms

    def softmax(self, x, axis=-1):
        """Numerically stable softmax."""
        z = x - x.max(axis=axis, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=axis, keepdims=True)
        return z


# --------------------------------------------------------------------------- torch
class TorchBackend(Backend):
    """torch tensors on their device; scalars come out as 0-d tensors (differentiable)."""

    name = "torch"
    priority = 10

    @staticmethod
    def owns(x) -> bool:
        return is_torch(x)

    @property
    def _t(self):
        import torch

        return torch

    # -- conversion and placement
    def asarray(self, x, like=None, dtype=None, device=None):
        """``x`` as a tensor on ``like``'s device (and dtype when ``like`` is given)."""
        torch = self._t
        if like is not None:
            return torch.as_tensor(x, dtype=like.dtype, device=like.device)
        if not is_torch(x):
            x = np.asarray(x)
        return torch.as_tensor(x, dtype=dtype, device=device)

    def place(self, x, ref):
        if not is_torch(x):
            x = np.asarray(x)
        return self._t.as_tensor(x, device=ref.device)

    def to_numpy(self, x):
        return x.detach().cpu().numpy() if is_torch(x) else np.asarray(x)

    def index(self, idx, like=None):
        torch = self._t
        if is_torch(idx):
            return idx if like is None else idx.to(like.device)
        return torch.as_tensor(np.asarray(idx), dtype=torch.long,
                               device=None if like is None else like.device)

    def detach(self, x):
        return x.detach()

    def float64(self, x):
        return x.double()

    def astype(self, x, dtype):
        return x if x.dtype == dtype else x.to(dtype)

    def result_type(self, *arrays):
        dtype = arrays[0].dtype
        for a in arrays[1:]:
            dtype = self._t.promote_types(dtype, a.dtype)
        return dtype

    def floating(self, x, name="X"):
        if not x.is_floating_point():
            return x.double()
        return x.float() if x.element_size() < 4 else x  # float16, bfloat16

    def to_output(self, value, like=None):
        """A 0-d tensor in ``like``'s dtype on its device (in the graph when it was)."""
        if not is_torch(value):
            return self._t.as_tensor(float(value), dtype=like.dtype, device=like.device)
        return value.to(like.dtype).reshape(())

    def itemsize(self, x):
        return x.element_size()

    def eps(self, x):
        return self._t.finfo(x.dtype).eps

    def free_memory(self, x):
        if x.device.type == "cuda":
            return self._t.cuda.mem_get_info(x.device)[0]
        return None

    # -- creation
    def zeros(self, shape, like=None, dtype=None):
        torch = self._t
        return torch.zeros(shape, dtype=torch.float64 if dtype is None else dtype,
                           device=like.device)

    def empty(self, shape, like=None, dtype=None):
        return self._t.empty(shape, dtype=like.dtype if dtype is None else dtype,
                             device=like.device)

    def concat(self, parts):
        return self._t.cat(parts)

    # -- elementwise and reductions
    def sqrt(self, x):
        return x.sqrt()

    def abs(self, x):
        return x.abs()

    def arccos(self, x):
        return x.arccos()

    def clip(self, x, lo, hi):
        return x.clamp(lo, hi)

    def clamp_min_(self, x, lo):
        return x.clamp_min_(lo)

    def clamp_min(self, x, lo):
        return x.clamp_min(lo)

    def expm1_(self, x):
        return x.expm1()

    def isfinite(self, x):
        return x.isfinite()

    def amax(self, x, axis):
        return x.amax(dim=axis)

    def amin(self, x, axis):
        return x.amin(dim=axis)

    def flatnonzero(self, mask):
        return self._t.nonzero(mask.reshape(-1)).reshape(-1)

    def sqnorm(self, x):
        return (x * x).sum()

    def rowdot(self, A, B):
        return self._t.einsum("ij,ij->i", A, B)

    def row_norms2(self, A):
        return self._t.linalg.vector_norm(A, dim=1).double() ** 2

    def col_mean(self, A):
        # torch's strided reductions are several times slower than a GEMV on the CPU
        ones = self._t.full((A.shape[0],), 1.0 / A.shape[0], dtype=A.dtype, device=A.device)
        return ones @ A

    def row_sums(self, A):
        ones = self._t.ones(A.shape[1], dtype=A.dtype, device=A.device)
        return A @ ones

    def matmul(self, A, B, out=None):
        return self._t.mm(A, B, out=out) if out is not None else A @ B

    def quiet(self):
        return contextlib.nullcontext()

    # -- in-place updates: out of place where autograd may need the original
    def fill_index(self, x, axis, idx, value=0):
        return x.index_fill(axis, idx, value)

    def fill_diagonal_(self, x, value=0):
        return x.fill_diagonal_(value)

    def zero_diagonals_(self, G):
        G.diagonal(dim1=1, dim2=2).zero_()
        return G

    def symmetrize_upper(self, D):
        torch = self._t
        return torch.triu(D) + torch.triu(D, 1).T

    # -- linear algebra
    def gram(self, A):
        return (A.T @ A).double()

    def svdvals(self, x):
        return self._t.linalg.svdvals(x)

    def qr_r(self, x):
        return self._t.linalg.qr(x, mode="reduced")[1]  # "r" mode has no gradient

    # -- all pairs of stimuli
    def upper_triangle(self, D, k=1):
        n = D.shape[0]
        mask = self._t.ones(n, n, dtype=self._t.bool, device=D.device).triu_(k)
        return D[mask]

    def rankdata(self, x):
        torch = self._t
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

    def top_k(self, S, k):
        return S.topk(k, dim=1).indices

    # -- rows
    def row_normalize(self, x):
        return x / x.norm(dim=1, keepdim=True).clamp_min(self._t.finfo(x.dtype).tiny)

    def softmax(self, x, axis=-1):
        return x.softmax(dim=axis)


NUMPY = NumpyBackend()
TORCH = TorchBackend()
_REGISTRY = [TORCH, NUMPY]


def register_backend(backend):
    """Add a back end (an instance of a :class:`Backend` subclass) to :func:`get_backend`."""
    if not isinstance(backend, Backend):
        raise TypeError(f"backend must be a Backend instance, got {type(backend).__name__}")
    _REGISTRY[:] = sorted([b for b in _REGISTRY if b.name != backend.name] + [backend],
                          key=lambda b: -b.priority)
    return backend


def get_backend(*arrays):
    """The back end of the inputs: the owner of highest priority among them.

    Anything no back end owns (lists, scalars, None) counts as numpy, so
    ``get_backend(tensor, ndarray)`` is torch and the array joins the tensor.
    """
    best = NUMPY
    for a in arrays:
        for backend in _REGISTRY:
            if backend.priority > best.priority and backend.owns(a):
                best = backend
                break
    return best
