"""Inference for the measures: confidence intervals, permutation tests, RDM noise ceilings."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.spatial.distance import squareform
from scipy.special import ndtr, ndtri
from sklearn.utils import Bunch, check_random_state

from ..utils.backend import NUMPY, get_backend
from ._common import check_pair
from ._knn import mutual_knn
from ._rsa import COMPARATORS, compare_rdms, rdm, rsa
from .registry import get_measure

CI_METHODS = ("percentile", "basic", "bca")
RESAMPLING = ("subsample", "bootstrap")
ALTERNATIVES = ("greater", "less", "two-sided")
# Above this many stimuli the BCa acceleration uses a delete-a-group jackknife.
_JACKKNIFE_GROUPS = 500
# scipy draws resamples (and permutations) in batches of about this many indices.
_BATCH_ENTRIES = 1 << 22
_SCIPY_METHOD = {"percentile": "percentile", "basic": "basic", "bca": "BCa"}


def _square(a, name):
    a = get_backend(a).to_numpy(a).astype(np.float64, copy=False)
    if a.ndim == 1:
        a = squareform(a, checks=False)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be an RDM (square matrix or upper-triangle vector)")
    return a


class _Evaluator:
    """``measure`` on a subset of stimuli (rows may repeat), counting calls for a progress bar.

    Feature measures see ``X[idx], Y[idx]``. RDM measures (``compare_rdms``, and
    ``rsa`` whose RDMs are formed once) see the dissimilarities between the
    chosen stimuli, leaving out pairs of a stimulus with its own copy: their
    zero is an artefact of resampling with replacement (as rsatoolbox does).
    """

    def __init__(self, measure, X, Y, kwargs):
        spec = get_measure(measure)
        fn = spec.function
        if get_backend(X, Y).chunked:
            get_backend(X, Y).refuse(
                "Resampling (bootstrap, permutation_test, RSAScorer.score_ci)",
                "evaluates the measure on hundreds of random sets of stimuli, each another pass "
                "over every chunk", "Compute it on a subsample in memory (X[idx].compute()).")
        self.kwargs = dict(kwargs)
        self.bar = None
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
            X, Y = (get_backend(Z).to_numpy(rdm(Z, metric, square=True)) for Z in (X, Y))
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
        self.nx = get_backend(X)
        # k nearest neighbours of n stimuli: a subsample of m keeps the fraction k / (n - 1)
        self.k = self.kwargs.pop("k", spec.defaults()["k"]) if fn is mutual_knn else None

    def for_resampling(self, resample):
        """Refuse what a resampling scheme cannot do for this measure."""
        if self.k is not None and resample == "bootstrap":
            raise ValueError(
                "mutual_knn cannot be bootstrapped with replacement: a duplicated stimulus is its "
                "own nearest neighbour at distance 0; use resample='subsample'")
        return self

    def __call__(self, idx, perm=None):
        """The measure on stimuli ``idx``; ``perm`` relabels Y's stimuli (permutation test)."""
        if self.bar is not None:
            self.bar.update(1)
        idx = np.asarray(idx, dtype=np.intp)
        if self.rdm:
            k = len(idx)
            ii, jj = np.triu_indices(k, 1) if k != self.n else self.iu
            a, b = idx[ii], idx[jj]
            keep = a != b
            a, b = a[keep], b[keep]
            pa, pb = (a, b) if perm is None else (perm[a], perm[b])
            return float(self.fn(self.X[a, b], self.Y[pa, pb], **self.kwargs))
        ix = self.nx.index(idx, self.X)
        iy = ix if perm is None else self.nx.index(np.asarray(perm, dtype=np.intp)[idx], self.Y)
        kwargs = self.kwargs
        if self.k is not None:
            k = max(1, round(self.k * (len(idx) - 1) / (self.n - 1)))
            kwargs = {**kwargs, "k": min(k, len(idx) - 1)}
        return float(self.fn(self.X[ix], self.Y[iy], **kwargs))

    def progress(self, total, verbose, desc):
        """A tqdm bar over the next ``total`` evaluations (off unless verbose, on a terminal)."""
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="eval", leave=False,
                        disable=None if verbose else True)
        return self.bar


