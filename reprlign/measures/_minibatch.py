"""Minibatch CKA (Nguyen et al. 2021) for many layer pairs at once, and layer_similarity."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.utils import check_random_state

from ..utils.backend import get_backend


def _as_layers(batch, name):
    """(names or None, list of 2-D batches, single) from an array, a sequence or a dict.

    Only cheap checks run here (dtype, shape); finiteness is checked on the
    Gram row sums in :meth:`MinibatchCKA.update`, which costs nothing extra.
    """
    if isinstance(batch, dict):
        names, arrays, single = list(batch), list(batch.values()), False
    elif isinstance(batch, list | tuple):
        names, arrays, single = None, list(batch), False
    else:
        names, arrays, single = None, [batch], True
    if not arrays:
        raise ValueError(f"{name} holds no layers")
    out = []
    for i, a in enumerate(arrays):
        nx = get_backend(a)
        a = nx.floating(a, name=_label(name, names, i, single))  # ints, float16, bfloat16
        if a.ndim < 2:
            raise ValueError(f"{_label(name, names, i, single)} must have a batch axis and "
                             f"features, got shape {tuple(a.shape)}")
        # conv maps (b, C, H, W) are flattened, as in the papers
        out.append(nx.detach(a.reshape(a.shape[0], -1)))
    b = out[0].shape[0]
    if any(a.shape[0] != b for a in out):
        raise ValueError(f"all layers of {name} must have the same batch size")
    return names, out, single


def _layers_of(batch):
    if isinstance(batch, dict):
        return list(batch.values())
    return list(batch) if isinstance(batch, list | tuple) else [batch]


def _in_memory(*batches):
    """Batches with every dask array among their layers computed, all in one go."""
    layers = [a for b in batches if b is not None for a in _layers_of(b)]
    if not get_backend(*layers).chunked:
        return batches
    import dask

    return dask.compute(*batches)


def _spans(reps_a, reps_b, n, batch_size):
    """Batches of dask layers, computed a span of whole batches at a time.

    A span covers about one row chunk of the first dask layer (at least one
    batch): its rows of every layer are computed together, then cut into
    batches, so memory holds one span and each chunk is read about once.
    """
    import dask

    chunk = next(v.chunks[0][0] for v in [*reps_a.values(), *(reps_b or {}).values()]
                 if get_backend(v).chunked)
    span = batch_size * max(1, chunk // batch_size)
    for start in range(0, n, span):
        rows = slice(start, min(n, start + span))
        xa, xb = dask.compute({k: v[rows] for k, v in reps_a.items()},
                              None if reps_b is None else {k: v[rows] for k, v in reps_b.items()})
        for i in range(0, rows.stop - start, batch_size):
            cut = slice(i, i + batch_size)
            yield ({k: v[cut] for k, v in xa.items()},
                   None if xb is None else {k: v[cut] for k, v in xb.items()})


def _batches(reps_a, reps_b, order, batch_size):
    """Batches of in-memory layers, rows in ``order``."""
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield ({k: v[get_backend(v).index(idx, v)] for k, v in reps_a.items()},
               None if reps_b is None else {k: v[get_backend(v).index(idx, v)]
                                            for k, v in reps_b.items()})


def _label(name, names, i, single):
    return name if single else f"{name}[{names[i] if names else i}]"


def _common(xs, ys):
    """The layers of both sides in one backend, device and dtype (no copy when they agree)."""
    layers = xs + ys
    nx = get_backend(*layers)
    ref = next(a for a in layers if nx.owns(a))
    layers = [nx.place(a, ref) for a in layers]
    dtype = nx.result_type(*layers)
    layers = [nx.astype(a, dtype) for a in layers]
    return layers[:len(xs)], layers[len(xs):], nx


def _gram_stats(layers, nx):
    """Zero-diagonal batch Gram matrices of every layer, flattened (L, b*b), and row sums.

    Features are centred within the batch first: the unbiased HSIC ignores
    translation, and centring keeps float32 Gram entries small and accurate.
    The Grams stay in the features' precision and are written into one
    preallocated (L, b, b) block; the row sums are returned in float64. Column
    means and row sums come from the back end (numpy's pairwise-summed
    reductions are fast and keep float32 accurate; on torch they are
    matrix-vector products, several times faster than its strided reductions).
    """
    b, n_layers = layers[0].shape[0], len(layers)
    G = nx.empty((n_layers, b, b), like=layers[0])
    with nx.quiet():  # _check_finite reports non-finite values by layer
        for i, A in enumerate(layers):
            A = A - nx.col_mean(A)
            nx.matmul(A, A.T, out=G[i])
        nx.zero_diagonals_(G)
        rows = nx.row_sums(G.reshape(n_layers * b, b)).reshape(n_layers, b)
    return G.reshape(n_layers, b * b), nx.float64(rows)


def _hsic(Ga, Ra, Gb, Rb, b, paired, nx):
    """Song et al.'s unbiased HSIC for every (a, b) pair, or only matching rows (``paired``).

    ``tr(K~ L~) + 1'K~1 1'L~1 / ((b-1)(b-2)) - 2/(b-2) (K~1)'(L~1)``, over ``b (b-3)``.
    The trace term is a product in the Grams' precision (for ``Ga is Gb`` the
    squared row norms, about ten times more accurate in float32 than a batched
    product: they enter every CKA value through the denominator); the rest is
    float64.
    """
    if paired:
        tr = nx.row_norms2(Ga) if Ga is Gb else nx.float64(nx.rowdot(Ga, Gb))
        cross = (Ra * Rb).sum(axis=1)
        sums = Ra.sum(axis=1) * Rb.sum(axis=1)
    else:
        tr = nx.float64(Ga @ Gb.T)
        cross = Ra @ Rb.T
        sums = Ra.sum(axis=1)[:, None] * Rb.sum(axis=1)[None, :]
    return (tr + sums / ((b - 1) * (b - 2)) - 2.0 / (b - 2) * cross) / (b * (b - 3))


def _check_finite(R, names, single, name):
    """Raise, naming the layer, when a layer's Gram matrix is not finite.

    A NaN or infinite feature makes every off-diagonal Gram entry non-finite
    (through the column mean), so the L row-sum totals catch it: one small
    check per batch instead of a pass over every feature.
    """
    nx = get_backend(R)
    ok = nx.to_numpy(nx.isfinite(R.sum(axis=1)))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"{_label(name, names, i, single)} contains NaN or infinite values "
                         "(or values whose Gram matrix overflows)")


class MinibatchCKA:
    """Accumulate minibatch CKA between layers of two networks over many batches.

    Call :meth:`update` once per batch with the features of the same stimuli
    from every layer of interest, then :meth:`result`. Each layer's batch Gram
    matrix is formed once per batch (with its row sums); all layer pairs then
    come from one matrix product of the flattened Grams, so L x M layer pairs
    cost about as much as L + M Gram matrices.

    Attributes
    ----------
    n_batches_ : int
        Batches seen so far.
    n_samples_ : int
        Stimuli seen so far.
    hsic_xy_ : ndarray of shape (L, M)
        Sum over batches of the unbiased HSIC between each X layer and Y layer.
    hsic_xx_ : ndarray of shape (L,)
        Sum over batches of the unbiased HSIC of each X layer with itself.
    hsic_yy_ : ndarray of shape (M,)
        The same for the Y layers.
    layers_x_, layers_y_ : list of str or None
        Layer names when dicts were passed.

    See Also
    --------
    cka : exact CKA on all stimuli at once.
    layer_similarity : the layer x layer matrix from dicts of precomputed features.

    Notes
    -----
    Nguyen, Raghu & Kornblith (2021), "Do wide and deep networks learn the same
    things?": ``CKA_minibatch = sum_i HSIC_1(K_i, L_i) / sqrt(sum_i HSIC_1(K_i, K_i)
    sum_i HSIC_1(L_i, L_i))`` with ``HSIC_1`` the unbiased estimator of Song et
    al. (2012) on batch ``i``'s linear Gram matrices. It depends on how the
    stimuli are split into batches, and differs from unbiased CKA on all
    stimuli at once. Batches need at least 4 stimuli; torch tensors are
    accumulated on their device in float64.

    Validation is kept off the per-batch cost: each batch's dtypes and shapes
    are checked, and finiteness is read off the Gram row sums (a NaN or
    infinite feature makes them non-finite), so no pass over the features is
    spent on it; a rejected batch leaves the accumulator unchanged. Grams are
    formed in the features' precision (float16 is promoted to float32; mixed
    precisions meet in the wider one); float32 agrees with float64 to about
    1e-6 in CKA. :func:`reprlign.model_layer_similarity` streams models'
    layers through this class.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import MinibatchCKA
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(512, 20)
    >>> acc = MinibatchCKA()
    >>> for start in range(0, 512, 128):
    ...     rows = slice(start, start + 128)
    ...     _ = acc.update(X[rows], 2 * X[rows] + 1)
    >>> round(acc.result(), 6)
    1.0
    >>> acc = MinibatchCKA()
    >>> _ = acc.update({"a": X[:128], "b": X[:128] ** 2}, None)  # every layer pair
    >>> acc.result().shape
    (2, 2)
    """

    def __init__(self):
        self.reset()

    def reset(self):
        """Forget every batch seen; returns ``self``."""
        self.n_batches_ = 0
        self.n_samples_ = 0
        self.hsic_xy_ = None
        self.hsic_xx_ = None
        self.hsic_yy_ = None
        self.layers_x_ = None
        self.layers_y_ = None
        self._shape = None
        return self

    def update(self, X_batch, Y_batch=None):
        """Add one batch.

        Parameters
        ----------
        X_batch : array-like, torch.Tensor, sequence or dict of them
            Features of the batch's stimuli, shape (b, ...) each (more than two
            axes are flattened); a sequence or dict gives several layers.
        Y_batch : same kinds as ``X_batch``, or None
            Features of the same stimuli from the other network (any number of
            layers and widths). None compares the X layers with each other (a
            self-similarity heatmap) and reuses their Gram matrices.

        Returns
        -------
        self
        """
        X_batch, Y_batch = _in_memory(X_batch, Y_batch)
        names_x, xs, single_x = _as_layers(X_batch, "X_batch")
        if Y_batch is None:
            names_y, ys, single_y = names_x, xs, single_x
        else:
            names_y, ys, single_y = _as_layers(Y_batch, "Y_batch")
        b = xs[0].shape[0]
        if ys[0].shape[0] != b:
            raise ValueError(
                f"X_batch and Y_batch must hold the same stimuli: {b} and {ys[0].shape[0]} rows"
            )
        if b < 4:
            raise ValueError(f"each batch needs at least 4 stimuli for unbiased HSIC, got {b}")
        shape = (len(xs), len(ys), single_x and single_y, Y_batch is None)
        if self._shape is not None and shape != self._shape:
            raise ValueError("every batch must hold the same layers as the first one")
        xs, ys, nx = _common(xs, ys if Y_batch is not None else [])
        Gx, Rx = _gram_stats(xs, nx)
        _check_finite(Rx, names_x, single_x, "X_batch")
        if Y_batch is None:
            Gy, Ry = Gx, Rx
        else:
            Gy, Ry = _gram_stats(ys, nx)
            _check_finite(Ry, names_y, single_y, "Y_batch")
        hxy = _hsic(Gx, Rx, Gy, Ry, b, False, nx)
        hxx = _hsic(Gx, Rx, Gx, Rx, b, True, nx)
        hyy = hxx if Y_batch is None else _hsic(Gy, Ry, Gy, Ry, b, True, nx)
        if self.hsic_xy_ is None:  # set only now: a rejected batch leaves no trace
            self._shape = shape
            self.layers_x_, self.layers_y_ = names_x, names_y
            self.hsic_xy_, self.hsic_xx_, self.hsic_yy_ = hxy, hxx, hyy
        else:
            self.hsic_xy_ = self.hsic_xy_ + hxy
            self.hsic_xx_ = self.hsic_xx_ + hxx
            self.hsic_yy_ = self.hsic_yy_ + hyy
        self.n_batches_ += 1
        self.n_samples_ += b
        return self

    def result(self):
        """Minibatch CKA: a float for single arrays, else an (L, M) array.

        A layer with no variance in any batch gets CKA 0.0, with a
        ``RuntimeWarning`` naming it.
        """
        if self.hsic_xy_ is None:
            raise ValueError("MinibatchCKA.result() called before any update()")
        nx = get_backend(self.hsic_xy_)
        hxy, hxx, hyy = (nx.to_numpy(h) for h in (self.hsic_xy_, self.hsic_xx_, self.hsic_yy_))
        denom = np.sqrt(np.outer(hxx, hyy))
        bad_x, bad_y = np.flatnonzero(hxx <= 0), np.flatnonzero(hyy <= 0)
        if len(bad_x) or len(bad_y):
            warnings.warn(
                f"minibatch CKA is undefined for layers without variance (X: {bad_x.tolist()}, "
                f"Y: {bad_y.tolist()}); their CKA is set to 0.0",
                RuntimeWarning,
                stacklevel=2,
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(denom > 0, hxy / np.where(denom > 0, denom, 1.0), 0.0)
        return float(out[0, 0]) if self._shape[2] else out


def layer_similarity(reps_a, reps_b=None, *, batch_size=256, shuffle=False, random_state=None):
    """Layer x layer minibatch CKA matrix from precomputed features, in one pass.

    Parameters
    ----------
    reps_a : dict of str -> array-like, torch.Tensor or dask array of shape (n, ...)
        Features of the same n stimuli from each layer of a network (more
        than two axes are flattened). With dask arrays (such as the layers of
        a :class:`reprlign.FeatureStore`), the rows of a few batches of every
        layer are computed at a time, about one row chunk, so the layers
        never need to fit in memory.
    reps_b : dict or None, default=None
        The same for another network; None compares ``reps_a`` with itself.
    batch_size : int, default=256
        Stimuli per minibatch (at least 4). A last batch of fewer than 4
        stimuli is dropped with a warning that says how many.
    shuffle : bool, default=False
        Shuffle the stimuli before splitting them into batches (not for dask
        arrays, which are read in order).
    random_state : int, RandomState or None
        Seed for the shuffle.

    Returns
    -------
    ndarray of shape (len(reps_a), len(reps_b))
        Rows follow the order of ``reps_a``'s keys, columns that of ``reps_b``.

    See Also
    --------
    MinibatchCKA, cka

    Notes
    -----
    Raghu et al. (2021) and Nguyen et al. (2021) draw such heatmaps to compare
    the layers of two networks (or of one network with itself).

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import layer_similarity
    >>> rng = np.random.RandomState(0)
    >>> h1 = rng.randn(600, 32)
    >>> reps = {"h1": h1, "h2": np.maximum(h1 @ rng.randn(32, 16), 0)}
    >>> S = layer_similarity(reps, batch_size=200)
    >>> S.shape, round(float(S[0, 0]), 6)
    ((2, 2), 1.0)
    """
    for name, reps in (("reps_a", reps_a), ("reps_b", reps_b)):
        if reps is not None and (not isinstance(reps, dict) or not reps):
            raise TypeError(f"{name} must be a non-empty dict of layer name -> features")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or (
        batch_size < 4
    ):
        raise ValueError(f"batch_size must be an integer >= 4, got {batch_size!r}")
    layers = list(reps_a.values()) + ([] if reps_b is None else list(reps_b.values()))
    n = layers[0].shape[0]
    for key, a in list(reps_a.items()) + list((reps_b or {}).items()):
        if a.shape[0] != n:
            raise ValueError(f"layer {key!r} has {a.shape[0]} stimuli, expected {n}")
    nx = get_backend(*layers)
    if nx.chunked:
        if shuffle:
            nx.refuse("layer_similarity(shuffle=True)", "reads the stimuli in random order, "
                      "every batch from every chunk", "Shuffle the stimuli before they are "
                      "stored (or pass shuffle=False: the batches then follow the chunks).")
        stream = _spans(reps_a, reps_b, n, batch_size)
    else:
        order = np.arange(n)
        if shuffle:
            order = check_random_state(random_state).permutation(n)
        stream = _batches(reps_a, reps_b, order, batch_size)
    acc = MinibatchCKA()
    dropped = 0
    for xa, xb in stream:
        b = next(iter(xa.values())).shape[0]
        if b < 4:
            dropped = b
            break
        acc.update(xa, xb)
    if dropped:
        warnings.warn(
            f"layer_similarity: the last {dropped} stimuli form a batch of fewer than 4 and "
            "were left out",
            UserWarning,
            stacklevel=2,
        )
    if acc.n_batches_ == 0:
        raise ValueError(f"layer_similarity needs at least 4 stimuli, got {n}")
    return acc.result()

