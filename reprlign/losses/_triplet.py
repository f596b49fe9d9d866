"""Triplet objectives: KL to a choice distribution and hard-label cross-entropy."""

from __future__ import annotations

import numbers

import torch

from ..utils._validation import as_array

REDUCTIONS = ("mean", "sum", "none")


def as_tensor(value, name, like, *, integer=False, what="real numbers"):
    """``value`` (array-like or tensor) as a tensor on ``like``'s device, its dtype checked.

    Strings, objects and complex numbers are a ``TypeError`` naming ``name`` (the
    imaginary part is never dropped); ragged input a ``ValueError``. Real values
    take ``like``'s dtype, or stay integers with ``integer=True``.
    """
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise TypeError(f"{name} must hold {what}, got {value.dtype}")
        t = value.detach()
    else:
        arr = as_array(value, name)
        if arr.dtype.kind in "OSUVc":  # strings (even numeric ones), objects, complex
            raise TypeError(f"{name} must hold {what}, got dtype {arr.dtype}")
        if not arr.flags.writeable:  # (a read-only view, from pandas for instance)
            arr = arr.copy()
        t = torch.as_tensor(arr)
    if integer:
        return t.to(like.device)
    return t.to(device=like.device, dtype=like.dtype)


def _check_similarities(similarities):
    if not isinstance(similarities, torch.Tensor):
        raise TypeError(
            f"similarities must be a torch tensor (m, 3), got {type(similarities).__name__}; "
            "reprlign.triplets.triplet_similarities returns one for tensor embeddings"
        )
    if similarities.ndim != 2 or similarities.shape[1] != 3:
        raise ValueError(f"similarities must have shape (m, 3), got {tuple(similarities.shape)}")
    if not similarities.is_floating_point():
        raise TypeError(f"similarities must be floating point, got {similarities.dtype}")
    if not bool(similarities.detach().isfinite().all()):
        raise ValueError("similarities contains NaN or infinite values")
    return similarities


def _check_temperature(temperature):
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            raise ValueError("temperature as a tensor must hold one value")
        if not temperature.is_floating_point():
            raise TypeError(f"temperature as a tensor must be floating point, got "
                            f"{temperature.dtype}")
        t = temperature.detach()
        if not bool(((t > 0) & t.isfinite()).all()):
            raise ValueError(f"temperature must be a finite number > 0, got {float(t):g}")
        return temperature.reshape(())
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a number or a 0-d tensor, got {temperature!r}")
    if not temperature > 0 or temperature == float("inf"):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def _reduce(values, weights, reduction, m):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if weights is not None:
        weights = as_tensor(weights, "weights", values)
        if weights.shape != (m,):
            raise ValueError(f"weights must have shape ({m},), got {tuple(weights.shape)}")
        if not bool(weights.isfinite().all()):
            raise ValueError("weights contains NaN or infinite values")
        if not bool((weights >= 0).all()) or not bool(weights.sum() > 0):
            raise ValueError("weights must be non-negative with a positive sum")
    if reduction == "none":
        return values if weights is None else values * weights
    if weights is None:
        return values.mean() if reduction == "mean" else values.sum()
    total = (values * weights).sum()
    return total / weights.sum() if reduction == "mean" else total


