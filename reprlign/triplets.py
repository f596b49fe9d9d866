"""Odd-one-out triplets: canonical form, validation, choice probabilities and sampling.

Conventions (``ALGORITHMS.md`` section 1, the THINGS convention)
----------------------------------------------------------------
* A triplet is a row ``[i, j, k]`` of three distinct 0-based object indices.
  In **canonical form the last column is the odd one out**: the person kept
  ``(i, j)`` together.
* Everything that has three columns per triplet uses the **odd-one-out
  layout**: column ``q`` belongs to the event "position ``q`` is the odd one
  out". For similarities that is the similarity of the pair *opposite* ``q``:
  ``[s(j, k), s(i, k), s(i, j)]``; so ``softmax(similarities / T)`` is directly
  the choice distribution, and a canonical triplet is predicted correctly when
  column 2 wins. (The papers write the same softmax over ``[s_ij, s_ik, s_jk]``;
  only the column order differs.)
* Ties are wrong: a triplet counts as correct only when the human's pair is
  *strictly* more similar than both other pairs. gLocal's code is stricter still
  (any two equal probabilities make a triplet wrong, even a tie between the two
  losing pairs); we only let ties that involve the winning pair count, which
  differs from gLocal only when the two losing pairs are exactly equal.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

from .utils._backend import as_index, is_torch, row_normalize, softmax
from .utils._torch import to_numpy
from .utils._validation import check_features, check_positive

__all__ = [
    "aggregate_triplets",
    "canonicalize",
    "choice_kl",
    "choice_probabilities",
    "from_things",
    "noise_ceiling",
    "odd_one_out_accuracy",
    "odd_one_out_correct",
    "predict_odd_one_out",
    "read_triplets",
    "sample_triplets",
    "simulate_choices",
    "triplet_groups",
    "triplet_similarities",
    "validate_triplets",
]

SIMILARITIES = ("dot", "cosine")
SAMPLING_METHODS = ("random", "within_class", "between_class", "class_boundary", "cluster_border")

# The Gram route needs an n x n matrix; above this many bytes we gather row-wise.
_GRAM_MAX_BYTES = 1 << 30


# --------------------------------------------------------------------------- validation
def validate_triplets(triplets, n_objects=None, *, name="triplets"):
    """Check triplets and return them as an ``int64`` array of shape (m, 3).

    Parameters
    ----------
    triplets : array-like of shape (m, 3)
        Object indices, 0-based.
    n_objects : int or None
        When given, every index must be in ``[0, n_objects)``.
    name : str
        Name of the argument, used in error messages.

    Returns
    -------
    numpy.ndarray of shape (m, 3), dtype int64

    Raises
    ------
    ValueError
        For a wrong shape, a non-integer dtype, an index out of range or a
        triplet whose objects are not distinct; the message names the first
        offending row.
    """
    if is_torch(triplets):
        triplets = triplets.detach().cpu().numpy()
    if triplets is None or isinstance(triplets, str | bytes | dict):
        raise ValueError(f"{name} must be an integer array of shape (m, 3), got {triplets!r:.80}")
    try:
        arr = np.asarray(triplets)
    except Exception as exc:
        raise ValueError(f"{name} could not be read as an array: {exc}") from exc
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape (m, 3), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one triplet is needed")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers (object indices), got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    cols = np.ascontiguousarray(arr.T)  # three contiguous columns: fast vectorised checks
    # Global min/max first (cheap); the offending row is only searched for on failure.
    if cols.min() < 0:
        row = int(np.argmax((cols < 0).any(axis=0)))
        raise ValueError(f"{name} row {row} has a negative index: {arr[row].tolist()}")
    if n_objects is not None and cols.max() >= n_objects:
        row = int(np.argmax((cols >= n_objects).any(axis=0)))
        raise ValueError(
            f"{name} row {row} has an index out of range for {n_objects} objects: "
            f"{arr[row].tolist()}"
        )
    same = cols[0] == cols[1]
    same |= cols[0] == cols[2]
    same |= cols[1] == cols[2]
    if same.any():
        row = int(np.argmax(same))
        raise ValueError(
            f"{name} row {row} does not hold three distinct objects: {arr[row].tolist()}"
        )
    return arr


def _odd_positions(y, n_triplets, *, name="y"):
    """Human odd-one-out positions (m,) from ``y`` (None = canonical, last column)."""
    if y is None:
        return np.full(n_triplets, 2, dtype=np.int64)
    y = np.asarray(y)
    if y.shape == (n_triplets, 3):
        raise ValueError(
            f"{name} has shape {y.shape}: that is a choice distribution; pass hard odd-one-out "
            "positions of shape (m,) here (for example y.argmax(axis=1))"
        )
    if y.shape != (n_triplets,):
        raise ValueError(f"{name} must have shape ({n_triplets},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or not np.isin(y, (0, 1, 2)).all():
        raise ValueError(f"{name} must hold odd-one-out positions 0, 1 or 2")
    return y.astype(np.int64)


def canonicalize(triplets, odd_position):
    """Reorder triplets so that the odd one out is last.

    Parameters
    ----------
    triplets : array-like of shape (m, 3)
        Object indices in any order.
    odd_position : array-like of shape (m,)
        Position (0, 1 or 2) of the odd one out in each row.

    Returns
    -------
    numpy.ndarray of shape (m, 3)
        The kept pair in its original order, then the odd one out.
    """
    arr = validate_triplets(triplets)
    odd = _odd_positions(odd_position, arr.shape[0], name="odd_position")
    # For each odd position, the order of columns that puts it last.
    order = np.array([[1, 2, 0], [0, 2, 1], [0, 1, 2]])[odd]
    return np.take_along_axis(arr, order, axis=1)


def from_things(raw, *, one_based=True):
    """Convert THINGS rows ``obj1 obj2 obj3 choice [...]`` to canonical triplets.

    Parameters
    ----------
    raw : array-like of shape (m, >= 4)
        Object ids in the first three columns and the position of the odd one
        out (``choice``, in {1, 2, 3}) in the fourth; further columns (such as
        a participant id) are ignored.
    one_based : bool, default=True
        Whether object ids start at 1 (as in the THINGS files).

    Returns
    -------
    numpy.ndarray of shape (m, 3)
        0-based canonical triplets, odd one out last.
    """
    raw = np.asarray(raw)
    if raw.ndim != 2 or raw.shape[1] < 4:
        raise ValueError(f"raw must have shape (m, >=4): obj1 obj2 obj3 choice; got {raw.shape}")
    if not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"raw must hold integers, got dtype {raw.dtype}")
    choice = raw[:, 3].astype(np.int64)
    bad = ~np.isin(choice, (1, 2, 3))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"raw row {row}: choice must be 1, 2 or 3, got {choice[row]}")
    objects = raw[:, :3].astype(np.int64) - (1 if one_based else 0)
    return canonicalize(objects, choice - 1)


def read_triplets(path, *, format="things"):
    """Read triplets from a whitespace- or tab-separated text file.

    Parameters
    ----------
    path : str or Path
        The file; lines starting with ``#`` are comments.
    format : {"things", "canonical"}, default="things"
        ``"things"``: columns ``obj1 obj2 obj3 choice [participant ...]`` with
        1-based objects and choice in {1, 2, 3}. ``"canonical"``: three 0-based
        columns with the odd one out last.

    Returns
    -------
    numpy.ndarray of shape (m, 3)
        Canonical 0-based triplets.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"triplet file not found: {path}")
    try:
        raw = np.loadtxt(path, dtype=np.int64, comments="#", ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: could not read integer columns: {exc}") from exc
    if format == "things":
        return from_things(raw)
    if format == "canonical":
        if raw.shape[1] != 3:
            raise ValueError(f"{path}: canonical format needs 3 columns, found {raw.shape[1]}")
        return validate_triplets(raw, name=str(path))
    raise ValueError(f"format must be 'things' or 'canonical', got {format!r}")


# --------------------------------------------------------------------------- similarities
def _check_similarity(similarity):
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")


def _use_gram(n_objects, n_triplets, itemsize):
    # Gram: n^2 d flops then gathers; row-wise: 3 m d flops with scattered reads.
    return n_objects * n_objects <= 4 * n_triplets and (
        n_objects * n_objects * itemsize <= _GRAM_MAX_BYTES
    )


def _opposite_pair_similarities(Z, triplets, similarity, chunk_size):
    """The three columns of :func:`triplet_similarities` as separate 1-D arrays."""
    _check_similarity(similarity)
    Z = check_features(Z, name="Z")
    t = validate_triplets(triplets, Z.shape[0])
    if similarity == "cosine":
        Z = row_normalize(Z)
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


def triplet_similarities(Z, triplets, *, similarity="dot", chunk_size=1_000_000):
    """Pairwise similarities of each triplet in the odd-one-out layout.

    Parameters
    ----------
    Z : array-like or torch.Tensor of shape (n_objects, d)
        The representation; a torch tensor is computed on its device and the
        result stays a tensor (differentiable).
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

    Notes
    -----
    When the objects are few relative to the triplets (as for THINGS: 1,854
    objects, millions of triplets), one GEMM ``S = Z Z^T`` followed by gathers
    is far cheaper than a product per triplet; otherwise the rows are gathered
    and multiplied chunk by chunk. Both give the same numbers.
    """
    cols = _opposite_pair_similarities(Z, triplets, similarity, chunk_size)
    if is_torch(cols[0]):
        import torch

        return torch.stack(cols, dim=1)
    return np.stack(cols, axis=1)


def choice_probabilities(Z, triplets, *, similarity="dot", temperature=1.0):
    """Model choice distribution over the odd one out: ``softmax(s / T)``.

    Parameters
    ----------
    Z : array-like or torch.Tensor of shape (n_objects, d)
        The representation.
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
    return softmax(triplet_similarities(Z, triplets, similarity=similarity) / temperature, axis=-1)


def choice_kl(target, proba, *, eps=1e-12):
    """Mean KL divergence ``KL(target || proba)`` between rows of choice distributions.

    Parameters
    ----------
    target : array-like of shape (m, 3)
        Reference distributions (human choice distributions, a teacher's).
    proba : array-like of shape (m, 3)
        Model distributions in the same column order.
    eps : float, default=1e-12
        Floor applied to ``proba`` so a zero where the target has mass gives a
        large finite value instead of ``inf``.

    Returns
    -------
    float
        ``mean_rows sum_q target_q log(target_q / proba_q)``, with ``0 log 0 = 0``.
    """
    from scipy.special import rel_entr

    target = _check_distributions(target, "target")
    proba = _check_distributions(proba, "proba")
    if target.shape != proba.shape:
        raise ValueError(f"target has shape {target.shape} but proba has shape {proba.shape}")
    return float(rel_entr(target, np.maximum(proba, eps)).sum(axis=1).mean())


def _check_distributions(p, name, atol=1e-6):
    if is_torch(p):
        p = p.detach().cpu().numpy()
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must have shape (m, 3), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative probabilities")
    sums = p.sum(axis=1)
    bad = np.abs(sums - 1) > atol
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name} row {row} sums to {sums[row]:.6g}, not 1")
    return p


def predict_odd_one_out(Z, triplets, *, similarity="dot"):
    """Position (0, 1 or 2) of the predicted odd one out of each triplet.

    The odd one out is opposite the most similar pair; an exact tie goes to
    the lowest position (use :func:`odd_one_out_correct` to score with the tie
    rule).
    """
    s = triplet_similarities(Z, triplets, similarity=similarity)
    if is_torch(s):
        s = s.detach().cpu().numpy()
    return s.argmax(axis=1)


def odd_one_out_correct(Z, triplets, y=None, *, similarity="dot"):
    """Boolean mask of triplets whose human choice the representation reproduces.

    A triplet is correct only when the human pair is *strictly* more similar
    than both other pairs (ties are wrong).

    Parameters
    ----------
    Z : array-like or torch.Tensor of shape (n_objects, d)
        The representation.
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
    cols = [to_numpy(c) for c in _opposite_pair_similarities(Z, triplets, similarity, 1_000_000)]
    m = cols[0].shape[0]
    if y is None:  # canonical: the human pair is opposite position 2
        return (cols[2] > cols[0]) & (cols[2] > cols[1])
    odd = _odd_positions(y, m)
    s = np.stack(cols, axis=1)
    rows = np.arange(m)
    human = s[rows, odd]
    others = s[rows[:, None], (odd[:, None] + np.array([1, 2])) % 3]
    return (human > others[:, 0]) & (human > others[:, 1])


def odd_one_out_accuracy(Z, triplets, y=None, *, similarity="dot"):
    """Fraction of triplets whose human odd one out the representation predicts.

    Ties count as wrong (see :func:`odd_one_out_correct`); chance is 1/3.
    Zero-shot evaluation of raw features usually uses ``similarity="cosine"``.

    Returns
    -------
    float
    """
    return float(odd_one_out_correct(Z, triplets, y, similarity=similarity).mean())


# --------------------------------------------------------------------------- repeats
def triplet_groups(triplets):
    """Group id per triplet: equal for the same three objects in any order.

    Use it as ``groups=`` of :class:`sklearn.model_selection.GroupKFold` so
    that repeats of one triplet never straddle train and test.

    Returns
    -------
    numpy.ndarray of shape (m,), int64
        Ids 0..u-1 in the order of the sorted unique object sets.
    """
    t = np.sort(validate_triplets(triplets), axis=1)
    _, inverse = np.unique(t, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def aggregate_triplets(triplets, y=None, *, return_inverse=False):
    """Pool repeated triplets into per-triplet human choice distributions.

    Parameters
    ----------
    triplets : array-like of shape (m, 3)
        Object indices; repeats may list the objects in any order.
    y : None or array-like of shape (m,)
        Odd-one-out positions; None means canonical (odd one out last).
    return_inverse : bool, default=False
        Also return, for each input row, the index of its unique triplet.

    Returns
    -------
    unique : numpy.ndarray of shape (u, 3)
        One canonical row per distinct object set: the majority odd one out
        last (an exact tie goes to the object with the smallest index), the
        other two in increasing order.
    proba : numpy.ndarray of shape (u, 3)
        Human choice distribution in the odd-one-out layout of ``unique``.
    counts : numpy.ndarray of shape (u, 3)
        How many responses chose each position as odd one out.
    inverse : numpy.ndarray of shape (m,)
        Only with ``return_inverse=True``.
    """
    t = validate_triplets(triplets)
    odd = _odd_positions(y, t.shape[0])
    odd_object = t[np.arange(t.shape[0]), odd]
    sets = np.sort(t, axis=1)
    uniq, inverse = np.unique(sets, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    # Position of the chosen odd object within the sorted set.
    sorted_pos = np.argmax(sets == odd_object[:, None], axis=1)
    counts_sorted = np.zeros((uniq.shape[0], 3), dtype=np.int64)
    np.add.at(counts_sorted, (inverse, sorted_pos), 1)
    majority = counts_sorted.argmax(axis=1)  # ties: first = smallest object id
    order = np.array([[1, 2, 0], [0, 2, 1], [0, 1, 2]])[majority]
    unique = np.take_along_axis(uniq, order, axis=1)
    counts = np.take_along_axis(counts_sorted, order, axis=1)
    proba = counts / counts.sum(axis=1, keepdims=True)
    if return_inverse:
        return unique, proba, counts, inverse
    return unique, proba, counts


def noise_ceiling(triplets, y=None):
    """Leave-one-out human noise ceiling of repeated odd-one-out judgments.

    Each response is predicted by the majority choice of the *other* responses
    to the same triplet; a tie among their majority choices scores the
    expected value of breaking it uniformly at random. The ceiling is the mean
    over responses. Triplets answered only once have no "others" and are left
    out, with a warning that says how many.

    Parameters
    ----------
    triplets : array-like of shape (m, 3)
        One row per response.
    y : None or array-like of shape (m,)
        Odd-one-out positions; None means canonical.

    Returns
    -------
    float
        About 0.644 on the bundled THINGS noise-ceiling set (chance: 1/3).
    """
    unique, _, counts, inverse = aggregate_triplets(triplets, y, return_inverse=True)
    t = validate_triplets(triplets)
    odd = _odd_positions(y, t.shape[0])
    odd_object = t[np.arange(t.shape[0]), odd]
    # Position of each response's odd object within its unique (canonical) row.
    pos = np.argmax(unique[inverse] == odd_object[:, None], axis=1)
    others = counts[inverse].copy()
    others[np.arange(len(pos)), pos] -= 1
    n_others = others.sum(axis=1)
    keep = n_others > 0
    n_single = int((~keep).sum())
    if n_single:
        warnings.warn(
            f"noise_ceiling: {n_single} response(s) to triplets answered only once were left out",
            UserWarning,
            stacklevel=2,
        )
    if not keep.any():
        raise ValueError("noise_ceiling needs triplets answered by at least two people")
    others, pos = others[keep], pos[keep]
    is_max = others == others.max(axis=1, keepdims=True)
    score = is_max[np.arange(len(pos)), pos] / is_max.sum(axis=1)
    return float(score.mean())


# --------------------------------------------------------------------------- sampling
def _distinct_rows(rng, n_objects, size):
    """``size`` uniformly random triples of distinct objects from ``range(n_objects)``."""
    out = np.empty((0, 3), dtype=np.int64)
    while out.shape[0] < size:
        cand = rng.randint(0, n_objects, size=(2 * (size - out.shape[0]) + 16, 3))
        ok = (cand[:, 0] != cand[:, 1]) & (cand[:, 0] != cand[:, 2]) & (cand[:, 1] != cand[:, 2])
        out = np.concatenate([out, cand[ok]])
    return out[:size]


def _members_by_label(labels):
    classes, inverse = np.unique(labels, return_inverse=True)
    return [np.flatnonzero(inverse == c) for c in range(len(classes))]


def _pick(rng, groups, group_idx, n_each):
    """For each chosen group, ``n_each`` distinct random members."""
    out = np.empty((len(group_idx), n_each), dtype=np.int64)
    for g in np.unique(group_idx):
        rows = np.flatnonzero(group_idx == g)
        members = groups[g]
        # argsort of random keys: a distinct random subset per row, vectorised.
        keys = rng.random_sample((len(rows), len(members)))
        out[rows] = members[np.argsort(keys, axis=1)[:, :n_each]]
    return out


def sample_triplets(
    n_objects,
    n_triplets,
    *,
    method="random",
    labels=None,
    features=None,
    n_clusters=None,
    n_neighbors=3,
    random_state=None,
):
    """Sample triplets of distinct objects (unlabelled: a teacher or person labels them).

    Parameters
    ----------
    n_objects : int
        Objects are ``0 .. n_objects - 1``.
    n_triplets : int
        How many triplets to draw (with replacement: repeats are possible).
    method : {"random", "within_class", "between_class", "class_boundary", "cluster_border"}
        * ``"random"``: three distinct objects uniformly at random.
        * ``"within_class"``: a class drawn uniformly among those with at least
          three members, three of its members (needs ``labels``).
        * ``"between_class"``: three distinct classes drawn uniformly, one member
          of each (needs ``labels``).
        * ``"class_boundary"``: two members of one class and one of another,
          the other class last (needs ``labels``).
        * ``"cluster_border"``: k-means on ``features``; two objects from one
          cluster and one from one of its ``n_neighbors`` nearest clusters
          (by centroid distance), the latter last. AligNet's default sampler.
    labels : array-like of shape (n_objects,), optional
        Class of each object, for the class-based methods.
    features : array-like of shape (n_objects, d), optional
        Representation to cluster, for ``"cluster_border"``.
    n_clusters : int, optional
        Clusters for ``"cluster_border"``; default ``max(2, round(sqrt(n_objects / 2)))``.
    n_neighbors : int, default=3
        Candidate neighbouring clusters for ``"cluster_border"``.
    random_state : int, RandomState or None
        Seed for reproducible draws.

    Returns
    -------
    numpy.ndarray of shape (n_triplets, 3), int64
        For ``"class_boundary"`` and ``"cluster_border"`` the object from the
        other class/cluster is last (the structural guess of the odd one out);
        the other methods put no meaning in the order.
    """
    check_positive(n_objects, "n_objects", integer=True)
    check_positive(n_triplets, "n_triplets", integer=True)
    if n_objects < 3:
        raise ValueError(f"n_objects must be at least 3 to form a triplet, got {n_objects}")
    if method not in SAMPLING_METHODS:
        raise ValueError(f"method must be one of {SAMPLING_METHODS}, got {method!r}")
    rng = check_random_state(random_state)
    if method == "random":
        return _distinct_rows(rng, n_objects, n_triplets)
    if method == "cluster_border":
        return _cluster_border(rng, n_objects, n_triplets, features, n_clusters, n_neighbors)
    if labels is None:
        raise ValueError(f"method={method!r} needs labels (one class per object)")
    labels = np.asarray(labels)
    if labels.shape != (n_objects,):
        raise ValueError(f"labels must have shape ({n_objects},), got {labels.shape}")
    groups = _members_by_label(labels)
    sizes = np.array([len(g) for g in groups])
    if method == "within_class":
        eligible = np.flatnonzero(sizes >= 3)
        if len(eligible) == 0:
            raise ValueError("within_class sampling needs a class with at least 3 members")
        return _pick(rng, groups, rng.choice(eligible, n_triplets), 3)
    if method == "between_class":
        if len(groups) < 3:
            raise ValueError(f"between_class sampling needs 3 classes, labels has {len(groups)}")
        classes = np.argsort(rng.random_sample((n_triplets, len(groups))), axis=1)[:, :3]
        return np.stack([_pick(rng, groups, classes[:, c], 1)[:, 0] for c in range(3)], axis=1)
    # class_boundary
    eligible = np.flatnonzero(sizes >= 2)
    if len(eligible) == 0 or len(groups) < 2:
        raise ValueError("class_boundary sampling needs 2 classes, one with at least 2 members")
    pair_class = rng.choice(eligible, n_triplets)
    shift = rng.randint(1, len(groups), size=n_triplets)
    odd_class = (pair_class + shift) % len(groups)
    return np.concatenate(
        [_pick(rng, groups, pair_class, 2), _pick(rng, groups, odd_class, 1)], axis=1
    )


def _cluster_border(rng, n_objects, n_triplets, features, n_clusters, n_neighbors):
    from sklearn.cluster import KMeans

    if features is None:
        raise ValueError("method='cluster_border' needs features to cluster")
    features = check_features(features, name="features", allow_torch=False)
    if features.shape[0] != n_objects:
        raise ValueError(
            f"features has {features.shape[0]} rows but n_objects is {n_objects}"
        )
    if n_clusters is None:
        n_clusters = max(2, int(round(np.sqrt(n_objects / 2))))
    check_positive(n_clusters, "n_clusters", integer=True)
    check_positive(n_neighbors, "n_neighbors", integer=True)
    if not 2 <= n_clusters <= n_objects // 2:
        raise ValueError(f"n_clusters must be in [2, n_objects // 2], got {n_clusters}")
    km = KMeans(n_clusters=n_clusters, n_init=3, random_state=rng.randint(2**31 - 1))
    labels = km.fit_predict(features)
    groups = _members_by_label(labels)
    centers = km.cluster_centers_[np.unique(labels)]
    d2 = ((centers[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    k = min(n_neighbors, len(groups) - 1)
    neighbours = np.argsort(d2, axis=1)[:, :k]
    sizes = np.array([len(g) for g in groups])
    eligible = np.flatnonzero(sizes >= 2)
    pair_cluster = rng.choice(eligible, n_triplets)
    odd_cluster = neighbours[pair_cluster, rng.randint(0, k, size=n_triplets)]
    return np.concatenate(
        [_pick(rng, groups, pair_cluster, 2), _pick(rng, groups, odd_cluster, 1)], axis=1
    )


def simulate_choices(Z, triplets, *, similarity="dot", temperature=1.0, random_state=None):
    """Let a representation answer triplets: sample each odd one out from its choice distribution.

    Parameters
    ----------
    Z : array-like of shape (n_objects, d)
        The representation playing the person (for example a ground-truth
        "human" embedding from :func:`reprlign.datasets.make_hierarchical_concepts`).
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
