"""Sampling triplets of distinct objects: random, class-based and k-means cluster border."""

from __future__ import annotations

import numpy as np

from ..utils._validation import check_features, check_in_memory, check_positive, check_random_state

SAMPLING_METHODS = ("random", "within_class", "between_class", "class_boundary", "cluster_border")


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
    features : array-like or torch.Tensor of shape (n_objects, d), optional
        Representation to cluster, for ``"cluster_border"`` (k-means runs on
        the CPU; a tensor is copied there).
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
    check_in_memory(labels, "labels")
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
    if hasattr(features, "detach"):  # a torch tensor: k-means runs on the CPU in numpy
        features = features.detach().cpu().numpy()
    features = check_features(features, name="features", keep_torch=False)
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
    n_distinct = len(np.unique(features, axis=0))
    if n_distinct < n_clusters:
        raise ValueError(
            f"features has {n_distinct} distinct row(s), fewer than n_clusters={n_clusters}: "
            "cluster_border sampling needs features that separate the objects into clusters"
        )
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
