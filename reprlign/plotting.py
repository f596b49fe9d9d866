"""Optional matplotlib helpers (``pip install reprlign[plot]``); matplotlib is imported lazily."""

from __future__ import annotations

import numpy as np


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
