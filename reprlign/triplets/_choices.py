"""Pair similarities, choice probabilities and accuracy of a representation on triplets."""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..utils._backend import as_index, is_torch, row_normalize, softmax
from ..utils._torch import to_numpy
from ..utils._validation import check_features, check_positive, check_random_state
from ..utils.backend import get_backend
from ._core import canonicalize
from .validation import check_distributions, odd_positions, validate_triplets

SIMILARITIES = ("dot", "cosine")

# The Gram route needs an n x n matrix; above this many bytes we gather row-wise.
_GRAM_MAX_BYTES = 1 << 30


def _check_similarity(similarity):
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")


def _use_gram(n_objects, n_triplets, itemsize):
    # Gram: n^2 d flops then gathers; row-wise: 3 m d flops with scattered reads.
    return n_objects * n_objects <= 4 * n_triplets and (
        n_objects * n_objects * itemsize <= _GRAM_MAX_BYTES
    )


def _check_nonzero_rows(Z, t, objects=None, name="Z"):
    """Raise when a triplet holds an all-zero row of ``Z``: its cosine similarity is undefined."""
    zero = to_numpy(~(Z != 0).any(1)) if is_torch(Z) else ~Z.any(axis=1)
    used = np.flatnonzero(zero)
    used = used[np.isin(used, t)]
    if objects is not None:  # rows of the referenced block: name the objects
        used = objects[used]
    if used.size:
        raise ValueError(
            f"{name} has {used.size} all-zero row(s) in the triplets (first: "
            f"{used[:5].tolist()}): the cosine similarity to them is undefined; drop them or use "
            "similarity='dot'")


def _features_and_triplets(Z, triplets, name="Z"):
    """Validated features and triplets, without computing a dask ``Z``.

    numpy and torch ``Z`` are checked whole; a dask ``Z`` only lazily (shape,
    dtype), its values when :func:`_referenced_rows` reads them. The triplets
    are checked against the number of rows either way.
    """
    nx = get_backend(Z)
    Z = nx.check_features(Z, name=name) if nx.chunked else check_features(Z, name=name)
    return Z, validate_triplets(triplets, Z.shape[0])


def _referenced_rows(Z, t, name="Z"):
    """``(Z, t, objects)`` ready for :func:`_pair_columns`; of a dask ``Z``, only the rows in use.

    ``t`` indexes the rows of the returned ``Z``; ``objects`` gives the object
    index of each of those rows, or is None when ``Z`` is the whole
    representation (numpy and torch). Of a dask ``Z`` only the row chunks that
    hold an object of the triplets are read, once, and each keeps only those
    rows (:meth:`DaskBackend.take_rows <reprlign.utils.backend.DaskBackend.take_rows>`):
    memory ``O(n_referenced_objects x d)``.
    """
    nx = get_backend(Z)
    if not nx.chunked:
        return Z, t, None
    objects, inverse = np.unique(t, return_inverse=True)
    return nx.take_rows(Z, objects, name=name), inverse.reshape(t.shape), objects


def _pair_columns(Z, t, objects, similarity, chunk_size=1_000_000, name="Z", *,
                  any_scale=False):
    """The three columns of :func:`triplet_similarities` as separate 1-D arrays.

    ``Z``, ``t`` and ``objects`` as :func:`_referenced_rows` returns them.
    ``any_scale=True``: only the order of the similarities within a triplet is
    needed, so ``Z`` may be multiplied by a power of two first (exact) to keep
    dot products of tiny or huge features from underflowing or overflowing.
    """
    if similarity == "cosine":
        _check_nonzero_rows(Z, t, objects, name)
        Z = row_normalize(Z)
    elif any_scale:
        from ..measures._common import unit_scale

        Z = unit_scale(Z, get_backend(Z))[0]
    with np.errstate(over="ignore", invalid="ignore"):
        cols = _gather_products(Z, t, chunk_size)
    if similarity == "dot" and not all(_all_finite(c) for c in cols):
        raise ValueError(
            f"{name}: the dot products of its rows overflow {Z.dtype} (largest magnitude "
            f"{float(abs(Z).max()):.3g}); rescale {name} or use similarity='cosine'")
    return cols


