"""FeatureExtractor: activations of named torch submodules as an sklearn transformer."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._backend import is_torch
from .hooks import POOLINGS, batches, check_stimuli, hooked_forward, iter_batches, layer_list

# Features are returned in these dtypes; others (bfloat16, float16) as float32.
_KEEP_DTYPES = (torch.float32, torch.float64)


class _TorchModule(HasMethods):
    """Parameter constraint: an instance of ``torch.nn.Module``.

    Written as a ``HasMethods`` subclass because scikit-learn's constraint
    machinery accepts no other user-defined constraint; the check is
    ``isinstance``, and errors say "a torch.nn.Module".
    """

    def __init__(self):
        super().__init__(["forward", "named_modules"])

    def is_satisfied_by(self, val):
        return isinstance(val, torch.nn.Module)

    def __str__(self):
        return "a torch.nn.Module"


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """Activations of named submodules of a torch model, as (n, d) feature tables.

    Forward hooks collect the outputs of the modules named in ``layers`` while
    the model runs over ``X`` batch by batch, in eval mode and without
    gradients, on ``device``. Each batch's outputs are pooled on the device and
    only the pooled features are kept, so memory grows with ``n * d``, not with
    the size of the raw activation maps.

    Parameters
    ----------
    model : torch.nn.Module
        The network. It is moved to ``device`` (and ``dtype``, if given) in
        place, as ``torch.nn.Module.to`` does; its train/eval flags are
        restored after each pass.
    layers : str or list of str
        Names from ``model.named_modules()`` (for instance ``"features.3"``,
        ``"blocks.0.mlp"``). ``""`` is the model itself.
    pooling : {"mean", "cls", "flatten", "none"}, callable or dict, default="mean"
        How each output becomes one row per sample (see Notes). A dict maps
        layer names to policies (layers not in it use ``"mean"``).
    batch_size : int, default=256
        Samples per forward pass (ignored for a ``DataLoader``, which batches
        itself).
    device : str or torch.device, default="cpu"
        Where the model runs.
    dtype : str or None, default=None
        Floating dtype the model runs in and features are returned as
        (``"float32"``, ``"float64"``, ``"bfloat16"`` is returned as float32).
        None keeps the model's own parameter dtype.
    preprocess : callable or None, default=None
        Applied to each input batch (a tensor already on ``device``) before the
        model, for instance to scale uint8 images and move channels first.
        Without it, each batch is cast to the model's dtype; with it, the batch
        is passed unchanged, so integer token ids can reach an embedding layer.
    verbose : bool or int, default=False
        Show a progress bar over the batches of :meth:`extract`,
        :meth:`iter_extract` and :meth:`transform` (on stderr, and only when
        stderr is a terminal).

    Attributes
    ----------
    layers_ : list of str
        The layer names, in order.
    n_features_in_ : int
        ``X.shape[1]`` of the array seen in ``fit`` (not set for datasets).
    output_dims_ : dict
        Layer name -> number of columns after pooling (the pooled shape without
        the sample axis for ``pooling="none"``), from a forward pass on the first
        batch of ``fit``'s input.

    See Also
    --------
    reprlign.model_layer_similarity : layer x layer CKA of two models in one pass.

    Notes
    -----
    Pooling policy, applied to every batch on the device:

    * 2-D outputs ``(n, d)`` are kept as they are by every policy.
    * 3-D outputs are tokens ``(n, tokens, channels)`` (batch-first
      transformers, MLP-Mixer): ``"mean"`` averages over tokens, ``"cls"`` takes
      token 0, ``"flatten"`` gives ``(n, tokens * channels)``.
    * 4-D and larger outputs are channel-first maps ``(n, c, h, w)``: ``"mean"``
      averages over the spatial axes (global average pooling), ``"flatten"``
      gives ``(n, c * h * w)``, ``"cls"`` raises. A ``Conv1d`` output
      ``(n, c, length)`` is 3-D and would be read as tokens: pass
      ``pooling=lambda t: t.mean(-1)`` for it.
    * ``"none"`` keeps the raw output; only :meth:`extract` accepts it.
    * A callable receives the output tensor and returns ``(n, ...)``.

    Modules that return tuples (``nn.MultiheadAttention``, ``nn.LSTM``) or
    mappings contribute their first element. This is the recipe of Raghu et
    al. (2021), "Do vision transformers see like convolutional neural
    networks?", who compare ViT token representations with CNN feature maps
    layer by layer.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from reprlign import FeatureExtractor
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
    ...                           torch.nn.Conv2d(8, 16, 3))
    >>> X = np.random.RandomState(0).rand(10, 3, 12, 12).astype(np.float32)
    >>> fx = FeatureExtractor(net, ["1", "2"], batch_size=4).fit(X)
    >>> {k: v.shape for k, v in fx.extract(X).items()}
    {'1': (10, 8), '2': (10, 16)}
    >>> fx.transform(X).shape  # several layers: columns side by side
    (10, 24)
    """

    def __init__(self, model, layers, *, pooling="mean", batch_size=256, device="cpu",
                 dtype=None, preprocess=None, verbose=False):
        self.model = model
        self.layers = layers
        self.pooling = pooling
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.preprocess = preprocess
        self.verbose = verbose

    _parameter_constraints: dict = {
        "model": [_TorchModule()],
        "layers": [str, list, tuple],
        "pooling": [StrOptions(set(POOLINGS)), callable, dict],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "dtype": [None, str, type, np.dtype, torch.dtype],
        "preprocess": [None, callable],
        "verbose": ["verbose"],
    }

    # -- validation -------------------------------------------------------------------------
    def _check_input(self, X, reset):
        """Validate arrays and tensors (and ``n_features_in_``); pass datasets and loaders."""
        from torch.utils.data import DataLoader, Dataset

        if isinstance(X, Dataset | DataLoader):
            return X
        if not is_torch(X):
            return validate_data(self, X, reset=reset, allow_nd=True, dtype="numeric")
        X = check_stimuli(X)
        if reset:
            self.n_features_in_ = int(X.shape[1])
        elif hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but FeatureExtractor is "
                             f"expecting {self.n_features_in_} features as input")
        return X

    # -- the pass over the data ---------------------------------------------------------------
    def _forward(self, layers):
        """The model's hooked forward pass, a context yielding ``forward(batch)``."""
        return hooked_forward(self.model, layers, pooling=self.pooling, device=self.device,
                              dtype=self.dtype, preprocess=self.preprocess)

    def _run(self, X, layers):
        """Yield, per batch, the list of pooled outputs (tensors on the device)."""
        stream = batches(X, self.batch_size, verbose=self.verbose, desc="FeatureExtractor")
        with self._forward(layers) as forward:
            for batch in stream:
                yield forward(batch)

    def _prepare(self, X):
        """Check fitted state, the current parameters and ``X``; return ``(X, layers)``.

        Parameters are read as they are now (``set_params`` after ``fit`` takes
        effect, as for the pooling policy).
        """
        check_is_fitted(self, "layers_")
        self._validate_params()
        return self._check_input(X, reset=False), layer_list(self.layers)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the layers and record each layer's output width from a first batch.

        Parameters
        ----------
        X : array-like, torch.Tensor, Dataset or DataLoader
            Inputs of shape ``(n, ...)`` the model accepts.
        y : ignored

        Returns
        -------
        self : FeatureExtractor
        """
        X = self._check_input(X, reset=True)
        layers = layer_list(self.layers)
        with self._forward(layers) as forward:
            batch = next(iter_batches(X, self.batch_size), None)
            first = None if batch is None else forward(batch)
        if first is None:
            raise ValueError("X is empty: no batch to run the model on")
        self.layers_ = layers
        self.output_dims_ = {
            layer: (int(out.shape[1]) if out.ndim == 2 else tuple(int(s) for s in out.shape[1:]))
            for layer, out in zip(layers, first, strict=True)
        }
        return self

    def extract(self, X):
        """Features of every layer, in one pass over ``X``.

        Parameters
        ----------
        X : array-like, torch.Tensor, Dataset or DataLoader
            Inputs of shape ``(n, ...)``.

        Returns
        -------
        features : dict
            Layer name -> numpy array ``(n, d)`` (``(n, ...)`` for
            ``pooling="none"``), float32 unless the model runs in float64.
        """
        X, layers = self._prepare(X)
        chunks = [[] for _ in layers]
        for outs in self._run(X, layers):
            for chunk, out in zip(chunks, outs, strict=True):
                if out.dtype not in _KEEP_DTYPES:
                    out = out.float()
                chunk.append(out.detach().cpu().numpy())
        return {layer: np.concatenate(chunk) for layer, chunk in zip(layers, chunks, strict=True)}

    def iter_extract(self, X):
        """Like :meth:`extract`, one batch at a time: yields dicts of torch tensors on the device.

        This is what streaming computations (minibatch CKA) consume: nothing of
        size ``n`` is ever held.
        """
        X, layers = self._prepare(X)
        for outs in self._run(X, layers):
            yield dict(zip(layers, outs, strict=True))

    def transform(self, X):
        """The (n, d) features; with several layers, their columns side by side in layer order.

        Parameters
        ----------
        X : array-like, torch.Tensor, Dataset or DataLoader
            Inputs of shape ``(n, ...)``.

        Returns
        -------
        features : ndarray of shape (n, d)
            ``d`` is the sum of the layers' widths in ``output_dims_``.
        """
        feats = self.extract(X)
        for layer, F in feats.items():
            if F.ndim != 2:
                raise ValueError(f"layer {layer!r} gives outputs of shape {F.shape[1:]} per "
                                 f"sample with pooling='none'; transform needs 2-D features: use "
                                 f"extract() or another pooling")
        out = list(feats.values())
        return out[0] if len(out) == 1 else np.hstack(out)

    def get_feature_names_out(self, input_features=None):
        """``"<layer>_<j>"`` for every output column, in :meth:`transform` order."""
        check_is_fitted(self, "layers_")
        names = []
        for layer in self.layers_:
            d = self.output_dims_[layer]
            if not isinstance(d, int):
                raise ValueError(f"layer {layer!r} has pooling='none': no flat feature names")
            names += [f"{layer or 'model'}_{j}" for j in range(d)]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        # Features come back in the model's dtype, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags

