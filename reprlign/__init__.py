"""reprlign: representational alignment in the scikit-learn style.

Measure how well machine representations match human similarity judgments and
each other, learn transforms that make them more human-like, train better
calibrated classifiers with odd-k-out set learning, and grow networks during
training with GradMax.

One subpackage per family, lowest layer first: :mod:`reprlign.utils`;
:mod:`reprlign.triplets` (odd-one-out triplets), :mod:`reprlign.measures`
(comparing representations, :class:`RSAScorer`), :mod:`reprlign.losses`
(differentiable objectives in torch), :mod:`reprlign.datasets`;
:mod:`reprlign.alignment`, :mod:`reprlign.oko`, :mod:`reprlign.growing`,
:mod:`reprlign.inspection` (the estimators); :mod:`reprlign.model_selection`,
:mod:`reprlign.calibration` and :mod:`reprlign.plotting` beside them. Every
public estimator and function is also importable from ``reprlign`` itself.
"""

import importlib as _importlib

__version__ = "0.1.0.dev0"

# Public name -> the family subpackage that exports it. Names are imported on first use
# (PEP 562), so `import reprlign` and `python -m reprlign --help` do not pay for torch,
# skorch and every estimator; `from reprlign import OKOClassifier` works as usual.
_PUBLIC = {
    "FeatureExtractor": "inspection",
    "FeatureStore": "inspection",
    "GrowingMLP": "growing",
    "GrowingMLPRegressor": "growing",
    "HumanAlignFinetuner": "alignment",
    "HumanAlignTransformer": "alignment",
    "ImagePreprocessor": "inspection",
    "OKOClassifier": "oko",
    "RSAScorer": "measures",
    "StoreMismatchError": "inspection",
    "block_removal_robustness": "inspection",
    "extract_to_disk": "inspection",
    "fit_temperature": "triplets",
    "levels_agreement": "measures",
    "load_efficientnet_lite": "inspection",
    "model_layer_similarity": "inspection",
    "perturbation_robustness": "inspection",
    "teacher_triplets": "alignment",
    "things_levels": "datasets",
    "triplet_levels": "triplets",
}
_SUBMODULES = (
    "alignment",
    "calibration",
    "datasets",
    "growing",
    "inspection",
    "losses",
    "measures",
    "model_selection",
    "oko",
    "plotting",
    "triplets",
    "utils",
)

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(_importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC) | set(_SUBMODULES))
