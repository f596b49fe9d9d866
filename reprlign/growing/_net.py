"""The torch side of the growing networks: the module, the growth callback, the skorch net.

:class:`GrowingMLP` and :class:`GrowingMLPRegressor` (the scikit-learn faces, in
``base.py``) build a :class:`GrowingNet`, a :class:`skorch.NeuralNet` whose
module is a :class:`GrowingModule`, whose optimizer is one of the growable
optimizers of ``_optim.py`` and whose :class:`Grower` callback adds neurons every
``grow_every`` optimizer steps with the growers of ``_growers.py``.

How a parameter grows: :meth:`GrowingModule.adopt` swaps the grown tensor into
the existing ``Parameter`` object (:func:`torch.utils.swap_tensors`: the Python
object keeps its identity and takes the new tensor, with fresh autograd
metadata and no gradient). The optimizer's ``param_groups`` and its state,
keyed by the parameter objects, therefore still refer to the module's
parameters; ``optimizer.grow(param, dim, n_new)`` then extends that
parameter's state to the new shape. No other reference needs updating.
"""

from __future__ import annotations

import math
import time

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from torch import nn

from ._growers import forward, grow_layer, init_network, relu_grad1


class GrowingModule(nn.Module):
    """An MLP held as ``weights[i]`` (shape ``(fan_out, fan_in)``) and ``biases[i]``.

    Weights are Glorot-uniform, drawn from ``generator``; biases start at zero.
    ``sizes`` lists every width, input and output included.
    """

    def __init__(self, sizes, *, bias=True, activation=relu_grad1, dtype=torch.float32,
                 generator=None):
        super().__init__()
        weights, biases = init_network(sizes, bias=bias, generator=generator, device="cpu",
                                       dtype=dtype)
        self.weights = nn.ParameterList(weights)
        self.biases = nn.ParameterList([b for b in biases if b is not None])
        self.activation = activation

    def tensors(self):
        """The weights and biases as two lists (``None`` biases when there are none)."""
        # The lists' own parameter dicts: iterating a ParameterList costs more than
        # the forward pass of a small network.
        weights = list(self.weights._parameters.values())
        biases = list(self.biases._parameters.values()) or [None] * len(weights)
        return weights, biases

    def forward(self, X):
        weights, biases = self.tensors()
        return forward(weights, biases, self.activation, X)

    @torch.no_grad()
    def adopt(self, weights, biases):
        """Make ``weights`` / ``biases`` (grown copies) the module's parameters, in place.

        Each parameter whose shape changed keeps its identity and takes the new
        tensor (``torch.utils.swap_tensors``), gradient dropped. Returns
        ``(param, dim, n_new)`` for each of them.
        """
        grown = []
        new = list(weights) + [b for b in biases if b is not None]
        for param, tensor in zip(list(self.weights) + list(self.biases), new, strict=True):
            if tensor.shape == param.shape:
                continue
            dim = next(d for d in range(param.dim()) if tensor.shape[d] != param.shape[d])
            n_new = tensor.shape[dim] - param.shape[dim]
            torch.utils.swap_tensors(param, nn.Parameter(tensor, param.requires_grad))
            grown.append((param, dim, n_new))
        return grown


