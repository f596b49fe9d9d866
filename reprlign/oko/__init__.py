"""Odd-k-out (OKO) set learning: classifiers trained on sets for better calibration.

:class:`OKOClassifier` is the scikit-learn face; the set sampler and the skorch
net it trains live in the private ``_net`` module.
"""

from ._classifier import OKOClassifier

__all__ = ["OKOClassifier"]
