"""OKOClassifier: odd-k-out set learning (Muttenthaler et al., ICLR 2024)."""

from __future__ import annotations

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state, metadata_routing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..utils._torch import draw_seed, get_device, seeded_torch
from ..utils._validation import check_positive

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
# Prefixes of the skorch parameters passed through to the net (skorch routes them).
_ROUTED = ("module__", "optimizer__")


class OKOClassifier(ClassifierMixin, BaseEstimator):
    """Classifier trained with odd-k-out (OKO) set learning.

    Training examples are *sets* of ``k + 2`` inputs: ``k + 1`` distinct classes
    drawn uniformly over the classes, the first (the *pair* class) contributing two
    distinct examples and each of the ``k`` *odd* classes one. The same network
    maps every member to logits; the set's logits are the **sum** of its members'
    logits, and the loss is the cross-entropy of their softmax against the pair
    class. At inference the network is applied to single examples, unchanged.
    Uniform class sampling and the set loss make OKO better calibrated and more
    accurate than plain cross-entropy when the training classes are heavy-tailed.

    The training loop is :mod:`skorch`'s (a thin net subclass replaces the batch
    iterator, the training step and the loss); this class is the scikit-learn face.
    skorch builds the module and the optimizer, so its ``module__<name>`` and
    ``optimizer__<name>`` parameters work here as on a skorch net.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network mapping a batch of inputs to logits ``(batch, n_classes)``.
        None builds an MLP over feature vectors (``hidden_layer_sizes``, ReLU).
        skorch builds a class with the ``module__<name>`` keyword arguments given
        to this estimator; an instance is deep-copied at each fit (with
        ``module__`` arguments skorch builds a new one of its class instead).
        With a custom module, ``X`` may have more than 2 dimensions (images).
    k : int, default=1
        Number of odd classes per set (sets have ``k + 2`` members). The paper
        uses ``k = 1``.
    hidden_layer_sizes : tuple of int, default=(128, 128)
        Hidden widths of the built-in MLP (``module=None`` only).
    targets : {"hard", "soft"}, default="hard"
        ``"hard"``: cross-entropy against the pair class (the paper's default,
        which its authors found always better). ``"soft"``: KL divergence to
        ``2/(k+2)`` on the pair class and ``1/(k+2)`` on each odd class; it makes
        single-example predictions under-confident.
    odd_class_head : bool, default=False
        Add a second linear head trained to predict the odd class(es) of each
        set (summed over members like the main head, soft cross-entropy with
        ``1/k`` on each odd class); it is discarded at inference. It reads the
        penultimate features of the built-in MLP, or the logits of a custom
        module.
    sets_per_epoch : int, default=None
        Sets drawn per epoch. None: ``ceil(n_train / (k + 2))``, so that an epoch
        forwards about ``n_train`` examples, the cost of one cross-entropy epoch.
    batch_size : int, default=32
        Sets per optimisation step (``batch_size * (k + 2)`` forwards).
    max_epochs : int, default=200
        Most epochs to train.
    optimizer : {"adam", "adamw", "sgd"} or torch optimizer class, default="adam"
        ``optimizer__<name>`` arguments (e.g. ``optimizer__momentum=0.9``,
        ``optimizer__betas``, skorch's ``optimizer__param_groups``) are passed on.
    lr : float, default=1e-3
    weight_decay : float, default=0.0
    early_stopping : bool, default=True
        Stop when the validation NLL (cross-entropy of single examples) has not
        improved for ``n_iter_no_change`` epochs, and restore the best weights. The
        validation data are ``validation_data`` given to :meth:`fit`, else a
        stratified ``validation_fraction`` of the training data (each class keeps
        at least two training examples; with none to spare, training runs
        ``max_epochs`` epochs with a warning).
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=50
        Epochs without improvement before stopping. OKO's validation NLL keeps
        improving slowly while its confidence grows, and a model stopped too
        early is under-confident; on the digits reproduction, patience 30 left
        OKO's ECE near 0.07 where patience 100 brings it to about 0.03.
    device : str, default="cpu"
        Torch device; ``"cuda"`` trains on the GPU with the same sets and
        initial weights as on the CPU.
    random_state : int, RandomState or None, default=None
        Seeds the weights, the validation split and the set sampler.
    verbose : int, default=0
        Print skorch's epoch table when > 0.
    **kwargs
        skorch-style ``module__<name>=value`` (arguments of a ``module`` class) and
        ``optimizer__<name>=value`` parameters, routed by skorch. They are part of
        :meth:`get_params` / :meth:`set_params`, so they can be grid-searched. Any
        other keyword is an error at :meth:`fit`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_features_in_ : int
        Number of features (size of the second dimension of ``X``).
    feature_names_in_ : ndarray of str
        Feature names, when ``X`` has them.
    net_ : skorch.NeuralNet
        The trained net (``net_.module_.body`` is the classifier network;
        ``net_.history`` has per-epoch ``train_loss`` and ``valid_loss``).
    n_epochs_ : int
        Epochs run.
    best_epoch_ : int or None
        Epoch (1-based) whose weights early stopping kept; None without early
        stopping (the last epoch's weights are kept).
    n_sets_per_epoch_ : int
        Sets drawn per epoch.

    See Also
    --------
    reprlign.calibration.expected_calibration_error : Top-label ECE.
    reprlign.datasets.make_heavy_tailed : The imbalance protocol of the paper.

    Notes
    -----
    Muttenthaler, Vandermeulen, Zhang, Unterthiner & Müller, "Set learning for
    accurate and calibrated models", ICLR 2024. With head :math:`f`, a set
    :math:`S = (x_1, \\dots, x_{k+2})` with pair class :math:`y'` gets logits
    :math:`\\sum_{i} f(x_i)` (biases included) and the hard loss
    :math:`-\\log \\mathrm{softmax}(\\sum_i f(x_i))_{y'}`.

    *Epochs and cost.* An epoch is ``sets_per_epoch`` sets, by default
    ``ceil(n_train / (k + 2))`` so that it forwards about ``n_train`` examples.
    Per example forwarded OKO costs what cross-entropy costs (one forward and
    backward per member, plus a sum); set sampling is vectorised numpy.

    *One-example classes.* A pair needs two distinct examples; for a class with
    a single training example the pair repeats that example (a warning says
    which classes). Excluding such classes from the pair role would mean the
    hard loss never targets them.

    *Deviations.* The odd-class head is optional and off by default; the paper's
    reported variant uses it. Sets are drawn with replacement across the epoch
    (not a permutation of the training set).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from reprlign import OKOClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = OKOClassifier(hidden_layer_sizes=(32,), max_epochs=30, random_state=0)
    >>> clf.fit(X, y).predict_proba(X[:2]).shape
    (2, 3)
    """

    # validation_data is not per-sample metadata, so it is never routed; score's
    # sample_weight works when called directly but is not routed either (this keeps
    # sklearn's generated set_fit_request / set_score_request off the class).
    __metadata_request__fit = {"validation_data": metadata_routing.UNUSED}
    __metadata_request__score = {"sample_weight": metadata_routing.UNUSED}

    _parameter_constraints: dict = {
        "module": [None, callable],
        "k": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "targets": [StrOptions({"hard", "soft"})],
        "odd_class_head": ["boolean"],
        "sets_per_epoch": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), HasMethods(["step", "zero_grad"])],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        module=None,
        *,
        k=1,
        hidden_layer_sizes=(128, 128),
        targets="hard",
        odd_class_head=False,
        sets_per_epoch=None,
        batch_size=32,
        max_epochs=200,
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.0,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=50,
        device="cpu",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        self.module = module
        self.k = k
        self.hidden_layer_sizes = hidden_layer_sizes
        self.targets = targets
        self.odd_class_head = odd_class_head
        self.sets_per_epoch = sets_per_epoch
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        vars(self).update(kwargs)  # skorch-style parameters, checked in fit

    # The **kwargs parameters are stored as attributes, as skorch stores them, so
    # they take part in get_params / set_params / clone like declared ones.
    def _kwargs(self):
        declared = self._get_param_names()
        return {k: v for k, v in vars(self).items()
                if k not in declared and not k.startswith("_") and not k.endswith("_")}

    def get_params(self, deep=True):
        return {**super().get_params(deep=deep), **self._kwargs()}

    def set_params(self, **params):
        vars(self).update({k: params.pop(k) for k in list(params) if k.startswith(_ROUTED)})
        return super().set_params(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def _net_params(self):
        """The skorch parameters given to this estimator, checked."""
        params = self._kwargs()
        for key in params:
            if not key.startswith(_ROUTED):
                raise TypeError(
                    f"OKOClassifier got an unexpected keyword argument {key!r} (only "
                    "skorch-style module__<name> and optimizer__<name> parameters are "
                    "passed through)"
                )
        if self.module is None and any(k.startswith("module__") for k in params):
            raise ValueError("module__ parameters need a module; the built-in MLP is "
                             "configured by hidden_layer_sizes")
        if "optimizer__weight_decay" in params:
            raise ValueError("give weight_decay, not optimizer__weight_decay")
        return params

    def _module(self, n_features, n_classes):
        """The module and its skorch parameters (skorch builds it)."""
        from ._net import MLP

        if self.module is None:
            for size in self.hidden_layer_sizes:
                check_positive(size, "hidden_layer_sizes entries", integer=True)
            return MLP, {"module__n_features": n_features, "module__n_classes": n_classes,
                         "module__hidden_layer_sizes": tuple(self.hidden_layer_sizes)}
        if isinstance(self.module, torch.nn.Module):
            return copy.deepcopy(self.module), {}  # never train the caller's instance
        return self.module, {}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, validation_data=None):
        """Train on sets drawn from ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Training inputs (more than 2 dimensions only with a custom module).
        y : array-like of shape (n_samples,)
            Class labels (strings or integers).
        validation_data : tuple (X_val, y_val), optional
            Data for early stopping instead of an internal split.

        Returns
        -------
        self : OKOClassifier
        """
        from skorch.callbacks import EarlyStopping
        from skorch.helper import predefined_split

        from ._net import OKONet

        net_params = self._net_params()
        device = get_device(self.device)
        X, y = validate_data(self, X, y, dtype=np.float32, allow_nd=self.module is not None)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < self.k + 1:
            raise ValueError(
                f"OKOClassifier with k={self.k} needs at least k+1={self.k + 1} classes in y "
                f"(a set holds k+1 distinct classes), got {n_classes} class"
                f"{'' if n_classes == 1 else 'es'}"
            )
        counts = np.bincount(y_idx, minlength=n_classes)
        if (counts == 1).any():
            warnings.warn(
                f"{int((counts == 1).sum())} class(es) have a single training example "
                f"({self.classes_[counts == 1].tolist()[:5]}); as the pair class of a set "
                "that example fills both pair slots", UserWarning, stacklevel=2)

        rng = check_random_state(self.random_state)
        torch_seed, split_seed, set_seed = (draw_seed(rng) for _ in range(3))
        X_train, y_train, valid = X, y_idx, None
        if validation_data is not None:
            valid = self._encode_validation(validation_data)
        elif self.early_stopping:
            is_val = _validation_mask(y_idx, self.validation_fraction, split_seed)
            if is_val.any():
                X_train, y_train = X[~is_val], y_idx[~is_val]
                valid = (X[is_val], y_idx[is_val])
            else:
                warnings.warn("no class has examples to spare for a validation split; "
                              f"training for max_epochs={self.max_epochs} without early "
                              "stopping", UserWarning, stacklevel=2)
        callbacks = []
        if valid is not None and self.early_stopping:
            callbacks.append(("early_stopping", EarlyStopping(
                monitor="valid_loss", patience=self.n_iter_no_change, load_best=True,
                sink=print if self.verbose else _silent)))

        self.n_sets_per_epoch_ = self.sets_per_epoch or -(-len(y_train) // (self.k + 2))
        module, module_params = self._module(X.shape[1] if X.ndim == 2 else None, n_classes)
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        with seeded_torch(torch_seed, device):
            net = OKONet(
                module,
                **module_params,
                n_classes=n_classes,
                odd_class_head=bool(self.odd_class_head),
                k=int(self.k),
                targets=self.targets,
                sets_per_epoch=self.n_sets_per_epoch_,
                set_rng=np.random.RandomState(set_seed),
                criterion=torch.nn.CrossEntropyLoss,
                optimizer=optimizer,
                optimizer__weight_decay=self.weight_decay,
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                iterator_valid__batch_size=self.batch_size * (self.k + 2),
                train_split=None if valid is None else predefined_split(_dataset(*valid)),
                callbacks=callbacks,
                device=str(device),
                verbose=self.verbose,
                **net_params,
            ).initialize()
            self._check_module_output(net.module_.body, X[:2], n_classes, device)
            net.partial_fit(X_train, y_train.astype(np.int64))
        self.net_ = net
        self.n_epochs_ = len(net.history)
        self.best_epoch_ = None
        if callbacks:  # early stopping restored the weights of its best epoch
            self.best_epoch_ = int(dict(net.callbacks_)["early_stopping"].best_epoch_)
        return self

    def _encode_validation(self, validation_data):
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError) as exc:
            raise ValueError("validation_data must be a tuple (X_val, y_val)") from exc
        X_val = validate_data(self, X_val, reset=False, dtype=np.float32,
                              allow_nd=self.module is not None)
        y_val = column_or_1d(y_val)
        if len(y_val) != len(X_val):
            raise ValueError(f"validation_data: X_val has {len(X_val)} rows, y_val {len(y_val)}")
        return X_val, self._encode_labels(y_val, "validation_data")

    def _encode_labels(self, y, where):
        y = np.asarray(y)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"{where}: labels {unseen.tolist()[:10]} were not seen at fit time "
                             f"(known classes: {self.classes_.tolist()[:10]}"
                             f"{'...' if len(self.classes_) > 10 else ''})")
        return np.searchsorted(self.classes_, y)

    @staticmethod
    def _check_module_output(module, X_probe, n_classes, device):
        module.eval()
        with torch.no_grad():
            out = module(torch.as_tensor(X_probe, device=device))
        module.train()
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(X_probe), n_classes):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"module must map a batch of inputs to logits of shape "
                             f"(batch, n_classes={n_classes}); got {shape}")

    def _logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32,
                          allow_nd=self.module is not None)
        return self.net_.forward(X).double()

    def predict_proba(self, X):
        """Class probabilities of single examples (softmax of the network's logits).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return self._logits(X).softmax(dim=1).numpy()

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed stably."""
        return self._logits(X).log_softmax(dim=1).numpy()

    def predict(self, X):
        """Most probable class of each example."""
        best = self._logits(X).argmax(dim=1).numpy()
        return self.classes_[best]

    def score(self, X, y, sample_weight=None):
        """Accuracy on ``(X, y)``; labels not seen at fit time are an error."""
        check_is_fitted(self)
        self._encode_labels(column_or_1d(y), "y")
        return super().score(X, y, sample_weight=sample_weight)


def _silent(*args, **kwargs):
    pass


def _dataset(X, y):
    from skorch.dataset import Dataset

    return Dataset(X, y.astype(np.int64))


def _validation_mask(y_idx, fraction, seed):
    """Stratified validation rows: ``floor(fraction * n_c)`` per class, leaving >= 2 to train."""
    rng = np.random.RandomState(seed)
    mask = np.zeros(len(y_idx), dtype=bool)
    for c in np.unique(y_idx):
        members = np.flatnonzero(y_idx == c)
        n_val = min(int(fraction * len(members)), max(len(members) - 2, 0))
        mask[rng.choice(members, n_val, replace=False)] = True
    return mask
