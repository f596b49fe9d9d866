"""The shared base of GrowingMLP and GrowingMLPRegressor: parameters, schedule, the skorch net."""

from __future__ import annotations

import math
import numbers
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils import metadata_routing
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._torch import get_device, seed_everything
from ..utils._validation import check_positive
from ._growers import ACTIVATIONS, GROWTH_METHODS, forward, resolve_activation
from ._net import EarlyStoppingAfterGrowth, Grower, GrowingModule, GrowingNet
from ._optim import GrowableAdam, GrowableSGD

_SHARED_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Final width of each hidden layer (the width without growth).
    initial_hidden_sizes : int, tuple of int or None, default=None
        Width of each hidden layer before growth; None means a quarter of the
        final width (at least 1). Ignored when ``growth=None``.
    grow_every : int, default=20
        Optimizer steps between growth events; event ``k`` happens right after
        step ``k * grow_every``.
    grow_by : int, tuple of int or None, default=None
        Neurons added per event and layer (the last event adds what is left);
        None grows each layer from initial to final width in 4 events.
    growth : {"gradmax", "random", "random_inverse", "zeros"} or None, default="gradmax"
        How new neurons are initialised (see Notes). None trains a fixed network
        of ``hidden_layer_sizes``.
    growth_batch_size : int or None, default=None
        Examples on which the GradMax shortcut gradient ``M`` and the growth
        diagnostics (``loss_before``, ``loss_after``, ``grad_norm``,
        ``max_output_change``) are computed. None uses the mini-batch of the step
        at which growth happens, as in the paper; an int uses that many training
        examples drawn at random without replacement from the data passed to
        :meth:`fit` (or to this :meth:`partial_fit` call), all of them when it is at
        least their number. A larger sample gives ``M`` less minibatch noise; it is
        processed in one pass (memory grows with it).
    growth_scale : float, default=0.5
        Norm of each new non-zero weight vector, as a multiple of the mean norm of
        the existing ones: outgoing columns for ``gradmax``/``random``, incoming
        rows for ``random_inverse``.
    activation : {"relu", "tanh", "identity", "torch_relu"} or callable, default="relu"
        Hidden activation. ``"relu"`` has derivative 1 at 0, which GradMax needs;
        ``"torch_relu"`` (derivative 0 at 0) makes ``gradmax`` and ``random``
        degenerate to ``zeros`` and warns. A callable must map tensors to tensors.
    use_bias : bool, default=True
        Whether layers have biases.
    optimizer : {"sgd", "adam"}, default="adam"
        Optimizer; see Notes for the state of new parameters.
    lr : float, default=0.01
        Learning rate.
    momentum : float, default=0.0
        Momentum for ``optimizer="sgd"``.
    weight_decay : float, default=0.0
        L2 penalty ``weight_decay / 2 * sum ||W||^2`` on the weights (not biases),
        added to their gradients as in ``torch.optim`` (coupled, not AdamW);
        growth decisions use the loss without it.
    batch_size : int or None, default=None
        Mini-batch size; None trains full-batch.
    max_epochs : int, default=200
        Passes over the data in :meth:`fit` (at most, with ``early_stopping``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data in :meth:`fit` (stratified
        for the classifier) and stop when the validation loss has not improved by
        more than 0.01 % for ``n_iter_no_change`` epochs, keeping the weights of
        the best epoch. Only epochs that end with the network fully grown count,
        so training never stops (or rolls back) before growth is over.
        :meth:`partial_fit` never stops early.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the weights and of training. Growth leaves the outputs
        unchanged up to rounding; in float32 that rounding reaches about 1e-6 for
        outputs of magnitude 10, in float64 about 1e-14.
    device : str or torch.device, default="cpu"
        Where to train ("cpu", "cuda", "cuda:1", ...).
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling and random growth.
    verbose : int, default=0
        Print the loss every epoch and each growth event when positive.
"""

_SHARED_ATTRS = """
    Attributes
    ----------
    net_ : GrowingNet (a skorch.NeuralNet)
        The trained net: ``net_.module_`` holds the weights and biases as torch
        parameters, ``net_.optimizer_`` the optimizer with its state,
        ``net_.history`` skorch's per-epoch and per-batch record. Training
        continues from it in :meth:`partial_fit`.
    coefs_ : list of ndarray
        Weight matrices, ``coefs_[i]`` of shape ``(fan_in, fan_out)`` (scikit-learn's
        layout); copies read from ``net_.module_``.
    intercepts_ : list of ndarray or None
        Bias vectors (None entries when ``use_bias=False``); copies.
    hidden_sizes_ : tuple of int
        Current hidden widths.
    growth_history_ : list of dict
        One dict per growth event and layer: ``step``, ``layer``, ``n_new``,
        ``grad_norm`` (norm of the data-loss gradient of the new incoming weights
        right after growth), ``loss_before``, ``loss_after`` (equal up to float
        rounding: growth preserves the function), ``max_output_change`` (largest
        absolute change of the outputs on the growth batch) and ``seconds`` (time
        spent growing, diagnostics included).
    loss_curve_ : list of float
        Data loss of the batch at every optimizer step (before the step).
    n_steps_ : int
        Optimizer steps taken.
    n_iter_ : int
        Epochs run.
    best_epoch_ : int or None
        With ``early_stopping``: the epoch (1-based) whose weights were kept; the
        per-epoch validation loss is ``net_.history[:, "valid_loss"]``. None
        without early stopping.
    n_features_in_ : int
        Number of input features.
"""

_SHARED_NOTES = """
    Notes
    -----
    Follows Evci et al., "GradMax: Growing Neural Networks using Gradient
    Information", ICLR 2022. Growing hidden layer ``l`` (between weight matrices
    ``W_l`` and ``W_{l+1}``) by ``m`` neurons keeps the function: their incoming
    weights and bias are 0, so their pre-activation is 0 and ``f(0) = 0``. With
    ``growth="gradmax"`` the outgoing weights are the top-``m`` left singular
    vectors of ``M = sum_batch delta_{l+1} h_{l-1}^T``, the gradient of a zero
    shortcut from ``h_{l-1}`` to the pre-activation of layer ``l + 1``; this
    maximises the gradient norm of the new incoming weights, which is
    ``f'(0) ||W_new^T M||``. Each new column is normalised to ``growth_scale``
    times the mean norm of the existing outgoing columns (singular values are
    discarded). ``M`` comes from the loss without the L2 penalty, on the batch
    of the step at which growth happens (as in the paper) or, with
    ``growth_batch_size``, on a larger random sample of the training data.
    Baselines: ``random`` (incoming 0, outgoing random and scaled the same way),
    ``random_inverse`` (incoming random, scaled to the existing incoming rows;
    outgoing 0) and ``zeros``. When a layer
    grows by more neurons than layer ``l + 1`` has units, the extra outgoing
    directions are random (no orthonormal direction is left). GradMax then has
    no edge in gradient norm: ``m >= d_{l+1}`` orthonormal columns span the
    whole output space, so ``||W_new^T M||`` no longer depends on ``M`` and
    equals, in expectation, that of random columns of the same norm (e.g. a
    one-hidden-layer classifier with 10 classes growing by 12 units).

    Data order: mini-batches are drawn from a generator of their own, seeded
    from ``random_state``, so every ``growth`` method (and ``growth=None``)
    sees the same sequence of mini-batches; growth draws (random directions,
    the ``growth_batch_size`` sample) come from the model's generator.

    Training: the loop is :mod:`skorch`'s. ``net_`` is a ``NeuralNet`` whose
    module holds the weights and biases as parameters; growth is a skorch
    callback that runs after every optimizer step. A grown parameter keeps its
    identity (its data is replaced in place), so the optimizer, a
    ``torch.optim.Optimizer`` with a ``grow`` method, keeps pointing at it and
    only extends its state.

    Optimizer state: every new parameter entry starts with fresh state. For
    SGD the momentum buffer is padded with zeros (identical to fresh state).
    For Adam the moments are padded with zeros and the step counter is kept per
    entry, so a new weight's first update is exactly a first Adam step while
    old weights keep their moments and bias correction. (The reference pads the
    moments but shares one step counter, which makes the first update of new
    weights up to about 3x a fresh Adam step.)

    Deviations: weights are Glorot-uniform initialised (float32 unless ``dtype`` says otherwise),
    and the growth schedule is counted in optimizer steps.
