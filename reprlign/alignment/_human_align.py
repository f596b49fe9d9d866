"""HumanAlignTransformer: gLocal / global / naive transforms fitted to odd-one-out triplets."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..triplets import (
    aggregate_triplets,
    choice_probabilities,
    fit_temperature,
    odd_one_out_accuracy,
    predict_odd_one_out,
    triplet_groups,
    triplet_similarities,
    validate_triplets,
)
from ..triplets.validation import check_distributions, odd_positions
from ..utils._torch import get_device, seed_everything, to_numpy
from ..utils._validation import check_features, check_positive
from ._train import train_transform

__all__ = ["HumanAlignTransformer"]

METHODS = ("glocal", "global", "naive")
OPTIMIZERS = ("adam", "sgd")


class HumanAlignTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Linear transform of features fitted to human odd-one-out judgments (gLocal).

    The samples are **triplets**: ``X`` holds object indices into the table
    ``features`` (or the three objects' features directly), so cross-validation
    and grid search split the human data, not the objects' features. After
    fitting, :meth:`transform` maps any ``(n, d)`` features into the aligned
    space ``((x - mean_) / scale_) @ W_ + b_``.

    Parameters
    ----------
    features : array-like of shape (n_objects, d), default=None
        The object table that triplet indices point into. Needed when ``X`` is
        an index array; ignored when ``X`` holds the features ``(m, 3, d)``.
    method : {"glocal", "global", "naive"}, default="glocal"
        ``"glocal"``: global + local loss, ``W`` initialised at
        ``init_scale * I`` and pulled toward a scaled identity; ``"global"``:
        the same with ``local_weight`` taken as 0; ``"naive"``: a probe with a
        random initialisation, a penalty toward zero and the global loss only.
    reg : float, default=0.1
        Strength of the pull toward the original representation (gLocal's
        ``lambda``); larger keeps the transform closer to a scaled identity.
        For ``"naive"`` it is a plain Frobenius (weight-decay) penalty.
    local_weight : float, default=0.1
        gLocal's ``alpha`` in [0, 1): weight of the local term; 0 is the
        global transform. Ignored unless ``method="glocal"``.
    tau : float, default=1.0
        Temperature of the local term's softmax over cosine similarities.
    temperature : "fit" or float, default="fit"
        Softmax temperature of the triplet choice distribution. A float is
        used in training and prediction. ``"fit"`` trains at temperature 1
        (as gLocal does) and then fits ``temperature_`` so that the model's
        choice distributions on the training triplets match the training
        targets (minimum KL for soft targets; minimum cross-entropy, i.e.
        calibration, for hard ones): AligNet's fit to human uncertainty.
        Accuracy does not depend on it.
    bias : bool, default=True
        Learn an offset ``b`` (not regularised).
    local_features : array-like of shape (n_pool, d), default=None
        Unlabeled pool for the local term (ImageNet features in the paper);
        None uses the object table.
    standardize : bool, default=True
        Centre and scale by ONE scalar mean and standard deviation over the
        whole object table (not per column), as gLocal does; the scalars are
        stored and applied to new features.
    optimizer : {"adam", "sgd"}, default="adam"
        Optimiser of ``W`` and ``b``.
    lr : float, default=1e-3
        Learning rate.
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` anneals the learning rate to 0 over ``max_epochs`` (our
        addition; with large batches and few steps it converges much further:
        see :ref:`performance_alignment`).
    max_epochs : int, default=100
        Passes over the training triplets.
    batch_size : int or None, default=256
        Triplets per step; None is full-batch. Large batches are cheap here
        (see Notes): for millions of triplets use tens of thousands per step.
    local_batch_size : int, default=1024
        Unlabeled features per step for the local term.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training triplets (repeats of
        a triplet kept together), stop when their loss has not improved for
        ``n_iter_no_change`` epochs and restore the best parameters.
    validation_fraction : float, default=0.1
        Share of training triplets held out for early stopping.
    n_iter_no_change : int, default=15
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as improvement.
    clip_grad : float or None, default=1.0
        Gradient norm clipping; None disables it.
    init_scale : "auto" or float, default="auto"
        ``sigma`` of the initialisation ``W = sigma I`` (``"naive"``: entries
        drawn from ``N(0, sigma^2)``). ``"auto"`` is ``1 / sqrt(d)`` for
        ``"glocal"`` and ``"global"``, which starts the dot products of
        standardised features on the scale of cosine similarities (gLocal's
        code uses 1e-3; see Notes), and 1e-3 for ``"naive"`` (a probe learned
        from scratch: a random ``N(0, 1/d)`` matrix would be a near-isometry
        and keep the original neighbourhoods by accident).
    device : str or torch.device, default="cpu"
        Where training runs; fitted attributes are numpy arrays in any case.
    random_state : int, RandomState or None, default=None
        Seeds the validation split, the batch order, the local batches and
        the naive initialisation.
    verbose : int, default=0
        Print one line per epoch (loss, validation loss, seconds).

    Attributes
    ----------
    W_ : ndarray of shape (d, d)
        The learned linear map.
    b_ : ndarray of shape (d,)
        The offset (zeros when ``bias=False``).
    mean_, scale_ : float
        The scalar standardisation.
    temperature_ : float
        Softmax temperature used by :meth:`predict_proba`.
    features_ : ndarray of shape (n_objects, d)
        The object table (for ``(m, 3, d)`` input, the distinct rows of X).
    embedding_ : ndarray of shape (n_objects, d)
        ``transform(features_)``.
    n_features_in_ : int
        ``d``, the width of the features :meth:`transform` accepts.
    n_triplets_ : int
        Training rows after repeats were pooled (see Notes).
    history_ : list of dict
        Per epoch: ``loss`` (training), ``val_loss`` (with early stopping), ``time``.
    n_epochs_, best_epoch_ : int
        Epochs run, and the epoch whose parameters were kept.

    See Also
    --------
    reprlign.triplets.choice_probabilities : the choice model.
    reprlign.model_selection.TripletObjectKFold : CV over new objects.
    reprlign.model_selection.TripletGroupKFold : CV with repeats kept together.

    Notes
    -----
    Muttenthaler et al. (NeurIPS 2023), "Improving neural network
    representations using human similarity judgments". The loss is
    ``(1 - alpha) L_global + alpha L_local + lambda L_reg`` with
    ``alpha = local_weight``, ``lambda = reg``, the local temperature ``tau``,
    and ``L_reg = ||W - mean(diag W) I||_F^2`` (``||W||_F^2`` for naive).
    ``L_global`` is the cross-entropy of ``softmax(s / T)`` over the three pair
    dot products of transformed features against the target distribution: the
    human odd one out (one-hot), or a choice distribution given as ``y`` of
    shape (m, 3) (human repeats or a teacher's ``predict_proba``: AligNet's
    soft-label distillation; the soft cross-entropy equals KL + a constant).

    Deviations and choices of ours: repeated triplets with hard labels are
    pooled into one row with its human choice distribution, weighted by the
    number of responses (the loss is the same mean over responses, computed
    faster); the local teacher is the standardised features L2-normalised;
    defaults keep gLocal's (Adam, lr 1e-3, lambda 0.1, alpha 0.1, tau 1, 256
    triplets and 1024 local features per step, 100 epochs, patience 15,
    clipping 1.0) except two: early stopping monitors the loss on a held-out
    share of the training triplets, and ``W`` starts at ``I / sqrt(d)``
    instead of ``1e-3 I``. With ``1e-3 I`` the similarities start near zero, the
    global loss's gradient (proportional to ``W``) is swamped by the penalty,
    and on small data sets (the 1,000 THINGS noise-ceiling triplets) a large
    ``reg`` then shrinks ``W`` toward zero instead of aligning it: held-out
    accuracy fell to 0.43 at ``reg=10`` against 0.46 with ``I / sqrt(d)``.
    gLocal selected hyper-parameters by held-out cross-entropy; :meth:`score`
    is accuracy (pass a scorer built on :meth:`predict_proba` to
    ``GridSearchCV(scoring=...)`` to select by likelihood).

    Speed: per step, the batch's distinct objects are transformed once and
    the similarities are gathered, from ``S = Z Z^T`` when that is cheaper,
    instead of one-hot products per triplet, so the cost of a step hardly
    depends on the batch size.

    Few triplets per feature dimension: the identity pull keeps every
    dimension of the features, noise included. When the human structure has
    fewer dimensions, pass features projected on their leading principal
    components (their width can be grid-searched through ``features``); on
    the synthetic recovery problem (:ref:`reproductions_alignment`) this
    and a converged full-batch fit took new-object accuracy from 0.948 to
    0.964, close to the best linear map that knows the generative model.

    ``fit_transform`` raises ``TypeError``: ``fit`` takes triplets and
    ``transform`` takes features, so no array is both; use
    ``fit(X).transform(F)`` or ``fit(X).embedding_``.

    Examples
    --------
    >>> from reprlign import HumanAlignTransformer
    >>> from reprlign.datasets import make_hierarchical_concepts
    >>> from reprlign.triplets import sample_triplets, simulate_choices
    >>> data = make_hierarchical_concepts(100, n_features=16, n_components=8, random_state=0)
    >>> X = simulate_choices(data.human, sample_triplets(100, 2000, random_state=0),
    ...                      random_state=0)
    >>> est = HumanAlignTransformer(data.model, max_epochs=5, random_state=0).fit(X)
    >>> est.transform(data.model).shape
    (100, 16)
    >>> est.predict_proba(X[:2]).shape
    (2, 3)
    """

    def __init__(
        self,
        features=None,
        *,
        method="glocal",
        reg=0.1,
        local_weight=0.1,
        tau=1.0,
        temperature="fit",
        bias=True,
        local_features=None,
        standardize=True,
        optimizer="adam",
        lr=1e-3,
        lr_schedule="constant",
        max_epochs=100,
        batch_size=256,
        local_batch_size=1024,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=15,
        tol=1e-4,
        clip_grad=1.0,
        init_scale="auto",
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.features = features
        self.method = method
        self.reg = reg
        self.local_weight = local_weight
        self.tau = tau
        self.temperature = temperature
        self.bias = bias
        self.local_features = local_features
        self.standardize = standardize
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.local_batch_size = local_batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.clip_grad = clip_grad
        self.init_scale = init_scale
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        check_positive(self.reg, "reg", strict=False)
        check_positive(self.local_weight, "local_weight", strict=False)
        if not self.local_weight < 1:
            raise ValueError(f"local_weight must be in [0, 1), got {self.local_weight!r}")
        check_positive(self.tau, "tau")
        if not (isinstance(self.temperature, str) and self.temperature == "fit"):
            if isinstance(self.temperature, str):
                raise ValueError(f"temperature must be 'fit' or a number > 0, "
                                 f"got {self.temperature!r}")
            check_positive(self.temperature, "temperature")
        check_positive(self.lr, "lr")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}"
            )
        check_positive(self.max_epochs, "max_epochs", integer=True)
        if self.batch_size is not None:
            check_positive(self.batch_size, "batch_size", integer=True)
        check_positive(self.local_batch_size, "local_batch_size", integer=True)
        if self.local_batch_size < 2:
            raise ValueError(f"local_batch_size must be >= 2, got {self.local_batch_size}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}"
            )
        check_positive(self.n_iter_no_change, "n_iter_no_change", integer=True)
        check_positive(self.tol, "tol", strict=False)
        if self.clip_grad is not None:
            check_positive(self.clip_grad, "clip_grad")
        if not (isinstance(self.init_scale, str) and self.init_scale == "auto"):
            if isinstance(self.init_scale, str):
                raise ValueError(f"init_scale must be 'auto' or a number > 0, "
                                 f"got {self.init_scale!r}")
            check_positive(self.init_scale, "init_scale")
        return get_device(self.device)

    def _check_X(self, X, *, fitting):
        """Return ``(table, triplets)``: an object table and index triplets into it."""
        X = to_numpy(X) if not isinstance(X, list) else np.asarray(X)
        X = np.asarray(X)
        if X.ndim == 3:
            if X.shape[1] != 3:
                raise ValueError(f"X of triplet features must have shape (m, 3, d), got {X.shape}")
            flat = check_features(X.reshape(-1, X.shape[2]), name="X", allow_torch=False)
            if fitting:
                table, inv = np.unique(flat, axis=0, return_inverse=True)
                return table, validate_triplets(inv.reshape(-1, 3), name="X")
            m = X.shape[0]
            return flat, np.arange(3 * m, dtype=np.int64).reshape(m, 3)
        if X.ndim != 2 or X.shape[1] != 3:
            raise ValueError(
                "X must be an integer array (m, 3) of object indices into `features`, "
                f"or a float array (m, 3, d) of the triplets' features; got shape {X.shape}"
            )
        if fitting:
            if self.features is None:
                raise ValueError(
                    "features is None: X holds object indices, so pass the object table as "
                    "HumanAlignTransformer(features=F), or pass X as (m, 3, d) features"
                )
            table = check_features(self.features, name="features", allow_torch=False)
        else:
            if not self._fitted_on_table:
                raise ValueError("this transformer was fitted on (m, 3, d) triplet features: "
                                 "pass X in that form, not indices")
            table = self.features_
        return table, validate_triplets(X, table.shape[0], name="X")

    @staticmethod
    def _check_y(y, m):
        """Targets as (m, 3) distributions and whether they were hard labels."""
        if y is None:
            return np.tile(np.array([0.0, 0.0, 1.0]), (m, 1)), True
        y_arr = to_numpy(y)
        if y_arr.ndim == 2:
            if y_arr.shape != (m, 3):
                raise ValueError(f"y as choice distributions must have shape ({m}, 3), "
                                 f"got {y_arr.shape}")
            return check_distributions(y_arr, "y"), False
        pos = odd_positions(y_arr, m, name="y")
        return np.eye(3)[pos], True

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Fit the transform to odd-one-out triplets.

        Parameters
        ----------
        X : array-like of shape (m, 3) int, or (m, 3, d) float
            Triplets as object indices into ``features``, or the three
            objects' features.
        y : None, array-like of shape (m,) or (m, 3)
            None: the last column of each triplet is the odd one out.
            (m,) ints: the position (0, 1, 2) of the odd one out.
            (m, 3) floats: choice distributions, column ``q`` the probability
            that position ``q`` is the odd one out (rows sum to 1), fitted by
            soft-label cross-entropy (KL).

        Returns
        -------
        self : HumanAlignTransformer
        """
        device = self._check_params()
        table, t = self._check_X(X, fitting=True)
        self._fitted_on_table = np.asarray(X).ndim == 2
        targets, hard = self._check_y(y, t.shape[0])
        weights = None
        if hard:
            unique, proba, counts = aggregate_triplets(t, targets.argmax(axis=1))
            if len(unique) < len(t):  # pool repeats: same loss, fewer rows
                t, targets, weights = unique, proba, counts.sum(axis=1).astype(np.float64)
        rng = check_random_state(self.random_state)
        train, val = self._split(t, targets, weights, rng)

        self.mean_, self.scale_ = 0.0, 1.0
        if self.standardize:
            self.mean_ = float(table.mean())
            self.scale_ = float(table.std()) or 1.0
        Xs = ((table - self.mean_) / self.scale_).astype(np.float32)
        pool = Xs
        if self.local_features is not None:
            lf = check_features(self.local_features, name="local_features", allow_torch=False)
            if lf.shape[1] != table.shape[1]:
                raise ValueError(f"local_features has {lf.shape[1]} columns but the features "
                                 f"have {table.shape[1]}")
            pool = ((lf - self.mean_) / self.scale_).astype(np.float32)
        alpha = float(self.local_weight) if self.method == "glocal" else 0.0
        if self.init_scale != "auto":
            init_scale = float(self.init_scale)
        else:
            init_scale = 1e-3 if self.method == "naive" else table.shape[1] ** -0.5
        result = train_transform(
            Xs, train, val, local_pool=pool, method=self.method, reg=float(self.reg),
            alpha=alpha, tau=float(self.tau), temperature=self.temperature, bias=self.bias,
            optimizer=self.optimizer, lr=float(self.lr), lr_schedule=self.lr_schedule,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size, local_batch_size=self.local_batch_size,
            patience=self.n_iter_no_change, tol=float(self.tol), clip_grad=self.clip_grad,
            init_scale=init_scale, device=device,
            generator=seed_everything(rng), verbose=self.verbose, estimator=self,
        )
        self.W_ = result["W"]
        self.b_ = result["b"] if result["b"] is not None else np.zeros(table.shape[1], np.float32)
        self.history_ = result["history"]
        self.n_epochs_ = result["n_epochs"]
        self.best_epoch_ = result["best_epoch"]
        self.features_ = table
        self.n_features_in_ = table.shape[1]
        self._n_features_out = table.shape[1]
        self.n_triplets_ = len(t)
        self.embedding_ = self.transform(table)
        if self.temperature == "fit":
            s = triplet_similarities(self.embedding_, train[0])
            self.temperature_ = fit_temperature(s, train[1], train[2])
        else:
            self.temperature_ = float(self.temperature)
        return self

    def _split(self, t, targets, weights, rng):
        """Training and early-stopping parts, repeats of a triplet kept together."""
        if not self.early_stopping:
            return (t, targets, weights), None
        groups = triplet_groups(t)
        n_groups = groups.max() + 1
        n_val = int(round(self.validation_fraction * n_groups))
        if n_val < 1 or n_val >= n_groups:
            raise ValueError(
                f"early_stopping needs at least 2 distinct triplets on both sides; with "
                f"{n_groups} distinct triplets and validation_fraction="
                f"{self.validation_fraction} set early_stopping=False"
            )
        val_groups = rng.permutation(n_groups)[:n_val]
        is_val = np.isin(groups, val_groups)

        def part(mask):
            return t[mask], targets[mask], None if weights is None else weights[mask]

        return part(~is_val), part(is_val)

    def fit_transform(self, X, y=None, **fit_params):
        """Not available: ``fit`` takes triplets, ``transform`` takes features.

        Raises
        ------
        TypeError
            Always. Use ``fit(X, y).transform(F)`` for features ``F``, or
            ``fit(X, y).embedding_`` for the aligned object table.
        """
        raise TypeError(
            "HumanAlignTransformer.fit_transform is not defined: fit takes triplets (m, 3) and "
            "transform takes features (n, d), so no single X is both. Use "
            "fit(X, y).transform(F), or fit(X, y).embedding_ for the aligned `features` table. "
            "In a Pipeline, fit it first and wrap it in sklearn.frozen.FrozenEstimator."
        )

    # ------------------------------------------------------------------ outputs
    def transform(self, X):
        """Map features into the aligned space: ``((X - mean_) / scale_) @ W_ + b_``.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n, d)
            Features of any objects (not triplets).

        Returns
        -------
        ndarray of shape (n, d)
        """
        check_is_fitted(self, "W_")
        F = check_features(to_numpy(X), name="X", allow_torch=False)
        if F.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {F.shape[1]} features but the transformer was fitted on "
                f"{self.n_features_in_}; transform takes (n, d) features, not triplets"
            )
        W = self.W_.astype(F.dtype, copy=False)
        return ((F - self.mean_) / self.scale_) @ W + self.b_.astype(F.dtype, copy=False)

    def _embed(self, X):
        check_is_fitted(self, "W_")
        table, t = self._check_X(X, fitting=False)
        Z = self.embedding_ if table is self.features_ else self.transform(table)
        return Z, t

    def decision_function(self, X):
        """Triplet similarities (m, 3) in the odd-one-out layout, aligned space."""
        Z, t = self._embed(X)
        return triplet_similarities(Z, t)

    def predict_proba(self, X):
        """Choice distribution over the odd one out: ``softmax(s / temperature_)``.

        Returns
        -------
        ndarray of shape (m, 3)
            Column ``q`` is the probability that position ``q`` is the odd one
            out, the layout of ``y`` in :meth:`fit`.
        """
        Z, t = self._embed(X)
        return choice_probabilities(Z, t, temperature=self.temperature_)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably."""
        from scipy.special import log_softmax

        return log_softmax(self.decision_function(X) / self.temperature_, axis=1)

    def predict(self, X):
        """Position (0, 1, 2) of the predicted odd one out of each triplet."""
        Z, t = self._embed(X)
        return predict_odd_one_out(Z, t)

    def score(self, X, y=None):
        """Odd-one-out accuracy (ties count as wrong).

        ``y`` as in :meth:`fit`; for distributions the most chosen position is
        the target.
        """
        Z, t = self._embed(X)
        if y is not None and np.ndim(y) == 2:
            y = self._check_y(y, len(t))[0].argmax(axis=1)
        return odd_one_out_accuracy(Z, t, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.three_d_array = True
        return tags

