"""From dissimilarity matrices (RDMs) to odd-one-out triplets with choice probabilities."""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np
from scipy.spatial.distance import squareform
from sklearn.utils import check_random_state

from ..utils._backend import is_torch, softmax
from ..utils._validation import check_in_memory, check_positive
from ._sampling import _distinct_rows
from .validation import validate_triplets

__all__ = ["rdm_triplets"]

COMBINE = ("mean", "sample", "none")
SCALES = ("std", None)
# Enumerating every triplet stops here: beyond it, ask for a sample (n_triplets).
_MAX_ALL_TRIPLETS = 20_000_000


def _as_rdms(rdms):
    """(s, n, n) float64 from one RDM or a stack, square or condensed."""
    R = rdms.detach().cpu().numpy() if is_torch(rdms) else rdms
    if R is None or isinstance(R, str | bytes):
        raise TypeError(f"rdms must be an array of dissimilarities, got {type(R).__name__}")
    check_in_memory(R, "rdms")
    try:
        R = np.asarray(R)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"rdms could not be read as a numeric array: {exc}") from exc
    # (numeric strings are not parsed, complex values not cut to their real part)
    if R.dtype.kind not in "biuf":
        raise TypeError(f"rdms must hold real numbers, got dtype {R.dtype}")
    if R.size == 0:
        raise ValueError(f"rdms is empty (shape {R.shape})")
    R = R.astype(np.float64)
    if R.ndim == 0:
        raise ValueError("rdms must be an RDM (square or condensed), got a scalar")
    if R.ndim == 1 or (R.ndim == 2 and R.shape[0] != R.shape[1]):
        m = R.shape[-1]
        n = int(round((1 + math.sqrt(1 + 8 * m)) / 2))
        if n * (n - 1) // 2 != m:
            raise ValueError(f"rdms: a condensed RDM has n (n - 1) / 2 entries; {m} is not "
                             f"such a number (shape {R.shape})")
        R = np.stack([squareform(r, checks=False) for r in np.atleast_2d(R)])
    elif R.ndim == 2:
        R = R[None]
    if R.ndim != 3 or R.shape[1] != R.shape[2]:
        raise ValueError(f"rdms must be (n, n), (s, n, n), condensed (n (n - 1) / 2,) or "
                         f"(s, n (n - 1) / 2); got shape {R.shape}")
    if R.shape[1] < 3:
        raise ValueError(f"rdms must cover at least 3 objects, got {R.shape[1]}")
    if not np.isfinite(R).all():
        raise ValueError("rdms contains NaN or infinite values")
    asym = np.abs(R - R.transpose(0, 2, 1)).max(axis=(1, 2))
    tol = 1e-8 * np.maximum(np.abs(R).max(axis=(1, 2)), 1.0)
    if (asym > tol).any():
        which = int(np.argmax(asym > tol))
        raise ValueError(f"rdms[{which}] is not symmetric (largest |d_ij - d_ji| = "
                         f"{asym[which]:.3g})")
    return R


def _objects(objects, n):
    if objects is None:
        return np.arange(n)
    check_in_memory(objects, "objects")
    obj = np.asarray(objects)
    if obj.dtype == bool:
        if obj.shape != (n,):
            raise ValueError(f"objects as a mask must have shape ({n},), got {obj.shape}")
        obj = np.flatnonzero(obj)
    if obj.ndim != 1 or not np.issubdtype(obj.dtype, np.integer):
        raise ValueError("objects must be a 1-D array of object indices or a boolean mask")
    obj = np.unique(obj)
    if len(obj) and (obj[0] < 0 or obj[-1] >= n):
        raise ValueError(f"objects must be indices in [0, {n}), got {obj[0]} .. {obj[-1]}")
    if len(obj) < 3:
        raise ValueError(f"objects must hold at least 3 distinct objects, got {len(obj)}")
    return obj


def _all_triplets(obj):
    count = math.comb(len(obj), 3)
    if count > _MAX_ALL_TRIPLETS:
        raise ValueError(f"every triplet of {len(obj)} objects is {count:,} triplets; pass "
                         f"n_triplets to draw a sample instead")
    flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(obj, 3)),
                       dtype=np.int64, count=3 * count)
    return flat.reshape(-1, 3)


def _choices(R, t, temperature):
    """Choice distribution (m, 3) of one RDM, odd-one-out layout."""
    i, j, k = t.T
    d = np.stack([R[j, k], R[i, k], R[i, j]], axis=1)  # the pair opposite each position
    if temperature == 0:  # the closest pair for sure; exact ties shared equally
        hard = (d == d.min(axis=1, keepdims=True)).astype(np.float64)
        return hard / hard.sum(axis=1, keepdims=True)
    return softmax(-d / temperature, axis=1)


