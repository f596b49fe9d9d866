"""The shared base of GrowingMLP and GrowingMLPRegressor: parameters, schedule, training loop."""

from __future__ import annotations

import math
import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import metadata_routing
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._torch import get_device, log_epoch, seed_everything
from ..utils._validation import check_positive
from ._growers import (
    GROWTH_METHODS,
    StepOptimizer,
    forward,
    grow_layer,
    init_network,
    resolve_activation,
)

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
        Passes over the data in :meth:`fit`.
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
    coefs_ : list of ndarray
        Weight matrices, ``coefs_[i]`` of shape ``(fan_in, fan_out)`` (scikit-learn's
        layout).
    intercepts_ : list of ndarray or None
        Bias vectors (None entries when ``use_bias=False``).
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

    Optimizer state: every new parameter entry starts with fresh state. For
    SGD the momentum buffer is padded with zeros (identical to fresh state).
    For Adam the moments are padded with zeros and the step counter is kept per
    entry, so a new weight's first update is exactly a first Adam step while
    old weights keep their moments and bias correction. (The reference pads the
    moments but shares one step counter, which makes the first update of new
    weights up to about 3x a fresh Adam step.) The training loop and optimizers
    are written for growth, not taken from ``torch.optim``.

    Deviations: weights are Glorot-uniform initialised (float32 unless ``dtype`` says otherwise),
    and the growth schedule is counted in optimizer steps.
