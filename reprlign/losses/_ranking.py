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
import warnings

import numpy as np
import torch

from ..utils._validation import as_array

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


def _block_ids(blocks):
    """The block of each value and the size of each block, from the block starts (and n)."""
    counts = np.diff(blocks)
    return np.repeat(np.arange(len(counts)), counts), counts


def _project_row(x, eps, regularization):
    """Soft ranks of one row of ``z = x / eps`` and what the backward pass needs.

    ``z`` is taken relative to the row's largest value (the soft ranks do not change).
    Where it would still span more than 2^32 (values far apart in units of ``eps``,
    beyond the float range included), digits of rho would be lost to it: the sorted row
    is then split at gaps of more than ``2n + 10`` (no block can pool across them: rho,
    and log rho, change by less over the whole row), and each part is taken relative to
    its own first value. A part of one value gets its exact rank.
    """
    n = x.shape[0]
    order = np.argsort(-x, kind="stable")  # descending
    xs = x[order]
    rho = np.arange(n, 0, -1, dtype=np.float64)
    starts = [0]
    with np.errstate(over="ignore"):  # (a difference beyond the range is a gap too)
        if not (xs[0] - xs[-1]) / eps <= 2.0**32:
            for c in np.flatnonzero(xs[:-1] - xs[1:] > (2 * n + 10) * eps) + 1:
                if not (xs[starts[-1]] - xs[c]) / eps <= 2.0**31:
                    starts.append(int(c))
    starts = np.array(starts)
    sizes = np.diff(np.r_[starts, n])
    first = xs[np.repeat(starts, sizes)]
    # (x / eps - first / eps cannot overflow for eps >= 1, nor (x - first) / eps below it)
    s = xs / eps - first / eps if eps >= 1 else (xs - first) / eps
    primal, extra = rho.copy(), np.ones(n)
    is_start = np.ones(n + 1, dtype=bool)
    for a, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
        blocks, primal[a:a + size], extra[a:a + size] = _project_sorted(
            s[a:a + size], rho[a:a + size], regularization)
        is_start[a:a + size] = False
        is_start[a + blocks[:-1]] = True
    out = np.empty(n)
    out[order] = primal
    return out, order, np.flatnonzero(is_start), None if regularization == "l2" else extra


def _project_sorted(s, rho, regularization):
    """Blocks, soft ranks and Jacobian weights of the sorted (descending) ``s`` against ``rho``.

    The soft ranks are written per pooled block B: for "l2" v_B = mean_B(s - rho) and
    s_i - v_B = (s_i - mean_B s) + mean_B rho; for "kl" exp(s_i - v_B) =
    softmax_B(s)_i sum_B rho.
    """
    if regularization == "l2":
        blocks, _ = _pav_l2(s - rho)
        ids, counts = _block_ids(blocks)
        mean = lambda a: (np.add.reduceat(a, blocks[:-1]) / counts)[ids]  # noqa: E731
        local = s - s[blocks[:-1]][ids]  # (relative to the block's first value: exact ties 0)
        return blocks, (local - mean(local)) + mean(rho), np.ones(len(s))
    blocks, _ = _pav_kl(s, np.log(rho))
    ids, _ = _block_ids(blocks)
    # d v_B / d s_j = softmax of s over the block: the entropic Jacobian's weights.
    block_max = np.maximum.reduceat(s, blocks[:-1])[ids]
    e = np.exp(s - block_max)
    extra = e / np.add.reduceat(e, blocks[:-1])[ids]
    return blocks, extra * np.add.reduceat(rho, blocks[:-1])[ids], extra


class _SoftRank(torch.autograd.Function):
    """Soft ranks along the last axis of a 2-D tensor; block-constant Jacobian."""

    @staticmethod
    def forward(ctx, x, regularization, eps):
        z_np = x.detach().to("cpu", torch.float64).numpy()
        b, n = z_np.shape
        out = np.empty((b, n))
        orders = np.empty((b, n), dtype=np.int64)
        block_ids = np.empty((b, n), dtype=np.int64)
        sizes, extras, offset = [], [], 0
        for r in range(b):
            out[r], orders[r], blocks, extra = _project_row(z_np[r], eps, regularization)
            counts = np.diff(blocks)
            block_ids[r] = offset + np.repeat(np.arange(len(counts)), counts)
            sizes.append(counts)
            extras.append(extra)
            offset += len(counts)
        dev = x.device
        result = torch.as_tensor(out, device=dev).to(x.dtype)
        ctx.regularization, ctx.eps = regularization, eps
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
        out = torch.empty_like(g_sorted).scatter_(1, orders, (g_sorted - correction) / ctx.eps)
        return out.to(grad.dtype), None, None


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
    pass runs on the device. Blocks of one value get their exact rank
    however large ``theta / eps`` is, beyond the float range included
    (``eps`` far below the spacing of the values).

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
    x = -values if descending else values
    shape = x.shape
    if x.numel() == 0:  # no rows to rank (a leading axis of length 0)
        return x / eps
    # (values / eps is formed in float64 inside, where it may not fit: see _project_row)
    return _SoftRank.apply(x.reshape(-1, shape[-1]), regularization, eps).reshape(shape)