def triplet_kl(similarities, target, *, temperature=1.0, weights=None, reduction="mean"):
    """KL divergence from a target choice distribution to the model's, per triplet.

    The model's choice distribution is ``q = softmax(similarities / temperature)``
    over the three positions of each triplet; the loss is
    ``KL(p || q) = sum_q p_q (log p_q - log q_q)`` with ``0 log 0 = 0``.

    Parameters
    ----------
    similarities : torch.Tensor of shape (m, 3)
        Pair similarities in the odd-one-out layout: column ``q`` is the
        similarity of the pair opposite position ``q``, ``[s(j,k), s(i,k), s(i,j)]``
        (what :func:`reprlign.triplets.triplet_similarities` returns).
    target : array-like or torch.Tensor of shape (m, 3)
        Choice distributions ``p`` in the same column order: human repeats
        (:func:`reprlign.triplets.aggregate_triplets`) or a teacher's
        ``predict_proba``. Rows must be finite, non-negative and sum to 1.
    temperature : float or 0-d torch.Tensor, default=1.0
        Softmax temperature ``tau`` (a tensor may be a learnable parameter).
    weights : array-like of shape (m,), optional
        Row weights (for example the number of responses per triplet).
    reduction : {"mean", "sum", "none"}, default="mean"
        Weighted mean, weighted sum, or the per-triplet values.

    Returns
    -------
    torch.Tensor
        A 0-d tensor, or shape (m,) for ``reduction="none"``.

    See Also
    --------
    triplet_cross_entropy : the hard-label counterpart.
    reprlign.triplets.choice_kl : the same quantity from numpy, for evaluation.

    Notes
    -----
    AligNet's student objective (Muttenthaler et al. 2024): the student's
    triplet distribution is fitted to its teacher's soft labels by
    ``KL(teacher || student)``. Its gradient equals that of the soft-label
    cross-entropy; the KL form is reported because it is 0 at a perfect fit.

    Examples
    --------
    >>> import torch
    >>> from reprlign.losses import triplet_kl
    >>> s = torch.tensor([[0.1, 0.2, 0.9]], requires_grad=True)
    >>> loss = triplet_kl(s, [[0.1, 0.1, 0.8]], temperature=0.5)
    >>> loss.backward(); round(loss.item(), 4)
    0.0315
    """
    s = _check_similarities(similarities)
    temperature = _check_temperature(temperature)
    p = as_tensor(target, "target", s)
    if p.shape != s.shape:
        raise ValueError(f"target has shape {tuple(p.shape)} but similarities {tuple(s.shape)}")
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError("target must hold finite, non-negative probabilities")
    sums = p.sum(dim=1)
    bad = (sums - 1).abs() > 1e-4
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        raise ValueError(f"target row {row} sums to {float(sums[row]):.6g}, not 1")
    log_q = _scaled(s, temperature).log_softmax(dim=1)
    # (where p = 0 the term is 0, even where the model's probability underflowed to 0)
    kl = (torch.xlogy(p, p) - torch.where(p > 0, p * log_q, 0.0)).sum(dim=1)
    return _reduce(kl, weights, reduction, s.shape[0])


def _scaled(s, temperature):
    """``s / temperature`` less each row's largest value (detached: the softmax is shift
    invariant), so that a small temperature cannot overflow what the softmax sees."""
    return (s - s.detach().amax(dim=1, keepdim=True)) / temperature


def triplet_cross_entropy(similarities, odd=None, *, temperature=1.0, weights=None,
                          reduction="mean"):
    """Cross-entropy of the model's choice distribution against hard odd-one-out labels.

    Parameters
    ----------
    similarities : torch.Tensor of shape (m, 3)
        Pair similarities in the odd-one-out layout (see :func:`triplet_kl`).
    odd : None or array-like of shape (m,)
        Position (0, 1 or 2) of the odd one out; None means canonical triplets
        (the last column is the odd one out).
    temperature : float or 0-d torch.Tensor, default=1.0
        Softmax temperature.
    weights : array-like of shape (m,), optional
        Row weights.
    reduction : {"mean", "sum", "none"}, default="mean"
        Weighted mean, weighted sum, or the per-triplet values.

    Returns
    -------
    torch.Tensor
        ``-log softmax(similarities / temperature)[odd]``, reduced.

    Notes
    -----
    gLocal's global loss (Muttenthaler et al. 2023) at ``temperature=1``; with
    one-hot targets it equals :func:`triplet_kl`.

    Examples
    --------
    >>> import torch
    >>> from reprlign.losses import triplet_cross_entropy
    >>> s = torch.zeros(4, 3)
    >>> round(float(triplet_cross_entropy(s)), 4)  # uniform: log 3
    1.0986
    """
    s = _check_similarities(similarities)
    temperature = _check_temperature(temperature)
    m = s.shape[0]
    if odd is None:
        target = torch.full((m,), 2, dtype=torch.long, device=s.device)
    else:
        target = as_tensor(odd, "odd", s, integer=True, what="integer positions")
        if target.shape != (m,):
            raise ValueError(f"odd must have shape ({m},), got {tuple(target.shape)}")
        if target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(f"odd must hold integer positions, got {target.dtype}")
        target = target.long()
        if bool(((target < 0) | (target > 2)).any()):
            raise ValueError("odd must hold odd-one-out positions 0, 1 or 2")
    ce = torch.nn.functional.cross_entropy(_scaled(s, temperature), target, reduction="none")
    return _reduce(ce, weights, reduction, m)
