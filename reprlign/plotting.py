"""Optional matplotlib helpers (``pip install reprlign[plot]``); matplotlib is imported lazily."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_layer_similarity", "plot_rdm", "plot_reliability_diagram", "plot_robustness"]


def __dir__():  # tab completion shows the plotting functions, not numpy or annotations
    return sorted(__all__)


def _axes(ax):
    try:
        import matplotlib.pyplot as plt
        from matplotlib.axes import Axes
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'reprlign[plot]'") from exc
    if ax is None:
        _, ax = plt.subplots()
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def _real(values, name, *, ndim=None, allow_nan=False):
    """``values`` as a float array: real numbers only (booleans and integers become float).

    Strings (numeric or not), objects and complex numbers are a ``TypeError``;
    the wrong number of axes, an empty array or an infinite value (or a NaN,
    unless ``allow_nan``) a ``ValueError``, each naming ``name``.
    """
    from .utils._validation import as_array

    A = as_array(values, name, "an array of real numbers")
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
    A = A.astype(float)
    if ndim is not None and A.ndim not in np.atleast_1d(ndim):
        raise ValueError(f"{name} must have {' or '.join(map(str, np.atleast_1d(ndim)))} "
                         f"axes, got shape {A.shape}")
    if A.size == 0:
        raise ValueError(f"{name} is empty (shape {A.shape})")
    bad = np.isinf(A) if allow_nan else ~np.isfinite(A)
    if bad.any():
        raise ValueError(f"{name} contains {'infinite' if allow_nan else 'NaN or infinite'} "
                         f"values ({int(bad.sum())} of {A.size})")
    return A


def _names(labels, n, name, of="rows"):
    """``labels`` as a list of ``n`` strings (a 1-D sequence; a bare string is not one)."""
    if isinstance(labels, str | bytes) or np.ndim(labels) != 1:
        raise TypeError(f"{name} must be a 1-D sequence of labels, got {labels!r}"[:200])
    labels = [str(label) for label in labels]
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries for {n} {of}")
    return labels


def plot_layer_similarity(result, *, ax=None, cmap="magma", vmin=0.0, vmax=1.0, annotate=False,
                          xlabel=None, ylabel=None, colorbar=True):
    """Heatmap of a layer x layer similarity matrix (Raghu et al. 2021 style).

    Parameters
    ----------
    result : Bunch or array-like
        The output of :func:`reprlign.model_layer_similarity` (``similarity``,
        ``layers_a``, ``layers_b``), or a plain 2-D array. NaN cells (a pair
        not compared) are left blank; infinite values are a ``ValueError``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    cmap, vmin, vmax
        Colour map and its range.
    annotate : bool, default=False
        Write each value in its cell.
    xlabel, ylabel : str, optional
        Axis titles (model names, say).
    colorbar : bool, default=True

    Returns
    -------
    ax : matplotlib Axes
        Rows are ``layers_a`` (first layer at the bottom), columns ``layers_b``.
    """
    if isinstance(result, dict):  # a Bunch
        missing = {"similarity", "layers_a", "layers_b"} - set(result)
        if missing:
            raise ValueError(f"result lacks {sorted(missing)}: pass the output of "
                             f"model_layer_similarity or a 2-D array")
        S = _real(result["similarity"], "result.similarity", ndim=2, allow_nan=True)
        rows = _names(result["layers_a"], S.shape[0], "result.layers_a", of="rows of the matrix")
        cols = _names(result["layers_b"], S.shape[1], "result.layers_b",
                      of="columns of the matrix")
    else:
        S = _real(result, "result", ndim=2, allow_nan=True)
        rows, cols = [str(i) for i in range(S.shape[0])], [str(j) for j in range(S.shape[1])]
    ax = _axes(ax)
    im = ax.imshow(S, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xticks(range(len(cols)), cols, rotation=90)
    if annotate:
        middle = (im.norm.vmin + im.norm.vmax) / 2  # (the colour range, data's where not given)
        for (i, j), v in np.ndenumerate(S):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if v < middle else "black")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="CKA")
    return ax


def _square_rdm(rdm):
    """An (n, n) float matrix from a square RDM or its condensed upper triangle."""
    from scipy.spatial.distance import squareform

    D = _real(rdm, "rdm", ndim=(1, 2))
    if D.ndim == 1:
        n = (1 + np.sqrt(1 + 8 * D.size)) / 2
        if n != int(n):
            raise ValueError(f"a condensed rdm has n(n-1)/2 entries; {D.size} is not such a "
                             f"number")
        return squareform(D, checks=False)
    if D.shape[0] != D.shape[1]:
        raise ValueError(f"rdm must be square (n, n) or condensed (n(n-1)/2,), got shape "
                         f"{D.shape}")
    return D


def _runs(labels):
    """Start and end (exclusive) of each run of equal consecutive labels."""
    starts = [0] + [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]
    return list(zip(starts, starts[1:] + [len(labels)], strict=True))


def plot_rdm(rdm, *, labels=None, ax=None, cmap="viridis", vmin=None, vmax=None,
             colorbar=True, colorbar_label="dissimilarity", fontsize=None):
    """Heatmap of a representational dissimilarity matrix, with stimulus labels.

    Stimulus ``i`` is row ``i`` (from the top) and column ``i``, as the matrix
    is printed.

    Parameters
    ----------
    rdm : array-like or torch.Tensor
        A square ``(n, n)`` RDM, or its condensed upper triangle of
        ``n (n - 1) / 2`` entries, as :func:`reprlign.measures.rdm` returns.
        Real and finite (NaN or infinity is a ``ValueError``); a square matrix
        is drawn as given, symmetric or not.
    labels : sequence of str, optional
        One label per stimulus, on both axes. Runs of equal consecutive labels
        (stimuli sorted by category) are labelled once, at the run's middle,
        with thin lines between runs, so category blocks read at a glance;
        distinct labels each get a tick.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    cmap, vmin, vmax
        Colour map and its range (default: the RDM's range).
    colorbar : bool, default=True
        Add a colour bar.
    colorbar_label : str, default="dissimilarity"
    fontsize : float, optional
        Size of the labels; by default it shrinks as more ticks are drawn.

    Returns
    -------
    ax : matplotlib Axes
        The image is ``ax.images[0]``.

    See Also
    --------
    reprlign.measures.rdm : computes an RDM from features.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import rdm
    >>> from reprlign.plotting import plot_rdm
    >>> X = np.random.RandomState(0).randn(6, 4)
    >>> ax = plot_rdm(rdm(X), labels=["cat", "cat", "dog", "dog", "car", "car"])
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['cat', 'dog', 'car']
    """
    D = _square_rdm(rdm)
    n = D.shape[0]
    if labels is not None:
        labels = _names(labels, n, "labels", of="stimuli of the RDM")
    ax = _axes(ax)
    im = ax.imshow(D, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if labels is None:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        runs = _runs(labels)
        ticks = [(a + b - 1) / 2 for a, b in runs]
        names = [labels[a] for a, _ in runs]
        size = fontsize if fontsize is not None else float(np.clip(300 / len(runs), 4, 10))
        ax.set_xticks(ticks, names, rotation=90, fontsize=size)
        ax.set_yticks(ticks, names, fontsize=size)
        if len(runs) < n:
            for _, b in runs[:-1]:
                for line in (ax.axhline, ax.axvline):
                    line(b - 0.5, color="white", lw=0.8)
    ax.tick_params(length=0)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=colorbar_label)
    return ax


def plot_robustness(result, *, ax=None, marker="o"):
    """One line per layer: similarity against perturbation strength (or removed block).

    Parameters
    ----------
    result : Bunch
        The output of :func:`reprlign.perturbation_robustness` or
        :func:`reprlign.block_removal_robustness`. NaN entries (a layer inside
        the removed block) leave gaps in its line.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    if not isinstance(result, dict) or not {"matrix", "layers"} <= set(result) or not (
            {"strengths", "blocks"} & set(result)):
        raise TypeError("result must be the output of perturbation_robustness or "
                        "block_removal_robustness (a Bunch with matrix, layers and strengths or "
                        f"blocks), got {type(result).__name__}")
    M = _real(result["matrix"], "result.matrix", ndim=2, allow_nan=True)
    layers = _names(result["layers"], M.shape[1], "result.layers", of="columns of result.matrix")
    if "strengths" in result:
        x = _real(result["strengths"], "result.strengths", ndim=1)
        label = "perturbation strength"
        if len(x) != M.shape[0]:
            raise ValueError(f"result.strengths has {len(x)} entries for {M.shape[0]} rows of "
                             f"result.matrix")
    else:
        blocks = _names(result["blocks"], M.shape[0], "result.blocks", of="rows of result.matrix")
        x, label = np.arange(len(blocks)), "removed block"
    ax = _axes(ax)
    if "strengths" not in result:
        ax.set_xticks(x, blocks, rotation=45)
    for j, layer in enumerate(layers):
        ax.plot(x, M[:, j], marker=marker, label=layer)
    ax.set_xlabel(label)
    ax.set_ylabel("CKA to the unperturbed model")
    ax.legend(fontsize="small")
    return ax


def plot_reliability_diagram(y_true, y_prob, *, n_bins=10, strategy="uniform", labels=None,
                             ax=None, label=None, color=None, show_counts=True):
    """Reliability diagram: per-bin accuracy against mean confidence (top label).

    Bars show each bin's accuracy over its confidence range; the diagonal is
    perfect calibration, bars below it are over-confident. The legend entry
    carries the top-label ECE.

    Parameters
    ----------
    y_true, y_prob, n_bins, strategy, labels
        As in :func:`reprlign.calibration.reliability_curve`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    label : str, optional
        Legend name (the ECE is appended).
    color : matplotlib colour, optional
    show_counts : bool, default=True
        Mark each bin's mean confidence with a dot whose area follows its count.

    Returns
    -------
    ax : matplotlib Axes

    See Also
    --------
    reprlign.calibration.expected_calibration_error
    """
    from .calibration import reliability_curve

    curve = reliability_curve(y_true, y_prob, n_bins=n_bins, strategy=strategy, labels=labels)
    ax = _axes(ax)
    edges, full = curve.bin_edges, curve.counts > 0
    text = f"ECE = {curve.ece:.3f}" if label is None else f"{label} (ECE = {curve.ece:.3f})"
    bars = ax.bar(edges[:-1][full], curve.accuracy[full], width=np.diff(edges)[full],
                  align="edge", alpha=0.5, edgecolor="black", color=color, label=text)
    if show_counts:
        area = 300.0 * curve.counts[full] / curve.counts.sum()
        ax.scatter(curve.confidence[full], curve.accuracy[full], s=area,
                   color=bars.patches[0].get_facecolor() if bars.patches else color,
                   edgecolor="black", zorder=3)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top-label probability)")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize="small")
    return ax
