"""Inspecting torch models: features by layer, layer x layer similarity, robustness.

:class:`FeatureExtractor` turns named submodules of any torch model into an
sklearn transformer; :func:`model_layer_similarity` compares every layer of two
models in one streaming pass; :func:`perturbation_robustness` and
:func:`block_removal_robustness` measure how stable each layer is;
:func:`extract_to_disk` writes features of large datasets to a resumable
on-disk :class:`FeatureStore`, read back as dask arrays.
"""

from ._extractor import FeatureExtractor
from ._layer_similarity import model_layer_similarity
from ._robustness import block_removal_robustness, perturbation_robustness
from ._store import FeatureStore, StoreMismatchError, extract_to_disk

__all__ = [
    "FeatureExtractor",
    "FeatureStore",
    "StoreMismatchError",
    "block_removal_robustness",
    "extract_to_disk",
    "model_layer_similarity",
    "perturbation_robustness",
]