"""


def _order_generator(gen):
    """A generator for the data order only, seeded from ``gen``'s seed.

    Shuffling draws from it and nothing else, so every growth method (and the
    fixed network) sees the same mini-batch sequence for the same
    ``random_state``: random growth's draws do not shift the data order.
    """
    return torch.Generator().manual_seed((gen.initial_seed() + 1) % 2**63)


def _as_sizes(value, name, n_layers=None):
    """Widths as a tuple of positive ints (one int means the same width for every layer)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,) * (n_layers or 1)
    sizes = tuple(value)
    if not sizes:
        raise ValueError(f"{name} must name at least one hidden layer")
    for s in sizes:
        check_positive(s, name, integer=True)
    if n_layers is not None and len(sizes) != n_layers:
        raise ValueError(
            f"{name} has {len(sizes)} entries but hidden_layer_sizes has {n_layers} layers"
        )
    return tuple(int(s) for s in sizes)


_POSITIVE_INT = Interval(Integral, 1, None, closed="left")


class _BaseGrowingMLP(BaseEstimator):
    # ``classes`` and score's ``sample_weight`` are not per-sample metadata to route:
    # keeps sklearn's generated set_partial_fit_request / set_score_request off.
    __metadata_request__partial_fit = {"classes": metadata_routing.UNUSED}
    __metadata_request__score = {"sample_weight": metadata_routing.UNUSED}

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [_POSITIVE_INT, "array-like"],
        "initial_hidden_sizes": [_POSITIVE_INT, "array-like", None],
        "grow_every": [_POSITIVE_INT],
        "grow_by": [_POSITIVE_INT, "array-like", None],
        "growth": [StrOptions(set(GROWTH_METHODS)), None],
        "growth_batch_size": [_POSITIVE_INT, None],
        "growth_scale": [Interval(Real, 0, None, closed="neither")],
        "activation": [StrOptions(set(ACTIVATIONS)), callable],
        "use_bias": ["boolean"],
        "optimizer": [StrOptions({"sgd", "adam"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [_POSITIVE_INT, None],
        "max_epochs": [_POSITIVE_INT],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [_POSITIVE_INT],
        "dtype": [StrOptions({"float32", "float64"})],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # The loss, a torch module class: set by each estimator.
    _criterion = None

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        initial_hidden_sizes=None,
        grow_every=20,
        grow_by=None,
        growth="gradmax",
        growth_batch_size=None,
        growth_scale=0.5,
        activation="relu",
        use_bias=True,
        optimizer="adam",
        lr=0.01,
        momentum=0.0,
        weight_decay=0.0,
        batch_size=None,
        max_epochs=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        dtype="float32",
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.initial_hidden_sizes = initial_hidden_sizes
        self.grow_every = grow_every
        self.grow_by = grow_by
        self.growth = growth
        self.growth_batch_size = growth_batch_size
        self.growth_scale = growth_scale
        self.activation = activation
        self.use_bias = use_bias
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------- schedule
    def _schedule(self):
        """Final widths, initial widths and neurons per event and layer.

        Checks what the per-parameter constraints cannot: the entries of the
        width tuples, their number, and that no layer shrinks.
        """
        final = _as_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        if self.growth is None:
            return final, final, (0,) * len(final)
        if self.initial_hidden_sizes is None:
            initial = tuple(max(1, s // 4) for s in final)
        else:
            initial = _as_sizes(self.initial_hidden_sizes, "initial_hidden_sizes", len(final))
        for i, (a, b) in enumerate(zip(initial, final, strict=True)):
            if b < a:
                raise ValueError(
                    f"hidden_layer_sizes[{i}]={b} (final width) is smaller than "
                    f"initial_hidden_sizes[{i}]={a}; networks only grow"
                )
        if self.grow_by is None:
            grow_by = tuple(
                max(1, math.ceil((b - a) / 4)) for a, b in zip(initial, final, strict=True)
            )
        else:
            grow_by = _as_sizes(self.grow_by, "grow_by", len(final))
        return final, initial, grow_by

    @staticmethod
    def _n_growth_events(final, initial, grow_by):
        return max(
            (math.ceil((b - a) / g) for a, b, g in zip(initial, final, grow_by, strict=True)
             if b > a),
            default=0,
        )

    # ---------------------------------------------------------------- the net
    def _to_tensors(self, X, y, device):
        Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=self.dtype)).to(device)
        yt = self._encode_y(y)
        if yt.dtype.kind == "f":
            yt = yt.astype(self.dtype)
        return Xt, torch.as_tensor(yt).to(device)

    def _optimizer_params(self):
        """The optimizer class and its skorch parameters (coupled L2 on the weights only)."""
        params = {"lr": float(self.lr), "optimizer__weight_decay": float(self.weight_decay),
                  "optimizer__param_groups": [("biases.*", {"weight_decay": 0.0})]}
        if self.optimizer == "sgd":
            params["optimizer__momentum"] = float(self.momentum)
            return GrowableSGD, params
        return GrowableAdam, params

    def _build_net(self, n_features, n_outputs, schedule, device, gen, valid=None):
        """The skorch net; ``valid`` (tensors) turns early stopping on."""
        from skorch.dataset import Dataset
        from skorch.helper import predefined_split

        final, initial, grow_by = schedule
        activation = resolve_activation(self.activation, self.growth)
        grower = Grower(self.growth, final, grow_by, self.grow_every,
                        growth_batch_size=self.growth_batch_size, scale=self.growth_scale,
                        generator=gen, verbose=self.verbose, name=type(self).__name__)
        callbacks = [("grower", grower)]
        if valid is not None:
            callbacks.append(("early_stopping", EarlyStoppingAfterGrowth(
                monitor="valid_loss", patience=self.n_iter_no_change, load_best=True,
                sink=_echo if self.verbose else _silent)))
        optimizer, optimizer_params = self._optimizer_params()
        return GrowingNet(
            GrowingModule,
            module__sizes=[n_features, *initial, n_outputs],
            module__bias=bool(self.use_bias),
            module__activation=activation,
            module__dtype=getattr(torch, self.dtype),
            module__generator=gen,
            criterion=self._criterion,
            optimizer=optimizer,
            **optimizer_params,
            batch_size=-1 if self.batch_size is None else int(self.batch_size),
            max_epochs=int(self.max_epochs),
            train_split=None if valid is None else predefined_split(Dataset(*valid)),
            callbacks=callbacks,
            order_generator=_order_generator(gen),
            device=str(device),
            verbose=0,
        )

    def _grower(self):
        return dict(self.net_.callbacks_)["grower"]

    def _fit(self, X, y, n_outputs):
        schedule = self._schedule()
        device = get_device(self.device)
        gen = seed_everything(self.random_state)
        valid = None
        if self.early_stopping:
            # A seed of its own: the split shifts neither the weights nor the data order.
            X, X_val, y, y_val = train_test_split(
                X, y, test_size=self.validation_fraction,
                stratify=y if is_classifier(self) else None,
                random_state=(gen.initial_seed() + 2) % 2**32)
            valid = self._to_tensors(X_val, y_val, device)
        n = X.shape[0]
        steps_per_epoch = 1 if self.batch_size is None else math.ceil(n / self.batch_size)
        total_steps = steps_per_epoch * self.max_epochs
        n_events = self._n_growth_events(*schedule)
        last_growth = n_events * self.grow_every
        if last_growth >= total_steps:
            raise ValueError(
                f"the growth schedule ends at step {last_growth} ({n_events} "
                f"events every grow_every={self.grow_every} steps) but max_epochs="
                f"{self.max_epochs} gives only {total_steps} steps ({steps_per_epoch} per epoch); "
                "raise max_epochs or lower grow_every"
            )
        self.net_ = self._build_net(X.shape[1], n_outputs, schedule, device, gen, valid)
        self.net_.fit(*self._to_tensors(X, y, device))
        self.best_epoch_ = None
        if valid is not None:
            self.best_epoch_ = int(dict(self.net_.callbacks_)["early_stopping"].best_epoch_)
            self.net_.train_split = None  # partial_fit continues without validation
        return self

    def _partial_fit(self, X, y, n_outputs):
        """One epoch on ``(X, y)``, continuing the live net (built on the first call).

        The current ``lr``, ``momentum``, ``weight_decay``, growth settings and
        ``verbose`` apply to this epoch; the network's structure, ``optimizer``,
        ``dtype`` and ``activation`` are those of the first call.
        """
        device = get_device(self.device)
        schedule = self._schedule()
        if not hasattr(self, "net_"):
            gen = seed_everything(self.random_state)
            self.net_ = self._build_net(X.shape[1], n_outputs, schedule, device, gen).initialize()
            self.best_epoch_ = None
        else:
            self._update_net(schedule, device)
        self.net_.partial_fit(*self._to_tensors(X, y, device), epochs=1)
        return self

    def _update_net(self, schedule, device):
        net, grower = self.net_, self._grower()
        if torch.device(net.device) != device:
            net.move_to(device)
        final, _, grow_by = schedule
        grower.set_params(growth=self.growth, final_sizes=final, grow_by=grow_by,
                          grow_every=self.grow_every, growth_batch_size=self.growth_batch_size,
                          scale=self.growth_scale, verbose=self.verbose)
        _, optimizer_params = self._optimizer_params()
        biases = {id(b) for b in net.module_.biases}
        for group in net.optimizer_.param_groups:
            group["lr"] = optimizer_params["lr"]
            if "momentum" in group:
                group["momentum"] = optimizer_params["optimizer__momentum"]
            if not all(id(p) in biases for p in group["params"]):  # biases are never decayed
                group["weight_decay"] = optimizer_params["optimizer__weight_decay"]

    # ------------------------------------------------------- fitted state
    @property
    def coefs_(self):
        """Weight matrices, ``coefs_[i]`` of shape ``(fan_in, fan_out)`` (read-only copies)."""
        return [w.detach().cpu().numpy().T.copy() for w in self.net_.module_.weights]

    @property
    def intercepts_(self):
        """Bias vectors (None entries when ``use_bias=False``), read-only copies."""
        module = self.net_.module_
        if not len(module.biases):
            return [None] * len(module.weights)
        return [b.detach().cpu().numpy().copy() for b in module.biases]

    @property
    def hidden_sizes_(self):
        """Current hidden widths."""
        return tuple(int(w.shape[0]) for w in list(self.net_.module_.weights)[:-1])

    @property
    def growth_history_(self):
        """One dict per growth event and layer."""
        return self._grower().history_

    @property
    def loss_curve_(self):
        """Data loss of the batch at every optimizer step (before the step)."""
        return [b["train_loss"] for epoch in self.net_.history for b in epoch["batches"]
                if "train_loss" in b]

    @property
    def n_steps_(self):
        """Optimizer steps taken."""
        return self._grower().n_steps_

    @property
    def n_iter_(self):
        """Epochs run."""
        return len(self.net_.history)

    def _forward_numpy(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        # Inference in float64 whatever the training dtype: results then do not
        # depend on how rows are batched (float32 matmuls round differently).
        dev = get_device(self.device)
        module = self.net_.module_
        weights, biases = (
            [None if t is None else t.detach().to(device=dev, dtype=torch.float64) for t in ts]
            for ts in module.tensors()
        )
        with torch.no_grad():
            Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float64)).to(dev)
            return forward(weights, biases, module.activation, Xt).cpu().numpy()


def _silent(*args, **kwargs):
    pass


def _echo(text):
    # Not ``print`` itself: skorch's callbacks print only to other sinks when the
    # net's own verbose is 0, which it is here (the estimators print their lines).
    print(text, flush=True)