class Grower(Callback):
    """skorch callback that grows a :class:`GrowingNet` every ``grow_every`` optimizer steps.

    After each training step it checks that the loss is finite and counts the
    step; after step ``k * grow_every`` it grows every hidden layer that has not
    reached ``final_sizes`` by ``grow_by`` neurons (the last event adds what is
    left), first to last, with :func:`grow_layer`, and extends the optimizer
    state of the grown parameters. Growth uses the step's mini-batch, or
    ``growth_batch_size`` rows of the training data drawn from ``generator``.

    Attributes
    ----------
    n_steps_ : int
        Optimizer steps taken since the net was initialised.
    history_ : list of dict
        One record per growth event and layer (see ``growth_history_``).
    """

    def __init__(self, growth, final_sizes, grow_by, grow_every, *, growth_batch_size=None,
                 scale=0.5, generator=None, verbose=0, name="GrowingMLP"):
        self.growth = growth
        self.final_sizes = final_sizes
        self.grow_by = grow_by
        self.grow_every = grow_every
        self.growth_batch_size = growth_batch_size
        self.scale = scale
        self.generator = generator
        self.verbose = verbose
        self.name = name

    def initialize(self):
        self.n_steps_ = 0
        self.history_ = []
        self.train_data_ = None
        return self

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        self.train_data_ = dataset_train

    def on_batch_end(self, net, batch=None, training=False, loss=None, **kwargs):
        if not training:
            return
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(
                f"training loss became {value} at step {self.n_steps_}; lower lr"
            )
        self.n_steps_ += 1
        if self.growth is not None and self.n_steps_ % self.grow_every == 0:
            self._grow(net, *batch)

    def on_epoch_end(self, net, **kwargs):
        if self.verbose:
            last = net.history[-1]
            valid = f", valid_loss={last['valid_loss']:.4f}" if "valid_loss" in last else ""
            print(f"{self.name} epoch {len(net.history)}: loss={last['train_loss']:.4f}{valid}",
                  flush=True)

    def done(self, net):
        """Whether the network has reached its final widths (or does not grow)."""
        widths = [int(w.shape[0]) for w in list(net.module_.weights)[:-1]]
        return self.growth is None or all(
            w >= f for w, f in zip(widths, self.final_sizes, strict=True))

    def on_train_end(self, net, **kwargs):
        self.train_data_ = None  # never keep (or pickle) a reference to the training data

    def _growth_sample(self, Xb, yb):
        k = self.growth_batch_size
        if k is None:
            return Xb, yb
        X, y = self.train_data_.X, self.train_data_.y
        if k >= X.shape[0]:
            return X, y
        idx = torch.randperm(X.shape[0], generator=self.generator)[:k].to(X.device)
        return X[idx], y[idx]

    def _grow(self, net, Xb, yb):
        module = net.module_
        widths = [int(w.shape[0]) for w in list(module.weights)[:-1]]
        if all(w >= f for w, f in zip(widths, self.final_sizes, strict=True)):
            return  # fully grown: no sample to draw
        Xb, yb = self._growth_sample(Xb, yb)
        for layer, (width, final, step) in enumerate(
            zip(widths, self.final_sizes, self.grow_by, strict=True)
        ):
            n_new = min(step, final - width)
            if n_new <= 0:
                continue
            t0 = time.perf_counter()
            weights, biases = ([None if t is None else t.detach() for t in ts]
                               for ts in module.tensors())
            record = grow_layer(weights, biases, module.activation, layer, n_new, self.growth,
                                Xb, lambda out, yb=yb: net.criterion_(out, yb),
                                scale=float(self.scale), generator=self.generator)
            for param, dim, n in module.adopt(weights, biases):
                net.optimizer_.grow(param, dim, n)
            record = {"step": self.n_steps_, **record, "seconds": time.perf_counter() - t0}
            self.history_.append(record)
            if self.verbose:
                print(f"{self.name} step {self.n_steps_}: grew layer {layer} by {n_new} "
                      f"({self.growth}), grad_norm={record['grad_norm']:.4g}", flush=True)


class EarlyStoppingAfterGrowth(EarlyStopping):
    """skorch's :class:`~skorch.callbacks.EarlyStopping`, counting only grown epochs.

    An epoch counts when it has validation data and ends with the network at its
    final widths (the ``grower`` callback says so). So the best weights it keeps
    (``load_best=True``) always have the final shape, and patience only runs out
    once growth is over.
    """

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is None or not dict(net.callbacks_)["grower"].done(net):
            return
        super().on_epoch_end(net, dataset_valid=dataset_valid, **kwargs)


class TensorBatches:
    """Mini-batches of tensors already on the compute device.

    With a ``generator`` the rows are visited in the order of a fresh
    ``torch.randperm`` per pass (drawn on the CPU from ``generator`` and from
    nothing else); without one, or when one batch holds every row, in their
    order. ``y`` may be None (inference).
    """

    def __init__(self, X, y, batch_size, generator=None):
        self.X, self.y, self.batch_size, self.generator = X, y, batch_size, generator

    def __len__(self):
        return -(-self.X.shape[0] // self.batch_size)

    def __iter__(self):
        n, bs = self.X.shape[0], self.batch_size
        order = None
        if self.generator is not None and bs < n:
            order = torch.randperm(n, generator=self.generator).to(self.X.device)
        for start in range(0, n, bs):
            rows = slice(start, start + bs) if order is None else order[start:start + bs]
            yield self.X[rows], None if self.y is None else self.y[rows]


class GrowingNet(NeuralNet):
    """skorch net that trains a :class:`GrowingModule` while a :class:`Grower` grows it.

    Differs from :class:`skorch.NeuralNet` in three places. ``get_iterator``:
    the batches are slices of the tensors passed to ``fit`` (already on the
    device), in an order drawn from ``order_generator``, a generator used for
    nothing else, so that every growth method sees the same mini-batches for
    the same seed; ``batch_size=-1`` or None trains full-batch. Default
    callbacks: skorch's, without the ``PrintLog`` table (the estimators print
    their own line). ``_set_training`` switches the train/eval mode only when
    it changes (skorch sets it before every step, which costs a tenth of a
    step of a small network). :meth:`move_to` moves a trained net to another
    device.
    """

    def __init__(self, module, *args, order_generator=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.order_generator = order_generator

    @property
    def _default_callbacks(self):
        return [(name, cb) for name, cb in super()._default_callbacks if name != "print_log"]

    def _set_training(self, training=True):
        # skorch sets the mode of every module and criterion before every step; on a
        # small network that costs a tenth of the step. Switch only on a change.
        if self.module_.training != training:
            super()._set_training(training)

    def get_iterator(self, dataset, training=False):
        n = len(dataset)
        bs = n if self.batch_size in (None, -1) else min(int(self.batch_size), n)
        return TensorBatches(dataset.X, dataset.y, bs,
                             self.order_generator if training else None)

    def move_to(self, device):
        """Move the module and the optimizer state to ``device``; parameters keep their identity."""
        self.module_.to(device)
        for state in self.optimizer_.state.values():
            for key, value in state.items():
                state[key] = value.to(device)
        self.device = str(device)
        return self
