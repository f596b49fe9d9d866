"""The teacher chain: sample triplets over an object pool and label them with a teacher."""

from __future__ import annotations

import re

import numpy as np

from ..triplets import choice_probabilities, sample_triplets
from ..triplets.validation import check_distributions
from ..utils._validation import check_features, check_positive, check_random_state, index_array

__all__ = ["teacher_triplets"]

_METHODS = ("random", "cluster_border")


def teacher_triplets(teacher, n_triplets, *, objects=None, method="random", n_clusters=None,
                     temperature=1.0, similarity="dot", random_state=None):
    """Sample triplets over an object pool and label them with a teacher's choice distributions.

    The AligNet recipe's middle step: a teacher aligned to human judgments
    labels as many triplets as wanted, for free, including triplets of objects
    no person ever judged. ::

        teacher = HumanAlignTransformer(features).fit(human_triplets)
        X, y = teacher_triplets(teacher, 1_000_000, method="cluster_border")
        student = HumanAlignFinetuner(network, inputs=objects).fit(X, y)

    Parameters
    ----------
    teacher : fitted estimator or array-like of shape (n_objects, d)
        A fitted estimator whose ``predict_proba`` takes index triplets (such
        as :class:`HumanAlignTransformer`, whose temperature was fitted to
        human uncertainty), or a representation table whose choice
        probabilities are ``softmax(s / temperature)``.
    n_triplets : int
        How many triplets to draw. For object batches of ``B`` out of ``n``
        objects, a step of :class:`HumanAlignFinetuner` sees about
        ``n_triplets (B / n)^3`` of them: about 1.5 million give 4,000
        triplets per step of 256 of the 1,854 THINGS objects.
    objects : array-like of int, default=None
        The pool: indices of the objects triplets are drawn from; None is all
        objects of the teacher.
    method : {"random", "cluster_border"}, default="random"
        Three distinct objects uniformly at random, or AligNet's cluster-border
        sampling on k-means clusters of the teacher's representation (two
        objects from one cluster, one from a neighbouring cluster; see
        :func:`reprlign.triplets.sample_triplets`).
    n_clusters : int, default=None
        Clusters for ``"cluster_border"`` (default as in ``sample_triplets``).
    temperature : float, default=1.0
        Softmax temperature when ``teacher`` is a table (an estimator uses its
        own).
    similarity : {"dot", "cosine"}, default="dot"
        Pair similarity when ``teacher`` is a table.
    random_state : int, RandomState or None, default=None
        Seeds the draw.

    Returns
    -------
    X : ndarray of shape (n_triplets, 3), int64
        Triplets of object indices (into the teacher's objects).
    y : ndarray of shape (n_triplets, 3)
        The teacher's choice distributions in the odd-one-out layout (column
        ``q``: probability that position ``q`` is the odd one out).

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.alignment import teacher_triplets
    >>> table = np.random.RandomState(0).randn(50, 4)
    >>> X, y = teacher_triplets(table, 1000, temperature=0.5, random_state=0)
    >>> X.shape, y.shape, bool(np.allclose(y.sum(axis=1), 1))
    ((1000, 3), (1000, 3), True)
    """
    check_positive(n_triplets, "n_triplets", integer=True)
    check_random_state(random_state)  # (named here, before the teacher is asked anything)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    table, n_objects = None, None
    if hasattr(teacher, "predict_proba"):
        embedding = getattr(teacher, "embedding_", None)
        n_objects = None if embedding is None else len(embedding)
        features = embedding
    else:
        table = check_features(teacher, name="teacher", keep_torch=False)
        check_positive(temperature, "temperature")
        features, n_objects = table, len(table)
    if objects is None:
        if n_objects is None:
            raise ValueError("the teacher has no embedding_ table: pass objects, the indices "
                             "of the pool to draw triplets from")
        pool = np.arange(n_objects)
    else:
        pool = index_array(objects, "objects")
        if pool.ndim != 1 or pool.dtype == bool or not np.issubdtype(pool.dtype, np.integer):
            raise ValueError(f"objects must be a 1-D array of integer object indices, got "
                             f"shape {pool.shape} and dtype {pool.dtype}")
        pool = np.unique(pool)
        if len(pool) < 3:
            raise ValueError(f"the pool needs at least 3 objects, got {len(pool)}")
        if pool.min() < 0:
            raise ValueError(f"objects must be non-negative object indices, got {pool.min()}")
        if n_objects is not None and pool.max() >= n_objects:
            raise ValueError(f"objects refers to object {int(pool.max())} but the teacher has "
                             f"{n_objects} objects")
    if len(pool) < 3:
        raise ValueError(f"the pool needs at least 3 objects, got {len(pool)}")
    if method == "cluster_border" and features is None:
        raise ValueError("method='cluster_border' clusters the teacher's representation: the "
                         "teacher must have an embedding_ table")
    local = sample_triplets(
        len(pool), n_triplets, method=method,
        features=None if method == "random" else np.asarray(features)[pool],
        n_clusters=n_clusters, random_state=random_state)
    X = pool[local]
    if table is not None:
        try:
            y = choice_probabilities(table, X, similarity=similarity, temperature=temperature)
        except ValueError as exc:  # (the triplet functions call the table Z)
            raise ValueError(re.sub(r"\bZ\b", "teacher", str(exc))) from exc
    else:
        y = teacher.predict_proba(X)
    try:
        y = check_distributions(y, "the teacher's predict_proba")
    except ValueError as exc:
        raise ValueError(f"the teacher gave unusable choice probabilities: {exc}") from exc
    if y.shape != (n_triplets, 3):
        raise ValueError(f"the teacher's predict_proba returned shape {y.shape}, expected "
                         f"({n_triplets}, 3)")
    return X, y
