"""Inspecting torch models: features by layer, layer x layer similarity, robustness.

:class:`FeatureExtractor` turns named submodules of any torch model into an
sklearn transformer; :func:`model_layer_similarity` compares every layer of two
models in one streaming pass; :func:`perturbation_robustness` and
:func:`block_removal_robustness` measure how stable each layer is.
"""

from ._extractor import FeatureExtractor
from ._layer_similarity import model_layer_similarity
from ._robustness import block_removal_robustness, perturbation_robustness

__all__ = [
    "FeatureExtractor",
    "block_removal_robustness",
    "model_layer_similarity",
    "perturbation_robustness",
]
