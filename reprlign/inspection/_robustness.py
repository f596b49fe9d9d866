"""Robustness of representations: clean vs perturbed inputs, full vs block-removed models."""

from __future__ import annotations

import copy
from contextlib import ExitStack

import numpy as np
from sklearn.utils import Bunch

from ..utils._torch import draw_seed, seed_everything
from .hooks import batches, check_stimuli, hooked_forward, layer_list, resolve_modules
from .streaming import StreamedCKA, check_stream


def _gaussian(batch, strength, generator):
    import torch

    noise = torch.randn(batch.shape, generator=generator, dtype=torch.float32)
    return batch + strength * noise.to(device=batch.device, dtype=batch.dtype)


def _check_strengths(strengths, gaussian):
    """``strengths`` as a 1-D float array: non-empty, finite (>= 0 for Gaussian noise)."""
    values = np.asarray(strengths)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"strengths must be real numbers, got {strengths!r}")
    values = np.atleast_1d(values.astype(float))
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"strengths must be a non-empty 1-D sequence of finite numbers, got "
                         f"{strengths!r}")
    if gaussian and (values < 0).any():
        raise ValueError(f"strengths are standard deviations of the Gaussian noise and must be "
                         f">= 0, got {strengths!r}")
    return values


def _perturbed(perturb, batch, strength, generator):
    """``perturb(batch, strength, generator)``, checked: a finite tensor of the batch's shape."""
    import torch

    out = perturb(batch, strength, generator)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"perturbation must return a torch.Tensor, got {type(out).__name__} "
                        f"(strength {strength:g})")
    if out.shape != batch.shape:
        raise ValueError(f"perturbation must keep the batch's shape {tuple(batch.shape)}, got "
                         f"{tuple(out.shape)} (strength {strength:g})")
    out = out.to(device=batch.device, dtype=batch.dtype)
    if out.is_floating_point() and not bool(torch.isfinite(out).all()):
        raise ValueError(f"perturbation at strength {strength:g} gave NaN or infinite inputs "
                         f"(in the model's dtype, {batch.dtype})")
    return out


def _tidy(matrix, rows, layers, row_name, rows_name):
    """Long-format columns (one entry per row x layer) next to the matrix."""
    rows = np.asarray(rows)
    return Bunch(**{row_name: np.repeat(rows, len(layers)),
                    "layer": np.tile(np.asarray(layers, dtype=object), len(rows)),
                    "similarity": matrix.reshape(-1),
                    "matrix": matrix,
                    rows_name: rows,
                    "layers": list(layers)})


def perturbation_robustness(model, X, layers, *, strengths=(0.1, 0.3, 1.0),
                            perturbation="gaussian", pooling="flatten", batch_size=512,
                            device="cpu", dtype=None, preprocess=None, random_state=None,
                            verbose=False):
    """Per-layer CKA between clean and perturbed inputs, across perturbation strengths.

    Parameters
    ----------
    model : torch.nn.Module
    X : array-like, torch.Tensor, Dataset or DataLoader
        The clean stimuli.
    layers : str or list of str
        Module names to compare (each layer with itself, clean vs perturbed).
    strengths : sequence of float, default=(0.1, 0.3, 1.0)
        Perturbation strengths; for ``"gaussian"`` the standard deviation of
        the added noise, in the units of the model's input (after
        ``preprocess``).
    perturbation : "gaussian" or callable, default="gaussian"
        ``perturbation(batch, strength, generator) -> batch``, applied to each
        batch after ``preprocess``; ``generator`` is a seeded CPU
        ``torch.Generator`` (one per strength, seeded alike, so every strength
        sees the same noise pattern scaled).
    pooling, batch_size, device, dtype, preprocess
        As in :func:`model_layer_similarity`.
    random_state : int, RandomState or None
        Seed of the perturbations.
    verbose : bool, default=False
        Show a progress bar over the batches (on stderr, only when it is a
        terminal).

    Returns
    -------
    result : sklearn.utils.Bunch
        Tidy columns ``strength``, ``layer``, ``similarity`` (one entry per
        strength x layer), ``matrix`` (n_strengths, n_layers), ``strengths``,
        ``layers``.

    Notes
    -----
    After Bhojanapalli et al. (2021), "Understanding robustness of
    transformers for image classification", who perturb inputs and compare
    representations layer by layer. One pass over the data: each batch runs
    clean once and once per strength; minibatch CKA (see
    :func:`model_layer_similarity`) is accumulated per layer and strength.
    A strength of 0 gives CKA 1 (up to rounding).

    Stimuli are refused as in :func:`model_layer_similarity` (fewer than 4,
    all identical, ``batch_size < 4``). Gaussian strengths must be ``>= 0``;
    a perturbation must return a tensor of the batch's shape with finite
    values, or a ``ValueError`` / ``TypeError`` names it and the strength.
    """
    layers = layer_list(layers)
    X = check_stimuli(X)
    strengths = _check_strengths(strengths, gaussian=perturbation == "gaussian")
    if isinstance(perturbation, str) and perturbation == "gaussian":
        perturb = _gaussian
    elif callable(perturbation):
        perturb = perturbation
    else:
        raise ValueError(f"perturbation must be 'gaussian' or a callable, got {perturbation!r}")
    seed = draw_seed(random_state)
    gens = [seed_everything(seed) for _ in strengths]
    accs = [StreamedCKA() for _ in strengths]
    stream = batches(X, batch_size, verbose=verbose, desc="perturbation robustness")
    check_stream(X, batch_size)
    with hooked_forward(model, layers, pooling=pooling, device=device, dtype=dtype,
                        preprocess=preprocess) as forward:
        for batch in stream:
            clean = forward(batch)
            for s, gen, acc in zip(strengths, gens, accs, strict=True):
                noisy = forward(batch, perturb=lambda t, s=s, g=gen: _perturbed(perturb, t, s, g))
                acc.update(clean, noisy)
    matrix = np.stack([np.diag(acc.result()) for acc in accs])
    return _tidy(matrix, strengths, layers, "strength", "strengths")


