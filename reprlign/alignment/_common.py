"""Steps the alignment estimators share: pooling repeats and the held-out split."""

from __future__ import annotations

import numpy as np

from ..triplets import aggregate_triplets

__all__ = ["pool_repeats", "split_held_out", "silent"]


def pool_repeats(t, targets):
    """Repeats of a triplet pooled into one row with its choice distribution.

    ``targets`` are one-hot rows (hard labels). Returns the distinct triplets,
    their choice distributions and their numbers of responses as weights: the
    mean loss over responses is the weighted mean over the pooled rows.
    """
    unique, proba, counts = aggregate_triplets(t, targets.argmax(axis=1))
    return unique, proba, counts.sum(axis=1).astype(np.float64)


def split_held_out(t, targets, weights, groups, fraction, rng, *, required):
    """Training and held-out parts ``(t, targets, weights)``, repeats kept together.

    ``round(fraction * n_groups)`` whole groups (``groups``: a group id per row,
    0 to n_groups - 1, as :func:`~reprlign.triplets.triplet_groups` gives) are
    drawn at random with ``rng`` and held out. When a side would be empty the
    held-out part is None, or, when ``required`` (early stopping needs it), a
    ``ValueError`` says what to change. ``weights`` may be None.
    """
    n_groups = int(groups.max()) + 1
    n_val = int(round(fraction * n_groups))
    if n_val < 1 or n_val >= n_groups:
        if not required:
            return (t, targets, weights), None
        raise ValueError(
            f"early_stopping needs at least 2 distinct triplets on both sides; with {n_groups} "
            f"distinct triplets and validation_fraction={fraction} set early_stopping=False")
    is_val = np.zeros(n_groups, dtype=bool)
    is_val[rng.permutation(n_groups)[:n_val]] = True
    is_val = is_val[groups]

    def part(mask):
        return t[mask], targets[mask], None if weights is None else weights[mask]

    return part(~is_val), part(is_val)


def silent(*args, **kwargs):
    """A sink that prints nothing (skorch callbacks' messages when not verbose)."""
