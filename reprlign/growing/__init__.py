"""Networks that grow during training (GradMax and baselines).

:class:`GrowingMLP` and :class:`GrowingMLPRegressor` share their parameters,
schedule and training in :mod:`reprlign.growing.base`; the growth methods live in
the private ``_growers`` module.
"""

from ._classifier import GrowingMLP
from ._regressor import GrowingMLPRegressor

__all__ = ["GrowingMLP", "GrowingMLPRegressor"]
