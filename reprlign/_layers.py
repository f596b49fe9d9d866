"""Layer-by-layer minibatch CKA of torch models, in one streaming pass over the data."""

from __future__ import annotations

import warnings
from contextlib import ExitStack

import numpy as np
from sklearn.utils import Bunch

from ._features import FeatureExtractor, iter_batches


class _PairwiseHSIC:
    """Unbiased HSIC (Song et al. 2012) of every (a, b) layer pair, summed over minibatches.

    Per batch, each layer's linear Gram matrix is formed once (batch x batch,
    from features centred within the batch: the unbiased estimator is
    translation invariant, and centring keeps float32 Grams accurate); the
    three terms of the estimator for all pairs then come from one matrix
    product of the flattened Grams and one of their row sums. Memory: the
    Grams of one batch plus ``n_a * n_b`` scalars, whatever ``n``.

    It computes what :class:`reprlign.measures.MinibatchCKA` computes (the
    tests check they agree), specialised for model streaming: inputs are
    tensors straight from forward hooks, so it skips the measure's input
    validation and float64 U-centring, which made a 16-layer batch of 512
    about 2.5x slower there; the finiteness of the result is checked once.
    """

    def __init__(self):
        self.ab = self.aa = self.bb = None
        self.n_batches = 0
        self.n_samples = 0
        self.dropped = 0

    @staticmethod
    def _gram_stats(feats):
        """Zero-diagonal Grams of centred features, flattened (L, n*n), and their row sums.

        Column means and row sums go through matrix-vector products: torch's
        strided reductions are several times slower than the GEMV on CPU.
        """
        import torch

        n = feats[0].shape[0]
        dtype = torch.promote_types(feats[0].dtype, torch.float32)
        dev = feats[0].device
        ones = torch.full((1, n), 1.0 / n, dtype=dtype, device=dev)
        G = torch.empty(len(feats), n, n, dtype=dtype, device=dev)
        for i, F in enumerate(feats):
            F = F.reshape(n, -1).to(dtype)
            F = F - ones @ F
            torch.mm(F, F.T, out=G[i])
        G.diagonal(dim1=1, dim2=2).zero_()
        G = G.reshape(len(feats), -1)
        rows = (G.reshape(len(feats) * n, n) @ ones[0]).reshape(len(feats), n) * n
        return G, rows.double()

    @staticmethod
    def _hsic(Ga, Ra, Gb, Rb, n, diagonal=False):
        import torch

        # The products run in the features' precision (centring keeps the Gram entries small,
        # so float32 is accurate to ~1e-6 in CKA); sums and the combination in float64.
        if diagonal:
            if Ga is Gb:
                tr = torch.linalg.vector_norm(Ga, dim=1).double() ** 2
            else:
                tr = torch.einsum("ij,ij->i", Ga, Gb).double()
            cross = (Ra * Rb).sum(dim=1)
            sums = Ra.sum(dim=1) * Rb.sum(dim=1)
        else:
            tr = (Ga @ Gb.T).double()
            cross = Ra @ Rb.T
            sums = Ra.sum(dim=1)[:, None] * Rb.sum(dim=1)[None, :]
        return (tr + sums / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * cross) / (n * (n - 3))

    def update(self, feats_a, feats_b=None):
        """Add one batch: lists of (batch, ...) tensors; ``feats_b=None`` means ``feats_a``."""
        n = feats_a[0].shape[0]
        if feats_b is not None and feats_b[0].shape[0] != n:
            raise ValueError(f"the two inputs gave batches of {n} and {feats_b[0].shape[0]} rows")
        if n < 4:  # the unbiased estimator divides by n - 3
            self.dropped += n
            return
        Ga, Ra = self._gram_stats(feats_a)
        Gb, Rb = (Ga, Ra) if feats_b is None else self._gram_stats(feats_b)
        ab = self._hsic(Ga, Ra, Gb, Rb, n)
        aa = self._hsic(Ga, Ra, Ga, Ra, n, diagonal=True)
        bb = aa if feats_b is None else self._hsic(Gb, Rb, Gb, Rb, n, diagonal=True)
        if self.ab is None:
            self.ab, self.aa, self.bb = ab.clone(), aa.clone(), bb.clone()
        else:
            self.ab += ab
            self.aa += aa
            self.bb += bb
        self.n_batches += 1
        self.n_samples += n

    def result(self):
        """The (n_a, n_b) CKA matrix: sum HSIC_ab / sqrt(sum HSIC_aa * sum HSIC_bb)."""
        if self.ab is None:
            raise ValueError("no batch of at least 4 samples was seen: minibatch CKA is undefined")
        if self.dropped:
            warnings.warn(f"{self.dropped} sample(s) in batches smaller than 4 were left out of "
                          f"the minibatch CKA (the unbiased HSIC needs 4 rows)", stacklevel=3)
        denom = (self.aa[:, None] * self.bb[None, :]).clamp_min(0).sqrt()
        out = (self.ab / denom).cpu().numpy()
        bad = ~np.isfinite(out)
        if bad.any():
            warnings.warn(f"{int(bad.sum())} layer pair(s) involve a constant representation "
                          f"(zero HSIC) or non-finite activations: their CKA is reported as NaN",
                          stacklevel=3)
        return out