def _remove(model, block):
    """A deep copy of ``model`` with submodule ``block`` replaced by the identity."""
    ablated = copy.deepcopy(model)
    parent_name, _, child = block.rpartition(".")
    parent = ablated.get_submodule(parent_name) if parent_name else ablated
    if not child:
        raise ValueError("blocks cannot contain the model itself ('')")
    setattr(parent, child, _identity())
    return ablated


def _identity():
    """``nn.Identity`` that also accepts, and ignores, further arguments a model passes to its
    blocks (EfficientNet calls ``block(x, drop_connect_rate=...)``)."""
    import torch

    class Skip(torch.nn.Identity):
        def forward(self, x, *args, **kwargs):
            return x

    return Skip()


def block_removal_robustness(model, X, blocks, layers=None, *, pooling="flatten",
                             batch_size=512, device="cpu", dtype=None, preprocess=None,
                             verbose=False):
    """Per-layer CKA between a model and copies of it with one residual block removed.

    Parameters
    ----------
    model : torch.nn.Module
        A model whose blocks are residual (``x + f(x)``), so that replacing a
        block by the identity leaves a working network (ViT, MLP-Mixer,
        ResNet stages without downsampling).
    X : array-like, torch.Tensor, Dataset or DataLoader
        The stimuli.
    blocks : str or list of str
        The blocks to remove one at a time: either a list of module names, or
        the name of a container (``"blocks"``) whose children are the blocks.
    layers : str, list of str or None
        Where to compare; default: the blocks' own outputs (a removed block's
        output is then its input). A layer inside the removed block has no
        counterpart: its entry is NaN.
    pooling, batch_size, device, dtype, preprocess
        As in :func:`model_layer_similarity`.
    verbose : bool, default=False
        Show a progress bar over the batches (on stderr, only when it is a
        terminal).

    Returns
    -------
    result : sklearn.utils.Bunch
        Tidy columns ``removed``, ``layer``, ``similarity`` (one entry per
        removed block x layer), ``matrix`` (n_blocks, n_layers), ``blocks``
        (the removed blocks' names) and ``layers``.

    Notes
    -----
    The layer-removal experiment of Bhojanapalli et al. (2021), measured with
    minibatch CKA instead of accuracy. All models (the original and one copy
    per block, on ``device``) run in the same pass over the data, so memory
    holds ``len(blocks) + 1`` copies of the model.

    Stimuli are refused as in :func:`model_layer_similarity`. A block whose
    replacement by the identity breaks the model (its output does not have
    its input's shape) is a ``ValueError`` naming the block.
    """
    if isinstance(blocks, str):
        container = resolve_modules(model, [blocks], name="blocks")[0]
        prefix = blocks + "." if blocks else ""
        blocks = [prefix + name for name, _ in container.named_children()]
        if not blocks:
            raise ValueError("the blocks container has no children")
    blocks = layer_list(blocks, "blocks")
    resolve_modules(model, blocks, name="blocks")
    layers = blocks if layers is None else layer_list(layers)
    X = check_stimuli(X)
    stream = batches(X, batch_size, verbose=verbose, desc="block removal robustness")
    check_stream(X, batch_size)
    kw = dict(pooling=pooling, device=device, dtype=dtype, preprocess=preprocess)
    kept = [[layer for layer in layers if not layer.startswith(b + ".")] for b in blocks]
    accs = [StreamedCKA() for _ in blocks]
    with ExitStack() as stack:
        full = stack.enter_context(hooked_forward(model, layers, **kw))
        forwards = [stack.enter_context(hooked_forward(_remove(model, b), k, **kw))
                    for b, k in zip(blocks, kept, strict=True)]
        for batch in stream:
            ref = full(batch)
            for b, k, fwd, acc in zip(blocks, kept, forwards, accs, strict=True):
                try:
                    out = fwd(batch)
                except ValueError as exc:
                    raise ValueError(f"blocks: the model with {b!r} replaced by the identity "
                                     f"cannot run; only a block whose output has the shape of "
                                     f"its input (a residual block) can be removed ({exc})"
                                     ) from exc
                acc.update([ref[layers.index(layer)] for layer in k], out)
    matrix = np.full((len(blocks), len(layers)), np.nan)
    for r, (k, acc) in enumerate(zip(kept, accs, strict=True)):
        matrix[r, [layers.index(layer) for layer in k]] = np.diag(acc.result())
    return _tidy(matrix, blocks, layers, "removed", "blocks")
