"""The hooked forward pass shared by the inspection tools.

:func:`hooked_forward` hooks named submodules of a torch model and yields a
``forward(batch, perturb=None)`` callable returning each layer's pooled output
for one batch. :class:`~reprlign.FeatureExtractor`,
:func:`~reprlign.model_layer_similarity` and the robustness functions all
drive the model through it; :func:`batches` feeds them the stimuli (with an
optional progress bar) and :func:`check_stimuli` validates them.
"""

from __future__ import annotations

import math
import numbers
from contextlib import contextmanager

import numpy as np
from sklearn.utils.validation import check_array

from ..utils._backend import is_torch
from ..utils._torch import get_device

POOLINGS = ("mean", "cls", "flatten", "none")


def _first(out):
    """The tensor a module returns: first element of tuples/lists, first value of mappings."""
    while not is_torch(out):
        if isinstance(out, tuple | list) and out:
            out = out[0]
        elif hasattr(out, "values") and callable(out.values):
            out = next(iter(out.values()))
        else:
            raise TypeError(f"a hooked module returned {type(out).__name__}, not a tensor")
    return out


def pool(out, pooling):
    """Reduce one batch of module outputs to (n, d) (or keep it, for ``"none"``).

    3-D outputs are read as tokens ``(n, tokens, channels)`` (batch-first
    transformers and Mixers); outputs with 4 or more axes as channel-first maps
    ``(n, channels, *spatial)`` (torch convolutions); 2-D outputs are returned as
    they are by every policy.
    """
    if callable(pooling):
        return pooling(out)
    if pooling == "none" or out.ndim == 2:
        return out
    if out.ndim == 1:
        return out[:, None]
    if pooling == "flatten":
        return out.flatten(1)
    if pooling == "mean":
        if out.ndim == 3:
            return out.mean(dim=1)
        return out.mean(dim=tuple(range(2, out.ndim)))
    if pooling == "cls":
        if out.ndim == 3:
            return out[:, 0]
        raise ValueError(f"pooling='cls' needs token outputs (n, tokens, channels), got an output "
                         f"of shape {tuple(out.shape)}; use 'mean' or 'flatten' for conv maps")
    raise ValueError(f"pooling must be one of {POOLINGS} or a callable, got {pooling!r}")


def pooling_for(pooling, layer):
    """The policy of one layer: ``pooling[layer]`` (default ``"mean"``) for a dict."""
    if isinstance(pooling, dict):
        return pooling.get(layer, "mean")
    return pooling


def layer_list(layers, name="layers", *, unique=True):
    """``layers`` as a non-empty list of module names (a string is one name).

    With ``unique=True`` a name given twice is an error.
    """
    if isinstance(layers, str):
        return [layers]
    try:
        out = None if layers is None or isinstance(layers, dict) else list(layers)
    except TypeError:  # not iterable
        out = None
    if not out or not all(isinstance(layer, str) for layer in out):
        raise ValueError(f"{name} must be a module name or a non-empty list of names, "
                         f"got {layers!r}")
    if unique and len(set(out)) != len(out):
        raise ValueError(f"{name} contains duplicates: {out}")
    return out


def iter_batches(X, batch_size):
    """Yield batches (torch tensors, or whatever a DataLoader gives) of ``X``.

    Numpy arrays and tensors are sliced along the first axis; a ``Dataset`` is
    wrapped in an unshuffled ``DataLoader``; a ``DataLoader`` is iterated as it
    is. Tuples and lists (``(x, y)`` pairs) are reduced to their first element.
    """
    import torch
    from torch.utils.data import DataLoader, Dataset

    if isinstance(X, Dataset):
        X = DataLoader(X, batch_size=batch_size, shuffle=False)
    if isinstance(X, DataLoader):
        for batch in X:
            yield batch[0] if isinstance(batch, tuple | list) else batch
        return
    for start in range(0, X.shape[0], batch_size):
        batch = X[start:start + batch_size]
        if is_torch(batch):
            # (a strided view would run through other kernels than the same values packed,
            # and round differently)
            batch = batch.contiguous()
        else:
            if not batch.flags.writeable:  # torch warns on read-only buffers
                batch = batch.copy()
            batch = torch.from_numpy(np.ascontiguousarray(batch))
        yield batch


