"""One back-end switch: a formula is written once and runs on numpy arrays or torch tensors.

``nx = get_backend(X, Y)`` returns the namespace object of the inputs (the
pattern of POT's ``ot.backend.get_backend``): :data:`NUMPY` for numpy input,
:data:`TORCH` when any input is a torch tensor (a numpy partner then joins the
tensor's device and dtype through :meth:`Backend.asarray`), :data:`DASK` when
any input is a dask array (a numpy partner is cut into its row chunks; the
measures then reduce over the chunks, see :class:`DaskBackend`). Arithmetic, ``@``,
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

Adding a back end is one subclass and one
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

from ._base import Backend, is_torch
from ._dask import DaskBackend, is_dask
from ._numpy import NumpyBackend
from ._torch import TorchBackend

__all__ = ["DASK", "NUMPY", "TORCH", "Backend", "DaskBackend", "NumpyBackend", "TorchBackend",
           "get_backend", "is_dask", "is_torch", "register_backend"]

NUMPY = NumpyBackend()
TORCH = TorchBackend()
DASK = DaskBackend()
_REGISTRY = [DASK, TORCH, NUMPY]


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
