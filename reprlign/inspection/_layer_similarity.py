"""Layer-by-layer minibatch CKA of torch models, in one streaming pass over the data."""

from __future__ import annotations

from contextlib import ExitStack

from sklearn.utils import Bunch

from .hooks import batches, check_stimuli, hooked_forward, iter_batches, layer_list
from .streaming import StreamedCKA, check_stream


def model_layer_similarity(model_a, model_b, X, layers_a, layers_b=None, *, X_b=None,
                           pooling="flatten", batch_size=512, device="cpu", dtype=None,
                           preprocess=None, verbose=False):
    """Layer x layer minibatch CKA between two torch models (or one model with itself).

    The data are read once: for every batch, each model runs once, the pooled
    output of each named layer becomes one batch x batch Gram matrix, and the
    unbiased HSIC of every layer pair is added to a running sum. Memory is
    bounded by the batch (the batch's Grams and ``len(layers_a) *
    len(layers_b)`` scalars), not by the number of samples.

    Parameters
    ----------
    model_a, model_b : torch.nn.Module
        The models; ``model_b=None`` compares ``model_a`` with itself (one
        forward pass per batch).
    X : array-like, torch.Tensor, Dataset or DataLoader
        The stimuli, shown to both models in the same order (an unshuffled
        ``DataLoader``).
    layers_a, layers_b : str or list of str
        Module names (``model.named_modules()``); ``layers_b=None`` reuses
        ``layers_a``.
    X_b : same types as X, optional
        Other inputs for ``model_b`` (same number of samples and batches), for
        instance perturbed versions of ``X``.
    pooling : str, callable or dict, default="flatten"
        How each layer output becomes one row per sample; see
        :class:`FeatureExtractor` (``"flatten"`` keeps every token or spatial
        position, as Raghu et al. 2021 do).
    batch_size : int, default=512
        Samples per batch, the minibatch of the CKA estimate.
    device, dtype, preprocess
        As in :class:`FeatureExtractor`.
    verbose : bool, default=False
        Show a progress bar over the batches (on stderr, only when it is a
        terminal).

    Returns
    -------
    result : sklearn.utils.Bunch
        ``similarity`` (len(layers_a), len(layers_b)) CKA values, ``layers_a``,
        ``layers_b``, ``n_samples`` (samples used), ``n_batches``.

    See Also
    --------
    reprlign.plotting.plot_layer_similarity : heatmap of the result.
    perturbation_robustness, block_removal_robustness

    Notes
    -----
    Minibatch CKA of Nguyen, Raghu & Kornblith (2021), "Do wide and deep
    networks learn the same things?", used by Raghu et al. (2021) for
    ViT/CNN heatmaps: with ``K_i``, ``L_i`` the linear Gram matrices of batch
    ``i``, :math:`\\mathrm{CKA} = \\sum_i \\mathrm{HSIC}_1(K_i, L_i) /
    \\sqrt{\\sum_i \\mathrm{HSIC}_1(K_i, K_i) \\sum_i \\mathrm{HSIC}_1(L_i, L_i)}`,
    with the unbiased HSIC estimator of Song et al. (2012), accumulated by
    :class:`reprlign.measures.MinibatchCKA`. Batches smaller than 4 cannot
    enter the estimator: they are left out with a warning giving the count. A
    layer without variance gets CKA 0.0 with a ``RuntimeWarning``; NaN or
    infinite activations raise a ``ValueError`` naming the layer's position.
    The value depends (mildly) on the batch size, as in the paper.

    Refused before any forward pass (``ValueError``): fewer than 4 stimuli,
    ``batch_size < 4`` (not for a ``DataLoader``, which batches itself) and
    stimuli that are all identical (their layers would vary only by the
    rounding of the model's matrix products). A batch the model cannot run is
    a ``ValueError`` giving its shape and the model's message.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from reprlign import model_layer_similarity
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(),
    ...                           torch.nn.Linear(32, 8))
    >>> X = np.random.RandomState(0).randn(200, 10).astype(np.float32)
    >>> res = model_layer_similarity(net, None, X, ["0", "1", "2"], batch_size=50)
    >>> res.similarity.shape, bool(np.allclose(np.diag(res.similarity), 1))
    ((3, 3), True)
    """
    layers_a = layer_list(layers_a, "layers_a", unique=False)
    layers_b = layers_a if layers_b is None else layer_list(layers_b, "layers_b", unique=False)
    kw = dict(pooling=pooling, device=device, dtype=dtype, preprocess=preprocess)
    X = check_stimuli(X)
    X_b = None if X_b is None else check_stimuli(X_b, "X_b")
    acc = StreamedCKA()
    stream = batches(X, batch_size, verbose=verbose, desc="layer similarity")
    check_stream(X, batch_size)
    if X_b is not None:
        check_stream(X_b, batch_size, "X_b")
    shared = (model_b is None or model_b is model_a) and X_b is None
    if shared:
        union = list(dict.fromkeys(layers_a + layers_b))
        ia = [union.index(layer) for layer in layers_a]
        ib = [union.index(layer) for layer in layers_b]
        with hooked_forward(model_a, union, **kw) as forward:
            for batch in stream:
                outs = forward(batch)
                fa = [outs[i] for i in ia]
                acc.update(fa, None if ia == ib else [outs[i] for i in ib])
    else:
        model_b = model_a if model_b is None else model_b
        with ExitStack() as stack:
            fwd_a = stack.enter_context(hooked_forward(model_a, layers_a, **kw))
            fwd_b = stack.enter_context(hooked_forward(model_b, layers_b, **kw))
            batches_b = iter_batches(X if X_b is None else X_b, batch_size)
            for batch in stream:
                other = next(batches_b, None)
                if other is None:
                    raise ValueError("X_b has fewer batches than X: the inputs must pair up")
                acc.update(fwd_a(batch), fwd_b(other))
            if next(batches_b, None) is not None:
                raise ValueError("X_b has more batches than X: the inputs must pair up")
    return Bunch(similarity=acc.result(), layers_a=layers_a, layers_b=layers_b,
                 n_samples=acc.n_samples_, n_batches=acc.n_batches_)
