"""The torch side of :class:`reprlign.HumanAlignFinetuner`.

* :class:`ObjectInputs` turns object indices into the module's batch: rows of a
  tensor, rows of inputs collated once (text through a tokenizer), or items of a
  torch ``Dataset`` collated per batch.
* :class:`Student` is the trained network: the user's module, the part of its
  output that is the embedding, an optional identity-initialised linear head.
* :class:`PrefixCache` computes the frozen blocks' output once per object and
  stands in for those blocks while the top blocks train.
* :func:`object_batches` / :func:`triplet_batches` build the steps: each step
  embeds its distinct objects once and scores all its triplets among them.
* :class:`FinetuneNet` is the skorch net; it differs from
  :class:`skorch.NeuralNet` in ``get_iterator`` (the steps above),
  ``train_step_single`` / ``validation_step`` (embed the objects, gather the
  triplet similarities, loss plus the pull toward the pretrained weights) and
  ``get_all_learnable_params`` (trainable parameters only).
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from skorch import NeuralNet
from torch import nn

from ..losses import knn_overlap_loss, soft_rsa_loss, triplet_cross_entropy, triplet_kl
from ..measures import rdm


# --------------------------------------------------------------------------- inputs
def _take_rows(batch, idx):
    """Rows ``idx`` of a collated batch: a tensor, or a mapping of tensors (others pass)."""
    if isinstance(batch, torch.Tensor):
        return batch[idx]
    return {k: v[idx] if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _sliceable(batch, n):
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] == n
    if isinstance(batch, Mapping):
        tensors = [v for v in batch.values() if isinstance(v, torch.Tensor)]
        return bool(tensors) and all(v.shape[0] == n for v in tensors)
    return False


class ObjectInputs:
    """Object indices -> the module's batch.

    A tensor (or numeric array) is indexed by rows. A sequence (e.g. strings)
    is collated once, all objects together, when the result is a tensor or a
    mapping of tensors with one row per object (so every object has the same
    padded shape, which the prefix cache needs); otherwise, and for a torch
    ``Dataset``, the items of each batch are collated when needed.
    """

    def __init__(self, inputs, collate_fn):
        self.table = None
        self.items = inputs
        self.collate_fn = collate_fn
        if isinstance(inputs, np.ndarray):  # numbers become a tensor; strings stay a sequence
            inputs = torch.as_tensor(inputs) if inputs.dtype.kind in "biuf" else list(inputs)
            self.items = inputs
        if isinstance(inputs, torch.Tensor) and collate_fn is None:
            self.table = inputs
            self.n = inputs.shape[0]
            return
        self.n = len(inputs)
        if collate_fn is None:
            from torch.utils.data import default_collate

            self.collate_fn = default_collate
        if isinstance(inputs, Sequence) and not isinstance(inputs, str):
            whole = self.collate_fn(list(inputs))
            if _sliceable(whole, self.n):
                self.table = whole

    def get(self, idx, device):
        idx = np.asarray(idx, dtype=np.int64)
        if self.table is not None:
            return _to_device(_take_rows(self.table, torch.as_tensor(idx)), device)
        return _to_device(self.collate_fn([self.items[int(i)] for i in idx]), device)


# --------------------------------------------------------------------------- the network
def _select(out, output):
    if output is None:
        return out
    if callable(output):
        return output(out)
    return out[output]


class Student(nn.Module):
    """The user's module, its embedding output and an optional identity head."""

    def __init__(self, body, output=None, width=None, head=True, normalize=True):
        super().__init__()
        self.body = body
        self.output = output
        self.normalize = normalize
        self.head = None
        if head:
            self.head = nn.Linear(width, width)
            with torch.no_grad():
                self.head.weight.copy_(torch.eye(width))
                self.head.bias.zero_()

    def forward(self, batch):
        z = _select(self.body(batch), self.output)
        if self.head is not None:
            z = self.head(z.to(self.head.weight.dtype))
        if self.normalize:
            z = nn.functional.normalize(z.float(), dim=-1)
        return z


def find_blocks(module, name=None):
    """The block list of ``module``: the named one, or its longest ModuleList / Sequential."""
    if name is not None:
        try:
            blocks = module.get_submodule(name)
        except AttributeError as exc:
            raise ValueError(f"blocks={name!r} is not a submodule of the module") from exc
        if not isinstance(blocks, nn.ModuleList | nn.Sequential):
            raise ValueError(f"blocks={name!r} is a {type(blocks).__name__}, not a ModuleList "
                             "or Sequential")
        return name, blocks
    best = None
    for sub_name, sub in module.named_modules():
        if isinstance(sub, nn.ModuleList | nn.Sequential) and len(sub) > 1:
            if best is None or len(sub) > len(best[1]):
                best = (sub_name, sub)
    if best is None:
        raise ValueError("train_params as a number of top blocks needs a ModuleList or "
                         "Sequential of blocks in the module; none was found (name it with "
                         "blocks=..., or pass train_params='all' or name patterns)")
    return best


