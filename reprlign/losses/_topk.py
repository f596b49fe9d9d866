"""Perturbed top-k (Berthet et al. 2020; Cordonnier et al. 2021) and a differentiable k-NN loss."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

# Noise draws are made this many entries at a time (forward and backward alike).
_CHUNK_ENTRIES = 1 << 22
METRICS = ("cosine", "euclidean")


def _generator(random_state):
    """A torch.Generator from None (drawn from torch's global RNG), an int or a Generator."""
    if isinstance(random_state, torch.Generator):
        return random_state
    if random_state is None:
        seed = int(torch.randint(0, 2**62, (1,)))
    elif isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        seed = int(random_state)
        if not -(2**63) <= seed < 2**64:
            raise ValueError(f"random_state must be an int in [-2**63, 2**64), got {seed}")
    elif isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(0, 2**31 - 1))
    else:
        raise TypeError(f"random_state must be None, an int, a numpy RandomState or a "
                        f"torch.Generator, got {random_state!r}")
    return torch.Generator().manual_seed(seed)


def _noise_chunks(shape, n_samples, generator, dtype, device):
    """Yield standard normal draws ``(c, *shape)`` on ``device``, ``n_samples`` in all."""
    per_chunk = max(1, _CHUNK_ENTRIES // max(1, math.prod(shape)))
    for start in range(0, n_samples, per_chunk):
        c = min(per_chunk, n_samples - start)
        z = torch.randn((c, *shape), generator=generator, dtype=dtype, device=generator.device)
        yield z.to(device)


def _indicators(x, k):
    """Hard top-k indicators along the last axis of ``x`` (any leading shape)."""
    idx = x.topk(k, dim=-1).indices
    return torch.zeros_like(x).scatter_(-1, idx, 1.0)


class _PerturbedTopK(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k, sigma, n_samples, generator):
        state = generator.get_state()
        total = torch.zeros_like(x)
        for z in _noise_chunks(x.shape, n_samples, generator, x.dtype, x.device):
            total += _indicators(x.unsqueeze(0) + sigma * z, k).sum(0)
        ctx.save_for_backward(x)
        ctx.k, ctx.sigma, ctx.n_samples = k, sigma, n_samples
        ctx.state, ctx.gen_device = state, generator.device
        return total / n_samples

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # Replay the forward's noise rather than storing n_samples copies of x.
        gen = torch.Generator(device=ctx.gen_device)
        gen.set_state(ctx.state)
        total = torch.zeros_like(x)
        for z in _noise_chunks(x.shape, ctx.n_samples, gen, x.dtype, x.device):
            ind = _indicators(x.unsqueeze(0) + ctx.sigma * z, ctx.k)
            total += ((grad.unsqueeze(0) * ind).sum(-1, keepdim=True) * z).sum(0)
        return total / (ctx.n_samples * ctx.sigma), None, None, None, None


def _check_int(value, name, low, high=None):
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low
    if not ok or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def perturbed_topk(values, k, *, sigma=0.05, n_samples=500, random_state=None):
    """Soft top-k indicators: the expected top-k indicator under Gaussian noise.

    Parameters
    ----------
    values : torch.Tensor of shape (..., n)
        Scores; every leading index is a separate selection. ``-inf`` marks
        entries that are never selected (at least ``k`` per row must be finite).
    k : int
        How many of the ``n`` entries are selected, ``1 <= k <= n``.
    sigma : float, default=0.05
        Standard deviation of the noise, in the units of ``values``; as
        ``sigma -> 0`` the output becomes the hard top-k indicator.
    n_samples : int, default=500
        Monte-Carlo samples ``M`` (the forward value and the gradient are both
        estimated from them).
    random_state : None, int, numpy RandomState or torch.Generator, default=None
        Seeds the noise (None draws a seed from torch's global RNG, so
        ``torch.manual_seed`` makes calls reproducible). A CPU generator gives
        the same noise whatever the device of ``values``.

    Returns
    -------
    torch.Tensor of shape (..., n)
        ``y = mean_m topk(values + sigma Z_m)`` with entries in [0, 1] summing
        to ``k`` along the last axis.

    Notes
    -----
    Berthet et al. (NeurIPS 2020), "Learning with differentiable perturbed
    optimizers", used for top-k by Cordonnier et al. (CVPR 2021),
    "Differentiable patch selection for image recognition" (who found
    ``sigma ~ 0.05`` and ``M ~ 500`` workable). Forward:
    ``y_sigma(theta) = E_Z[argmax_{y in C} <y, theta + sigma Z>]`` with
    ``C = {y in {0,1}^n : sum y = k}``; backward: the perturbed estimator
    ``J y_sigma(theta) = E_Z[argmax(theta + sigma Z) Z^T] / sigma`` on the same
    samples, an unbiased estimate of the gradient of the smoothed operator.
    The noise is replayed from the generator's saved state in the backward
    pass, so memory is ``O(n)`` per row, not ``O(M n)``.

    Examples
    --------
    >>> import torch
    >>> from reprlign.losses import perturbed_topk
    >>> x = torch.tensor([0.1, 0.9, 0.5, 0.2], requires_grad=True)
    >>> y = perturbed_topk(x, 2, sigma=1e-3, random_state=0)
    >>> y.detach()
    tensor([0., 1., 1., 0.])
    """
    if not isinstance(values, torch.Tensor) or not values.is_floating_point():
        raise TypeError("values must be a floating-point torch tensor")
    if values.ndim == 0:
        raise ValueError("values must have at least one axis")
    k = _check_int(k, "k", 1, values.shape[-1])
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not 0 < sigma < math.inf:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    n_samples = _check_int(n_samples, "n_samples", 1)
    v = values.detach()
    if bool(torch.isnan(v).any()) or bool((v == math.inf).any()):
        raise ValueError("values contains NaN or +inf (-inf marks entries never selected)")
    short = (v > -math.inf).sum(-1) < k
    if bool(short.any()):
        raise ValueError(f"values has {int(short.sum())} row(s) with fewer than k={k} finite "
                         "entries (-inf marks entries never selected)")
    return _PerturbedTopK.apply(values, k, float(sigma), n_samples, _generator(random_state))


def _similarities(X, metric, name):
    """Row-by-row neighbour scores (larger = nearer), the diagonal at -inf."""
    if metric == "cosine":
        X = torch.nn.functional.normalize(X, dim=1)
        S = X @ X.T
    else:
        sq = (X * X).sum(1)
        S = -(sq[:, None] + sq[None, :] - 2 * X @ X.T).clamp_min(0)
    if not bool(S.detach().isfinite().all()):
        raise ValueError(f"{name}: its squared distances overflow {X.dtype} (largest magnitude "
                         f"{float(X.detach().abs().max()):.3g}); rescale it or use "
                         "metric='cosine'")
    eye = torch.eye(X.shape[0], dtype=torch.bool, device=X.device)
    return S.masked_fill(eye, -math.inf)


def _reference_neighbours(reference, n, k, metric, device):
    """The hard k nearest neighbours of the reference (n, n), exactly as
    :func:`reprlign.measures.mutual_knn` finds them: at any scale of the reference, and
    neighbours tied at the k-th place (to rounding) going to the lower index."""
    from ..measures._common import center_columns, nonzero_rows, row_sq_norms, unit_scale
    from ..measures._knn import _TIE_ULPS, _all_rows_equal, _neighbours
    from ..utils.backend import get_backend
    from ._triplet import as_tensor

    ref = as_tensor(reference, "reference", torch.empty(0, device=device), integer=True)
    if ref.ndim != 2 or ref.shape[0] != n:
        raise ValueError(f"reference must be ({n}, d_ref) like embeddings, got "
                         f"{tuple(ref.shape)}")
    if ref.shape[1] == 0:
        raise ValueError(f"reference has shape {tuple(ref.shape)}: no features (columns)")
    if not ref.is_floating_point():
        ref = ref.double()
    if not bool(torch.isfinite(ref).all()):
        raise ValueError("reference contains NaN or infinite values")
    nx = get_backend(ref)
    R = unit_scale(ref, nx)[0]
    if metric == "cosine":
        nonzero_rows(row_sq_norms(R, nx), "reference", "all-zero", "cosine similarity",
                     "use metric='euclidean'")
        R = nx.row_normalize(R)
    else:
        R = center_columns(R, nx)
    if _all_rows_equal(R, nx):
        raise ValueError("reference has no neighbour structure (every row the same"
                         + (" up to scale" if metric == "cosine" else "")
                         + "): its nearest neighbours are undefined")
    sq = (R * R).sum(1)
    tol = _TIE_ULPS * nx.eps(R) * (1.0 if metric == "cosine" else 3 * nx.absmax(sq))
    return _neighbours(R, slice(0, n), k, metric, sq, nx, tol)


def knn_overlap_loss(embeddings, reference, k=10, *, metric="cosine", sigma=0.05, n_samples=100,
                     random_state=None):
    """``1 -`` the soft k-nearest-neighbour overlap with a reference representation.

    The trainable counterpart of :func:`reprlign.measures.mutual_knn`: for each
    stimulus, the model's neighbours are soft top-k indicators of its
    similarities (:func:`perturbed_topk`) and the reference's are the hard
    k nearest neighbours; the overlap is averaged over stimuli.

    Parameters
    ----------
    embeddings : torch.Tensor of shape (n, d)
        The model's representation (gradients flow into it).
    reference : array-like or torch.Tensor of shape (n, d_ref)
        The representation whose neighbourhoods are the target (no gradient).
    k : int, default=10
        Neighbours per stimulus, itself excluded, ``1 <= k < n``.
    metric : {"cosine", "euclidean"}, default="cosine"
        Neighbours by cosine similarity (as ``mutual_knn``'s default) or by
        Euclidean distance.
    sigma : float, default=0.05
        Noise of :func:`perturbed_topk`, in the units of the similarities
        (cosine similarities, or negative squared distances).
    n_samples : int, default=100
        Monte-Carlo samples of :func:`perturbed_topk`.
    random_state : None, int, numpy RandomState or torch.Generator, default=None
        Seeds the noise.

    Returns
    -------
    torch.Tensor
        0-d: ``1 - mean_i <soft_topk_i, ref_topk_i> / k``; as ``sigma -> 0``
        it equals ``1 - mutual_knn(embeddings, reference, k)``: the
        reference's neighbours are found as there (at any scale, ties at the
        k-th place going to the lower index).

    Raises
    ------
    ValueError
        For a reference without neighbour structure (every row the same, for
        cosine up to scale) or with an all-zero row under cosine, non-finite
        input, or embeddings whose squared distances overflow (euclidean).

    Examples
    --------
    >>> import torch
    >>> from reprlign.losses import knn_overlap_loss
    >>> Z = torch.randn(50, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    >>> loss = knn_overlap_loss(Z, Z.detach() * 2, k=5, sigma=1e-4, random_state=0)
    >>> float(loss)
    0.0
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2:
        raise TypeError("embeddings must be a 2-D torch tensor (n, d)")
    if embeddings.is_complex():
        raise TypeError(f"embeddings must hold real numbers, got {embeddings.dtype}")
    n = embeddings.shape[0]
    if n < 2 or embeddings.shape[1] == 0:
        raise ValueError(f"embeddings must be (n, d) with n >= 2 and d >= 1, got "
                         f"{tuple(embeddings.shape)}")
    if not embeddings.is_floating_point():  # (integers become float64, as in the measures)
        embeddings = embeddings.double()
    if not bool(embeddings.detach().isfinite().all()):
        raise ValueError("embeddings contains NaN or infinite values")
    k = _check_int(k, "k", 1, n - 1)
    target = _reference_neighbours(reference, n, k, metric, embeddings.device)
    soft = perturbed_topk(_similarities(embeddings, metric, "embeddings"), k, sigma=sigma,
                          n_samples=n_samples, random_state=random_state)
    return 1 - (soft * target.to(soft.dtype)).sum() / (n * k)