def n_batches(X, batch_size):
    """How many batches :func:`iter_batches` yields, or None when it cannot be known."""
    from torch.utils.data import DataLoader

    if isinstance(X, DataLoader):
        try:
            return len(X)
        except TypeError:  # an IterableDataset without __len__
            return None
    try:
        return math.ceil(len(X) / batch_size)
    except TypeError:
        return None


def batches(X, batch_size, *, verbose=False, desc=None):
    """:func:`iter_batches`, with a progress bar (tqdm) when ``verbose``.

    The bar goes to stderr and only when stderr is a terminal, so logs and
    notebooks redirected to files stay clean.
    """
    if (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
            or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    it = iter_batches(X, batch_size)
    if not verbose:
        return it
    from tqdm import tqdm

    # disable=None: tqdm switches itself off when stderr is not a terminal.
    return tqdm(it, total=n_batches(X, batch_size), desc=desc, unit="batch", disable=None)


def resolve_modules(model, layers, *, name="layers"):
    """Check ``layers`` against ``model.named_modules()`` and return the modules."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    index = dict(model.named_modules())
    unknown = [layer for layer in layers if layer not in index]
    if unknown:
        available = ", ".join(repr(k) for k in index if k)
        raise ValueError(f"{name}: unknown module name(s) {unknown}; the model has: {available}")
    return [index[layer] for layer in layers]


def model_dtype(model, dtype=None):
    """The floating dtype the model runs in: ``dtype`` if given, else its parameters'."""
    import torch

    if dtype is not None:
        resolved = getattr(torch, str(dtype).replace("torch.", ""), None)
        if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
            raise ValueError(f"dtype must be a floating torch/numpy dtype name, got {dtype!r}")
        return resolved
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def check_stimuli(X, name="X"):
    """Validate arrays and tensors of stimuli (finite, numeric, a sample axis); pass datasets.

    Arrays go through :func:`sklearn.utils.check_array` (any number of axes);
    ``torch.utils.data.Dataset`` and ``DataLoader`` objects are returned as
    they are. Errors start with ``name``.
    """
    from torch.utils.data import DataLoader, Dataset

    if isinstance(X, Dataset | DataLoader):
        return X
    if not (is_torch(X) or isinstance(X, np.ndarray) or hasattr(X, "dtypes")):  # lists ...
        try:
            X = np.asarray(X)
        except ValueError as exc:  # ragged
            raise ValueError(f"{name} cannot be read as an array: {exc}") from exc
    if X.is_complex() if is_torch(X) else np.iscomplexobj(X):
        raise ValueError(f"{name}: complex data not supported, got dtype {X.dtype}")
    if is_torch(X):
        if X.ndim < 2 or X.shape[0] < 1:
            raise ValueError(f"{name} must have a sample axis and at least one more, got shape "
                             f"{tuple(X.shape)}")
        if X.is_floating_point() and not bool(X.isfinite().all()):
            raise ValueError(f"{name} contains NaN or infinite values")
        return X
    _refuse_strings(X, name)
    try:
        return check_array(X, allow_nd=True, dtype="numeric")
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def _refuse_strings(X, name):
    """Strings are not parsed as numbers (``"0.5"`` is a ``TypeError``, as in the measures)."""
    if hasattr(X, "dtypes") and not isinstance(X, np.ndarray):  # pandas
        dtypes = [X.dtypes] if isinstance(X.dtypes, np.dtype) else list(X.dtypes)
        if all(getattr(d, "kind", "O") in "biufc" for d in dtypes):
            return
        X = X.to_numpy()
    if X.dtype.kind in "US" or (X.dtype.kind == "O" and any(
            isinstance(v, str | bytes) for v in X.ravel())):
        raise TypeError(f"{name} must hold numbers, got strings (dtype {X.dtype}); strings "
                        f"are not parsed")


@contextmanager
def _hooks(model, modules, store):
    """Forward hooks writing each module's output to ``store[i]``; eval mode, no grad.

    The training flag of every submodule is restored afterwards, so the model
    is left as found.
    """
    import torch

    modes = {m: m.training for m in model.modules()}
    handles = []
    for i, module in enumerate(modules):
        def hook(_module, _inputs, output, i=i):
            store[i] = _first(output)
        handles.append(module.register_forward_hook(hook))
    try:
        model.eval()
        with torch.no_grad():
            yield
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)


