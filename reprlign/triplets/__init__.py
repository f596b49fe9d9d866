"""Odd-one-out triplets: canonical form, validation, choice probabilities and sampling.

Conventions (the THINGS convention)
-----------------------------------
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

# SIMILARITIES, SAMPLING_METHODS and LEVELS name the options (exported, not in __all__).
from ._choices import (  # noqa: F401
    SIMILARITIES,
    choice_kl,
    choice_probabilities,
    odd_one_out_accuracy,
    odd_one_out_correct,
    predict_odd_one_out,
    simulate_choices,
    triplet_similarities,
)
from ._core import canonicalize, from_things, read_triplets
from ._levels import LEVELS, triplet_levels  # noqa: F401
from ._rdm import rdm_triplets
from ._repeats import aggregate_triplets, noise_ceiling, triplet_groups
from ._sampling import SAMPLING_METHODS, sample_triplets  # noqa: F401
from ._temperature import fit_temperature
from .validation import validate_triplets

__all__ = [
    "aggregate_triplets",
    "canonicalize",
    "choice_kl",
    "choice_probabilities",
    "fit_temperature",
    "from_things",
    "noise_ceiling",
    "odd_one_out_accuracy",
    "odd_one_out_correct",
    "predict_odd_one_out",
    "rdm_triplets",
    "read_triplets",
    "sample_triplets",
    "simulate_choices",
    "triplet_groups",
    "triplet_levels",
    "triplet_similarities",
    "validate_triplets",
]