def _all_finite(values):
    if is_torch(values):
        return bool(values.isfinite().all())
    return bool(np.isfinite(values).all())


def _gather_products(Z, t, chunk_size):
    """The inner products of the pairs opposite positions 0, 1 and 2 of each triplet."""
    m, n = t.shape[0], Z.shape[0]
    i, j, k = np.ascontiguousarray(t.T)
    pairs = ((j, k), (i, k), (i, j))  # opposite positions 0, 1, 2
    itemsize = Z.element_size() if is_torch(Z) else Z.itemsize
    if _use_gram(n, m, itemsize):
        S = (Z @ Z.T).reshape(-1)
        if is_torch(Z):
            return tuple(S[as_index(a * n + b, Z)] for a, b in pairs)
        return tuple(np.take(S, a * n + b) for a, b in pairs)
    cat = __import__("torch").cat if is_torch(Z) else np.concatenate
    out = []
    for a, b in pairs:
        parts = [
            (Z[as_index(a[s : s + chunk_size], Z)] * Z[as_index(b[s : s + chunk_size], Z)]).sum(-1)
            for s in range(0, m, chunk_size)
        ]
        out.append(cat(parts))
    return tuple(out)


def _opposite_pair_similarities(Z, triplets, similarity, chunk_size, name="Z", *,
                                any_scale=False):
    """Check the arguments, then :func:`_pair_columns`."""
    _check_similarity(similarity)
    check_positive(chunk_size, "chunk_size", integer=True)
    Z, t = _features_and_triplets(Z, triplets, name)
    return _pair_columns(*_referenced_rows(Z, t, name), similarity, chunk_size, name,
                         any_scale=any_scale)


def _stack(cols):
    """The three columns as one (m, 3) array or tensor."""
    if is_torch(cols[0]):
        import torch

        return torch.stack(cols, dim=1)
    return np.stack(cols, axis=1)


def _correct(cols, odd=None):
    """:func:`odd_one_out_correct` from the three columns and checked odd-one-out positions."""
    cols = [to_numpy(c) for c in cols]
    if odd is None:  # canonical: the human pair is opposite position 2
        return (cols[2] > cols[0]) & (cols[2] > cols[1])
    s = np.stack(cols, axis=1)
    rows = np.arange(s.shape[0])
    human = s[rows, odd]
    others = s[rows[:, None], (odd[:, None] + np.array([1, 2])) % 3]
    return (human > others[:, 0]) & (human > others[:, 1])


def triplet_similarities(Z, triplets, *, similarity="dot", chunk_size=1_000_000):
    """Pairwise similarities of each triplet in the odd-one-out layout.

    Parameters
    ----------
    Z : array-like, torch.Tensor or dask array of shape (n_objects, d)
        The representation; a torch tensor is computed on its device and the
        result stays a tensor (differentiable).
        A dask array is not computed whole: only the row chunks holding an
        object of ``triplets`` are read, once, and only those rows are kept
        (memory ``O(n_referenced_objects x d)``); the result is numpy.
    triplets : array-like of shape (m, 3)
        Object indices into ``Z``.
    similarity : {"dot", "cosine"}, default="dot"
        Plain inner products, or inner products of L2-normalised rows.
    chunk_size : int, default=1_000_000
        Triplets gathered at once when computing row by row.

    Returns
    -------
    ndarray or Tensor of shape (m, 3)
        Column ``q`` is the similarity of the pair opposite position ``q``:
        ``[s(j,k), s(i,k), s(i,j)]``.

    Raises
    ------
    ValueError
        For invalid ``Z`` or triplets, an all-zero row of ``Z`` in a triplet
        under ``"cosine"``, or dot products beyond the range of ``Z``'s dtype
        (features beyond about 1e154 in float64). The functions that only
        compare the similarities of a triplet (:func:`predict_odd_one_out`,
        :func:`odd_one_out_correct`, :func:`odd_one_out_accuracy`) do not
        depend on the scale of ``Z`` and work at any magnitude.

    Notes
    -----
    When the objects are few relative to the triplets (as for THINGS: 1,854
    objects, millions of triplets), one GEMM ``S = Z Z^T`` followed by gathers
    is far cheaper than a product per triplet; otherwise the rows are gathered
    and multiplied chunk by chunk. Both give the same numbers.
    """
    return _stack(_opposite_pair_similarities(Z, triplets, similarity, chunk_size))