def trainable_names(body, train_params, blocks_name):
    """Names (in ``body``) of the parameters to train, and the blocks when counting them."""
    names = [n for n, _ in body.named_parameters()]
    if isinstance(train_params, str) and train_params == "all":
        return names, None
    if isinstance(train_params, int | np.integer):
        name, blocks = find_blocks(body, blocks_name)
        k = int(train_params)
        if k > len(blocks):
            raise ValueError(f"train_params={k} but the block list {name!r} has only "
                             f"{len(blocks)} blocks")
        prefixes = [f"{name}.{i}." if name else f"{i}."
                    for i in range(len(blocks) - k, len(blocks))]
        return [n for n in names if n.startswith(tuple(prefixes))], (name, blocks, k)
    patterns = [train_params] if isinstance(train_params, str) else list(train_params)
    chosen = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    if not chosen:
        raise ValueError(f"train_params patterns {patterns} match no parameter of the module "
                         f"(its first parameters: {names[:5]})")
    return chosen, None


class _Stub(nn.Module):
    """Stands in for a frozen block: returns the cached output of the last frozen block."""

    def __init__(self, holder):
        super().__init__()
        self.holder = holder

    def forward(self, *args, **kwargs):
        return self.holder["rows"]


class PrefixCache:
    """Output of the frozen prefix blocks, one row per object, computed once."""

    def __init__(self, blocks, n_frozen):
        self.blocks = blocks
        self.n_frozen = n_frozen
        self.values = None
        self.holder = {"rows": None}

    def build(self, student, inputs, objects, batch_objects, device, autocast):
        """Run the network on ``objects`` and keep the last frozen block's output.

        Returns False (and keeps nothing) when that output is not one tensor per
        batch with the same per-object shape in every batch.
        """
        last = self.blocks[self.n_frozen - 1]
        captured = []

        def hook(module, args, out):
            captured.append(out.detach() if isinstance(out, torch.Tensor) else None)

        handle = last.register_forward_hook(hook)
        rows = {}
        try:
            student.eval()
            with torch.no_grad(), autocast():
                for start in range(0, len(objects), batch_objects):
                    chunk = objects[start:start + batch_objects]
                    student.body(inputs.get(chunk, device))
                    out = captured.pop()
                    if out is None or out.shape[0] != len(chunk):
                        return False
                    rows[start] = out
        finally:
            handle.remove()
        shapes = {tuple(v.shape[1:]) for v in rows.values()}
        if len(shapes) != 1:
            return False
        first = next(iter(rows.values()))
        self.values = torch.empty((inputs.n, *first.shape[1:]), dtype=first.dtype, device=device)
        for start, v in rows.items():
            self.values[torch.as_tensor(objects[start:start + len(v)], device=device)] = v
        return True

    @contextlib.contextmanager
    def standing_in(self, objects):
        """Within the block, the frozen blocks return the cached rows of ``objects``."""
        idx = torch.as_tensor(objects, device=self.values.device)
        self.holder["rows"] = self.values[idx]
        originals = [self.blocks[i] for i in range(self.n_frozen)]
        try:
            for i in range(self.n_frozen):
                self.blocks[i] = _Stub(self.holder)
            yield
        finally:
            for i, block in enumerate(originals):
                self.blocks[i] = block
            self.holder["rows"] = None


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
                 reg, reference=None, knn_k=10, cache=None, autocast_dtype=None, step_rng=None,
                 **kwargs):
        super().__init__(module, **kwargs)
        self.objective = objective
        self.inputs = inputs
        self.batching = batching
        self.batch_objects = batch_objects
        self.triplet_batch_size = triplet_batch_size
        self.reg = reg
        self.reference = reference
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
        return self

    def _set_training(self, training=True):
        super()._set_training(training)
        if self.cache is not None:  # the cached prefix was computed in eval mode
            for i in range(self.cache.n_frozen):
                self.cache.blocks[i].eval()

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
            ref = self.reference[torch.as_tensor(step.objects, device=self.reference.device)]
            if self.objective == "soft_rsa":
                return soft_rsa_loss(Z, rdm(ref))
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
        loss = self._loss(step, Z, targets)
        if self.reg > 0:
            loss = loss + self.reg * self._pull()
        if not bool(torch.isfinite(loss.detach())):
            raise FloatingPointError(
                f"the training loss became {float(loss):.4g} in epoch {len(self.history)}: "
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


def copy_module(module, params):
    """A fresh module: a class built with ``params``, or a deep copy of an instance."""
    if isinstance(module, nn.Module):
        if params:
            raise ValueError("module__ parameters need a module class, not an instance")
        return copy.deepcopy(module)
    return module(**params)
