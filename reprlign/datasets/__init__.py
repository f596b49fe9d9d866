"""Real human similarity data bundled with reprlign, and synthetic generators.

Every bundled file is real data collected from people; ``data/ATTRIBUTION.md``
gives the source and licence of each, and each loader's ``DESCR`` repeats it.
"""

from ._mur92 import load_mur92
from ._synthetic import make_heavy_tailed, make_hierarchical_concepts, make_levels_triplets
from ._things import FEATURE_SETS, load_things_features, load_things_triplets, things_levels

__all__ = [
    "FEATURE_SETS",
    "load_mur92",
    "load_things_features",
    "load_things_triplets",
    "make_heavy_tailed",
    "make_hierarchical_concepts",
    "make_levels_triplets",
    "things_levels",
]
