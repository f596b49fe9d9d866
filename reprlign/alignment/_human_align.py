"""HumanAlignTransformer: gLocal / global / naive transforms fitted to odd-one-out triplets."""

from __future__ import annotations

import copy
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..triplets import (
    choice_probabilities,
    fit_temperature,
    odd_one_out_accuracy,
    predict_odd_one_out,
    triplet_groups,
    triplet_similarities,
    validate_triplets,
)
from ..triplets.validation import check_targets
from ..utils._torch import draw_seed, get_device, limit_threads, to_numpy
from ..utils._validation import check_features
from ._common import pool_repeats, silent, split_held_out

__all__ = ["HumanAlignTransformer"]

# The "auto" settings (see HumanAlignTransformer._settings).
_FULL_BATCH_MAX = 2**20
_AUTO_STEPS = 100
_AUTO_LR = 1e-2
_SMALL_STEP = 5e8  # multiply-adds per step below which a fit runs on one thread


class HumanAlignTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Linear transform of features fitted to human odd-one-out judgments (gLocal).

    The samples are **triplets**: ``X`` holds object indices into the table
    ``features`` (or the three objects' features directly), so cross-validation
    and grid search split the human data, not the objects' features. After
    fitting, :meth:`transform` maps any ``(n, d)`` features into the aligned
    space ``((x - mean_) / scale_) @ W_ + b_``.

    Cross-validate with :class:`~reprlign.model_selection.TripletGroupKFold`
    (repeats of a triplet stay in one fold) or
    :class:`~reprlign.model_selection.TripletObjectKFold` (new objects), not a
    plain ``KFold``: when people answered the same triplet several times, a
    plain split puts its repeats on both sides and leaks. On the bundled THINGS
    triplets (20 answers per triplet) a plain 5-fold ``KFold`` reported 0.544
    held-out accuracy where grouped folds give 0.473.

    Parameters
    ----------
    features : array-like or torch.Tensor of shape (n_objects, d), default=None
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
        choice distributions match the targets (minimum KL for soft targets;
        minimum cross-entropy, i.e. calibration, for hard ones), AligNet's fit
        to human uncertainty, on a held-out share (``validation_fraction``) of
        the training triplets that the transform is not trained on (on the
        training triplets when they are too few to spare one). Accuracy does
        not depend on it.
    bias : bool, default=False
        Learn an offset ``b`` (not regularised). Off by default, as in gLocal's
        code: on few triplets an unpenalised offset overfits converged fits.
    local_features : array-like of shape (n_pool, d), default=None
        Unlabeled pool for the local term (ImageNet features in the paper);
        None uses the object table.
    standardize : bool, default=True
        Centre and scale by ONE scalar mean and standard deviation over the
        whole object table (not per column), as gLocal does; the scalars are
        stored and applied to new features.
    optimizer : {"adam", "sgd"}, default="adam"
        Optimiser of ``W`` and ``b``.
    lr : "auto" or float, default="auto"
        Learning rate. ``"auto"``: ``1e-2`` at full batch, times
        ``sqrt(batch_size / n_train)`` for smaller batches (more, noisier
        steps); tuned for Adam.
    lr_schedule : {"constant", "cosine"}, default="cosine"
        ``"cosine"`` anneals the learning rate to 0 over ``max_epochs`` (our
        addition: the fit converges instead of wandering at a constant rate;
        see :ref:`performance_alignment`).
    max_epochs : "auto" or int, default="auto"
        Passes over the training triplets. ``"auto"``: enough for about 100
        optimiser steps (100 epochs at full batch, at least one).
    batch_size : "auto", int or None, default="auto"
        Triplets per step; None is full-batch. ``"auto"``: full batch up to
        ``2**20`` triplets (a step costs about the same for any batch size,
        see Notes), batches of ``2**20`` beyond.
    local_batch_size : "auto" or int, default="auto"
        Unlabeled features per step for the local term. ``"auto"``: 1,024
        (gLocal's) with minibatches of up to 1,024 triplets, 256 with larger
        or full batches, where the many triplets per step make a smaller pool
        batch enough (see the user guide for its measured effect).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training triplets (repeats of
        a triplet kept together), stop when their loss has not improved for
        ``n_iter_no_change`` epochs and restore the best parameters. Off by
        default: fits converge and ``reg`` regularises.
    validation_fraction : float, default=0.1
        Share of training triplets held out (repeats kept together) for early
        stopping and for fitting the temperature.
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
        Seeds the held-out split, the batch order, the local batches and the
        naive initialisation.
    verbose : int, default=0
        Print skorch's training table: one row per epoch with the training
        loss, the validation loss (with early stopping) and the seconds.

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
        Distinct training triplets (repeats of a triplet count once; with
        many repeats they are pooled into one row each, see Notes).
    history_ : list of dict
        Per epoch: ``loss`` (training), ``val_loss`` (with early stopping), ``time``.
    n_epochs_, best_epoch_ : int
        Epochs run, and the epoch whose parameters were kept.
    batch_size_ : int
        Triplets per step used (``batch_size`` resolved).
    lr_ : float
        Learning rate used (``lr`` resolved).

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

    Deviations and choices of ours: when repeats make up more than a tenth of
    the rows, repeated triplets with hard labels are pooled into one row with
    its human choice distribution, weighted by the number of responses (the
    loss is the same mean over responses, computed faster); the local teacher
    is the standardised features, L2-normalised;
    ``W`` starts at ``I / sqrt(d)`` instead of ``1e-3 I``. The defaults differ
    from gLocal's optimiser settings (Adam at a constant 1e-3, 256 triplets
    and 1,024 local features per step, early stopping with patience 15): each
    fit runs about 100 full-batch Adam steps with a cosine schedule to
    convergence, so that ``reg`` alone decides how far the transform moves
    from the original features and held-out accuracy has a clear optimum in
    ``reg``; with gLocal's settings on few triplets the validation loss rose
    after the first full-batch step (Adam's first steps move every entry of
    ``W`` by about the learning rate) and early stopping did the
    regularising. At gLocal's batch of 256 its constant rate is too large for
    the noise of small batches: ``lr="auto"`` scales the rate down with the
    batch. Small fits run on one torch and BLAS thread. gLocal selected
    hyper-parameters by held-out cross-entropy; :meth:`score` is accuracy
    (pass a scorer built on :meth:`predict_proba` to
    ``GridSearchCV(scoring=...)`` to select by likelihood). See the user
    guide for the measurements behind each choice.

    Training runs on skorch: the transform is a torch module whose forward
    pass gives a batch's triplet similarities, trained by a
    :class:`skorch.NeuralNet` whose loss is the one above, with skorch's
    ``EarlyStopping(load_best=True)``, ``LRScheduler``,
    ``GradientNormClipping`` and ``PrintLog``.

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

    _parameter_constraints: dict = {
        "features": ["array-like", None],
        "method": [StrOptions({"glocal", "global", "naive"})],
        "reg": [Interval(Real, 0, None, closed="left")],
        "local_weight": [Interval(Real, 0, 1, closed="left")],
        "tau": [Interval(Real, 0, None, closed="neither")],
        "temperature": [StrOptions({"fit"}), Interval(Real, 0, None, closed="neither")],
        "bias": ["boolean"],
        "local_features": ["array-like", None],
        "standardize": ["boolean"],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "lr": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "max_epochs": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"), None],
        "local_batch_size": [StrOptions({"auto"}), Interval(Integral, 2, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "clip_grad": [Interval(Real, 0, None, closed="neither"), None],
        "init_scale": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "device": "no_validation",  # str or torch.device, resolved by get_device
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        features=None,
        *,
        method="glocal",
        reg=0.1,
        local_weight=0.1,
        tau=1.0,
        temperature="fit",
        bias=False,
        local_features=None,
        standardize=True,
        optimizer="adam",
        lr="auto",
        lr_schedule="cosine",
        max_epochs="auto",
        batch_size="auto",
        local_batch_size="auto",
        early_stopping=False,
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
    def _check_X(self, X, *, fitting):
        """Return ``(table, triplets)``: an object table and index triplets into it."""
        try:
            X = to_numpy(X)
        except ValueError as exc:  # ragged lists
            raise ValueError(f"X could not be read as an array: {exc}") from exc
        if X.ndim == 3:
            if X.shape[1] != 3:
                raise ValueError(f"X of triplet features must have shape (m, 3, d), got {X.shape}")
            flat = check_features(X.reshape(-1, X.shape[2]), name="X", keep_torch=False)
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
            table = check_features(self.features, name="features", keep_torch=False)
        else:
            if not self._fitted_on_table:
                raise ValueError("this transformer was fitted on (m, 3, d) triplet features: "
                                 "pass X in that form, not indices")
            table = self.features_
        return table, validate_triplets(X, table.shape[0], name="X")

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
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

        Raises
        ------
        FloatingPointError
            When the training loss becomes NaN or infinite (the message names
            the epoch and the learning rate).

        Warns
        -----
        RuntimeWarning
            When the last epoch's training loss is more than ten times the
            first's (a diverged fit), and when the fitted temperature lies at
            an end of its search interval.
        """
        import torch

        device = get_device(self.device)
        table, t = self._check_X(X, fitting=True)
        self._fitted_on_table = np.asarray(X).ndim == 2
        targets, hard = check_targets(y, t.shape[0])
        weights, groups = None, triplet_groups(t)
        if hard and groups.max() + 1 < 0.9 * len(t):
            # Many repeats: pool them into rows with their choice distributions, weighted by
            # their numbers of responses (the same loss on fewer rows).
            t, targets, weights = pool_repeats(t, targets)
            groups = np.arange(len(t))
        rng = check_random_state(self.random_state)
        train, val = self._split(t, targets, weights, groups, rng)

        self.mean_, self.scale_ = 0.0, 1.0
        if self.standardize:  # divided by the largest magnitude first: no overflow at 1e200
            peak = float(np.abs(table).max()) or 1.0
            unit = table / peak
            self.mean_ = float(unit.mean()) * peak
            self.scale_ = float(unit.std()) * peak or 1.0
        pool = None
        if self.local_features is not None:
            pool = check_features(self.local_features, name="local_features", keep_torch=False)
            if pool.shape[1] != table.shape[1]:
                raise ValueError(f"local_features has {pool.shape[1]} columns but the features "
                                 f"have {table.shape[1]}")
        Xs = self._standardized(table)
        pool = Xs if pool is None else self._standardized(pool)
        # Only the objects the triplets use are transformed while training.
        train, val, used = _used_objects(train, val, table.shape[0])
        settings = self._settings(len(train[0]), len(used), table.shape[1], len(pool))
        self.batch_size_, self.lr_ = settings["batch_size"], settings["lr"]
        net = self._build_net(Xs[used], pool, val, settings, device, rng)
        train_data = _triplet_data(train, device)
        with limit_threads(settings["threads"]):
            net.fit(train_data)
            if self.temperature == "fit":  # on triplets held out from training when there are
                fit_part = train if val is None else val
                with torch.no_grad():
                    triplets = torch.as_tensor(fit_part[0], device=device)
                    s = net.module_(triplets).cpu().numpy().astype(np.float64)
                self.temperature_ = fit_temperature(s, fit_part[1], fit_part[2])
            else:
                self.temperature_ = float(self.temperature)

        module = net.module_
        self.W_ = module.W.detach().cpu().numpy()
        self.b_ = (np.zeros(table.shape[1], np.float32) if module.b is None
                   else module.b.detach().cpu().numpy())
        self.history_ = [
            {"epoch": h["epoch"], "loss": h["train_loss"],
             **({"val_loss": h["valid_loss"]} if "valid_loss" in h else {}), "time": h["dur"]}
            for h in net.history
        ]
        self.n_epochs_ = len(net.history)
        self.best_epoch_ = self.n_epochs_
        if self.early_stopping:  # early stopping restored the parameters of its best epoch
            self.best_epoch_ = int(dict(net.callbacks_)["early_stopping"].best_epoch_)
        self.features_ = table
        self.n_features_in_ = table.shape[1]
        self._n_features_out = table.shape[1]
        self.n_triplets_ = int(groups.max()) + 1
        self.embedding_ = self.transform(table)
        return self

    def _standardized(self, F):
        if F is None:
            return None
        return ((F - self.mean_) / self.scale_).astype(np.float32)

    def _settings(self, n_train, n_objects, d, n_pool):
        """Batch size, epochs, learning rate, pool rows per step and threads of this fit.

        The ``"auto"`` rules: full batch up to ``2**20`` triplets; epochs for about
        100 optimiser steps; Adam's rate ``1e-2`` at full batch, scaled by
        ``sqrt(batch / n_train)`` for smaller batches (more steps, more noise);
        1,024 pool rows per step (gLocal's) with minibatches of up to 1,024
        triplets and 256 with larger or full batches; one thread when a step is
        small.
        """
        if self.batch_size is None:
            batch_size = n_train
        elif self.batch_size == "auto":
            batch_size = min(n_train, _FULL_BATCH_MAX)
        else:
            batch_size = min(self.batch_size, n_train)
        steps = -(-n_train // batch_size)  # per epoch
        max_epochs = self.max_epochs
        if max_epochs == "auto":
            max_epochs = max(1, -(-_AUTO_STEPS // steps))
        lr = self.lr
        if lr == "auto":
            lr = _AUTO_LR * (batch_size / n_train) ** 0.5
        local_batch_size = self.local_batch_size
        if local_batch_size == "auto":
            local_batch_size = 1024 if batch_size <= 1024 and batch_size < n_train else 256
        local_batch_size = min(local_batch_size, n_pool)
        # Multiply-adds of one step: the transform of the batch's objects, its Gram matrix
        # when the similarities come from it, and the local term.
        k = min(n_objects, 3 * batch_size)
        work = k * d * d + (k * k * d if k * k <= 400 * batch_size else 0)
        if self.method == "glocal" and self.local_weight > 0:
            work += local_batch_size * d * (d + local_batch_size)
        return {"batch_size": batch_size, "max_epochs": max_epochs, "lr": float(lr),
                "local_batch_size": local_batch_size, "steps": steps,
                "threads": 1 if work < _SMALL_STEP else None}

    def _build_net(self, Xs, pool, val, settings, device, rng):
        """The skorch net that trains the transform, configured from this estimator's parameters."""
        import torch
        from skorch.callbacks import EarlyStopping, GradientNormClipping, LRScheduler
        from skorch.helper import predefined_split

        from ._net import (
            DivergenceCheck,
            HumanAlignNet,
            LocalStructureLoss,
            TripletBatches,
            TripletTransform,
        )

        naive = self.method == "naive"
        init_scale = self.init_scale
        if init_scale == "auto":
            init_scale = 1e-3 if naive else Xs.shape[1] ** -0.5
        module_seed, batch_seed, local_seed = (draw_seed(rng) for _ in range(3))
        sink = print if self.verbose else silent
        callbacks = [("divergence", DivergenceCheck(
            f"lower lr (the fit used {settings['lr']:.3g}) or check the features' scale"))]
        if self.early_stopping:
            callbacks.append(("early_stopping", EarlyStopping(
                patience=self.n_iter_no_change, threshold=self.tol, threshold_mode="abs",
                load_best=True, sink=sink)))
        if self.lr_schedule == "cosine":  # to 0 over the planned steps (early stopping may cut it)
            callbacks.append(("lr_scheduler", LRScheduler(
                "CosineAnnealingLR", T_max=settings["max_epochs"] * settings["steps"],
                step_every="batch", event_name=None)))
        if self.clip_grad is not None:
            callbacks.append(("gradient_clipping", GradientNormClipping(self.clip_grad)))
        local_weight = self.local_weight if self.method == "glocal" else 0.0
        local = {}
        if local_weight > 0:
            local = dict(local_criterion=LocalStructureLoss,
                         local_criterion__pool=torch.as_tensor(pool),
                         local_criterion__tau=self.tau,
                         local_criterion__batch_size=settings["local_batch_size"],
                         local_criterion__seed=local_seed)
        return HumanAlignNet(
            TripletTransform,
            module__features=torch.as_tensor(Xs),
            module__init="random" if naive else "identity",
            module__init_scale=float(init_scale),
            module__bias=self.bias,
            module__seed=module_seed,
            criterion__temperature=1.0 if self.temperature == "fit" else self.temperature,
            reg=self.reg,
            toward="zero" if naive else "identity",
            local_weight=local_weight,
            **local,
            optimizer={"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[self.optimizer],
            lr=settings["lr"],
            max_epochs=settings["max_epochs"],
            batch_size=settings["batch_size"],
            iterator_train=TripletBatches,
            iterator_train__shuffle=True,
            iterator_train__generator=torch.Generator().manual_seed(batch_seed),
            iterator_valid=TripletBatches,
            iterator_valid__batch_size=-1,
            train_split=(predefined_split(_triplet_data(val, device)) if self.early_stopping
                         else None),
            callbacks=callbacks,
            device=device,
            verbose=self.verbose,
        )

    def _split(self, t, targets, weights, groups, rng):
        """Training and held-out parts, repeats of a triplet (``groups``) kept together.

        The held-out part serves early stopping and the temperature fit; without
        early stopping, triplets too few to spare one leave it empty (None) and
        the temperature is fitted on the training triplets.
        """
        if not (self.early_stopping or self.temperature == "fit"):
            return (t, targets, weights), None
        return split_held_out(t, targets, weights, groups, self.validation_fraction, rng,
                              required=self.early_stopping)

    @_fit_context(prefer_skip_nested_validation=True)  # bad parameters are named first
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
        F = check_features(X, name="X", keep_torch=False)
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
        the target. Held-out scores are only honest when no triplet of ``X``
        was also answered in the training data: split repeated triplets with
        :class:`~reprlign.model_selection.TripletGroupKFold` or
        :class:`~reprlign.model_selection.TripletObjectKFold`, not a plain
        ``KFold`` (on the bundled THINGS triplets: 0.544 with ``KFold`` against
        0.473 grouped).
        """
        Z, t = self._embed(X)
        if y is not None and np.ndim(y) == 2:
            y = check_targets(y, len(t))[0].argmax(axis=1)
        return odd_one_out_accuracy(Z, t, y)

    def __repr__(self, N_CHAR_MAX=700):
        # Array parameters print as a one-line summary, not their values.
        shown = copy.copy(self)
        for name in ("features", "local_features"):
            value = getattr(self, name)
            if hasattr(value, "shape") and hasattr(value, "dtype"):
                setattr(shown, name, _Summary(value))
        return BaseEstimator.__repr__(shown, N_CHAR_MAX)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.three_d_array = True
        return tags



class _Summary:
    """Stands in for an array in a repr: ``<ndarray (1854, 384) float32>``."""

    def __init__(self, array):
        dtype = str(array.dtype).removeprefix("torch.")
        self.text = f"<{type(array).__name__} {tuple(array.shape)} {dtype}>"

    def __repr__(self):
        return self.text


def _used_objects(train, val, n_objects):
    """Triplet parts re-indexed into the objects they use, and those objects' indices."""
    parts = [train] if val is None else [train, val]
    counts = sum(np.bincount(p[0].ravel(), minlength=n_objects) for p in parts)
    used = np.flatnonzero(counts)
    if len(used) == n_objects:
        return train, val, used
    index = np.zeros(n_objects, dtype=np.int64)
    index[used] = np.arange(len(used))
    train, *val = [(index[t], y, w) for t, y, w in parts]
    return train, (val[0] if val else None), used


def _triplet_data(part, device):
    """A ``(triplets, targets, weights or None)`` numpy part as tensors on ``device``."""
    import torch

    from ._net import TripletData

    t, y, w = part
    return TripletData(
        torch.as_tensor(t, dtype=torch.long, device=device),
        torch.as_tensor(y, dtype=torch.float32, device=device),
        None if w is None else torch.as_tensor(w, dtype=torch.float32, device=device),
    )