"""


def _order_generator(gen):
    """A generator for the data order only, seeded from ``gen``'s seed.

    Shuffling draws from it and nothing else, so every growth method (and the
    fixed network) sees the same mini-batch sequence for the same
    ``random_state``: random growth's draws do not shift the data order.
    """
    import torch

    return torch.Generator().manual_seed((gen.initial_seed() + 1) % 2**63)


def _as_sizes(value, name, n_layers=None):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,) * (n_layers or 1)
    try:
        sizes = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}") from None
    if not sizes:
        raise ValueError(f"{name} must name at least one hidden layer")
    for s in sizes:
        check_positive(s, name, integer=True)
    if n_layers is not None and len(sizes) != n_layers:
        raise ValueError(
            f"{name} has {len(sizes)} entries but hidden_layer_sizes has {n_layers} layers"
        )
    return tuple(int(s) for s in sizes)


class _BaseGrowingMLP(BaseEstimator):
    # ``classes`` and score's ``sample_weight`` are not per-sample metadata to route:
    # keeps sklearn's generated set_partial_fit_request / set_score_request off.
    __metadata_request__partial_fit = {"classes": metadata_routing.UNUSED}
    __metadata_request__score = {"sample_weight": metadata_routing.UNUSED}

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
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- checks
    def _check_params(self):
        final = _as_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        if self.growth is not None and self.growth not in GROWTH_METHODS:
            raise ValueError(f"growth must be one of {GROWTH_METHODS} or None, got {self.growth!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        check_positive(self.lr, "lr")
        check_positive(self.weight_decay, "weight_decay", strict=False)
        check_positive(self.momentum, "momentum", strict=False)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be < 1, got {self.momentum!r}")
        check_positive(self.max_epochs, "max_epochs", integer=True)
        if self.batch_size is not None:
            check_positive(self.batch_size, "batch_size", integer=True)
        check_positive(self.grow_every, "grow_every", integer=True)
        if self.growth_batch_size is not None:
            check_positive(self.growth_batch_size, "growth_batch_size", integer=True)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
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
        check_positive(self.growth_scale, "growth_scale")
        return final, initial, grow_by

    def _n_growth_events(self):
        return max(
            (
                math.ceil((b - a) / g)
                for a, b, g in zip(self._initial, self._final, self._grow_by, strict=True)
                if b > a
            ),
            default=0,
        )

    # ------------------------------------------------------------- plumbing
    def _to_tensors(self, X, y=None):
        import torch

        Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=self.dtype)).to(self._device)
        if y is None:
            return Xt
        yt = self._encode_y(y)
        if yt.dtype.kind == "f":
            yt = yt.astype(self.dtype)
        return Xt, torch.as_tensor(yt).to(self._device)

    def _params(self):
        return self._weights + [b for b in self._biases if b is not None]

    def _bias_index(self, layer):
        return len(self._weights) + layer

    def _initialize(self, n_features, n_outputs):
        import torch

        self._final, self._initial, self._grow_by = self._check_params()
        self._device = get_device(self.device)
        self._act = resolve_activation(self.activation, self.growth)
        gen = seed_everything(self.random_state)
        sizes = [n_features, *self._initial, n_outputs]
        self._weights, self._biases = init_network(
            sizes,
            bias=self.use_bias,
            generator=gen,
            device=self._device,
            dtype=getattr(torch, self.dtype),
        )
        self._gen = gen
        self._order_gen = _order_generator(gen)
        self._opt = StepOptimizer(self.optimizer, float(self.lr), momentum=float(self.momentum))
        self.growth_history_ = []
        self.loss_curve_ = []
        self.n_steps_ = 0
        self.n_iter_ = 0

    def _restore(self):
        """Rebuild tensors, optimizer and generator from the fitted state (for partial_fit)."""
        import torch

        self._final, self._initial, self._grow_by = self._check_params()
        self._device = get_device(self.device)
        self._act = resolve_activation(self.activation, self.growth)
        dev = self._device
        self._weights = [torch.as_tensor(c.T.copy()).to(dev) for c in self.coefs_]
        self._biases = [
            None if b is None else torch.as_tensor(b.copy()).to(dev) for b in self.intercepts_
        ]
        self._gen = torch.Generator()
        self._gen.set_state(torch.as_tensor(self._rng_state))
        self._order_gen = torch.Generator()
        self._order_gen.set_state(torch.as_tensor(self._order_rng_state))
        self._opt = StepOptimizer(self.optimizer, float(self.lr), momentum=float(self.momentum))
        if self._opt_state is not None:
            self._opt.state = {
                k: [torch.as_tensor(a.copy()).to(dev) for a in v]
                for k, v in self._opt_state.items()
            }

    def _export(self):
        """Store the network as numpy arrays (picklable, device independent)."""
        self.coefs_ = [w.detach().cpu().numpy().T.copy() for w in self._weights]
        self.intercepts_ = [
            None if b is None else b.detach().cpu().numpy().copy() for b in self._biases
        ]
        self.hidden_sizes_ = tuple(int(w.shape[0]) for w in self._weights[:-1])
        self._rng_state = self._gen.get_state().numpy().copy()
        self._order_rng_state = self._order_gen.get_state().numpy().copy()
        self._opt_state = (
            None
            if self._opt.state is None
            else {k: [t.cpu().numpy().copy() for t in v] for k, v in self._opt.state.items()}
        )
        for name in ("_weights", "_biases", "_gen", "_order_gen", "_opt", "_act"):
            delattr(self, name)

    # ------------------------------------------------------------- training
    def _growth_sample(self, Xt, yt, Xb, yb):
        """The examples growth uses: the current mini-batch or ``growth_batch_size`` rows."""
        import torch

        k, n = self.growth_batch_size, Xt.shape[0]
        if k is None:
            return Xb, yb
        if k >= n:
            return Xt, yt
        idx = torch.randperm(n, generator=self._gen)[:k].to(self._device)
        return Xt[idx], yt[idx]

    def _maybe_grow(self, Xt, yt, Xb, yb):
        if self.growth is None or self.n_steps_ % self.grow_every:
            return
        widths = [int(w.shape[0]) for w in self._weights[:-1]]
        if all(w >= f for w, f in zip(widths, self._final, strict=True)):
            return  # fully grown: no sample to draw
        Xb, yb = self._growth_sample(Xt, yt, Xb, yb)
        for layer, (width, final, step) in enumerate(
            zip(widths, self._final, self._grow_by, strict=True)
        ):
            n_new = min(step, final - width)
            if n_new <= 0:
                continue
            t0 = time.perf_counter()
            record = grow_layer(
                self._weights,
                self._biases,
                self._act,
                layer,
                n_new,
                self.growth,
                Xb,
                lambda out, yb=yb: self._loss(out, yb),
                scale=float(self.growth_scale),
                generator=self._gen,
            )
            self._opt.grow(layer, 0, n_new)
            self._opt.grow(layer + 1, 1, n_new)
            if self._biases[layer] is not None:
                self._opt.grow(self._bias_index(layer), 0, n_new)
            record = {"step": self.n_steps_, **record, "seconds": time.perf_counter() - t0}
            self.growth_history_.append(record)
            if self.verbose:
                print(
                    f"{type(self).__name__} step {self.n_steps_}: grew layer {layer} by "
                    f"{n_new} ({self.growth}), grad_norm={record['grad_norm']:.4g}",
                    flush=True,
                )

    def _run_epochs(self, Xt, yt, n_epochs):
        import torch

        n = Xt.shape[0]
        bs = n if self.batch_size is None else min(int(self.batch_size), n)
        decay = float(self.weight_decay)
        for _ in range(n_epochs):
            order = (
                torch.randperm(n, generator=self._order_gen).to(self._device) if bs < n else None
            )
            total = 0.0
            for start in range(0, n, bs):
                if order is None:
                    Xb, yb = Xt, yt
                else:
                    idx = order[start : start + bs]
                    Xb, yb = Xt[idx], yt[idx]
                params = [p.requires_grad_(True) for p in self._params()]
                with torch.enable_grad():
                    loss = self._loss(forward(self._weights, self._biases, self._act, Xb), yb)
                    grads = torch.autograd.grad(loss, params)
                if decay:
                    grads = [
                        g + decay * p.detach() if i < len(self._weights) else g
                        for i, (g, p) in enumerate(zip(grads, params, strict=True))
                    ]
                for p in params:
                    p.requires_grad_(False)
                self._opt.step(params, grads)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise FloatingPointError(
                        f"training loss became {loss_value} at step {self.n_steps_}; lower lr"
                    )
                self.loss_curve_.append(loss_value)
                total += loss_value * Xb.shape[0]
                self.n_steps_ += 1
                self._maybe_grow(Xt, yt, Xb, yb)
            self.n_iter_ += 1
            if self.verbose:
                log_epoch(self, self.n_iter_, loss=total / n)

    def _fit(self, X, y, n_outputs):
        self._initialize(X.shape[1], n_outputs)
        n = X.shape[0]
        steps_per_epoch = 1 if self.batch_size is None else math.ceil(n / self.batch_size)
        total_steps = steps_per_epoch * self.max_epochs
        last_growth = self._n_growth_events() * self.grow_every
        if last_growth >= total_steps:
            raise ValueError(
                f"the growth schedule ends at step {last_growth} ({self._n_growth_events()} "
                f"events every grow_every={self.grow_every} steps) but max_epochs="
                f"{self.max_epochs} gives only {total_steps} steps ({steps_per_epoch} per epoch); "
                "raise max_epochs or lower grow_every"
            )
        Xt, yt = self._to_tensors(X, y)
        self._run_epochs(Xt, yt, self.max_epochs)
        self._export()
        return self

    def _partial_fit(self, X, y, n_outputs, first):
        if first:
            self._initialize(X.shape[1], n_outputs)
        else:
            self._restore()
        Xt, yt = self._to_tensors(X, y)
        self._run_epochs(Xt, yt, 1)
        self._export()
        return self

    def _forward_numpy(self, X):
        import torch

        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        # Inference in float64 whatever the training dtype: results then do not
        # depend on how rows are batched (float32 matmuls round differently).
        dev = get_device(self.device)
        act = resolve_activation(self.activation, None)
        f64 = torch.float64
        weights = [torch.as_tensor(c.T, dtype=f64).to(dev) for c in self.coefs_]
        biases = [
            None if b is None else torch.as_tensor(b, dtype=f64).to(dev) for b in self.intercepts_
        ]
        with torch.no_grad():
            Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float64)).to(dev)
            return forward(weights, biases, act, Xt).cpu().numpy()
