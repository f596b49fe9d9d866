"""RSAScorer: the measures of :mod:`reprlign.measures` as a scikit-learn scorer."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils.backend import TORCH, get_backend
from ._stats import CI_METHODS, bootstrap
from .registry import FEATURE_MEASURES, MEASURES

# The scorer's parameters that are passed on to whichever measure declares them.
_MEASURE_PARAMS = ("kernel", "debiased", "sigma", "rdm_metric", "compare", "k")


def _options(measure, param):
    return StrOptions(set(MEASURES[measure].params[param].choices))


class RSAScorer(BaseEstimator):
    """Score how well a representation aligns with a reference representation.

    Use it as ``scoring=`` in :class:`~sklearn.model_selection.GridSearchCV` or
    :func:`~sklearn.model_selection.cross_val_score`: called as
    ``scorer(estimator, X, y)``, it compares ``estimator.transform(X)`` with the
    reference ``y`` (one row per row of ``X``), so cross-validation splits the
    stimuli of both consistently. Or call :meth:`score` / :meth:`score_ci` on two
    representations directly.

    Parameters
    ----------
    metric : {"cka", "rsa", "procrustes", "mutual_knn"}, default="cka"
        The measure (:func:`~reprlign.measures.cka`, :func:`~reprlign.measures.rsa`,
        :func:`~reprlign.measures.procrustes` similarity,
        :func:`~reprlign.measures.mutual_knn`). Larger is more similar for all.
    kernel : {"linear", "rbf"}, default="linear"
        CKA kernel.
    debiased : bool, default=False
        Unbiased HSIC for CKA (recommended when features outnumber stimuli).
    sigma : None, float or (float, float), default=None
        RBF bandwidth for CKA; None is the median heuristic.
    rdm_metric : {"correlation", "cosine", "euclidean", "sqeuclidean"}, default="correlation"
        RDM dissimilarity for RSA.
    compare : {"spearman", "pearson", "tau_a", "cosine"}, default="spearman"
        RDM comparator for RSA.
    k : int, default=10
        Neighbours for mutual k-NN.
    device : None, str or torch.device, default=None
        None computes numpy input with numpy (and tensors on their device);
        ``"cpu"`` or ``"cuda"`` moves both representations there as torch
        tensors first.
    n_bootstrap : int, default=1000
        Resamples of the stimuli for :meth:`score_ci` (half of them each, drawn
        without replacement).
    confidence : float, default=0.95
        Coverage of the interval from :meth:`score_ci`.
    ci_method : {"basic", "bca", "percentile"}, default="basic"
        Interval type for :meth:`score_ci` (see :func:`~reprlign.measures.bootstrap`).
    random_state : int, RandomState or None, default=None
        Seed for the bootstrap of :meth:`score_ci`.

    See Also
    --------
    reprlign.measures.cka, reprlign.measures.rsa, reprlign.measures.bootstrap

    Notes
    -----
    ``RSAScorer`` is a :class:`~sklearn.base.BaseEstimator` for its parameters
    (``get_params``, ``set_params``, ``clone``, pickling, ``repr`` and
    validation against ``_parameter_constraints``, checked when it scores), but
    not an estimator: it is never fitted, so the estimator checks do not apply
    to it. The measures and their options come from
    :mod:`reprlign.measures.registry`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import cross_val_score
    >>> from reprlign import RSAScorer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(120, 10)
    >>> reference = X[:, :3] @ rng.randn(3, 4)  # "human" embedding of the same stimuli
    >>> scores = cross_val_score(PCA(n_components=3), X, reference, cv=3, scoring=RSAScorer())
    >>> scores.shape
    (3,)
    >>> RSAScorer(metric="rsa", compare="pearson").score(X, X)
    1.0
    """

    def __init__(self, metric="cka", *, kernel="linear", debiased=False, sigma=None,
                 rdm_metric="correlation", compare="spearman", k=10, device=None,
                 n_bootstrap=1000, confidence=0.95, ci_method="basic", random_state=None):
        self.metric = metric
        self.kernel = kernel
        self.debiased = debiased
        self.sigma = sigma
        self.rdm_metric = rdm_metric
        self.compare = compare
        self.k = k
        self.device = device
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.ci_method = ci_method
        self.random_state = random_state

    _parameter_constraints: dict = {
        "metric": [StrOptions(set(FEATURE_MEASURES))],
        "kernel": [_options("cka", "kernel")],
        "debiased": ["boolean"],
        "sigma": [None, Interval(Real, 0, None, closed="neither"), tuple],
        "rdm_metric": [_options("rsa", "rdm_metric")],
        "compare": [_options("rsa", "compare")],
        "k": [Interval(Integral, 1, None, closed="left")],
        "device": "no_validation",  # None, a string or a torch.device: get_device checks it
        "n_bootstrap": [Interval(Integral, 2, None, closed="left")],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "ci_method": [StrOptions(set(CI_METHODS))],
        "random_state": ["random_state"],
    }

    def _measure(self):
        self._validate_params()
        spec = MEASURES[self.metric]
        return spec.function, {p: getattr(self, p) for p in spec.params if p in _MEASURE_PARAMS}

    def _place(self, A, B):
        if self.device is None:
            return A, B
        from ..utils._torch import get_device

        dev = get_device(self.device)
        return tuple(TORCH.asarray(Z, device=dev) for Z in (A, B))

    def score(self, A, B):
        """The alignment of two representations of the same stimuli, as a float.

        Parameters
        ----------
        A : array-like or torch.Tensor of shape (n, d1)
        B : array-like or torch.Tensor of shape (n, d2)

        Returns
        -------
        float
        """
        fn, kwargs = self._measure()
        A, B = self._place(A, B)
        return float(fn(A, B, **kwargs))

    def score_ci(self, A, B, *, verbose=False):
        """The score and its confidence interval over stimuli.

        Parameters
        ----------
        A : array-like or torch.Tensor of shape (n, d1)
        B : array-like or torch.Tensor of shape (n, d2)
        verbose : bool, default=False
            Show a progress bar over the resamples (on a terminal).

        Returns
        -------
        sklearn.utils.Bunch
            ``value``, ``low``, ``high``, ``distribution``, ``ci_method``,
            ``confidence`` and ``bias`` (see :func:`reprlign.measures.bootstrap`).
        """
        fn, kwargs = self._measure()
        A, B = self._place(A, B)
        return bootstrap(fn, A, B, n_bootstrap=self.n_bootstrap, confidence=self.confidence,
                         ci_method=self.ci_method, random_state=self.random_state,
                         verbose=verbose, **kwargs)

    def __call__(self, estimator, X, y):
        """Score ``estimator.transform(X)`` against the reference representation ``y``.

        ``estimator`` may be None or ``"passthrough"`` to score ``X`` itself.
        """
        if y is None:
            raise ValueError(
                "RSAScorer needs the reference representation as y (one row per row of X)"
            )
        if estimator is None or (isinstance(estimator, str) and estimator == "passthrough"):
            Z = X
        elif hasattr(estimator, "transform"):
            Z = estimator.transform(X)
        else:
            raise TypeError(
                f"RSAScorer scores a representation: {type(estimator).__name__} has no "
                "transform method (pass None or 'passthrough' to score X itself)"
            )
        y = get_backend(y).asarray(y)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        return self.score(Z, y)
