"""HumanAlignFinetuner: fine-tune a torch network on (teacher-labelled) odd-one-out triplets."""

from __future__ import annotations

import numbers
import warnings

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
    fit_temperature,
    odd_one_out_accuracy,
    triplet_groups,
    validate_triplets,
)
from ..triplets.validation import check_targets
from ..utils._backend import softmax
from ..utils._torch import draw_seed, get_device, seeded_torch
from ._common import pool_repeats, silent, split_held_out

__all__ = ["HumanAlignFinetuner"]

# Training triplets used to fit the temperature after training (a random subset above this).
_TEMPERATURE_ROWS = 200_000


class HumanAlignFinetuner(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Fine-tune a torch network so its triplet choices match a teacher's or people's (AligNet).

    The samples are **triplets**, as for :class:`HumanAlignTransformer`: ``X``
    holds object indices into ``inputs`` (the raw inputs of the objects: a
    tensor, a list of strings, a torch ``Dataset``), and ``y`` the odd-one-out
    positions or choice distributions (for example a teacher's
    ``predict_proba``, see :func:`teacher_triplets`). So ``GridSearchCV`` over
    ``lr`` or ``reg`` with :class:`~reprlign.model_selection.TripletObjectKFold`
    works unchanged. After fitting, :meth:`transform` maps objects (indices or
    raw inputs) to the fine-tuned embeddings.

    Parameters
    ----------
    module : torch.nn.Module instance or class
        The network. It maps a batch (what ``collate_fn`` returns, or rows of
        a tensor ``inputs``) to an output from which ``output`` selects the
        embeddings ``(batch, d)``. An instance is deep-copied at each fit; a
        class is built with the ``module__<name>`` arguments of this estimator.
    inputs : torch.Tensor, array, sequence or torch Dataset
        The objects' raw inputs; triplet index ``i`` refers to ``inputs[i]``.
    collate_fn : callable, default=None
        Turns a list of inputs into the module's batch (for text, a tokenizer:
        for a SentenceTransformer ``model.preprocess``). Sequences are
        collated once, all objects together (each object then has the same
        padded shape, which the frozen-prefix cache needs). None: rows of a
        tensor, or torch's ``default_collate`` for other inputs.
    output : None, str, int or callable, default=None
        Which part of the module's output is the embedding: the output itself
        (None), ``out[output]`` for a key or index (``"sentence_embedding"``
        for a SentenceTransformer), or ``output(out)``.
    train_params : "all", int or list of str, default="all"
        What to train: every parameter; the top ``k`` blocks of the block list
        (see ``blocks``); or the parameters whose names match any of the
        ``fnmatch`` patterns. Everything else is frozen, and a submodule
        whose parameters are all frozen runs in evaluation mode during
        training too (batch norm on its stored statistics, no dropout). The
        head, when present, always trains.
    blocks : str, default=None
        Name of the ``ModuleList`` / ``Sequential`` of blocks that an integer
        ``train_params`` counts from the top of; None takes the longest one
        (for a BERT-style model, its encoder layers).
    head : bool, default=True
        Add a linear ``d x d`` head on the embedding, initialised at the
        identity (AligNet adds one).
    cache_frozen : bool, default=True
        With an integer ``train_params``, compute the frozen blocks' output
        once per object and skip them in training (the result is the same: the
        frozen blocks run in evaluation mode either way).
    loss : {"kl", "ce", "soft_rsa", "knn"}, default="kl"
        ``"kl"``: :func:`reprlign.losses.triplet_kl` to the targets (soft or
        pooled hard labels); ``"ce"``: :func:`reprlign.losses.triplet_cross_entropy`
        against the most probable odd one out; ``"soft_rsa"``:
        :func:`reprlign.losses.soft_rsa_loss` between each step's objects'
        RDM and that of ``reference``; ``"knn"``:
        :func:`reprlign.losses.knn_overlap_loss` to ``reference``'s
        neighbourhoods among each step's objects. With the last two the
        triplets only choose which objects train together.
    reference : array-like of shape (n_objects, d_ref) or (n_objects, n_objects), default=None
        The target of ``"soft_rsa"`` and ``"knn"``: a representation, or for
        ``reference_kind="rdm"`` a dissimilarity matrix.
    reference_kind : {"features", "rdm"}, default="features"
        ``"features"``: ``reference`` holds one row of features per object
        (the ``"soft_rsa"`` target is their correlation-distance RDM);
        ``"rdm"``: ``reference`` is the target RDM itself, square and
        symmetric, for example people's mean dissimilarity judgments (with
        ``loss="soft_rsa"`` only).
    knn_k : int, default=10
        Neighbours per object for ``loss="knn"``.
    similarity : {"cosine", "dot"}, default="cosine"
        Pair similarity of the embeddings (after the head).
    temperature : "fit" or float, default="fit"
        Softmax temperature of the triplet choice distribution. A float is
        used in training and prediction. ``"fit"`` learns it during training
        (in log space, starting at 1/15 for cosine similarities, 1 for dot
        products) and refits ``temperature_`` after training so that the
        model's choice distributions on the training triplets match the
        targets (AligNet's fit to human uncertainty).
    reg : float, default=1e-3
        Strength of the pull ``reg * ||theta - theta_0||^2`` of the trained
        parameters toward their pretrained values (AligNet's decay to the
        initialisation; the head is pulled toward the identity). 0 disables it.
    optimizer : {"adamw", "adam", "sgd"}, default="adamw"
        Optimiser (no weight decay toward zero: ``reg`` is the pull).
    lr : float, default=5e-4
        Learning rate (peak of the schedule).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Cosine decay to 0 over ``max_epochs``, or constant.
    max_epochs : int, default=30
        Most epochs. An epoch is one pass over the objects in object batches
        (``n_objects / batch_objects`` steps) or over the triplets otherwise.
    batch_objects : int, default=256
        Objects per step in object batches; also the chunk size of inference.
    batch_size : int, default=4096
        Most triplets per step.
    batching : {"auto", "objects", "triplets"}, default="auto"
        ``"objects"``: each step draws ``batch_objects`` objects (a fresh random
        partition of the objects every epoch) and trains the triplets among
        them, the natural scheme when a teacher labels many triplets;
        ``"triplets"``: each step takes ``batch_size`` random triplets and
        embeds their distinct objects once. ``"auto"`` picks the scheme that
        trains more triplets per embedded object.
    early_stopping : bool, default=True
        Hold out part of the training data (see ``validation_split``), stop
        when its loss has not improved for ``n_iter_no_change`` epochs and
        restore the best weights.
    validation_fraction : float, default=0.1
        Share of the training triplets, or of the objects, held out for early
        stopping.
    validation_split : {"triplets", "objects"}, default="triplets"
        ``"triplets"``: hold out random triplets (repeats of a triplet kept
        together). ``"objects"``: hold out ``validation_fraction`` of the
        objects; training uses the triplets among the other objects and early
        stopping those among the held-out ones, so it measures generalisation
        to new objects (the triplets that mix both sides are left out; their
        number is ``n_split_dropped_``).
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    clip_grad : float or None, default=1.0
        Gradient norm clipping; None disables it.
    device : str, default="cpu"
        Torch device; ``"cuda"`` trains on the GPU.
    mixed_precision : "auto" or bool, default="auto"
        Run the network under bfloat16 autocast; ``"auto"`` does so on CUDA only.
    random_state : int, RandomState or None, default=None
        Seeds the head, the validation split, the steps and the noise.
    verbose : int, default=0
        Print skorch's epoch table (loss, validation loss, time) when > 0.
    **module_params
        ``module__<name>=value`` arguments for a ``module`` class.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net (``net_.module_.body`` is the fine-tuned network,
        ``net_.module_.head`` the head; ``net_.history`` the epoch table).
    temperature_ : float
        Softmax temperature used by :meth:`predict_proba`.
    n_objects_ : int
        Number of objects in ``inputs``.
    embedding_dim_ : int
        Width ``d`` of the embeddings.
    trained_params_ : list of str
        Names of the trained parameters of the module.
    prefix_cached_ : bool
        Whether the frozen blocks' output was cached.
    batching_ : str
        The batching scheme used.
    n_triplets_ : int
        Training rows after repeats were pooled.
    n_epochs_, best_epoch_ : int
        Epochs run, and the epoch whose weights were kept.
    n_split_dropped_ : int
        Training rows left out by ``validation_split="objects"`` because they
        mix training and held-out objects (0 otherwise).

    See Also
    --------
    HumanAlignTransformer : a linear transform of frozen features.
    teacher_triplets : sample and label triplets with a teacher.

    Notes
    -----
    Muttenthaler et al. (2024), "Aligning machine and human visual
    representations across abstraction levels" (AligNet): a teacher aligned
    to human triplets labels many triplets with its choice distributions, and
    the student network is trained so that its ``softmax(s / tau)`` matches
    them, ``KL(teacher || student)``, while a penalty keeps its weights near
    their pretrained values. Choices of ours: the penalty is the plain squared
    distance to the pretrained weights (AligNet's released configuration uses
    weight decay toward the initialisation and Jensen-Shannon with
    ``tau = 100`` on unnormalised embeddings); cosine similarities with a
    learned temperature; early stopping on held-out teacher triplets.

    Cost: each step embeds its objects once and scores all its triplets from
    one small Gram matrix, so the cost of a step is that of the network on
    ``batch_objects`` objects, whatever the number of triplets; with the
    frozen prefix cached, only the top blocks run.

    ``fit_transform`` raises ``TypeError``: ``fit`` takes triplets and
    ``transform`` takes objects.

    Examples
    --------
    >>> import torch
    >>> from reprlign import HumanAlignFinetuner
    >>> from reprlign.datasets import make_hierarchical_concepts
    >>> from reprlign.triplets import sample_triplets, simulate_choices
    >>> data = make_hierarchical_concepts(60, n_features=8, n_components=4, random_state=0)
    >>> X = simulate_choices(data.human, sample_triplets(60, 600, random_state=0),
    ...                      random_state=0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))
    >>> est = HumanAlignFinetuner(net, inputs=torch.tensor(data.model, dtype=torch.float32),
    ...                           lr=1e-2, max_epochs=3, random_state=0).fit(X)
    >>> est.predict_proba(X[:2]).shape, est.transform([0, 1, 2]).shape
    ((2, 3), (3, 8))
    """

    _parameter_constraints: dict = {
        "module": [callable, None],
        "inputs": "no_validation",
        "collate_fn": [callable, None],
        "output": [str, numbers.Integral, callable, None],
        "train_params": [StrOptions({"all"}), Interval(numbers.Integral, 0, None, closed="left"),
                         list, tuple],
        "blocks": [str, None],
        "head": ["boolean"],
        "cache_frozen": ["boolean"],
        "loss": [StrOptions({"kl", "ce", "soft_rsa", "knn"})],
        "reference": ["array-like", None],
        "reference_kind": [StrOptions({"features", "rdm"})],
        "knn_k": [Interval(numbers.Integral, 1, None, closed="left")],
        "similarity": [StrOptions({"cosine", "dot"})],
        "temperature": [StrOptions({"fit"}), Interval(numbers.Real, 0, None, closed="neither")],
        "reg": [Interval(numbers.Real, 0, None, closed="left")],
        "optimizer": [StrOptions({"adamw", "adam", "sgd"})],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_objects": [Interval(numbers.Integral, 3, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "batching": [StrOptions({"auto", "objects", "triplets"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "validation_split": [StrOptions({"triplets", "objects"})],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "clip_grad": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "device": "no_validation",  # a string or torch.device, checked by get_device
        "mixed_precision": [StrOptions({"auto"}), "boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        module=None,
        *,
        inputs=None,
        collate_fn=None,
        output=None,
        train_params="all",
        blocks=None,
        head=True,
        cache_frozen=True,
        loss="kl",
        reference=None,
        reference_kind="features",
        knn_k=10,
        similarity="cosine",
        temperature="fit",
        reg=1e-3,
        optimizer="adamw",
        lr=5e-4,
        lr_schedule="cosine",
        max_epochs=30,
        batch_objects=256,
        batch_size=4096,
        batching="auto",
        early_stopping=True,
        validation_fraction=0.1,
        validation_split="triplets",
        n_iter_no_change=5,
        clip_grad=1.0,
        device="cpu",
        mixed_precision="auto",
        random_state=None,
        verbose=0,
        **module_params,
    ):
        self.module = module
        self.inputs = inputs
        self.collate_fn = collate_fn
        self.output = output
        self.train_params = train_params
        self.blocks = blocks
        self.head = head
        self.cache_frozen = cache_frozen
        self.loss = loss
        self.reference = reference
        self.reference_kind = reference_kind
        self.knn_k = knn_k
        self.similarity = similarity
        self.temperature = temperature
        self.reg = reg
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.max_epochs = max_epochs
        self.batch_objects = batch_objects
        self.batch_size = batch_size
        self.batching = batching
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.validation_split = validation_split
        self.n_iter_no_change = n_iter_no_change
        self.clip_grad = clip_grad
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.verbose = verbose
        for key, value in module_params.items():
            setattr(self, key, value)

    # skorch-style module__ parameters are part of get_params / set_params / clone.
    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update({k: v for k, v in vars(self).items() if k.startswith("module__")})
        return params

    def set_params(self, **params):
        for key in [k for k in params if k.startswith("module__")]:
            setattr(self, key, params.pop(key))
        return super().set_params(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.non_deterministic = self.loss == "knn"
        return tags

    # ------------------------------------------------------------------ checks
    def _check_fit_args(self):
        unknown = [k for k in vars(self) if k not in self.get_params(deep=False)
                   and not k.startswith("_") and not k.endswith("_")]
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}: only module__<name> "
                            "arguments pass through to the module")
        if self.module is None:
            raise ValueError("module is None: pass the torch network to fine-tune")
        if self.inputs is None:
            raise ValueError("inputs is None: pass the objects' raw inputs that the triplet "
                             "indices point into (a tensor, a list of strings, a Dataset)")
        if self.loss in ("soft_rsa", "knn") and self.reference is None:
            raise ValueError(f"loss={self.loss!r} needs reference, the (n_objects, d) "
                             "representation (or, with reference_kind='rdm', the RDM) whose "
                             "structure is the target")
        if self.reference_kind == "rdm" and self.loss == "knn":
            raise ValueError("reference_kind='rdm' works with loss='soft_rsa' only; for "
                             "loss='knn' pass features as reference")
        return get_device(self.device)

    def _reference(self, n):
        """``reference`` as float32 (n, d_ref) features or a checked (n, n) RDM; or None."""
        if self.reference is None:
            return None
        ref = np.asarray(self.reference, dtype=np.float32)
        if self.reference_kind == "features":
            if ref.ndim != 2 or ref.shape[0] != n:
                raise ValueError(f"reference must be ({n}, d_ref), one row per object "
                                 f"of inputs, got shape {ref.shape}")
            return ref
        if ref.shape != (n, n):
            raise ValueError(f"reference with reference_kind='rdm' must be the ({n}, {n}) RDM "
                             f"of the objects of inputs, got shape {ref.shape}")
        if not np.isfinite(ref).all():
            raise ValueError("reference contains NaN or infinite values")
        if not np.allclose(ref, ref.T, atol=1e-6 * max(1.0, float(np.abs(ref).max()))):
            raise ValueError("reference with reference_kind='rdm' must be symmetric")
        return ref

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fine-tune the network on triplets.

        Parameters
        ----------
        X : array-like of shape (m, 3)
            Object indices into ``inputs``.
        y : None, array-like of shape (m,) or (m, 3)
            None: the last column is the odd one out; (m,) ints: its position;
            (m, 3) floats: choice distributions (column ``q`` the probability
            that position ``q`` is the odd one out), e.g. a teacher's.

        Returns
        -------
        self : HumanAlignFinetuner
        """
        from ._student import ObjectInputs

        device = self._check_fit_args()
        inputs = ObjectInputs(self.inputs, self.collate_fn)
        t = self._check_X(X, inputs.n)
        targets, hard = check_targets(y, len(t))
        weights = np.ones(len(t))
        if hard:  # pool repeats: the same mean loss over responses, fewer rows
            pooled = pool_repeats(t, targets)
            if len(pooled[0]) < len(t):
                t, targets, weights = pooled
        rng = check_random_state(self.random_state)
        reference = self._reference(inputs.n)
        train, valid = self._split(t, targets, weights, rng)
        torch_seed, step_seed = draw_seed(rng), draw_seed(rng)
        with seeded_torch(torch_seed, device):
            net = self._train(inputs, train, valid, reference, device, step_seed)
        self.net_ = net
        self.inputs_ = inputs
        self.n_objects_ = inputs.n
        self.n_triplets_ = len(t)
        self.n_epochs_ = len(net.history)
        stopper = dict(net.callbacks_).get("early_stopping")
        self.best_epoch_ = int(stopper.best_epoch_) if stopper is not None else self.n_epochs_
        self._n_features_out = self.embedding_dim_
        if self.temperature == "fit":
            self.temperature_ = self._fit_temperature(train, rng)
        else:
            self.temperature_ = float(self.temperature)
        return self

    def _check_X(self, X, n_objects):
        t = validate_triplets(X, name="X")
        if t.max() >= n_objects:
            row = int(np.argmax((t >= n_objects).any(axis=1)))
            raise ValueError(f"X row {row} refers to object {int(t[row].max())} but inputs has "
                             f"only {n_objects} objects")
        return t

    def _split(self, t, targets, weights, rng):
        """Training and early-stopping parts, repeats of a triplet kept together."""
        self.n_split_dropped_ = 0
        if not self.early_stopping:
            return (t, targets, weights), None
        if self.validation_split == "objects":
            return self._split_objects(t, targets, weights, rng)
        return split_held_out(t, targets, weights, triplet_groups(t), self.validation_fraction,
                              rng, required=True)

    def _split_objects(self, t, targets, weights, rng):
        """Triplets among held-out objects for early stopping, among the others for training."""
        objects = np.unique(t)
        n_val = int(round(self.validation_fraction * len(objects)))
        if n_val < 3 or len(objects) - n_val < 3:
            raise ValueError(f"validation_split='objects' needs at least 3 objects on both "
                             f"sides; with {len(objects)} objects and validation_fraction="
                             f"{self.validation_fraction} it holds out {n_val}")
        held = np.isin(t, rng.permutation(objects)[:n_val]).sum(axis=1)
        is_val, is_train = held == 3, held == 0
        if not is_val.any() or not is_train.any():
            side = "held-out" if not is_val.any() else "training"
            raise ValueError(f"validation_split='objects': no triplet lies wholly among the "
                             f"{side} objects; pass triplets among every object, or more")
        self.n_split_dropped_ = int((~is_val & ~is_train).sum())
        return ((t[is_train], targets[is_train], weights[is_train]),
                (t[is_val], targets[is_val], weights[is_val]))

    def _batching(self, train_t):
        if self.batching != "auto":
            return self.batching
        # Triplets trained per embedded object: m (B/n)^3 / B for object batches against
        # T / (objects a batch of T triplets touches) for triplet batches.
        n, m = len(np.unique(train_t)), len(train_t)
        b, size = min(self.batch_objects, n), min(self.batch_size, m)
        per_object = m * (b / n) ** 3 / b
        per_triplet_batch = size / min(n, 3 * size)
        return "objects" if per_object > per_triplet_batch else "triplets"

    def _train(self, inputs, train, valid, reference, device, step_seed):
        import torch
        from skorch.callbacks import EarlyStopping, GradientNormClipping, LRScheduler
        from skorch.dataset import Dataset
        from skorch.helper import predefined_split

        from ._finetune_net import FinetuneNet, Temperature
        from ._student import PrefixCache, build_student

        params = {k[len("module__"):]: v for k, v in vars(self).items()
                  if k.startswith("module__")}
        student, self.trained_params_, blocks, self.embedding_dim_ = build_student(
            self.module, params, inputs, train_params=self.train_params, blocks=self.blocks,
            output=self.output, head=self.head, normalize=self.similarity == "cosine",
            device=device)
        autocast = None
        if self.mixed_precision is True or (self.mixed_precision == "auto"
                                            and device.type == "cuda"):
            autocast = torch.bfloat16
        batching = self.batching_ = self._batching(train[0])
        n_train_objects = len(np.unique(train[0]))
        steps = (-(-n_train_objects // self.batch_objects) if batching == "objects"
                 else -(-len(train[0]) // self.batch_size))

        def with_weights(part):
            return Dataset(part[0], np.column_stack([part[1], part[2]]).astype(np.float32))

        callbacks = []
        if valid is not None:
            callbacks.append(("early_stopping", EarlyStopping(
                patience=self.n_iter_no_change, load_best=True,
                sink=print if self.verbose else silent)))
        if self.lr_schedule == "cosine":
            callbacks.append(("lr_scheduler", LRScheduler(
                torch.optim.lr_scheduler.CosineAnnealingLR, T_max=self.max_epochs * steps,
                step_every="batch")))
        if self.clip_grad is not None:
            callbacks.append(("clip", GradientNormClipping(self.clip_grad)))
        optimizer = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam,
                     "sgd": torch.optim.SGD}[self.optimizer]
        learn = self.temperature == "fit"
        start = (1 / 15 if self.similarity == "cosine" else 1.0) if learn else self.temperature
        net = FinetuneNet(
            student, objective=self.loss, inputs=inputs, batching=batching,
            batch_objects=self.batch_objects, triplet_batch_size=self.batch_size,
            reg=float(self.reg),
            reference=None if reference is None else torch.as_tensor(reference, device=device),
            reference_kind=self.reference_kind,
            knn_k=self.knn_k, autocast_dtype=autocast,
            step_rng=np.random.RandomState(step_seed),
            criterion=Temperature, criterion__value=start, criterion__learn=learn,
            optimizer=optimizer, lr=self.lr, max_epochs=self.max_epochs,
            **({"optimizer__weight_decay": 0.0} if self.optimizer == "adamw" else {}),
            train_split=None if valid is None else predefined_split(with_weights(valid)),
            callbacks=callbacks, device=str(device), verbose=self.verbose,
        )
        net.initialize()
        self.prefix_cached_ = False
        if blocks is not None and self.cache_frozen and blocks[2] < len(blocks[1]):
            cache = PrefixCache(blocks[1], len(blocks[1]) - blocks[2])
            objects = np.unique(np.concatenate([train[0].ravel()] + (
                [] if valid is None else [valid[0].ravel()])))
            if cache.build(net.module_, inputs, objects, self.batch_objects, device,
                           net.autocast):
                net.cache = cache
                self.prefix_cached_ = True
            else:
                warnings.warn("the frozen blocks' output could not be cached (it is not one "
                              "tensor with the same shape per object in every batch); they "
                              "run at every step", UserWarning, stacklevel=3)
        try:
            net.partial_fit(train[0], with_weights(train).y)
        finally:
            net.cache = None  # neither pickle the cache nor keep it alive
        return net

    def _fit_temperature(self, train, rng):
        t, targets, weights = train
        if len(t) > _TEMPERATURE_ROWS:
            rows = rng.choice(len(t), _TEMPERATURE_ROWS, replace=False)
            t, targets, weights = t[rows], targets[rows], weights[rows]
        return fit_temperature(self._similarities(t), targets, weights)

    # ------------------------------------------------------------------ outputs
    def _embed(self, objects):
        """Embeddings (k, d) float64 of object indices, without gradients."""
        import torch

        net = self.net_
        net.module_.eval()
        parts = []
        with torch.no_grad():
            for start in range(0, len(objects), self.batch_objects):
                chunk = objects[start:start + self.batch_objects]
                with net.autocast():
                    parts.append(net.module_(self.inputs_.get(chunk, net.device)).float())
        return torch.cat(parts).cpu().double().numpy()

    def _local(self, X):
        check_is_fitted(self, "net_")
        t = self._check_X(X, self.n_objects_)
        objects = np.unique(t)
        return self._embed(objects), np.searchsorted(objects, t)

    def _similarities(self, X):
        from ..triplets import triplet_similarities

        Z, local = self._local(X)
        return triplet_similarities(Z, local)

    def decision_function(self, X):
        """Triplet similarities (m, 3) in the odd-one-out layout."""
        return self._similarities(X)

    def predict_proba(self, X):
        """Choice distribution over the odd one out: ``softmax(s / temperature_)``.

        Returns
        -------
        ndarray of shape (m, 3)
            Column ``q`` is the probability that position ``q`` is the odd one
            out, the layout of ``y`` in :meth:`fit`.
        """
        return softmax(self._similarities(X) / self.temperature_, axis=1)

    def predict(self, X):
        """Position (0, 1, 2) of the predicted odd one out of each triplet."""
        return self._similarities(X).argmax(axis=1)

    def score(self, X, y=None):
        """Odd-one-out accuracy (ties count as wrong); ``y`` as in :meth:`fit`."""
        Z, local = self._local(X)
        if y is not None and np.ndim(y) == 2:
            y = check_targets(y, len(local))[0].argmax(axis=1)
        return odd_one_out_accuracy(Z, local, y)

    def transform(self, X):
        """Embeddings of objects: indices into ``inputs``, or new raw inputs.

        Parameters
        ----------
        X : 1-D integer array-like, or raw inputs
            A 1-D array of integers is read as object indices into ``inputs``;
            anything else (a list of strings, a tensor of inputs, a Dataset)
            as new inputs, collated with ``collate_fn``.

        Returns
        -------
        ndarray of shape (n, d)
            The fine-tuned embeddings (L2-normalised for ``similarity="cosine"``).
        """
        from ._student import ObjectInputs

        check_is_fitted(self, "net_")
        arr = X if not isinstance(X, list | tuple) else np.asarray(X, dtype=object)
        if isinstance(X, list | tuple | np.ndarray) and np.ndim(arr) == 1 and all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in arr):
            idx = np.asarray(X, dtype=np.int64)
            if len(idx) and (idx.min() < 0 or idx.max() >= self.n_objects_):
                raise ValueError(f"object indices must be in [0, {self.n_objects_}), got "
                                 f"[{idx.min()}, {idx.max()}]")
            return self._embed(idx)
        saved = self.inputs_
        try:
            self.inputs_ = ObjectInputs(X, self.collate_fn, name="X")
            self.inputs_.match_dtype(self.net_.module_)
            return self._embed(np.arange(self.inputs_.n))
        finally:
            self.inputs_ = saved

    def fit_transform(self, X, y=None, **fit_params):
        """Not available: ``fit`` takes triplets, ``transform`` takes objects.

        Raises
        ------
        TypeError
            Always (after the parameter checks every fit method runs); use
            ``fit(X, y).transform(objects)``.
        """
        self._validate_params()
        raise TypeError("HumanAlignFinetuner.fit_transform is not defined: fit takes triplets "
                        "(m, 3) and transform takes objects; use fit(X, y).transform(objects)")

