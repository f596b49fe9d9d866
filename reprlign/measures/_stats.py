"""Inference for the measures: bootstrap intervals, permutation tests, RDM noise ceilings."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.spatial.distance import squareform
from scipy.special import ndtr, ndtri
from sklearn.utils import Bunch, check_random_state

from ..utils.backend import NUMPY, get_backend
from ._cka import cka
from ._common import check_pair
from ._knn import mutual_knn
from ._procrustes import procrustes
from ._rsa import COMPARATORS, compare_rdms, rdm, rsa

MEASURES = {
    "cka": cka,
    "rsa": rsa,
    "procrustes": procrustes,
    "mutual_knn": mutual_knn,
    "compare_rdms": compare_rdms,
}
CI_METHODS = ("percentile", "bca")
ALTERNATIVES = ("greater", "less", "two-sided")
# Above this many stimuli the BCa acceleration uses a delete-a-group jackknife.
_JACKKNIFE_GROUPS = 500


def _resolve(measure):
    if isinstance(measure, str):
        if measure not in MEASURES:
            raise ValueError(f"measure must be a callable or one of {sorted(MEASURES)}, "
                             f"got {measure!r}")
        return MEASURES[measure]
    if not callable(measure):
        raise TypeError(f"measure must be a callable or a name, got {type(measure).__name__}")
    return measure


def _square(a, name):
    a = get_backend(a).to_numpy(a).astype(np.float64, copy=False)
    if a.ndim == 1:
        a = squareform(a, checks=False)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be an RDM (square matrix or upper-triangle vector)")
    return a


class _Evaluator:
    """``measure`` on a subset of stimuli (rows may repeat).

    Feature measures see ``X[idx], Y[idx]``. RDM measures (``compare_rdms``, and
    ``rsa`` whose RDMs are formed once) see the dissimilarities between the
    chosen stimuli, leaving out pairs of a stimulus with its own copy: their
    zero is an artefact of resampling (as rsatoolbox does).
    """

    def __init__(self, measure, X, Y, kwargs):
        fn = _resolve(measure)
        self.kwargs = dict(kwargs)
        if fn is rsa:
            metric = self.kwargs.pop("rdm_metric", "correlation")
            self.kwargs = {"method": self.kwargs.pop("compare", "spearman"), **self.kwargs}
            limit = self.kwargs.pop("max_memory_gb", 20.0)
            X, Y = check_pair(X, Y, min_samples=3)
            need = 2 * X.shape[0] ** 2 * 8
            if need > limit * 1e9:
                raise MemoryError(
                    f"resampling RSA keeps both {X.shape[0]:,} x {X.shape[0]:,} RDMs in memory: "
                    f"about {need / 1e9:.0f} GB, more than max_memory_gb={limit}; pass a "
                    "callable measure (it sees resampled features) or subsample the stimuli"
                )
            X = get_backend(X).to_numpy(rdm(X, metric, square=True))
            Y = get_backend(Y).to_numpy(rdm(Y, metric, square=True))
            fn = compare_rdms
        if fn is compare_rdms:
            X, Y = _square(X, "X"), _square(Y, "Y")
            if X.shape != Y.shape:
                raise ValueError(f"X and Y must be RDMs of the same stimuli: {X.shape}, {Y.shape}")
            self.n = X.shape[0]
            self.iu = np.triu_indices(self.n, 1)
            self.rdm = True
        else:
            X, Y = check_pair(X, Y)
            self.n = X.shape[0]
            self.rdm = False
        self.fn, self.X, self.Y = fn, X, Y

    def __call__(self, idx, perm=None):
        """The measure on stimuli ``idx``; ``perm`` relabels Y's stimuli (permutation test)."""
        if self.rdm:
            k = len(idx)
            ii, jj = np.triu_indices(k, 1) if k != self.n else self.iu
            a, b = idx[ii], idx[jj]
            keep = a != b
            a, b = a[keep], b[keep]
            pa, pb = (a, b) if perm is None else (perm[a], perm[b])
            return float(self.fn(self.X[a, b], self.Y[pa, pb], **self.kwargs))
        nx = get_backend(self.X)
        ix = nx.index(idx, self.X)
        iy = ix if perm is None else nx.index(perm[idx], self.Y)
        return float(self.fn(self.X[ix], self.Y[iy], **self.kwargs))


def _check_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _jackknife(evaluate, n):
    """Leave-one-out values (or delete-a-group for large n)."""
    groups = np.array_split(np.arange(n), min(n, _JACKKNIFE_GROUPS))
    all_idx = np.arange(n)
    return np.array([evaluate(np.delete(all_idx, g)) for g in groups])


