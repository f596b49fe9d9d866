"""Calibration of predicted class probabilities: expected calibration error and reliability curves.

A classifier is *calibrated* when, among the examples it gives confidence
:math:`c`, a fraction :math:`c` is classified correctly. The **expected
calibration error** (ECE) bins the predictions by confidence and averages
:math:`|\\mathrm{accuracy} - \\mathrm{confidence}|` over the bins, weighted by
how many predictions fall in each (Naeini et al., AAAI 2015; Guo et al., ICML
2017). The **reliability curve** is the per-bin data behind that number, and
:func:`reprlign.plotting.plot_reliability_diagram` draws it.

Conventions, shared by every function here:

* ``y_prob`` is ``(n, n_classes)`` with rows summing to 1 (within ``1e-4``), or,
  for a binary problem, ``(n,)`` holding the probability of the *positive*
  class (the second class: the larger label, or ``labels[1]``), which is read
  as ``(n, 2)`` with columns ``[1 - p, p]``.
* ``y_true`` holds labels. Column ``j`` of ``y_prob`` is class ``labels[j]``
  when ``labels`` is given; otherwise integer labels in ``[0, n_classes)`` are
  column indices, and any other labels are matched to the columns in sorted
  order (they must then number exactly ``n_classes``, as in
  :func:`sklearn.metrics.log_loss`).
* Bins are right-closed, ``(lo, hi]`` (the first also holds 0). ``"uniform"``
  bins split ``[0, 1]`` into ``n_bins`` equal widths; ``"quantile"`` bins put
  (about) the same number of predictions in each.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch

from .utils._validation import check_in_memory

__all__ = ["expected_calibration_error", "reliability_curve"]

_SUM_TOL = 1e-4


def _check_proba(y_true, y_prob, labels):
    """Validate inputs; return (column index of the true class (n,), probabilities (n, C))."""
    if y_prob is None or isinstance(y_prob, str | bytes):
        raise TypeError(f"y_prob must be an array of probabilities, got {type(y_prob).__name__}")
    check_in_memory(y_prob, "y_prob")
    check_in_memory(y_true, "y_true")
    check_in_memory(labels, "labels")
    P = np.asarray(y_prob)
    if P.dtype == object or not (np.issubdtype(P.dtype, np.number) or P.dtype == bool):
        raise TypeError(f"y_prob must hold numbers, got dtype {P.dtype}")
    if np.iscomplexobj(P):
        raise TypeError(f"y_prob must hold real probabilities, got complex dtype {P.dtype}")
    if P.size == 0:
        raise ValueError(f"y_prob is empty (shape {P.shape}): no predictions to calibrate")
    P = P.astype(np.float64)
    if P.ndim == 1:  # binary: probability of the positive (second) class
        P = np.column_stack([1.0 - P, P])
        binary_vector = True
    elif P.ndim == 2:
        if P.shape[1] < 2:
            raise ValueError(f"y_prob of shape {P.shape} has fewer than 2 columns; for a binary "
                             "problem pass the positive-class probability as shape (n,)")
        binary_vector = False
    else:
        raise ValueError(f"y_prob must be (n,) or (n, n_classes), got shape {P.shape}")
    if not np.isfinite(P).all():
        raise ValueError("y_prob contains NaN or infinite values")
    if P.min() < -1e-12 or P.max() > 1 + 1e-12:
        raise ValueError(f"y_prob must lie in [0, 1], got values in [{P.min():g}, {P.max():g}]")
    P = np.clip(P, 0.0, 1.0)
    if not binary_vector:
        err = np.abs(P.sum(axis=1) - 1.0)
        if (err > _SUM_TOL).any():
            bad = int((err > _SUM_TOL).sum())
            worst = P.sum(axis=1)[np.argmax(err)]
            raise ValueError(
                f"y_prob rows must sum to 1 (probabilities, e.g. a softmax); {bad} row(s) do "
                f"not, one sums to {worst:.6g}"
            )
    n, n_classes = P.shape
    y = np.asarray(y_true)
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {np.shape(y_true)}")
    if len(y) != n:
        raise ValueError(f"y_true has {len(y)} entries but y_prob has {n} rows")
    if y.dtype.kind == "c":
        raise TypeError(f"y_true must hold class labels, got complex dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():  # NaN would be a class of its own
        raise ValueError("y_true contains NaN or infinite labels")
    if n == 0:
        raise ValueError("y_true and y_prob are empty")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != n_classes or len(np.unique(labels)) != n_classes:
            raise ValueError(f"labels must be {n_classes} distinct values (one per column of "
                             f"y_prob), got {labels!r}")
        index = {lab: j for j, lab in enumerate(labels.tolist())}
        unknown = sorted({v for v in y.tolist() if v not in index}, key=str)
        if unknown:
            raise ValueError(f"y_true has labels {unknown[:10]} that are not in labels")
        return np.array([index[v] for v in y.tolist()], dtype=np.int64), P
    if (np.issubdtype(y.dtype, np.integer) or y.dtype == bool) and y.min() >= 0 \
            and y.max() < n_classes:
        return y.astype(np.int64), P
    classes, y_idx = np.unique(y, return_inverse=True)
    if len(classes) != n_classes:
        raise ValueError(
            f"y_true has {len(classes)} distinct labels but y_prob has {n_classes} columns; "
            "pass labels= to say which column is which class"
        )
    return y_idx.astype(np.int64), P


def _check_binning(n_bins, strategy):
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    if strategy not in ("uniform", "quantile"):
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")


def _bin_edges(conf, n_bins, strategy):
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.quantile(conf, np.linspace(0.0, 1.0, n_bins + 1))
    edges[0], edges[-1] = 0.0, 1.0
    return np.unique(edges)  # ties in the confidences merge bins


def _binned(conf, outcome, n_bins, strategy):
    """Per-bin counts, mean confidence and mean outcome (NaN for empty bins)."""
    edges = _bin_edges(conf, n_bins, strategy)
    which = np.searchsorted(edges[1:-1], conf, side="left")  # right-closed bins
    n_out = len(edges) - 1
    counts = np.bincount(which, minlength=n_out).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=n_out) / counts
        mean_out = np.bincount(which, weights=outcome, minlength=n_out) / counts
    return edges, counts, mean_conf, mean_out


def _ece_from_bins(counts, mean_conf, mean_out):
    full = counts > 0
    return float(np.sum(counts[full] * np.abs(mean_out[full] - mean_conf[full])) / counts.sum())


def expected_calibration_error(y_true, y_prob, *, n_bins=10, strategy="uniform",
                               classwise=False, labels=None):
    """Expected calibration error of predicted probabilities.

    Top-label ECE (the default): each prediction's confidence is its largest
    probability and its outcome whether that class is the true one; with bins
    :math:`B_b` of the confidences,

    .. math:: \\mathrm{ECE} = \\sum_b \\frac{|B_b|}{n}
              \\left| \\mathrm{acc}(B_b) - \\mathrm{conf}(B_b) \\right|.

    Classwise ECE (``classwise=True``, Kull et al., NeurIPS 2019) bins each
    class's probability column against the indicator of that class and
    averages the per-class ECEs over the classes.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels (see the module docstring for how they meet the columns).
    y_prob : array-like of shape (n, n_classes) or (n,)
        Predicted probabilities; ``(n,)`` is the positive-class probability of
        a binary problem.
    n_bins : int, default=10
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins over ``[0, 1]`` or equal-count bins.
    classwise : bool, default=False
        Classwise instead of top-label ECE.
    labels : array-like of shape (n_classes,), optional
        The class of each column of ``y_prob``.

    Returns
    -------
    ece : float
        In ``[0, 1]``; 0 is perfectly calibrated (on these bins).

    See Also
    --------
    reliability_curve : The per-bin data.
    reprlign.plotting.plot_reliability_diagram : Draw it.

    Notes
    -----
    Empty bins contribute nothing. For binary problems the top-label
    confidence is :math:`\\max(p, 1 - p)`, so the input shape does not change
    the value. ECE depends on the binning and is biased upwards for small
    ``n``; compare methods on the same test set and bins.

    Examples
    --------
    >>> from reprlign.calibration import expected_calibration_error
    >>> proba = [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]]
    >>> round(expected_calibration_error([0, 1, 0, 1], proba), 4)
    0.4
    """
    _check_binning(n_bins, strategy)
    y_idx, P = _check_proba(y_true, y_prob, labels)
    if classwise:
        eces = []
        for c in range(P.shape[1]):
            _, counts, conf, out = _binned(P[:, c], (y_idx == c).astype(float), n_bins, strategy)
            eces.append(_ece_from_bins(counts, conf, out))
        return float(np.mean(eces))
    conf = P.max(axis=1)
    correct = (P.argmax(axis=1) == y_idx).astype(float)
    _, counts, mean_conf, acc = _binned(conf, correct, n_bins, strategy)
    return _ece_from_bins(counts, mean_conf, acc)


def reliability_curve(y_true, y_prob, *, n_bins=10, strategy="uniform", labels=None):
    """Top-label reliability curve: accuracy against confidence, per bin.

    Parameters
    ----------
    y_true, y_prob, n_bins, strategy, labels
        As in :func:`expected_calibration_error`.

    Returns
    -------
    curve : sklearn.utils.Bunch
        ``bin_edges`` (n_bins + 1,) (fewer for ``"quantile"`` when confidences
        tie), and per bin ``counts``, ``confidence`` (mean confidence) and
        ``accuracy`` (fraction correct), the last two NaN for empty bins;
        ``ece`` (the count-weighted mean gap, equal to the top-label ECE).

    See Also
    --------
    expected_calibration_error
    reprlign.plotting.plot_reliability_diagram

    Examples
    --------
    >>> from reprlign.calibration import reliability_curve
    >>> curve = reliability_curve([0, 1, 1], [0.2, 0.7, 0.9], n_bins=5)
    >>> curve.counts.tolist()
    [0, 0, 0, 2, 1]
    """
    _check_binning(n_bins, strategy)
    y_idx, P = _check_proba(y_true, y_prob, labels)
    conf = P.max(axis=1)
    correct = (P.argmax(axis=1) == y_idx).astype(float)
    edges, counts, mean_conf, acc = _binned(conf, correct, n_bins, strategy)
    return Bunch(bin_edges=edges, counts=counts, confidence=mean_conf, accuracy=acc,
                 ece=_ece_from_bins(counts, mean_conf, acc))
