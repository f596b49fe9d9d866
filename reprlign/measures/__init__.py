"""Compare representations of the same stimuli: CKA, RSA, Procrustes, k-NN overlap.

:class:`RSAScorer` puts any of them in ``cross_val_score`` / ``GridSearchCV``;
:func:`levels_agreement` scores odd-one-out agreement per level of abstraction.

Every function takes two (n, d) representations of the same n stimuli, numpy
arrays or torch tensors (``d`` may differ between them). Numpy in gives Python
floats out; torch tensors are computed on their device and give 0-d tensors.
"""

from ._cka import cka
from ._knn import mutual_knn
from ._levels import levels_agreement
from ._minibatch import MinibatchCKA, layer_similarity
from ._odd_one_out import odd_one_out_agreement
from ._procrustes import procrustes
from ._rsa import compare_rdms, rdm, rsa
from ._scorer import RSAScorer
from ._stats import bootstrap, permutation_test, rdm_noise_ceiling

__all__ = [
    "MinibatchCKA",
    "RSAScorer",
    "bootstrap",
    "cka",
    "compare_rdms",
    "layer_similarity",
    "levels_agreement",
    "mutual_knn",
    "odd_one_out_agreement",
    "permutation_test",
    "procrustes",
    "rdm",
    "rdm_noise_ceiling",
    "rsa",
]