def _check_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _jackknife(evaluate, n):
    """Leave-one-out values (or delete-a-group for large n)."""
    groups = np.array_split(np.arange(n), min(n, _JACKKNIFE_GROUPS))
    all_idx = np.arange(n)
    return np.array([evaluate(np.delete(all_idx, g)) for g in groups])


def _bca_levels(dist, value, jack, levels):
    """BCa quantile levels (Efron 1987), or None when the bias correction is infinite."""
    below = np.mean(dist < value) + 0.5 * np.mean(dist == value)
    if not 0 < below < 1:
        return None
    z0 = ndtri(below)
    d = jack.mean() - jack
    denom = 6 * (d**2).sum() ** 1.5
    a = (d**3).sum() / denom if denom > 0 else 0.0
    z = ndtri(levels)
    return ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))


def _interval(dist, value, levels, ci_method, jack=None):
    """(low, high, method used) from a resampling distribution."""
    if ci_method == "bca":
        bca = _bca_levels(dist, value, jack, levels)
        if bca is not None:
            return (*np.quantile(dist, bca), "bca")
        warnings.warn(
            "bootstrap: every resample lies on one side of the estimate, so the BCa correction "
            "is infinite; returning the basic (bias-corrected) interval instead (ci_method in "
            "the result says which interval was returned)",
            RuntimeWarning, stacklevel=3)
        ci_method = "basic"
    low, high = np.quantile(dist, levels)
    if ci_method == "basic":
        low, high = 2 * value - high, 2 * value - low
    return low, high, ci_method


