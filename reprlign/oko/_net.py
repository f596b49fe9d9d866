"""The torch side of OKO: set sampling, the skorch net that trains on sets, the MLP.

:class:`reprlign.OKOClassifier` (in ``_classifier.py``) is the sklearn face; this module
holds what it drives: :func:`sample_sets` draws odd-k-out sets, :class:`SetIterator`
turns them into mini-batches, and :class:`OKONet` is a thin
:class:`skorch.NeuralNet` subclass that replaces the training step and the loss
(validation, prediction, callbacks and early stopping stay skorch's).
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch import nn
from torch.nn import functional as F


def sample_sets(order, starts, counts, n_sets, k, rng):
    """Draw ``n_sets`` odd-k-out sets of ``k + 2`` training examples.

    Each set has ``k + 1`` distinct classes drawn uniformly over the classes
    (so sampling is class-balanced whatever the class frequencies); the first
    is the *pair* class and contributes two distinct examples, each of the
    other ``k`` (*odd*) classes one. The slots are shuffled.

    Parameters
    ----------
    order : ndarray of shape (n,)
        Example indices sorted by class.
    starts, counts : ndarray of shape (n_classes,)
        Where each class begins in ``order`` and how many examples it has.
    n_sets, k : int
        Number of sets and number of odd classes per set.
    rng : numpy.random.RandomState
        Random stream (advanced in place).

    Returns
    -------
    members : ndarray of shape (n_sets, k + 2)
        Example indices of each set, in shuffled slots.
    set_classes : ndarray of shape (n_sets, k + 1)
        Class indices: the pair class first, then the odd classes.

    Notes
    -----
    A class with a single example cannot give two distinct examples; when it
    is drawn as the pair class its one example fills both pair slots.
    """
    n_classes = len(counts)
    # A uniformly random ordered subset of k + 1 distinct classes per set.
    set_classes = np.argsort(rng.random_sample((n_sets, n_classes)), axis=1)[:, : k + 1]
    pair = set_classes[:, 0]
    n_pair = counts[pair]
    first = (rng.random_sample(n_sets) * n_pair).astype(np.int64)
    second = (rng.random_sample(n_sets) * np.maximum(n_pair - 1, 1)).astype(np.int64)
    second = np.where(n_pair > 1, second + (second >= first), first)
    odd = set_classes[:, 1:]
    odd_pos = (rng.random_sample(odd.shape) * counts[odd]).astype(np.int64)
    members = np.concatenate(
        [
            order[starts[pair] + first][:, None],
            order[starts[pair] + second][:, None],
            order[starts[odd] + odd_pos],
        ],
        axis=1,
    )
    slots = np.argsort(rng.random_sample(members.shape), axis=1)
    return np.take_along_axis(members, slots, axis=1), set_classes


class SetIterator:
    """One epoch of odd-k-out sets, in mini-batches of ``batch_size`` sets.

    Yields ``(X_sets, set_classes)``: inputs of shape ``(b, k + 2, *input_shape)``
    and class indices of shape ``(b, k + 1)`` (pair class first). Sets are
    drawn afresh at each ``iter()``, from ``rng``.
    """

    def __init__(self, X, y, *, k, n_sets, batch_size, rng):
        self.X = X
        self.k = k
        self.n_sets = n_sets
        self.batch_size = batch_size
        self.rng = rng
        y = np.asarray(y)
        self.order = np.argsort(y, kind="stable")
        self.counts = np.bincount(y)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])

    def __len__(self):
        return -(-self.n_sets // self.batch_size)

    def __iter__(self):
        members, set_classes = sample_sets(
            self.order, self.starts, self.counts, self.n_sets, self.k, self.rng
        )
        members = torch.as_tensor(members, device=self.X.device)
        set_classes = torch.as_tensor(set_classes, device=self.X.device)
        for start in range(0, self.n_sets, self.batch_size):
            rows = slice(start, start + self.batch_size)
            yield self.X[members[rows]], set_classes[rows]


class MLP(nn.Module):
    """Fully connected ReLU network: ``features`` (hidden layers) then a linear ``head``."""

    def __init__(self, n_features, n_classes, hidden_layer_sizes=(128, 128)):
        super().__init__()
        layers, width = [], n_features
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.head(self.features(x))


class OKOHeads(nn.Module):
    """A classifier ``body`` plus the optional odd-class head used only in training.

    ``forward`` is the body alone (what inference uses). ``forward_members``
    also returns the odd-class logits: over the penultimate features when the
    body is the built-in :class:`MLP`, over the body's logits otherwise (a
    custom module exposes nothing else).
    """

    def __init__(self, body, n_classes, odd_class_head=False):
        super().__init__()
        self.body = body
        self.odd_head = None
        if odd_class_head:
            width = body.head.in_features if isinstance(body, MLP) else n_classes
            self.odd_head = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.body(x)

    def forward_members(self, x):
        if self.odd_head is None:
            return self.body(x), None
        if isinstance(self.body, MLP):
            h = self.body.features(x)
            return self.body.head(h), self.odd_head(h)
        logits = self.body(x)
        return logits, self.odd_head(logits)


class OKONet(NeuralNet):
    """skorch net that trains on odd-k-out sets and evaluates on single examples.

    Differs from :class:`skorch.NeuralNet` in four overrides:
    ``initialize_module`` (skorch builds ``module`` with its ``module__*``
    parameters, as usual; the result becomes the body of an :class:`OKOHeads`
    with ``n_classes`` classes and, if ``odd_class_head``, the odd-class head),
    ``get_iterator`` (training batches are sets from :class:`SetIterator`),
    ``train_step_single`` (members go through the module as one flat batch; set
    logits are the sum of member logits) and ``get_loss`` (set loss in training,
    plain cross-entropy on single examples for validation, so ``valid_loss`` is
    the validation NLL).
    """

    def __init__(self, module, *, n_classes=None, odd_class_head=False, k=1, targets="hard",
                 sets_per_epoch=None, set_rng=None, **kwargs):
        super().__init__(module, **kwargs)
        self.n_classes = n_classes
        self.odd_class_head = odd_class_head
        self.k = k
        self.targets = targets
        self.sets_per_epoch = sets_per_epoch
        self.set_rng = set_rng
        self._train_cache = None

    def initialize_module(self):
        super().initialize_module()
        self.module_ = OKOHeads(self.module_, self.n_classes, self.odd_class_head)
        return self

    def get_iterator(self, dataset, training=False):
        if not training:
            return super().get_iterator(dataset, training=False)
        if self._train_cache is None or self._train_cache[0] is not dataset:
            # Keep the training inputs on the compute device once, not per batch.
            X = to_tensor(dataset.X, device=self.device)
            self._train_cache = (dataset, X)
        n_sets = self.sets_per_epoch or -(-len(dataset) // (self.k + 2))
        return SetIterator(self._train_cache[1], dataset.y, k=self.k, n_sets=n_sets,
                           batch_size=self.batch_size, rng=self.set_rng)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        finally:
            self._train_cache = None  # do not pickle a copy of the training data

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        b, m = Xi.shape[:2]
        logits, odd = self.module_.forward_members(Xi.reshape(b * m, *Xi.shape[2:]))
        set_logits = logits.reshape(b, m, -1).sum(dim=1)
        set_odd = None if odd is None else odd.reshape(b, m, -1).sum(dim=1)
        loss = self.get_loss((set_logits, set_odd), yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": set_logits}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        if y_true.ndim == 1:  # single examples (validation)
            return F.cross_entropy(y_pred, y_true.long())
        set_logits, set_odd = y_pred
        log_p = F.log_softmax(set_logits, dim=1)
        k = y_true.shape[1] - 1
        if self.targets == "hard":
            loss = F.nll_loss(log_p, y_true[:, 0])
        else:  # soft: 2/(k+2) on the pair class, 1/(k+2) on each odd class, KL
            target = torch.zeros_like(log_p)
            target.scatter_(1, y_true[:, 1:], 1.0 / (k + 2))
            target.scatter_(1, y_true[:, :1], 2.0 / (k + 2))
            loss = F.kl_div(log_p, target, reduction="batchmean")
        if set_odd is not None:
            odd_target = torch.zeros_like(set_odd)
            odd_target.scatter_(1, y_true[:, 1:], 1.0 / k)
            loss = loss - (odd_target * F.log_softmax(set_odd, dim=1)).sum(1).mean()
        return loss
