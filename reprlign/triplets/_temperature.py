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
    s = np.asarray(similarities, dtype=np.float64)
    p = check_distributions(target, "target")
    if s.shape != p.shape:
        raise ValueError(f"similarities has shape {s.shape} but target has shape {p.shape}")
    w = np.ones(len(s)) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(1.0 / _best_inverse_temperature(s, p, w, 1.0 / bounds[1], 1.0 / bounds[0]))


def _best_inverse_temperature(s, p, w, lo, hi):
    """``beta = 1 / T`` in ``[lo, hi]`` minimising the weighted mean cross-entropy.

    In ``beta`` the loss ``sum_i w_i logsumexp(beta s_i) - beta c`` is convex (its
    second derivative is the weighted variance of ``s`` under the model), so the
    optimum is the root of its increasing derivative: safeguarded Newton steps
    in log(beta) inside a shrinking bracket: a few passes over the data.
    """
    w = w / w.sum()
    s = s - s.max(axis=1, keepdims=True)  # a shift per row leaves the softmax unchanged
    c = float(w @ (p * s).sum(axis=1))
    cols = np.ascontiguousarray(s.T)  # three contiguous columns: reductions over 3 are slow
    squares = cols * cols

    def derivatives(beta):
        e = np.exp(beta * cols)
        norm = e.sum(axis=0)
        mean = (e * cols).sum(axis=0) / norm
        var = (e * squares).sum(axis=0) / norm - mean * mean
        return float(w @ mean) - c, max(float(w @ var), 0.0)

    if derivatives(lo)[0] >= 0:  # the optimum is at (or beyond) an end of the bounds
        return lo
    if derivatives(hi)[0] <= 0:
        return hi
    # Newton steps in u = log(beta), kept inside a bracket of the root that shrinks with
    # every evaluation (bisection when a step would leave it).
    u_lo, u_hi = np.log(lo), np.log(hi)
    u = min(max(0.0, u_lo), u_hi)  # start at T = 1, the training temperature
    for _ in range(100):
        beta = np.exp(u)
        g, h = derivatives(beta)
        u_lo, u_hi = (u_lo, u) if g > 0 else (u, u_hi)
        new = u - g / (beta * h) if h > 0 else np.inf
        if not u_lo < new < u_hi:
            new = 0.5 * (u_lo + u_hi)
        if abs(new - u) <= 1e-10 or u_hi - u_lo <= 1e-10:
            return float(np.exp(new))
        u = new
    return float(np.exp(u))