def _layer_list(layers, name):
    if isinstance(layers, str):
        return [layers]
    if layers is None:
        raise ValueError(f"{name} must name at least one module")
    return list(layers)


def _extractor(model, layers, kw):
    return FeatureExtractor(model, layers, **kw)


def check_stimuli(X, name="X"):
    """Validate arrays and tensors of stimuli (finite, a sample axis); pass datasets through."""
    try:
        return FeatureExtractor(None, "")._check_input(X, reset=True)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def model_layer_similarity(model_a, model_b, X, layers_a, layers_b=None, *, X_b=None,
                           pooling="flatten", batch_size=512, device="cpu", dtype=None,
                           preprocess=None):
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
    with the unbiased HSIC estimator of Song et al. (2012). Batches smaller
    than 4 cannot enter the estimator: they are left out with a warning giving
    the count. The value depends (mildly) on the batch size, as in the paper.

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
    layers_a = _layer_list(layers_a, "layers_a")
    layers_b = layers_a if layers_b is None else _layer_list(layers_b, "layers_b")
    kw = dict(pooling=pooling, batch_size=batch_size, device=device, dtype=dtype,
              preprocess=preprocess)
    X = check_stimuli(X)
    X_b = None if X_b is None else check_stimuli(X_b, "X_b")
    acc = _PairwiseHSIC()
    shared = (model_b is None or model_b is model_a) and X_b is None
    if shared:
        union = list(dict.fromkeys(layers_a + layers_b))
        ia = [union.index(layer) for layer in layers_a]
        ib = [union.index(layer) for layer in layers_b]
        with _extractor(model_a, union, kw)._session() as (_, forward):
            for batch in iter_batches(X, batch_size):
                outs = forward(batch)
                fa = [outs[i] for i in ia]
                acc.update(fa, None if ia == ib else [outs[i] for i in ib])
    else:
        model_b = model_a if model_b is None else model_b
        with ExitStack() as stack:
            _, fwd_a = stack.enter_context(_extractor(model_a, layers_a, kw)._session())
            _, fwd_b = stack.enter_context(_extractor(model_b, layers_b, kw)._session())
            batches_b = iter_batches(X if X_b is None else X_b, batch_size)
            for batch in iter_batches(X, batch_size):
                other = next(batches_b, None)
                if other is None:
                    raise ValueError("X_b has fewer batches than X: the inputs must pair up")
                acc.update(fwd_a(batch), fwd_b(other))
            if next(batches_b, None) is not None:
                raise ValueError("X_b has more batches than X: the inputs must pair up")
    return Bunch(similarity=acc.result(), layers_a=layers_a, layers_b=layers_b,
                 n_samples=acc.n_samples, n_batches=acc.n_batches)
