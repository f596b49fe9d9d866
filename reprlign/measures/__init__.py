"""Compare representations of the same stimuli: CKA, RSA, Procrustes, k-NN overlap.

:class:`RSAScorer` puts any of them in ``cross_val_score`` / ``GridSearchCV``;
:func:`levels_agreement` scores odd-one-out agreement per level of abstraction.

Every function takes two (n, d) representations of the same n stimuli, numpy
arrays or torch tensors (``d`` may differ between them). Numpy in gives Python
floats out; torch tensors are computed on their device and give 0-d tensors.
Linear CKA, Procrustes, the exact Pearson/cosine RSA and ``layer_similarity``
also take dask arrays, reduced chunk by chunk on a dask cluster; the odd-one-out
agreements take a dask representation and compute only the rows their triplets name.
The named measures are listed once, in :mod:`reprlign.measures.registry`.
"""

import importlib

# Public name -> private module. Imported on first use (PEP 562), so that the command
# line can read the registry of measures for its --help without importing scipy or sklearn.
_PUBLIC = {
    "MinibatchCKA": "_minibatch",
    "RSAScorer": "_scorer",
    "bootstrap": "_stats",
    "cka": "_cka",
    "compare_rdms": "_rsa",
    "layer_similarity": "_minibatch",
    "levels_agreement": "_levels",
    "mutual_knn": "_knn",
    "odd_one_out_agreement": "_odd_one_out",
    "permutation_test": "_stats",
    "procrustes": "_procrustes",
    "rdm": "_rsa",
    "rdm_noise_ceiling": "_stats",
    "rsa": "_rsa",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
