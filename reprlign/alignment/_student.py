"""The student network of :class:`reprlign.HumanAlignFinetuner` and what feeds it.

* :class:`ObjectInputs` turns object indices into the module's batch: rows of a
  tensor, rows of inputs collated once (text through a tokenizer), or items of a
  torch ``Dataset`` collated per batch.
* :class:`Student` is the trained network: the user's module, the part of its
  output that is the embedding, an optional identity-initialised linear head.
* :func:`build_student` copies the module, freezes what does not train and
  checks the embedding's shape.
* :class:`PrefixCache` computes the frozen blocks' output once per object and
  stands in for those blocks while the top blocks train.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn


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

    def __init__(self, inputs, collate_fn, name="inputs"):
        self.table = None
        self.collate_fn = collate_fn
        if hasattr(inputs, "to_numpy") and not isinstance(inputs, torch.Tensor):  # pandas
            inputs = inputs.to_numpy()
        elif isinstance(inputs, list | tuple):  # a table of numbers written as lists
            try:
                table = np.asarray(inputs)
            except ValueError:  # ragged: a sequence for collate_fn
                table = None
            if table is not None and table.dtype.kind in "biufc":
                inputs = table
        if isinstance(inputs, np.ndarray):  # numbers become a tensor; strings stay a sequence
            if inputs.dtype.kind == "c":
                raise TypeError(f"{name} must hold real numbers, got dtype {inputs.dtype}")
            # (packed rows: the module's kernels, and so its rounding, do not depend on layout)
            inputs = (torch.as_tensor(np.ascontiguousarray(inputs))
                      if inputs.dtype.kind in "biuf" else list(inputs))
        self.items = inputs
        if isinstance(inputs, torch.Tensor):
            _check_table(inputs, name)
        if isinstance(inputs, torch.Tensor) and collate_fn is None:
            self.table = inputs
            self.n = inputs.shape[0]
            return
        if isinstance(inputs, str | bytes) or not hasattr(inputs, "__len__"):
            raise TypeError(f"{name} must be a tensor, an array, a sequence or a map-style "
                            f"Dataset of the objects' inputs, got {type(inputs).__name__}")
        self.n = len(inputs)
        if self.n == 0:
            raise ValueError(f"{name} is empty: no objects")
        if collate_fn is None:
            from torch.utils.data import default_collate

            self.collate_fn = default_collate
        if isinstance(inputs, Sequence):
            try:
                whole = self.collate_fn(list(inputs))
            except (RuntimeError, TypeError, ValueError) as exc:
                if collate_fn is not None:  # the user's own collate_fn: its own message
                    raise
                raise ValueError(f"{name}: the objects' inputs cannot be batched together "
                                 f"(torch's default_collate: {exc}); pass a collate_fn") from exc
            if _sliceable(whole, self.n):
                self.table = whole

    def match_dtype(self, module):
        """Cast a floating table to the module's floating parameter dtype (as a model's input)."""
        dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), None)
        if (dtype is not None and isinstance(self.table, torch.Tensor)
                and self.table.is_floating_point() and self.table.dtype != dtype):
            self.table = self.table.to(dtype)

    def get(self, idx, device):
        idx = np.asarray(idx, dtype=np.int64)
        if self.table is not None:
            return _to_device(_take_rows(self.table, torch.as_tensor(idx)), device)
        return _to_device(self.collate_fn([self.items[int(i)] for i in idx]), device)


def _check_table(X, name):
    """A tensor of the objects' inputs: real, finite, one row per object."""
    if X.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(f"{name} must have one row per object, got shape {tuple(X.shape)}")
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


# --------------------------------------------------------------------------- the network
def _select(out, output):
    if output is None:
        return out
    if callable(output):
        return output(out)
    if isinstance(output, str) and isinstance(out, torch.Tensor):
        raise TypeError(f"the module returns a tensor, which has no key {output!r}")
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


def copy_module(module, params):
    """A fresh module: a class built with ``params``, or a deep copy of an instance."""
    if isinstance(module, nn.Module):
        if params:
            raise ValueError("module__ parameters need a module class, not an instance")
        return copy.deepcopy(module)
    return module(**params)


def build_student(module, module_params, inputs, *, train_params, blocks, output, head,
                  normalize, device):
    """Copy ``module``, freeze what does not train, wrap it with its head.

    Returns ``(student, trained parameter names, blocks or None, embedding width)``;
    ``blocks`` is ``(name, block list, k)`` for an integer ``train_params``.
    """
    body = copy_module(module, module_params)
    if not isinstance(body, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module class or instance, got "
                        f"{type(body).__name__}")
    body = body.to(device)
    names, found = trainable_names(body, train_params, blocks)
    chosen = set(names)
    for name, p in body.named_parameters():
        p.requires_grad_(name in chosen)
    k = min(2, inputs.n)
    body.eval()
    inputs.match_dtype(body)
    with torch.no_grad():
        batch = inputs.get(np.arange(k), device)
        try:
            out = body(batch)
        except (RuntimeError, TypeError, ValueError) as exc:
            if isinstance(exc, torch.OutOfMemoryError):
                raise
            what = (f"shape {tuple(batch.shape)}, {batch.dtype}"
                    if isinstance(batch, torch.Tensor) else type(batch).__name__)
            raise ValueError(f"inputs: the module cannot run on the first {k} objects' inputs "
                             f"({what}): {exc}") from exc
        try:
            z = _select(out, output)
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"output={output!r} could not select the embedding from the "
                             f"module's output: {exc}") from exc
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[0] != k:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"the module's embedding (after output={output!r}) must have shape "
                         f"(batch, d); for a batch of {k} objects it has {shape}")
    width = int(z.shape[1])
    student = Student(body, output, width, head, normalize=normalize).to(device)
    return student, names, found, width
