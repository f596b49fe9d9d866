"""Networks that grow during training (GradMax and baselines).

:class:`GrowingMLP` and :class:`GrowingMLPRegressor` share their parameters,
schedule and fitted state in :mod:`reprlign.growing.base`. They train on skorch:
the private ``_net`` module holds the torch module, the growth callback and the
net, ``_optim`` the optimizers whose state grows with the network, and
``_growers`` the growth methods.
"""

from ._classifier import GrowingMLP
from ._regressor import GrowingMLPRegressor

__all__ = ["GrowingMLP", "GrowingMLPRegressor"]
