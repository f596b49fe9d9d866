"""reprlign: representational alignment in the scikit-learn style.

Measure how well machine representations match human similarity judgments and
each other, learn transforms that make them more human-like, train better
calibrated classifiers with odd-k-out set learning, and grow networks during
training with GradMax.

Submodules: :mod:`reprlign.triplets` (odd-one-out triplets),
:mod:`reprlign.model_selection` (splitters for triplet data),
:mod:`reprlign.datasets` (bundled human data and generators).
"""

import importlib

__version__ = "0.1.0.dev0"

# Public name -> the private module that defines it. Names are imported on first use
# (PEP 562), so `import reprlign` and `python -m reprlign --help` do not pay for torch,
# skorch and every estimator; `from reprlign import OKOClassifier` works as usual.
_PUBLIC = {
    "FeatureExtractor": "_features",
    "GrowingMLP": "_growing",
    "GrowingMLPRegressor": "_growing",
    "HumanAlignTransformer": "_align",
    "OKOClassifier": "_oko",
    "RSAScorer": "_scorer",
    "block_removal_robustness": "_robustness",
    "fit_temperature": "_align",
    "levels_agreement": "_levels",
    "model_layer_similarity": "_layers",
    "perturbation_robustness": "_robustness",
    "things_levels": "_levels",
    "triplet_levels": "_levels",
}
_SUBMODULES = (
    "calibration",
    "datasets",
    "measures",
    "model_selection",
    "plotting",
    "triplets",
    "utils",
)

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC) | set(_SUBMODULES))
