"""RSAScorer: the measures of :mod:`reprlign.measures` as a scikit-learn scorer."""

from __future__ import annotations

import inspect

import numpy as np

from ..utils._backend import is_torch
from ._cka import cka
from ._knn import mutual_knn
from ._procrustes import procrustes
from ._rsa import rsa
from ._stats import bootstrap

METRICS = ("cka", "rsa", "procrustes", "mutual_knn")


class RSAScorer:
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
        Resamples of the stimuli for :meth:`score_ci`.
    confidence : float, default=0.95
        Coverage of the interval from :meth:`score_ci`.
    ci_method : {"percentile", "bca"}, default="percentile"
        Bootstrap interval type for :meth:`score_ci`.
    random_state : int, RandomState or None, default=None
        Seed for the bootstrap of :meth:`score_ci`.

    See Also
    --------
    reprlign.measures.cka, reprlign.measures.rsa, reprlign.measures.bootstrap

    Notes
    -----
    ``RSAScorer`` is deliberately **not** a :class:`~sklearn.base.BaseEstimator`:
    it is a scorer (it is never fitted and has no ``fit``/``transform``), so the
    common estimator checks of scikit-learn do not apply to it. It still
    follows the parameter protocol: ``__init__`` only stores its arguments, and
    :meth:`get_params` / :meth:`set_params` read them from the signature, so
    :func:`sklearn.base.clone`, pickling and ``repr`` work as for estimators.

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
                 n_bootstrap=1000, confidence=0.95, ci_method="percentile", random_state=None):
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

    # ----------------------------------------------------------------- parameters
    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self")

    def get_params(self, deep=True):
        """Parameters of the scorer, as for a scikit-learn estimator."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters by name; unknown names raise ``ValueError``."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for RSAScorer; valid: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = [
            f"{k}={v!r}" for k, v in self.get_params().items()
            if not (v is defaults[k] or (type(v) is type(defaults[k]) and v == defaults[k]))
        ]
        return f"RSAScorer({', '.join(changed)})"

    # ----------------------------------------------------------------- scoring
    def _measure(self):
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if self.metric == "cka":
            return cka, {"kernel": self.kernel, "debiased": self.debiased, "sigma": self.sigma}
        if self.metric == "rsa":
            return rsa, {"rdm_metric": self.rdm_metric, "compare": self.compare}
        if self.metric == "procrustes":
            return procrustes, {}
        return mutual_knn, {"k": self.k}

    def _place(self, A, B):
        if self.device is None:
            return A, B
        import torch

        from ..utils._torch import get_device

        dev = get_device(self.device)
        out = []
        for Z in (A, B):
            Z = Z if is_torch(Z) else torch.as_tensor(np.asarray(Z))
            out.append(Z.to(dev))
        return tuple(out)

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

    def score_ci(self, A, B):
        """The score and its bootstrap confidence interval over stimuli.

        Returns
        -------
        sklearn.utils.Bunch
            ``value``, ``low``, ``high``, ``distribution``, ``ci_method`` and
            ``confidence`` (see :func:`reprlign.measures.bootstrap`).
        """
        fn, kwargs = self._measure()
        A, B = self._place(A, B)
        return bootstrap(fn, A, B, n_bootstrap=self.n_bootstrap, confidence=self.confidence,
                         ci_method=self.ci_method, random_state=self.random_state, **kwargs)

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
        y = np.asarray(y) if not is_torch(y) else y
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        return self.score(Z, y)