def _real_array(y, name):
    """``y`` (array-like or tensor) as a float64 numpy array of finite values, by name."""
    if isinstance(y, torch.Tensor):
        if y.is_complex():
            raise TypeError(f"{name} must hold real numbers, got {y.dtype}")
        y = y.detach().cpu().double().numpy()
    arr = as_array(y, name, "an array of numbers")
    if arr.dtype.kind in "OSUVc":  # strings (even numeric ones), objects, complex numbers
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _exact_ranks(y, like, name="target"):
    """Average ranks 1..n of ``y`` along its last axis, as a tensor like ``like``."""
    from scipy.stats import rankdata

    ranks = rankdata(_real_array(y, name), axis=-1)
    return torch.as_tensor(ranks, dtype=like.dtype, device=like.device)


def _pearson(a, b, what):
    """Pearson correlation along the last axis; 0 (zero gradient) with a warning where either
    side has no spread, for which the correlation is undefined."""
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    prod = a.square().sum(-1) * b.square().sum(-1)
    flat = prod == 0
    if bool(flat.any()):
        warnings.warn(f"{what}: {int(flat.sum())} of {flat.numel()} row(s) without spread in "
                      "the target's ranks or in the soft ranks (every value equal, or a "
                      "regularization_strength so large that the soft ranks are equal to "
                      "float precision): their correlation is undefined and set to 0, with "
                      "zero gradient", RuntimeWarning, stacklevel=3)
    # (no square root of 0 in the graph: its gradient is infinite)
    safe = torch.where(flat, torch.ones_like(prod), prod)
    return torch.where(flat, torch.zeros_like(prod), (a * b).sum(-1) / safe.sqrt())


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

    Warns
    -----
    RuntimeWarning
        Where a row of ``target`` is constant, or the soft ranks of a row of
        ``values`` are (constant values): the correlation is undefined, and
        that row is 0 with zero gradient (as :func:`reprlign.measures.rsa`
        returns 0.0 for a constant RDM).

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
    return _pearson(soft, ranks, "soft_spearman")


def _rdm_vector(target, n):
    """A target RDM as its upper triangle (row by row), given as a vector or a square matrix."""
    t = _real_array(target, "target_rdm")
    m = n * (n - 1) // 2
    if t.ndim == 2:
        if t.shape != (n, n):
            raise ValueError(f"target_rdm must be ({n}, {n}) for {n} stimuli, got {t.shape}")
        tol = 1e-8 * max(1.0, float(np.abs(t).max()))
        if not np.allclose(t, t.T, atol=tol):
            raise ValueError("target_rdm is a square matrix but not symmetric")
        if np.abs(np.diag(t)).max() > tol:
            raise ValueError("target_rdm is a square matrix with a non-zero diagonal: a "
                             "dissimilarity matrix has zeros there (similarities?)")
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

    Warns
    -----
    RuntimeWarning
        For a constant RDM of the model (every stimulus the same) or a
        constant ``target_rdm``: ``rho`` is undefined, the loss is 1.0 with
        zero gradient.

    Notes
    -----
    The loss does not depend on the scale of ``embeddings``: they are
    multiplied by a power of two (exact, without gradient) before the RDM,
    so that squared distances neither overflow nor underflow.

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
    from ..measures._common import scale_pow2

    if not isinstance(embeddings, torch.Tensor):
        raise TypeError(f"embeddings must be a torch tensor, got {type(embeddings).__name__}")
    if embeddings.ndim != 2 or embeddings.shape[0] < 3:
        raise ValueError(f"embeddings must be (n, d) with n >= 3, got {tuple(embeddings.shape)}")
    _check_strength(regularization_strength)
    if regularization not in REGULARIZATIONS:
        raise ValueError(f"regularization must be one of {REGULARIZATIONS}, "
                         f"got {regularization!r}")
    target = _rdm_vector(target_rdm, embeddings.shape[0])
    if not embeddings.is_floating_point():  # (integers become float64, as in rdm)
        embeddings = embeddings.double()
    ranks = _exact_ranks(target, embeddings, "target_rdm")
    if embeddings.numel() and bool(embeddings.detach().isfinite().all()):
        m = float(embeddings.detach().abs().max())
        embeddings = scale_pow2(embeddings, -math.frexp(m)[1]) if m > 0 else embeddings
    try:
        d = rdm(embeddings, metric)
    except ValueError as exc:  # (rdm calls its argument X)
        raise ValueError(str(exc).replace("X ", "embeddings ", 1)) from exc
    sd = d.detach().std()
    if not bool(sd > 0):
        warnings.warn("soft_rsa_loss: the model's RDM is constant (every stimulus the same): "
                      "its correlation with target_rdm is undefined; the loss is 1.0 with zero "
                      "gradient", RuntimeWarning, stacklevel=2)
        return 1 + 0 * d.sum()
    rho = soft_spearman((d - d.mean()) * (d.shape[0] / sd), ranks,
                        regularization_strength=regularization_strength,
                        regularization=regularization)
    return 1 - rho