def _scipy_bootstrap(evaluate, n, n_bootstrap, confidence, ci_method, rng):
    """The bootstrap distribution and interval from :func:`scipy.stats.bootstrap`.

    Above 500 stimuli BCa's acceleration comes from a delete-a-group jackknife
    (500 groups) instead of scipy's n leave-one-out evaluations: the same
    interval to Monte Carlo accuracy at a fraction of the cost.
    """
    from scipy.stats import DegenerateDataWarning
    from scipy.stats import bootstrap as scipy_bootstrap

    grouped = ci_method == "bca" and n > _JACKKNIFE_GROUPS
    method = "percentile" if grouped else _SCIPY_METHOD[ci_method]
    with warnings.catch_warnings():
        # scipy returns NaN when BCa cannot be formed; _interval then says so and falls back
        warnings.simplefilter("ignore", DegenerateDataWarning)
        res = scipy_bootstrap((np.arange(n),), evaluate, n_resamples=n_bootstrap,
                              vectorized=False, confidence_level=confidence, method=method,
                              batch=max(1, _BATCH_ENTRIES // n), random_state=rng)
    low, high = res.confidence_interval
    redo = grouped or not (np.isfinite(low) and np.isfinite(high))
    return res.bootstrap_distribution, float(low), float(high), redo


def bootstrap(measure, X, Y, *, n_bootstrap=1000, confidence=0.95, ci_method="basic",
              resample="subsample", random_state=None, verbose=False, **kwargs):
    """Confidence interval of a measure by resampling the stimuli.

    Parameters
    ----------
    measure : callable or {"cka", "rsa", "procrustes", "mutual_knn", "compare_rdms"}
        ``measure(X, Y, **kwargs) -> float``. With ``"compare_rdms"`` (or the
        function itself) ``X`` and ``Y`` are RDMs (square or upper-triangle).
    X, Y : array-like or torch.Tensor
        Two representations of the same n stimuli (or two RDMs, see above).
    n_bootstrap : int, default=1000
        Number of resamples.
    confidence : float, default=0.95
        Coverage of the interval, in (0, 1).
    ci_method : {"basic", "bca", "percentile"}, default="basic"
        Basic interval (the percentile interval reflected about the estimate,
        which corrects the estimator's bias as the resamples show it; the one
        that covered best across measures, see the user guide), bias-corrected
        and accelerated (BCa, Efron 1987; the acceleration from a jackknife over
        stimuli) or percentile interval.
    resample : {"subsample", "bootstrap"}, default="subsample"
        ``"subsample"``: half of the stimuli drawn without replacement per
        resample (no stimulus is ever duplicated, so every measure, and any
        callable, sees genuine data; the spread of a half sample matches that
        of the full sample). ``"bootstrap"``: n stimuli drawn with replacement
        by :func:`scipy.stats.bootstrap`.
    random_state : int, RandomState or None
        Seed for the resamples.
    verbose : bool, default=False
        Show a progress bar (tqdm) on a terminal.
    **kwargs
        Passed to the measure (for example ``compare="pearson"`` for ``"rsa"``,
        ``method="spearman"`` for ``"compare_rdms"``).

    Returns
    -------
    sklearn.utils.Bunch
        ``value`` (the measure on all stimuli), ``low``, ``high``,
        ``distribution`` (the resampled values), ``ci_method`` (the interval
        returned), ``resample``, ``confidence`` and ``bias`` (mean resampled
        value minus the estimate: with ``"subsample"`` and ``"bootstrap"`` alike,
        an estimate of the estimator's own bias at n stimuli).

    Warns
    -----
    RuntimeWarning
        When the interval does not contain the estimate (a biased estimator,
        such as biased CKA with many features per stimulus), when BCa cannot be
        formed (the basic interval is returned and ``ci_method`` says so), and
        when resamples were degenerate for the measure.

    See Also
    --------
    permutation_test, rdm_noise_ceiling

    Notes
    -----
    Resampling stimuli with replacement duplicates some of them. A duplicated
    stimulus is its own nearest neighbour at distance 0 and adds copies of
    the diagonal of the kernel matrices, which pushes feature-space measures
    upward (biased CKA, Procrustes, mutual k-NN) and biases unbiased CKA, so a
    percentile interval can exclude its own estimate. Half-sampling without
    replacement never duplicates a stimulus; for an estimator with an
    ``O(1/n)`` bias, its resamples sit above the estimate by about that bias,
    which the basic interval (and BCa) correct. The user guide reports the
    coverage of each combination on data with known population values. For
    RDM comparisons (and ``"rsa"``, whose RDMs are formed once and then
    resampled) pairs of a stimulus with its own copy are left out, as in
    rsatoolbox. ``"mutual_knn"`` is subsampled only, with ``k`` scaled to the
    same fraction of the stimuli. BCa's jackknife leaves out one stimulus at a
    time for up to 500 stimuli, and one of 500 groups of stimuli beyond that.

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
    if resample not in RESAMPLING:
        raise ValueError(f"resample must be one of {RESAMPLING}, got {resample!r}")
    n_bootstrap = _check_int(n_bootstrap, "n_bootstrap", 2)
    if not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    evaluate = _Evaluator(measure, X, Y, kwargs).for_resampling(resample)
    n = evaluate.n
    rng = check_random_state(random_state)
    value = evaluate(np.arange(n))
    alpha = (1 - confidence) / 2
    levels = np.array([alpha, 1 - alpha])
    n_jack = min(n, _JACKKNIFE_GROUPS) if ci_method == "bca" else 0
    with warnings.catch_warnings(record=True) as caught, \
            evaluate.progress(n_bootstrap + n_jack, verbose, f"{resample} {evaluate.fn.__name__}"):
        warnings.simplefilter("always", RuntimeWarning)
        if resample == "bootstrap":
            dist, low, high, redo = _scipy_bootstrap(evaluate, n, n_bootstrap, confidence,
                                                     ci_method, rng)
            method = ci_method
            if redo:  # BCa on many stimuli, or scipy could not form it: see _interval
                jack = _jackknife(evaluate, n) if ci_method == "bca" else None
                low, high, method = _interval(dist, value, levels, ci_method, jack)
        else:
            m = n // 2
            try:
                dist = np.array([evaluate(rng.permutation(n)[:m]) for _ in range(n_bootstrap)])
            except ValueError as exc:  # too few stimuli for the measure in a half-sample
                raise ValueError(f"bootstrap evaluates the measure on half-samples of {m} of the "
                                 f"{n} stimuli: {exc}; with so few stimuli use "
                                 "resample='bootstrap'") from exc
            jack = _jackknife(evaluate, n) if ci_method == "bca" else None
            low, high, method = _interval(dist, value, levels, ci_method, jack)
    _report(caught, "bootstrap")
    low, high = float(low), float(high)
    bias = float(np.mean(dist) - value)
    if not low <= value <= high:
        warnings.warn(
            f"bootstrap: the {confidence:.0%} interval [{low:.6g}, {high:.6g}] does not contain "
            f"the estimate {value:.6g}: the resamples put the estimator's bias at about "
            f"{bias:+.3g}, and the interval is corrected for it (for CKA with many features per "
            "stimulus, debiased=True removes most of it)", RuntimeWarning, stacklevel=2)
    return Bunch(value=value, low=low, high=high, distribution=dist, ci_method=method,
                 resample=resample, confidence=confidence, bias=bias)


def _report(caught, who):
    """Re-issue warnings caught in resampling: degenerate resamples counted, others as they were."""
    degenerate = [w for w in caught if "is undefined" in str(w.message)]
    for w in caught:
        if w not in degenerate:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if degenerate:
        warnings.warn(
            f"{who}: {len(degenerate)} resample(s) were degenerate for the measure "
            f"(first: {degenerate[0].message})",
            RuntimeWarning,
            stacklevel=3,
        )


def permutation_test(measure, X, Y, *, n_permutations=1000, alternative="greater",
                     random_state=None, verbose=False, **kwargs):
    """Permutation test of a measure against shuffled stimulus labels.

    Parameters
    ----------
    measure : callable or {"cka", "rsa", "procrustes", "mutual_knn", "compare_rdms"}
        As in :func:`bootstrap`.
    X, Y : array-like or torch.Tensor
        Two representations of the same stimuli, or two RDMs.
    n_permutations : int, default=1000
        Random relabellings of Y's stimuli (rows, or rows and columns of an RDM);
        when it is at least ``n!`` every relabelling is used (an exact test).
    alternative : {"greater", "less", "two-sided"}, default="greater"
        ``"greater"`` tests for more similarity than chance; ``"two-sided"`` is
        twice the smaller one-sided p-value (capped at 1), as in scipy.
    random_state : int, RandomState or None
        Seed for the permutations.
    verbose : bool, default=False
        Show a progress bar (tqdm) on a terminal.
    **kwargs
        Passed to the measure.

    Returns
    -------
    sklearn.utils.Bunch
        ``value``, ``p_value`` (``(1 + #{null as extreme}) / (1 + n_permutations)``,
        never 0, for a random test) and ``null_distribution``.

    See Also
    --------
    bootstrap

    Notes
    -----
    :func:`scipy.stats.permutation_test` (``permutation_type="pairings"``) over
    the stimulus indices draws the relabellings and computes the p-value.

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
    from scipy.stats import permutation_test as scipy_permutation_test

    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    n_permutations = _check_int(n_permutations, "n_permutations")
    evaluate = _Evaluator(measure, X, Y, kwargs)
    n = evaluate.n
    rng = check_random_state(random_state)
    idx = np.arange(n)
    with warnings.catch_warnings(record=True) as caught, \
            evaluate.progress(n_permutations + 1, verbose, f"permutations {evaluate.fn.__name__}"):
        warnings.simplefilter("always", RuntimeWarning)
        res = scipy_permutation_test(
            (idx,), lambda perm: evaluate(idx, perm), permutation_type="pairings",
            vectorized=False, n_resamples=n_permutations, alternative=alternative,
            batch=max(1, _BATCH_ENTRIES // n), random_state=rng)
    _report(caught, "permutation_test")
    return Bunch(value=float(res.statistic), p_value=float(res.pvalue),
                 null_distribution=np.asarray(res.null_distribution))


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