@contextmanager
def hooked_forward(model, layers, *, pooling="mean", device="cpu", dtype=None,
                   preprocess=None):
    """Hook ``layers`` of ``model``; yield ``forward(batch, perturb=None)``.

    The model is moved to ``device`` and ``dtype`` in place (as
    ``Module.to`` does) and runs in eval mode without gradients while the
    context is open; its train/eval flags are restored on exit. ``forward``
    moves a raw batch to the device, applies ``preprocess`` (or casts the
    batch to the model's dtype), then ``perturb`` if given, runs the model
    and returns the pooled output of every layer, in ``layers`` order, as
    tensors on the device.

    Parameters
    ----------
    model : torch.nn.Module
    layers : str or list of str
        Names from ``model.named_modules()``.
    pooling : {"mean", "cls", "flatten", "none"}, callable or dict, default="mean"
        See :class:`reprlign.FeatureExtractor`.
    device, dtype, preprocess
        As in :class:`reprlign.FeatureExtractor`.
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = layer_list(layers)
    poolings = [pooling_for(pooling, layer) for layer in layers]
    for layer, p in zip(layers, poolings, strict=True):
        if not callable(p) and p not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, a callable or a dict of "
                             f"them, got {p!r} for layer {layer!r}")
    if preprocess is not None and not callable(preprocess):
        raise TypeError("preprocess must be a callable or None")
    modules = resolve_modules(model, layers)
    device = get_device(device)
    dtype = model_dtype(model, dtype)
    needs_move = any(p.device != device or (p.is_floating_point() and p.dtype != dtype)
                     for p in list(model.parameters()) + list(model.buffers()))
    if needs_move:
        model.to(device=device, dtype=dtype)
    store = {}

    def forward(batch, perturb=None):
        batch = batch.to(device)
        if preprocess is None:
            batch = batch.to(dtype)
            source = "X"
        else:
            batch = preprocess(batch)
            source = "preprocess"
        # (arrays were checked whole; this catches datasets and preprocess, at the cost of one
        # reduction over the batch)
        if (is_torch(batch) and batch.is_floating_point()
                and not bool(torch.isfinite(batch).all())):
            raise ValueError(f"{source} gave the model a batch with NaN or infinite values")
        if perturb is not None:
            batch = perturb(batch)
        store.clear()
        try:
            model(batch)
        except RuntimeError as exc:
            if isinstance(exc, torch.OutOfMemoryError):
                raise
            what = (f"a batch of shape {tuple(batch.shape)} and dtype {batch.dtype}"
                    if is_torch(batch) else f"a batch of type {type(batch).__name__}")
            raise ValueError(f"the model cannot run on {what} (from {source}): {exc}") from exc
        missing = [layer for i, layer in enumerate(layers) if i not in store]
        if missing:
            raise ValueError(f"layers {missing} were not called in the model's forward "
                             f"pass, so they produced no output")
        return [pool(store[i], p) for i, p in enumerate(poolings)]

    with _hooks(model, modules, store):
        yield forward