def bootstrap(measure, X, Y, *, n_bootstrap=1000, confidence=0.95, ci_method="percentile",
              random_state=None, **kwargs):
    """Bootstrap confidence interval of a measure over stimuli.

    Parameters
    ----------
    measure : callable or {"cka", "rsa", "procrustes", "mutual_knn", "compare_rdms"}
        ``measure(X, Y, **kwargs) -> float``. With ``"compare_rdms"`` (or the
        function itself) ``X`` and ``Y`` are RDMs (square or upper-triangle).
    X, Y : array-like or torch.Tensor
        Two representations of the same n stimuli (or two RDMs, see above).
    n_bootstrap : int, default=1000
        Resamples of the stimuli, drawn with replacement.
    confidence : float, default=0.95
        Coverage of the interval, in (0, 1).
    ci_method : {"percentile", "bca"}, default="percentile"
        Percentile interval, or bias-corrected and accelerated (BCa, Efron
        1987) with the acceleration from a jackknife over stimuli.
    random_state : int, RandomState or None
        Seed for the resamples.
    **kwargs
        Passed to the measure (for example ``compare="pearson"`` for ``"rsa"``,
        ``method="spearman"`` for ``"compare_rdms"``).

    Returns
    -------
    sklearn.utils.Bunch
        ``value`` (the measure on all stimuli), ``low``, ``high``,
        ``distribution`` (the ``n_bootstrap`` resampled values), ``ci_method``
        and ``confidence``.

    See Also
    --------
    permutation_test, rdm_noise_ceiling

    Notes
    -----
    Resampling stimuli duplicates some of them. For RDM comparisons (and
    ``"rsa"``, whose RDMs are formed once and then resampled) the pairs of a
    stimulus with its own copy are left out, as in rsatoolbox: their zero
    dissimilarity is an artefact. Feature measures see the duplicated rows.
    BCa's jackknife leaves out one stimulus at a time for up to 500 stimuli,
    and one of 500 groups of stimuli beyond that. A BCa interval that cannot
    be formed (every resample on one side of the estimate) falls back to the
    percentile interval with a warning.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import bootstrap
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(60, 8)
    >>> ci = bootstrap("cka", X, X + rng.randn(60, 8), n_bootstrap=200, random_state=0)
    >>> bool(ci.low < ci.value < ci.high)
    True
    """
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method must be one of {CI_METHODS}, got {ci_method!r}")
    n_bootstrap = _check_int(n_bootstrap, "n_bootstrap", 2)
    if not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    evaluate = _Evaluator(measure, X, Y, kwargs)
    n = evaluate.n
    rng = check_random_state(random_state)
    value = evaluate(np.arange(n))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        dist = np.array([evaluate(rng.randint(0, n, n)) for _ in range(n_bootstrap)])
    if caught:
        warnings.warn(
            f"bootstrap: {len(caught)} resample(s) were degenerate for the measure "
            f"(first: {caught[0].message})",
            RuntimeWarning,
            stacklevel=2,
        )
    alpha = (1 - confidence) / 2
    levels = np.array([alpha, 1 - alpha])
    if ci_method == "bca":
        below = np.mean(dist < value) + 0.5 * np.mean(dist == value)
        if 0 < below < 1:
            z0 = ndtri(below)
            jack = _jackknife(evaluate, n)
            d = jack.mean() - jack
            denom = 6 * (d**2).sum() ** 1.5
            a = (d**3).sum() / denom if denom > 0 else 0.0
            z = ndtri(levels)
            levels = ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
        else:
            warnings.warn(
                "bootstrap: every resample lies on one side of the estimate, so the BCa "
                "correction is infinite; returning the percentile interval",
                RuntimeWarning,
                stacklevel=2,
            )
    low, high = np.quantile(dist, levels)
    return Bunch(value=value, low=float(low), high=float(high), distribution=dist,
                 ci_method=ci_method, confidence=confidence)