def choice_probabilities(Z, triplets, *, similarity="dot", temperature=1.0):
    """Model choice distribution over the odd one out: ``softmax(s / T)``.

    Parameters
    ----------
    Z : array-like, torch.Tensor or dask array of shape (n_objects, d)
        The representation.
        A dask array is not computed whole: only the row chunks holding an
        object of ``triplets`` are read, once, and only those rows are kept
        (memory ``O(n_referenced_objects x d)``); the result is numpy.
    triplets : array-like of shape (m, 3)
        Object indices into ``Z``.
    similarity : {"dot", "cosine"}, default="dot"
        How pair similarity is measured.
    temperature : float, default=1.0
        Softmax temperature ``T``; larger is more uncertain.

    Returns
    -------
    ndarray or Tensor of shape (m, 3)
        Column ``q`` is the probability that position ``q`` is the odd one out
        (rows sum to 1).
    """
    check_positive(temperature, "temperature")
    return _choice_softmax(triplet_similarities(Z, triplets, similarity=similarity), temperature)


def _choice_softmax(s, temperature):
    """``softmax(s / T)`` over each row, safe where ``s / T`` overflows."""
    # The largest similarity of each row first: s / T may overflow where differences do not.
    if is_torch(s):
        return softmax((s - s.detach().amax(dim=-1, keepdim=True)) / temperature, axis=-1)
    with np.errstate(over="ignore"):  # (a difference beyond the range is -inf: probability 0)
        return softmax((s - s.max(axis=-1, keepdims=True)) / temperature, axis=-1)


def choice_kl(target, proba, *, eps=1e-12):
    """Mean KL divergence ``KL(target || proba)`` between rows of choice distributions.

    Parameters
    ----------
    target : array-like of shape (m, 3)
        Reference distributions (human choice distributions, a teacher's).
    proba : array-like of shape (m, 3)
        Model distributions in the same column order.
    eps : float, default=1e-12
        Floor applied to ``proba`` (``0 <= eps < 1``): a model probability
        below it where the target has mass counts as ``eps``, so a model that
        rules out an answer people gave costs ``log(target_q / eps)`` (about
        27.6 at the default) instead of ``inf``. ``eps=0`` gives the exact
        divergence, ``inf`` for such a row.

    Returns
    -------
    float
        ``mean_rows sum_q target_q log(target_q / max(proba_q, eps))``, with
        ``0 log 0 = 0``.

    Warns
    -----
    RuntimeWarning
        When ``proba`` is below ``eps`` (or 0) where ``target`` is not, saying
        in how many rows: the result then depends on ``eps`` (or is ``inf``).
        A model that is that sure (say a softmax at a very low temperature)
        is scored by the floor, not by its probabilities.
    """
    from scipy.special import rel_entr

    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 <= eps < 1:
        raise ValueError(f"eps must be a number in [0, 1), got {eps!r}")
    target = check_distributions(target, "target")
    proba = check_distributions(proba, "proba")
    if target.shape != proba.shape:
        raise ValueError(f"target has shape {target.shape} but proba has shape {proba.shape}")
    floored = ((target > 0) & ((proba < eps) | (proba == 0))).any(axis=1)
    if floored.any():
        what = "counted as eps={eps:g}" if eps > 0 else "0: the divergence is inf"
        warnings.warn(
            f"choice_kl: proba is below eps where target is not in {int(floored.sum())} of "
            f"{len(floored)} row(s); those probabilities are {what.format(eps=eps)}",
            RuntimeWarning, stacklevel=2)
    return float(rel_entr(target, np.maximum(proba, eps)).sum(axis=1).mean())