def rdm_triplets(rdms, n_triplets=None, *, triplets=None, objects=None, temperature=1.0,
                 scale="std", combine="mean", random_state=None):
    """Odd-one-out triplets with choice probabilities from one or several people's RDMs.

    For objects ``i, j, k`` with dissimilarities ``d_ij, d_ik, d_jk`` the
    similarity of a pair is ``-d``, so the choice distribution over the odd one
    out is ``softmax(-[d_jk, d_ik, d_ij] / T)`` in the odd-one-out layout
    (column ``q``: position ``q`` is the odd one out; ``k`` is most likely odd
    when ``(i, j)`` is the closest pair). The result is what
    :class:`~reprlign.HumanAlignTransformer` and
    :func:`~reprlign.triplets.fit_temperature` take as ``(X, y)``, so RDM data
    sets such as the 92-image judgments of
    :func:`~reprlign.datasets.load_mur92` train and evaluate alignment like
    odd-one-out data.

    Parameters
    ----------
    rdms : array-like of shape (n, n), (s, n, n), (n (n - 1) / 2,) or (s, n (n - 1) / 2)
        One RDM, or one per person (or session, or subject), square or as
        upper triangles (the order of :func:`scipy.spatial.distance.squareform`).
        A 2-D square array is one RDM. Diagonals are not used.
    n_triplets : int or None, default=None
        Draw this many random triplets of distinct objects (with
        replacement, so repeats are possible). None: every triplet of
        ``objects`` once (``C(k, 3)`` rows: 125,580 for 92 objects).
    triplets : array-like of shape (m, 3), optional
        Label these triplets instead of drawing them (``n_triplets`` and
        ``objects`` must then be None); they are returned in the order given.
    objects : array-like of int or bool mask, optional
        Draw triplets among these objects only (indices into the RDMs; the
        triplets keep the full numbering, so they index the same feature
        table). This is how images are held out: training triplets among the
        training images, test triplets among the held-out ones.
    temperature : float >= 0, default=1.0
        ``T``; 0 gives hard choices (the closest pair, exact ties shared). It is
        a free parameter: fit it, or report results for a grid (see Notes).
    scale : {"std", None}, default="std"
        ``"std"`` divides each RDM by the standard deviation of all its
        off-diagonal entries before the softmax, so ``T`` is in units of each
        person's spread and people whose judgments use different units count
        alike. None uses the dissimilarities as they are.
    combine : {"mean", "sample", "none"}, default="mean"
        With several RDMs: ``"mean"`` averages the people's choice
        distributions; ``"sample"`` gives each triplet the distribution of one
        person drawn uniformly at random; ``"none"`` returns every person's,
        shape ``(s, m, 3)``.
    random_state : int, RandomState or None
        Seed of the triplet draw and of ``combine="sample"``.

    Returns
    -------
    triplets : ndarray of shape (m, 3), int64
        Drawn triplets are canonical: in each row the most probable odd one
        out (under the combined distribution; for ``"none"``, the mean) is
        last, so the triplets alone are the majority answers. Triplets passed
        in keep their order.
    proba : ndarray of shape (m, 3), or (s, m, 3) for ``combine="none"``
        Choice distributions in the odd-one-out layout of ``triplets``.

    See Also
    --------
    reprlign.model_selection.TripletObjectKFold : CV over objects on every triplet.
    reprlign.triplets.choice_kl : distance between choice distributions.

    Notes
    -----
    Held-out images: draw the training and the test triplets from disjoint
    image sets (``objects=``, for example the folds of
    :class:`~sklearn.model_selection.KFold` over images), never split pairs or
    triplets; or build every triplet once and split with
    :class:`~reprlign.model_selection.TripletObjectKFold`, which with all
    triplets present gives exactly the triplets of the training images and
    those of the held-out images.

    Choices of ours: ``scale="std"`` (the formula above is ``scale=None``);
    the standard deviation is that of each whole RDM, so that training and
    test triplets drawn from one RDM share one scale. ``T`` stays free:
    :class:`~reprlign.HumanAlignTransformer` with ``temperature="fit"`` fits
    its own temperature to the targets, and the user guide reports results
    for a grid of ``T``. With ``combine="mean"`` and ``temperature=0`` the
    distribution is the share of people whose closest pair is each one.

    Examples
    --------
    >>> from reprlign.datasets import load_mur92
    >>> from reprlign.triplets import rdm_triplets
    >>> rdms = load_mur92().behavior_rdms                 # 16 people, 92 images
    >>> t, p = rdm_triplets(rdms, objects=range(0, 92, 4), temperature=0.5)
    >>> t.shape, p.shape                                  # every triplet of 23 images
    ((1771, 3), (1771, 3))
    >>> bool((p.argmax(axis=1) == 2).all())               # most probable odd one out last
    True
    """
    R = _as_rdms(rdms)
    s, n = R.shape[0], R.shape[1]
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a number >= 0, got {temperature!r}")
    check_positive(temperature, "temperature", strict=False)
    if scale not in SCALES:
        raise ValueError(f"scale must be 'std' or None, got {scale!r}")
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {COMBINE}, got {combine!r}")
    rng = check_random_state(random_state)
    if triplets is not None:
        if n_triplets is not None or objects is not None:
            raise ValueError("pass either triplets or n_triplets / objects, not both")
        t = validate_triplets(triplets, n)
    else:
        obj = _objects(objects, n)
        if n_triplets is None:
            t = _all_triplets(obj)
        else:
            check_positive(n_triplets, "n_triplets", integer=True)
            t = obj[_distinct_rows(rng, len(obj), int(n_triplets))]
    if scale == "std":
        iu = np.triu_indices(n, 1)
        spread = R[:, iu[0], iu[1]].std(axis=1)
        if (spread == 0).any():
            which = int(np.argmax(spread == 0))
            raise ValueError(f"rdms[{which}] is constant: scale='std' is undefined "
                             f"(pass scale=None)")
        R = R / spread[:, None, None]
    if combine == "sample":
        person = rng.randint(0, s, size=len(t))
        proba = np.empty((len(t), 3))
        for p in np.unique(person):
            rows = person == p
            proba[rows] = _choices(R[p], t[rows], temperature)
    else:
        per = [_choices(r, t, temperature) for r in R]
        proba = np.mean(per, axis=0) if combine == "mean" else np.stack(per)
    if triplets is not None:
        return t, proba
    # Canonical order: the most probable odd one out last.
    mean = proba if proba.ndim == 2 else proba.mean(axis=0)
    order = np.array([[1, 2, 0], [0, 2, 1], [0, 1, 2]])[mean.argmax(axis=1)]
    t = np.take_along_axis(t, order, axis=1)
    proba = np.take_along_axis(proba, np.broadcast_to(order, proba.shape), axis=-1)
    return t, proba
