"""Differentiable ranks (Blondel et al. 2020), soft Spearman and a soft Spearman-RSA loss.

Soft ranks are the projection of ``theta / eps`` onto the permutahedron of
``(n, ..., 1)``. After one sort the projection is an isotonic regression solved
by pool-adjacent-violators (PAV) in O(n), so the whole operator costs
O(n log n); its Jacobian is constant on the blocks PAV pools, which makes the
backward pass a few gathers and one segment sum. PAV runs on the CPU (scipy's
compiled PAV for the quadratic regulariser, a Python one for the entropic);
the backward pass runs on the tensor's device.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

REGULARIZATIONS = ("l2", "kl")


def _pav_l2(y):
    """Start of each block (and n) of the decreasing isotonic regression of ``y``."""
    from scipy.optimize import isotonic_regression

    res = isotonic_regression(y, increasing=False)
    return res.blocks, res.x


def _log_add(a, b):
    hi = a if a > b else b
    return hi + math.log1p(math.exp(-abs(a - b)))


def _pav_kl(s, w):
    """Blocks of ``argmin_{v decreasing} sum exp(s - v) + exp(w) v`` (PAV in log space).

    A block's optimal value is ``logsumexp(s_B) - logsumexp(w_B)``; adjacent
    blocks are pooled while that value fails to decrease.
    """
    starts, ls, lw = [], [], []
    for i in range(len(s)):
        cs, cw, st = float(s[i]), float(w[i]), i
        while starts and ls[-1] - lw[-1] <= cs - cw:
            cs = _log_add(ls.pop(), cs)
            cw = _log_add(lw.pop(), cw)
            st = starts.pop()
        starts.append(st)
        ls.append(cs)
        lw.append(cw)
    blocks = np.array([*starts, len(s)], dtype=np.int64)
    return blocks, np.repeat(np.array(ls) - np.array(lw), np.diff(blocks))


def _project_row(z, regularization):
    """Soft ranks of one row of ``z = theta / eps`` and what the backward pass needs."""
    n = z.shape[0]
    order = np.argsort(-z, kind="stable")  # descending
    s = z[order]
    rho = np.arange(n, 0, -1, dtype=np.float64)
    if regularization == "l2":
        blocks, v = _pav_l2(s - rho)
        primal = s - v
        extra = None
    else:
        w = np.log(rho)
        blocks, v = _pav_kl(s, w)
        primal = np.exp(s - v)
        ids = np.repeat(np.arange(len(blocks) - 1), np.diff(blocks))
        # d v_B / d s_j = softmax of s over the block: the entropic Jacobian's weights.
        block_max = np.maximum.reduceat(s, blocks[:-1])[ids]
        e = np.exp(s - block_max)
        extra = e / np.add.reduceat(e, blocks[:-1])[ids]
    out = np.empty(n)
    out[order] = primal
    return out, order, blocks, extra


class _SoftRank(torch.autograd.Function):
    """Soft ranks along the last axis of a 2-D tensor; block-constant Jacobian."""

    @staticmethod
    def forward(ctx, z, regularization):
        z_np = z.detach().to("cpu", torch.float64).numpy()
        b, n = z_np.shape
        out = np.empty((b, n))
        orders = np.empty((b, n), dtype=np.int64)
        block_ids = np.empty((b, n), dtype=np.int64)
        sizes, extras, offset = [], [], 0
        for r in range(b):
            out[r], orders[r], blocks, extra = _project_row(z_np[r], regularization)
            counts = np.diff(blocks)
            block_ids[r] = offset + np.repeat(np.arange(len(counts)), counts)
            sizes.append(counts)
            extras.append(extra)
            offset += len(counts)
        dev = z.device
        result = torch.as_tensor(out, device=dev).to(z.dtype)
        ctx.regularization = regularization
        ctx.n_blocks = offset
        saved = [torch.as_tensor(orders, device=dev), torch.as_tensor(block_ids, device=dev),
                 torch.as_tensor(np.concatenate(sizes), device=dev, dtype=torch.float64)]
        if regularization == "kl":
            saved += [torch.as_tensor(np.stack(extras), device=dev),
                      torch.as_tensor(out, device=dev)]
        ctx.save_for_backward(*saved)
        return result

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        orders, block_ids, sizes, *extra = ctx.saved_tensors
        g = grad.double()
        if ctx.regularization == "kl":
            g = g * extra[1]  # d exp(p) = exp(p) dp
        g_sorted = g.gather(1, orders)
        sums = torch.zeros(ctx.n_blocks, dtype=torch.float64, device=g.device)
        sums.index_add_(0, block_ids.reshape(-1), g_sorted.reshape(-1))
        if ctx.regularization == "l2":
            correction = (sums / sizes)[block_ids]
        else:
            correction = extra[0] * sums[block_ids]
        out = torch.empty_like(g_sorted).scatter_(1, orders, g_sorted - correction)
        return out.to(grad.dtype), None


def _check_values(values, name):
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(values).__name__}")
    if not values.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {values.dtype}")
    if values.ndim == 0 or values.shape[-1] < 1:
        raise ValueError(f"{name} must have at least one value along its last axis")
    if not bool(torch.isfinite(values.detach()).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return values


def _check_strength(eps):
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < math.inf:
        raise ValueError(f"regularization_strength must be a finite number > 0, got {eps!r}")
    return float(eps)


def soft_rank(values, *, regularization_strength=1.0, regularization="l2", descending=False):
    """Differentiable ranks along the last axis (Blondel et al. 2020).

    Parameters
    ----------
    values : torch.Tensor of shape (..., n)
        Values to rank; every leading index is ranked separately.
    regularization_strength : float, default=1.0
        ``eps``, in the units of ``values``: values closer than about ``eps``
        share their ranks; as ``eps -> 0`` the soft ranks become the exact
        ranks, and as it grows they all tend to ``(n + 1) / 2``.
    regularization : {"l2", "kl"}, default="l2"
        Quadratic regulariser (Euclidean projection onto the permutahedron) or
        entropic one (KL projection; soft ranks stay positive).
    descending : bool, default=False
        Rank 1 for the smallest value (the convention of
        :func:`scipy.stats.rankdata`), or for the largest.

    Returns
    -------
    torch.Tensor of shape (..., n)
        Soft ranks in ``[1, n]`` on ``values``' device and dtype; each row sums
        to ``n (n + 1) / 2``. Exact ties get the average rank, as in
        ``rankdata``.

    See Also
    --------
    soft_spearman, soft_rsa_loss

    Notes
    -----
    Blondel, Teboul, Berthet & Djolonga (ICML 2020), "Fast differentiable
    sorting and ranking": ``r(theta) = P(theta / eps, rho)``, the projection
    of ``theta / eps`` onto the permutahedron of ``rho = (n, ..., 1)``
    (for ``"kl"``, ``exp`` of the projection of ``theta / eps`` onto that of
    ``log rho``). After sorting, the projection is an isotonic regression
    solved by pool-adjacent-violators; the Jacobian is constant on the pooled
    blocks. The isotonic regression runs on the CPU in float64 (scipy's
    compiled PAV for ``"l2"``, a pure-Python one for ``"kl"``, which is
    slower: about a microsecond per value), whatever the device; the backward
    pass runs on the device.

    Examples
    --------
    >>> import torch
    >>> from reprlign.losses import soft_rank
    >>> x = torch.tensor([[0.3, 3.0, 2.0, 0.1]])
    >>> soft_rank(x, regularization_strength=0.01)
    tensor([[2., 4., 3., 1.]])
    >>> soft_rank(x, regularization_strength=1.0)
    tensor([[1.6000, 4.0000, 3.0000, 1.4000]])
    """
    values = _check_values(values, "values")
    eps = _check_strength(regularization_strength)
    if regularization not in REGULARIZATIONS:
        raise ValueError(f"regularization must be one of {REGULARIZATIONS}, "
                         f"got {regularization!r}")
    z = values / eps
    if descending:
        z = -z
    shape = z.shape
    return _SoftRank.apply(z.reshape(-1, shape[-1]), regularization).reshape(shape)


def _exact_ranks(y, like):
    """Average ranks 1..n of ``y`` along its last axis, as a tensor like ``like``."""
    from scipy.stats import rankdata

    y_np = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if not np.issubdtype(y_np.dtype, np.number) or not np.isfinite(y_np).all():
        raise ValueError("target must hold finite numbers")
    ranks = rankdata(y_np, axis=-1)
    return torch.as_tensor(ranks, dtype=like.dtype, device=like.device)


def _pearson(a, b):
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    denom = (a.square().sum(-1) * b.square().sum(-1)).sqrt()
    return (a * b).sum(-1) / denom.clamp_min(torch.finfo(a.dtype).tiny)


def soft_spearman(values, target, *, regularization_strength=1.0, regularization="l2"):
    """Spearman correlation with soft ranks of ``values``: differentiable in ``values``.

    Parameters
    ----------
    values : torch.Tensor of shape (..., n)
        The model's values (for example its pair dissimilarities).
    target : array-like or torch.Tensor of shape (..., n)
        Reference values, ranked exactly (average ranks for ties); no gradient
        flows into them.
    regularization_strength : float, default=1.0
        ``eps`` of :func:`soft_rank`, in the units of ``values``.
    regularization : {"l2", "kl"}, default="l2"
        Regulariser of :func:`soft_rank`.

    Returns
    -------
    torch.Tensor of shape (...)
        Pearson correlation between ``soft_rank(values)`` and the ranks of
        ``target``; equal to :func:`scipy.stats.spearmanr` as ``eps -> 0``.

    Examples
    --------
    >>> import torch
    >>> from reprlign.losses import soft_spearman
    >>> x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    >>> round(float(soft_spearman(x, [1, 3, 2, 4], regularization_strength=0.1)), 4)
    0.8
    """
    values = _check_values(values, "values")
    ranks = _exact_ranks(target, values)
    if ranks.shape != values.shape:
        raise ValueError(f"target has shape {tuple(ranks.shape)} but values "
                         f"{tuple(values.shape)}")
    soft = soft_rank(values, regularization_strength=regularization_strength,
                     regularization=regularization)
    return _pearson(soft, ranks)


def _rdm_vector(target, n):
    """A target RDM as its upper triangle (row by row), given as a vector or a square matrix."""
    t = target.detach().cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target)
    m = n * (n - 1) // 2
    if t.ndim == 2:
        if t.shape != (n, n):
            raise ValueError(f"target_rdm must be ({n}, {n}) for {n} stimuli, got {t.shape}")
        if not np.allclose(t, t.T, atol=1e-8 * max(1.0, float(np.abs(t).max()))):
            raise ValueError("target_rdm is a square matrix but not symmetric")
        return t[np.triu_indices(n, 1)]
    if t.shape != (m,):
        raise ValueError(f"target_rdm must be a square ({n}, {n}) matrix or its upper triangle "
                         f"of length {m}, got shape {t.shape}")
    return t


def soft_rsa_loss(embeddings, target_rdm, *, metric="correlation", regularization_strength=1.0,
                  regularization="l2"):
    """``1 - Spearman`` between a model's RDM and a target RDM, differentiable in the model.

    Parameters
    ----------
    embeddings : torch.Tensor of shape (n, d)
        The model's representation of ``n`` stimuli.
    target_rdm : array-like of shape (n, n) or (n * (n - 1) / 2,)
        Dissimilarities to match (for example human judgments), square and
        symmetric or as the upper triangle row by row.
    metric : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default="correlation"
        How the model's RDM is computed (see :func:`reprlign.measures.rdm`).
    regularization_strength : float, default=1.0
        ``eps`` of :func:`soft_rank`, on a scale that does not depend on the
        model's units: the ``p = n (n - 1) / 2`` dissimilarities are
        standardised and multiplied by ``p``, so that their spread is that of
        their ranks (a few times ``p``). ``eps = 1`` keeps the ranks almost
        exact (only pairs with nearly equal dissimilarities are pooled and
        carry gradient); larger values smooth more, and from about 6 on every
        pair is pooled and the loss becomes ``1 -`` the Pearson correlation
        with the target's ranks.
    regularization : {"l2", "kl"}, default="l2"
        Regulariser of :func:`soft_rank`.

    Returns
    -------
    torch.Tensor
        0-d: ``1 - rho`` in ``[0, 2]``; 0 when the orders agree.

    See Also
    --------
    reprlign.measures.rsa : the exact (non-differentiable) score.

    Examples
    --------
    >>> import torch
    >>> from reprlign.losses import soft_rsa_loss
    >>> from reprlign.measures import rdm
    >>> Z = torch.randn(20, 5, generator=torch.Generator().manual_seed(0))
    >>> float(soft_rsa_loss(Z, rdm(Z.numpy()), regularization_strength=1e-3)) < 1e-6
    True
    """
    from ..measures import rdm

    if not isinstance(embeddings, torch.Tensor):
        raise TypeError(f"embeddings must be a torch tensor, got {type(embeddings).__name__}")
    if embeddings.ndim != 2 or embeddings.shape[0] < 3:
        raise ValueError(f"embeddings must be (n, d) with n >= 3, got {tuple(embeddings.shape)}")
    target = _rdm_vector(target_rdm, embeddings.shape[0])
    d = rdm(embeddings, metric)
    scale = d.shape[0] / d.std().clamp_min(torch.finfo(d.dtype).tiny)
    rho = soft_spearman((d - d.mean()) * scale, target,
                        regularization_strength=regularization_strength,
                        regularization=regularization)
    return 1 - rho
