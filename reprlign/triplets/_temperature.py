"""Softmax temperature fitted to target choice distributions (AligNet: human uncertainty)."""

from __future__ import annotations

import warnings

import numpy as np

from ..utils._validation import check_in_memory
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
        Search interval for ``T`` (``0 < low < high``). A result at either end
        warns (``RuntimeWarning``): the best temperature may lie outside.

    Returns
    -------
    float
        The temperature ``T`` with the lowest loss.

    Raises
    ------
    ValueError
        For non-finite similarities, similarities equal within every row (no
        temperature is identifiable), targets that are not distributions,
        negative or all-zero weights, or bounds that are not ``0 < low < high``.

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
    s = _check_similarities(similarities)
    p = check_distributions(target, "target")
    if s.shape != p.shape:
        raise ValueError(f"similarities has shape {s.shape} but target has shape {p.shape}")
    w = _check_weights(weights, len(s))
    lo, hi = _check_bounds(bounds)
    t = float(1.0 / _best_inverse_temperature(s, p, w, 1.0 / hi, 1.0 / lo))
    if min(np.log(t / lo), np.log(hi / t)) < 1e-3:
        warnings.warn(
            f"the fitted temperature {t:.4g} is at the edge of bounds=({lo:g}, {hi:g}): the "
            "best temperature may lie outside them (diverged or degenerate similarities?); "
            "widen bounds or check the inputs", RuntimeWarning, stacklevel=2)
    return t


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


def _check_similarities(similarities):
    if hasattr(similarities, "detach"):
        similarities = similarities.detach().cpu().numpy()
    check_in_memory(similarities, "similarities")
    s = np.asarray(similarities)
    if s.dtype == object or not np.issubdtype(s.dtype, np.number) or np.iscomplexobj(s):
        raise TypeError(f"similarities must hold real numbers, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if s.ndim != 2 or s.shape[1] != 3 or s.shape[0] == 0:
        raise ValueError(f"similarities must have shape (m, 3) with m >= 1, got {s.shape}")
    if not np.isfinite(s).all():
        bad = int((~np.isfinite(s)).any(axis=1).sum())
        raise ValueError(f"similarities contains NaN or infinite values in {bad} row(s)")
    if (np.ptp(s, axis=1) == 0).all():
        raise ValueError("similarities are equal within every row: every temperature gives the "
                         "same uniform choice distribution, so none can be fitted")
    return s


def _check_weights(weights, m):
    if weights is None:
        return np.ones(m)
    check_in_memory(weights, "weights")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (m,):
        raise ValueError(f"weights must have shape ({m},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return w


def _check_bounds(bounds):
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be two numbers (low, high), got {bounds!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"bounds must satisfy 0 < low < high (finite), got {bounds!r}")
    return lo, hi
