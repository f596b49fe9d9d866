"""Softmax temperature fitted to target choice distributions (AligNet: human uncertainty)."""

from __future__ import annotations

import numpy as np

from .validation import check_distributions

__all__ = ["fit_temperature"]


def fit_temperature(similarities, target, weights=None, *, bounds=(1e-4, 1e4)):
    """Softmax temperature that makes triplet choice distributions match a target.

    Minimises the (weighted) mean cross-entropy of ``softmax(similarities / T)``
    against ``target``, which for soft targets is the mean KL divergence plus
    a constant; AligNet fits its teacher's temperature to human uncertainty
    this way.

    Parameters
    ----------
    similarities : array-like of shape (m, 3)
        Triplet similarities in the odd-one-out layout
        (:func:`reprlign.triplets.triplet_similarities`).
    target : array-like of shape (m, 3)
        Choice distributions to match (one-hot rows for hard labels).
    weights : array-like of shape (m,), optional
        Row weights (for example the number of responses per triplet).
    bounds : tuple of float, default=(1e-4, 1e4)
        Search interval for ``T``.

    Returns
    -------
    float
        The temperature ``T`` with the lowest loss.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.triplets import choice_probabilities, triplet_similarities
    >>> rng = np.random.RandomState(0)
    >>> Z, t = rng.randn(30, 5), np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [1, 5, 9]])
    >>> p = choice_probabilities(Z, t, temperature=2.5)
    >>> round(fit_temperature(triplet_similarities(Z, t), p), 2)
    2.5
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    s = np.asarray(similarities, dtype=np.float64)
    p = check_distributions(target, "target")
    if s.shape != p.shape:
        raise ValueError(f"similarities has shape {s.shape} but target has shape {p.shape}")
    w = np.ones(len(s)) if weights is None else np.asarray(weights, dtype=np.float64)

    def loss(log_t):
        return -(w * (p * log_softmax(s / np.exp(log_t), axis=1)).sum(1)).sum() / w.sum()

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    # A coarse grid first: the loss in log T can be flat far from the optimum.
    grid = np.linspace(lo, hi, 41)
    best = grid[int(np.argmin([loss(g) for g in grid]))]
    step = grid[1] - grid[0]
    res = minimize_scalar(loss, bounds=(max(lo, best - step), min(hi, best + step)),
                          method="bounded", options={"xatol": 1e-6})
    return float(np.exp(res.x))