def predict_odd_one_out(Z, triplets, *, similarity="dot"):
    """Position (0, 1 or 2) of the predicted odd one out of each triplet.

    The odd one out is opposite the most similar pair; an exact tie goes to
    the lowest position (use :func:`odd_one_out_correct` to score with the tie
    rule).

    Parameters
    ----------
    Z : array-like, torch.Tensor or dask array of shape (n_objects, d)
        The representation.
        A dask array is not computed whole: only the row chunks holding an
        object of ``triplets`` are read, once, and only those rows are kept
        (memory ``O(n_referenced_objects x d)``); the result is numpy.
    triplets : array-like of shape (m, 3)
        Object indices into ``Z``.
    similarity : {"dot", "cosine"}, default="dot"
        How pair similarity is measured.

    Returns
    -------
    numpy.ndarray of int, shape (m,)
    """
    cols = _opposite_pair_similarities(Z, triplets, similarity, 1_000_000, any_scale=True)
    return np.stack([to_numpy(c) for c in cols], axis=1).argmax(axis=1)


def odd_one_out_correct(Z, triplets, y=None, *, similarity="dot"):
    """Boolean mask of triplets whose human choice the representation reproduces.

    A triplet is correct only when the human pair is *strictly* more similar
    than both other pairs (ties are wrong).

    Parameters
    ----------
    Z : array-like, torch.Tensor or dask array of shape (n_objects, d)
        The representation.
        A dask array is not computed whole: only the row chunks holding an
        object of ``triplets`` are read, once, and only those rows are kept
        (memory ``O(n_referenced_objects x d)``); the result is numpy.
    triplets : array-like of shape (m, 3)
        Object indices into ``Z``.
    y : None or array-like of shape (m,)
        Position of the human odd one out; None means canonical triplets (the
        last column is the odd one out).
    similarity : {"dot", "cosine"}, default="dot"
        How pair similarity is measured.

    Returns
    -------
    numpy.ndarray of bool, shape (m,)
    """
    _check_similarity(similarity)
    Z, t = _features_and_triplets(Z, triplets)
    odd = None if y is None else odd_positions(y, t.shape[0])  # checked before reading Z
    return _correct(_pair_columns(*_referenced_rows(Z, t), similarity, any_scale=True), odd)


def odd_one_out_accuracy(Z, triplets, y=None, *, similarity="dot"):
    """Fraction of triplets whose human odd one out the representation predicts.

    Ties count as wrong (see :func:`odd_one_out_correct`); chance is 1/3.
    Zero-shot evaluation of raw features usually uses ``similarity="cosine"``.
    Parameters as :func:`odd_one_out_correct`; a dask ``Z`` is read only at
    the rows the triplets name (memory ``O(n_referenced_objects x d)``).

    Returns
    -------
    float
    """
    return float(odd_one_out_correct(Z, triplets, y, similarity=similarity).mean())


def simulate_choices(Z, triplets, *, similarity="dot", temperature=1.0, random_state=None):
    """Let a representation answer triplets: sample each odd one out from its choice distribution.

    Parameters
    ----------
    Z : array-like, torch.Tensor or dask array of shape (n_objects, d)
        The representation playing the person (for example a ground-truth
        "human" embedding from :func:`reprlign.datasets.make_hierarchical_concepts`).
        A dask array is not computed whole: only the row chunks holding an
        object of ``triplets`` are read, once, and only those rows are kept
        (memory ``O(n_referenced_objects x d)``); the result is numpy.
    triplets : array-like of shape (m, 3)
        Unlabelled triplets, for example from :func:`sample_triplets`.
    similarity : {"dot", "cosine"}, default="dot"
        How pair similarity is measured.
    temperature : float, default=1.0
        Softmax temperature; ``T -> 0`` gives the deterministic majority answer.
    random_state : int, RandomState or None
        Seed for the draws.

    Returns
    -------
    numpy.ndarray of shape (m, 3)
        Canonical triplets (the sampled odd one out last).
    """
    proba = choice_probabilities(Z, triplets, similarity=similarity, temperature=temperature)
    if is_torch(proba):
        proba = proba.detach().cpu().numpy()
    rng = check_random_state(random_state)
    u = rng.random_sample(proba.shape[0])[:, None]
    odd = (np.cumsum(proba, axis=1) < u).sum(axis=1).clip(0, 2)
    return canonicalize(triplets, odd)
