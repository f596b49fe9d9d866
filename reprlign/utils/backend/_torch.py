"""torch tensors on their device (CPU or CUDA), in the autograd graph."""

from __future__ import annotations

import contextlib

import numpy as np

from ._base import Backend, is_torch


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
        if x.is_complex():
            raise TypeError(f"{name} must hold real numbers, got complex dtype {x.dtype}")
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

    def absmax(self, x):
        if not x.numel():
            return 0.0
        lo, hi = self._t.aminmax(x.detach())
        return float(max(hi, -lo))

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

    def rankdata(self, x, rtol=0.0):
        torch = self._t
        values, order = torch.sort(x.detach())
        m = values.shape[0]
        new = torch.ones(m, dtype=torch.bool, device=x.device)
        if rtol:
            size = torch.maximum(values[1:].abs(), values[:-1].abs()).mul_(rtol)
            new[1:] = (values[1:] - values[:-1]) > size
            del size
        else:
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

    def kth_largest(self, S, k):
        return S.topk(k, dim=1).values[:, k - 1]

    # -- rows
    def row_normalize(self, x):
        # Each row times a power of two first (exact; as the numpy back end), in two
        # factors so that neither leaves the dtype's range.
        torch = self._t
        if x.numel():
            e = torch.frexp(x.detach().abs().amax(dim=1, keepdim=True)).exponent
            half = torch.div(e, 2, rounding_mode="floor")
            x = x * torch.exp2(-half.to(x.dtype)) * torch.exp2((half - e).to(x.dtype))
        return x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)

    def softmax(self, x, axis=-1):
        return x.softmax(dim=axis)
