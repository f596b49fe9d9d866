"""GrowingMLPRegressor: an MLP regressor that adds hidden neurons during training (GradMax)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils.validation import validate_data
from torch import nn

from ._docs import _SHARED_ATTRS, _SHARED_DOC, _SHARED_NOTES
from .base import _BaseGrowingMLP


class GrowingMLPRegressor(RegressorMixin, _BaseGrowingMLP):
    __doc__ = (
        """Multi-layer perceptron regressor whose hidden layers grow during training.

    The regression face of :class:`GrowingMLP`: the same growth, trained on the
    mean squared error (mean over samples and outputs). Multi-output targets
    are supported.
"""
        + _SHARED_DOC
        + _SHARED_ATTRS
        + """
    See Also
    --------
    GrowingMLP : The classifier.
    sklearn.neural_network.MLPRegressor : A fixed-width MLP.
"""
        + _SHARED_NOTES
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from reprlign import GrowingMLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = np.sin(X[:, 0]) + X[:, 1] ** 2
    >>> reg = GrowingMLPRegressor(hidden_layer_sizes=32, initial_hidden_sizes=8,
    ...                           grow_every=50, max_epochs=400, random_state=0).fit(X, y)
    >>> reg.hidden_sizes_, len(reg.growth_history_)
    ((32,), 4)
    >>> all(abs(h["loss_after"] - h["loss_before"]) < 1e-6 for h in reg.growth_history_)
    True
    >>> reg.score(X, y) > 0.9
    True
"""
    )

    _criterion = nn.MSELoss

    def _encode_y(self, y):
        y = np.asarray(y, dtype=np.float64)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the network to ``X`` and targets ``y`` for ``max_epochs`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self : GrowingMLPRegressor
        """
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=[np.float32, np.float64]
        )
        self._y_ndim = np.ndim(y)
        return self._fit(X, y, 1 if y.ndim == 1 else y.shape[1])

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """Run one epoch on ``(X, y)``, continuing the growth schedule.

        Returns
        -------
        self : GrowingMLPRegressor
        """
        first = not hasattr(self, "net_")
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            multi_output=True,
            y_numeric=True,
            dtype=[np.float32, np.float64],
        )
        n_out = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self._y_ndim = np.ndim(y)
        else:
            fitted = int(self.net_.module_.weights[-1].shape[0])
            if n_out != fitted:
                raise ValueError(f"y has {n_out} outputs but the network was fitted with {fitted}")
        return self._partial_fit(X, y, n_out)

    def score(self, X, y, sample_weight=None):
        """R^2 of :meth:`predict` on ``(X, y)``, optionally weighted."""
        return super().score(X, y, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted targets, shape (n_samples,) or (n_samples, n_outputs)."""
        out = self._forward_numpy(X)
        return out.ravel() if self._y_ndim == 1 else out
