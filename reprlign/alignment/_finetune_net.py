"""The training side of :class:`reprlign.HumanAlignFinetuner` (its network: ``_student.py``).

* :func:`object_batches` / :func:`triplet_batches` build the steps: each step
  embeds its distinct objects once and scores all its triplets among them.
* :class:`FinetuneNet` is the skorch net; it differs from
  :class:`skorch.NeuralNet` in ``get_iterator`` (the steps above),
  ``train_step_single`` / ``validation_step`` (embed the objects, gather the
  triplet similarities, loss plus the pull toward the pretrained weights),
  ``get_all_learnable_params`` (trainable parameters only) and
  ``_set_training`` (frozen submodules stay in evaluation mode).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from skorch import NeuralNet
from torch import nn

from ..losses import knn_overlap_loss, soft_rsa_loss, triplet_cross_entropy, triplet_kl
from ..measures import rdm


# --------------------------------------------------------------------------- steps
class Step:
    """One step: its objects (global indices), its triplets as local indices into them,
    and the rows of the dataset they come from."""

    def __init__(self, objects, triplets, rows):
        self.objects = objects
        self.triplets = triplets
        self.rows = rows

    def __len__(self):
        return len(self.objects) if self.rows is None else len(self.rows)


def _local(objects, triplets):
    return np.searchsorted(objects, triplets)


def triplet_batches(triplets, batch_size, rng):
    """Shuffled batches of ``batch_size`` triplets; each embeds its distinct objects once."""
    order = rng.permutation(len(triplets))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        objects = np.unique(triplets[rows])
        yield Step(objects, _local(objects, triplets[rows]), rows)


def object_batches(triplets, objects, batch_objects, batch_size, rng):
    """Random groups of ``batch_objects`` objects; a step trains the triplets inside its group.

    Each epoch deals the objects into groups afresh, so over epochs every
    triplet falls inside some group; at most ``batch_size`` of a group's
    triplets are drawn.
    """
    perm = rng.permutation(objects)
    group = np.full(int(objects.max()) + 1, -1, dtype=np.int64)
    group[perm] = np.arange(len(perm)) // batch_objects
    g = group[triplets]
    inside = np.flatnonzero((g[:, 0] == g[:, 1]) & (g[:, 0] == g[:, 2]))
    by_group = inside[np.argsort(g[inside, 0], kind="stable")]
    bounds = np.searchsorted(g[by_group, 0], np.arange(group.max() + 2))
    for k in rng.permutation(len(bounds) - 1):
        rows = by_group[bounds[k]:bounds[k + 1]]
        if len(rows) == 0:
            continue
        if len(rows) > batch_size:
            rows = rng.choice(rows, batch_size, replace=False)
        members = np.sort(perm[k * batch_objects:(k + 1) * batch_objects])
        yield Step(members, _local(members, triplets[rows]), rows)


def gather_similarities(Z, local):
    """Similarities (t, 3) in the odd-one-out layout: ``[s(j,k), s(i,k), s(i,j)]``."""
    a, b = local[:, [1, 0, 0]], local[:, [2, 2, 1]]
    if Z.shape[0] <= 8192:  # one small GEMM, then gathers
        S = Z @ Z.T
        return S[a, b]
    return (Z[a] * Z[b]).sum(-1)


def frozen_modules(module):
    """The largest submodules whose parameters are all frozen (batch norm, dropout inside).

    Training keeps them in evaluation mode: batch norm on its stored statistics
    (its running averages do not drift), no dropout.
    """
    params = list(module.parameters())
    if params and not any(p.requires_grad for p in params):
        return [module]
    return [m for child in module.children() for m in frozen_modules(child)]


class _Epoch:
    """Re-iterable: a fresh set of steps at each ``iter()``."""

    def __init__(self, make):
        self.make = make

    def __iter__(self):
        return iter(self.make())


# --------------------------------------------------------------------------- the net
class FinetuneNet(NeuralNet):
    """skorch net whose samples are triplets over objects embedded by a network.

    What differs from :class:`skorch.NeuralNet`: the iterator yields
    :class:`Step` batches (objects plus the triplets among them); a training
    step embeds the step's objects once (through the prefix cache when it is
    set), gathers the triplet similarities, and adds ``reg * ||theta -
    theta_0||^2`` over the trained parameters to the loss; only trainable
    parameters reach the optimiser; validation embeds the validation objects in
    chunks without gradients. ``criterion`` is unused: the loss is chosen by
    ``objective``.
    """

    def __init__(self, module, *, objective, inputs, batching, batch_objects, triplet_batch_size,
                 reg, reference=None, reference_kind="features", knn_k=10, cache=None,
                 autocast_dtype=None, step_rng=None, **kwargs):
        super().__init__(module, **kwargs)
        self.objective = objective
        self.inputs = inputs
        self.batching = batching
        self.batch_objects = batch_objects
        self.triplet_batch_size = triplet_batch_size
        self.reg = reg
        self.reference = reference
        self.reference_kind = reference_kind
        self.knn_k = knn_k
        self.cache = cache
        self.autocast_dtype = autocast_dtype
        self.step_rng = step_rng

    # -- parameters
    def get_all_learnable_params(self):
        for name, p in self.module_.named_parameters():
            if p.requires_grad:
                yield name, p
        for name, p in self.criterion_.named_parameters():
            if p.requires_grad:
                yield f"criterion.{name}", p

    def initialize_module(self):
        super().initialize_module()
        self.anchor_ = {n: p.detach().clone() for n, p in self.module_.named_parameters()
                        if p.requires_grad}
        self.frozen_ = frozen_modules(self.module_)
        return self

    def _set_training(self, training=True):
        super()._set_training(training)
        if training:  # frozen parts run as in inference (and as the cached prefix was computed)
            for module in self.frozen_:
                module.eval()

    # -- batches
    def get_iterator(self, dataset, training=False):
        """Steps as ``(Step, (targets, weights))``; ``dataset.y`` holds targets and a weight."""
        triplets = np.asarray(dataset.X)
        y = torch.as_tensor(np.asarray(dataset.y), dtype=torch.float32, device=self.device)

        def with_targets(steps):
            for step in steps:
                rows = torch.as_tensor(step.rows, device=self.device)
                yield step, (y[rows, :3], y[rows, 3])

        objects = np.unique(triplets)
        if not training:
            return [next(with_targets([Step(objects, _local(objects, triplets),
                                            np.arange(len(triplets)))]))]
        if self.batching == "objects":
            return _Epoch(lambda: with_targets(object_batches(
                triplets, objects, self.batch_objects, self.triplet_batch_size, self.step_rng)))
        return _Epoch(lambda: with_targets(triplet_batches(triplets, self.triplet_batch_size,
                                                           self.step_rng)))

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type,
                              dtype=self.autocast_dtype)

    def embed_objects(self, objects, *, chunk=None):
        """Embeddings (k, d) of global ``objects``, through the prefix cache when set."""
        chunk = chunk or len(objects)
        parts = []
        for start in range(0, len(objects), chunk):
            part = objects[start:start + chunk]
            batch = self.inputs.get(part, self.device)
            use = self.cache.standing_in(part) if self.cache is not None else \
                contextlib.nullcontext()
            with use, self.autocast():
                parts.append(self.module_(batch).float())
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def _loss(self, step, Z, targets):
        if self.objective in ("soft_rsa", "knn"):
            idx = torch.as_tensor(step.objects, device=self.reference.device)
            ref = self.reference[idx]
            if self.objective == "soft_rsa":
                return soft_rsa_loss(Z, ref[:, idx] if self.reference_kind == "rdm" else rdm(ref))
            k = min(self.knn_k, len(step.objects) - 1)
            return knn_overlap_loss(Z, ref, k=k, random_state=int(self.step_rng.randint(2**31)))
        local = torch.as_tensor(step.triplets, device=Z.device)
        s = gather_similarities(Z, local)
        y, w = targets
        tau = self.criterion_.temperature()
        if self.objective == "ce":
            return triplet_cross_entropy(s, y.argmax(1), temperature=tau, weights=w)
        return triplet_kl(s, y, temperature=tau, weights=w)

    def _pull(self):
        total = 0.0
        for name, p in self.module_.named_parameters():
            if name in self.anchor_:
                total = total + (p - self.anchor_[name]).pow(2).sum()
        return total

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        step, targets = batch
        Z = self.embed_objects(step.objects)
        if not bool(torch.isfinite(Z.detach()).all()):  # (before the losses refuse them by name)
            raise FloatingPointError(
                f"the embeddings became non-finite in epoch {len(self.history)}: "
                "lower lr, or check the inputs and targets")
        loss = self._loss(step, Z, targets)
        if self.reg > 0:
            loss = loss + self.reg * self._pull()
        value = loss.detach()
        if not bool(torch.isfinite(value)):
            raise FloatingPointError(
                f"the training loss became {float(value):.4g} in epoch {len(self.history)}: "
                "lower lr, or check the inputs and targets")
        loss.backward()
        return {"loss": loss, "y_pred": Z}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        step, targets = batch
        with torch.no_grad():
            Z = self.embed_objects(step.objects, chunk=self.batch_objects)
            if self.objective in ("soft_rsa", "knn"):  # the object-level losses, chunk by chunk
                losses = [self._loss(Step(step.objects[i:i + self.batch_objects], None, None),
                                     Z[i:i + self.batch_objects], None)
                          for i in range(0, len(step.objects) - 2, self.batch_objects)]
                loss = torch.stack(losses).mean()
            else:
                loss = self._loss(step, Z, targets)
        return {"loss": loss, "y_pred": Z}


class Temperature(nn.Module):
    """The training temperature of the triplet softmax: fixed, or learned in log space."""

    def __init__(self, value=0.05, learn=False):
        super().__init__()
        log = torch.tensor(float(np.log(value)))
        if learn:
            self.log_tau = nn.Parameter(log)
        else:
            self.register_buffer("log_tau", log)

    def temperature(self):
        return self.log_tau.exp()

    def forward(self, *args):  # pragma: no cover - the net computes its loss itself
        raise NotImplementedError
