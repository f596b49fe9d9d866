"""The shared base of GrowingMLP and GrowingMLPRegressor: parameters, schedule, the skorch net."""

from __future__ import annotations

import math
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


def _order_generator(gen):
    """A generator for the data order only, seeded from ``gen``'s seed.

    Shuffling draws from it and nothing else, so every growth method (and the
    fixed network) sees the same mini-batch sequence for the same
    ``random_state``: random growth's draws do not shift the data order.
    """
    return torch.Generator().manual_seed((gen.initial_seed() + 1) % 2**63)


def _as_sizes(value, name, n_layers=None):
    """Widths as a tuple of positive ints (one int means the same width for every layer)."""
    if isinstance(value, Integral) and not isinstance(value, bool):
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
    # Read from the live net, documented in the class docstring's Attributes
    # (no docstrings here: numpydoc would show them in place of those entries).
    @property
    def coefs_(self):
        return [w.detach().cpu().numpy().T.copy() for w in self.net_.module_.weights]

    @property
    def intercepts_(self):
        module = self.net_.module_
        if not len(module.biases):
            return [None] * len(module.weights)
        return [b.detach().cpu().numpy().copy() for b in module.biases]

    @property
    def hidden_sizes_(self):
        return tuple(int(w.shape[0]) for w in list(self.net_.module_.weights)[:-1])

    @property
    def growth_history_(self):
        return self._grower().history_

    @property
    def loss_curve_(self):
        return [b["train_loss"] for epoch in self.net_.history for b in epoch["batches"]
                if "train_loss" in b]

    @property
    def n_steps_(self):
        return self._grower().n_steps_

    @property
    def n_iter_(self):
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