def permutation_test(measure, X, Y, *, n_permutations=1000, alternative="greater",
                     random_state=None, **kwargs):
    """Permutation test of a measure against shuffled stimulus labels.

    Parameters
    ----------
    measure : callable or {"cka", "rsa", "procrustes", "mutual_knn", "compare_rdms"}
        As in :func:`bootstrap`.
    X, Y : array-like or torch.Tensor
        Two representations of the same stimuli, or two RDMs.
    n_permutations : int, default=1000
        Random relabellings of Y's stimuli (rows, or rows and columns of an RDM).
    alternative : {"greater", "less", "two-sided"}, default="greater"
        ``"greater"`` tests for more similarity than chance.
    random_state : int, RandomState or None
        Seed for the permutations.
    **kwargs
        Passed to the measure.

    Returns
    -------
    sklearn.utils.Bunch
        ``value``, ``p_value`` (``(1 + #{null as extreme}) / (1 + n_permutations)``,
        never 0) and ``null_distribution``.

    See Also
    --------
    bootstrap

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import permutation_test
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(40, 5)
    >>> res = permutation_test("rsa", X, X + 0.5 * rng.randn(40, 5), n_permutations=99,
    ...                        random_state=0, compare="pearson")
    >>> res.p_value
    0.01
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    n_permutations = _check_int(n_permutations, "n_permutations")
    evaluate = _Evaluator(measure, X, Y, kwargs)
    n = evaluate.n
    rng = check_random_state(random_state)
    idx = np.arange(n)
    value = evaluate(idx)
    null = np.array([evaluate(idx, rng.permutation(n)) for _ in range(n_permutations)])
    if alternative == "greater":
        extreme = null >= value
    elif alternative == "less":
        extreme = null <= value
    else:
        centre = null.mean()
        extreme = np.abs(null - centre) >= abs(value - centre)
    p = (1 + int(extreme.sum())) / (1 + n_permutations)
    return Bunch(value=value, p_value=p, null_distribution=null)


def _pool(V, method):
    """The RDM that best predicts a group under ``method`` (rsatoolbox's pooling rules)."""
    if method in ("spearman", "tau_a"):
        V = np.stack([NUMPY.rankdata(v) for v in V])
    elif method == "pearson":
        V = (V - V.mean(axis=1, keepdims=True)) / V.std(axis=1, keepdims=True)
    else:  # cosine
        V = V / np.sqrt((V**2).mean(axis=1, keepdims=True))
    return V.mean(axis=0)


def rdm_noise_ceiling(rdms, method="spearman"):
    """Noise ceiling of a group of RDMs (Nili et al. 2014): lower and upper bounds.

    Parameters
    ----------
    rdms : array-like of shape (s, n, n) or (s, n * (n - 1) / 2)
        One RDM per person (or session), at least 2, of the same stimuli.
    method : {"spearman", "pearson", "tau_a", "cosine"}, default="spearman"
        The comparator the models will be evaluated with.

    Returns
    -------
    sklearn.utils.Bunch
        * ``upper``: mean over people of the similarity of their RDM to the
          group's pooled RDM (which includes their own): no model can be
          expected to beat it.
        * ``lower``: the same with each person left out of the pool: a model
          that reaches it is as good as the other people.
        * ``upper_each``, ``lower_each``: the per-person values.

    Notes
    -----
    Nili, Wingfield, Walther, Su, Marslen-Wilson & Kriegeskorte (2014), "A
    toolbox for representational similarity analysis", PLoS Comput Biol. The
    pooled RDM is the mean of the rank-transformed RDMs for the rank
    comparators, of the z-scored RDMs for Pearson and of RDMs scaled to unit
    root-mean-square for cosine, as in rsatoolbox's ``boot_noise_ceiling``.

    Examples
    --------
    >>> from reprlign.datasets import load_mur92
    >>> from reprlign.measures import rdm_noise_ceiling
    >>> nc = rdm_noise_ceiling(load_mur92().behavior_rdms)
    >>> bool(0 < nc.lower < nc.upper < 1)
    True
    """
    if method not in COMPARATORS:
        raise ValueError(f"method must be one of {COMPARATORS}, got {method!r}")
    R = np.asarray(get_backend(rdms).to_numpy(rdms), dtype=np.float64)
    if R.ndim == 3:
        if R.shape[1] != R.shape[2]:
            raise ValueError(f"rdms must have shape (s, n, n) or (s, m), got {R.shape}")
        R = np.stack([squareform(r, checks=False) for r in R])
    if R.ndim != 2 or R.shape[0] < 2:
        raise ValueError(f"rdms must hold at least 2 RDMs as (s, n, n) or (s, m), got {R.shape}")
    if not np.isfinite(R).all():
        raise ValueError("rdms contains NaN or infinite values")
    upper_pool = _pool(R, method)
    s = R.shape[0]
    upper = np.array([compare_rdms(upper_pool, R[i], method) for i in range(s)])
    lower = np.array(
        [compare_rdms(_pool(np.delete(R, i, axis=0), method), R[i], method) for i in range(s)]
    )
    return Bunch(lower=float(lower.mean()), upper=float(upper.mean()), lower_each=lower,
                 upper_each=upper)
