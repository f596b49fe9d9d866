"""reprlign: representational alignment in the scikit-learn style.

Measure how well machine representations match human similarity judgments and
each other, learn transforms that make them more human-like, train better
calibrated classifiers with odd-k-out set learning, and grow networks during
training with GradMax.

Submodules: :mod:`reprlign.triplets` (odd-one-out triplets),
:mod:`reprlign.model_selection` (splitters for triplet data),
:mod:`reprlign.datasets` (bundled human data and generators).
"""

__version__ = "0.1.0.dev0"

from ._align import HumanAlignTransformer, fit_temperature  # noqa: E402
from ._features import FeatureExtractor  # noqa: E402
from ._growing import GrowingMLP, GrowingMLPRegressor  # noqa: E402
from ._layers import model_layer_similarity  # noqa: E402
from ._levels import levels_agreement, things_levels, triplet_levels  # noqa: E402
from ._oko import OKOClassifier  # noqa: E402
from ._robustness import block_removal_robustness, perturbation_robustness  # noqa: E402
from ._scorer import RSAScorer  # noqa: E402

__all__ = [
    "FeatureExtractor",
    "GrowingMLP",
    "GrowingMLPRegressor",
    "HumanAlignTransformer",
    "OKOClassifier",
    "RSAScorer",
    "__version__",
    "block_removal_robustness",
    "fit_temperature",
    "levels_agreement",
    "model_layer_similarity",
    "perturbation_robustness",
    "things_levels",
    "triplet_levels",
]
