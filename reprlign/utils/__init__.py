"""Shared plumbing: input validation, torch device handling, estimator discovery."""

from ._torch import get_device, seed_everything, to_numpy
from ._validation import check_features, check_positive
from .discovery import all_estimators

__all__ = [
    "all_estimators",
    "check_features",
    "check_positive",
    "get_device",
    "seed_everything",
    "to_numpy",
]
