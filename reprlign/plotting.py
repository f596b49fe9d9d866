"""Optional matplotlib helpers (``pip install reprlign[plot]``); matplotlib is imported lazily."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_layer_similarity", "plot_rdm", "plot_reliability_diagram", "plot_robustness"]


def __dir__():  # tab completion shows the plotting functions, not numpy or annotations
    return sorted(__all__)


def _axes(ax):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'reprlign[plot]'") from exc
    if ax is None:
        _, ax = plt.subplots()
    return ax


def plot_layer_similarity(result, *, ax=None, cmap="magma", vmin=0.0, vmax=1.0, annotate=False,
                          xlabel=None, ylabel=None, colorbar=True):
    """Heatmap of a layer x layer similarity matrix (Raghu et al. 2021 style).

    Parameters
    ----------
    result : Bunch or array-like
        The output of :func:`reprlign.model_layer_similarity` (``similarity``,
        ``layers_a``, ``layers_b``), or a plain 2-D array.
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
    ax = _axes(ax)
    if hasattr(result, "similarity"):
        S = np.asarray(result.similarity, dtype=float)
        rows, cols = list(result.layers_a), list(result.layers_b)
    else:
        S = np.asarray(result, dtype=float)
        if S.ndim != 2:
            raise ValueError(f"result must be a 2-D matrix, got shape {S.shape}")
        rows, cols = [str(i) for i in range(S.shape[0])], [str(j) for j in range(S.shape[1])]
    im = ax.imshow(S, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xticks(range(len(cols)), cols, rotation=90)
    if annotate:
        for (i, j), v in np.ndenumerate(S):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if v < (vmin + vmax) / 2 else "black")
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

    from .utils._torch import to_numpy

    D = np.asarray(to_numpy(rdm))
    if np.iscomplexobj(D) or not np.issubdtype(D.dtype, np.number):
        raise TypeError(f"rdm must hold real numbers, got dtype {D.dtype}")
    D = D.astype(float)
    if D.ndim == 1:
        n = (1 + np.sqrt(1 + 8 * D.size)) / 2
        if D.size == 0 or n != int(n):
            raise ValueError(f"a condensed rdm has n(n-1)/2 entries; {D.size} is not such a "
                             f"number")
        return squareform(D, checks=False)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
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
    ax = _axes(ax)
    im = ax.imshow(D, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if labels is None:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        labels = [str(label) for label in labels]
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries for an RDM of {n} stimuli")
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
        :func:`reprlign.block_removal_robustness`.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    if "strengths" in result:
        x, label = np.asarray(result.strengths), "perturbation strength"
    else:
        x, label = np.arange(len(result.blocks)), "removed block"
        ax.set_xticks(x, list(result.blocks), rotation=45)
    for j, layer in enumerate(result.layers):
        ax.plot(x, result.matrix[:, j], marker=marker, label=layer)
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
