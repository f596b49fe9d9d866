"""GrowingMLP: an MLP classifier that adds hidden neurons during training (GradMax)."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from torch import nn

from ._docs import _SHARED_ATTRS, _SHARED_DOC, _SHARED_NOTES
from .base import _BaseGrowingMLP


class GrowingMLP(ClassifierMixin, _BaseGrowingMLP):
    __doc__ = (
        """Multi-layer perceptron classifier whose hidden layers grow during training.

    Starts with ``initial_hidden_sizes`` neurons per hidden layer and adds
    ``grow_by`` every ``grow_every`` optimizer steps until ``hidden_layer_sizes``
    is reached, initialising new neurons with GradMax (Evci et al., 2022) or a
    baseline. Trained with cross-entropy on the logits.
"""
        + _SHARED_DOC
        + _SHARED_ATTRS
        + """    classes_ : ndarray of shape (n_classes,)
        Class labels.

    See Also
    --------
    GrowingMLPRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : A fixed-width MLP.
"""
        + _SHARED_NOTES
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from reprlign import GrowingMLP
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = GrowingMLP(hidden_layer_sizes=16, initial_hidden_sizes=4, grow_by=4,
    ...                  grow_every=25, max_epochs=300, random_state=0).fit(X, y)
    >>> clf.hidden_sizes_
    (16,)
    >>> [h["step"] for h in clf.growth_history_]
    [25, 50, 75]
    >>> clf.score(X, y) > 0.9
    True
"""
    )

    _criterion = nn.CrossEntropyLoss

    def _encode_y(self, y):
        return self._label_encoder.transform(y).astype(np.int64)

    def _check_Xy(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        return X, y

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the network to ``X`` and class labels ``y`` for ``max_epochs`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : GrowingMLP
        """
        X, y = self._check_Xy(X, y, reset=True)
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"GrowingMLP needs at least 2 classes in y, got 1 class: {self.classes_[0]!r}"
            )
        return self._fit(X, y, len(self.classes_))

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Run one epoch on ``(X, y)``, continuing the growth schedule.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All classes; required on the first call.

        Returns
        -------
        self : GrowingMLP
        """
        first = not hasattr(self, "net_")
        X, y = self._check_Xy(X, y, reset=first)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._label_encoder = LabelEncoder().fit(np.asarray(classes))
            self.classes_ = self._label_encoder.classes_
            if len(self.classes_) < 2:
                raise ValueError("classes must hold at least 2 classes")
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"y holds labels not in classes: {unseen.tolist()}")
        return self._partial_fit(X, y, len(self.classes_))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on ``(X, y)``, optionally weighted."""
        return super().score(X, y, sample_weight=sample_weight)

    def decision_function(self, X):
        """Logits ``z``, shape (n_samples, n_classes); ``z_1 - z_0`` for two classes."""
        z = self._forward_numpy(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), shape (n_samples, n_classes)."""
        z = self._forward_numpy(X)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Most probable class for each row of ``X``."""
        scores = self._forward_numpy(X)
        return self.classes_[np.argmax(scores, axis=1)]
