"""reprlign.plotting: the RDM heatmap and the module's public surface."""

import numpy as np
import pytest

from reprlign.measures import rdm

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from reprlign.plotting import plot_rdm  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


def test_plot_rdm_square_and_condensed_with_labels():
    X = np.random.RandomState(0).randn(5, 3)
    D = rdm(X, "euclidean", square=True)
    labels = ["a", "b", "c", "d", "e"]
    ax = plot_rdm(D, labels=labels)
    np.testing.assert_allclose(ax.images[0].get_array(), D)
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert len(ax.figure.axes) == 2  # the colour bar
    assert ax.figure.axes[1].get_ylabel() == "dissimilarity"
    # the condensed form draws the same matrix; no labels, no colour bar on request
    ax = plot_rdm(rdm(X, "euclidean"), colorbar=False, cmap="magma")
    np.testing.assert_allclose(ax.images[0].get_array(), D)
    assert len(ax.figure.axes) == 1 and ax.get_xticks().size == 0


def test_plot_rdm_groups_runs_of_labels():
    import torch

    X = np.random.RandomState(1).randn(7, 4)
    labels = ["face"] * 3 + ["body"] * 2 + ["object"] * 2
    ax = plot_rdm(torch.from_numpy(rdm(X, square=True)), labels=labels, fontsize=8)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["face", "body", "object"]
    np.testing.assert_allclose(ax.get_yticks(), [1.0, 3.5, 5.5])
    assert ax.get_yticklabels()[0].get_fontsize() == 8
    # a separating line at each boundary, on both axes
    assert len(ax.lines) == 4


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((3, 4)), ValueError, r"square \(n, n\) or condensed"),
    (np.zeros(4), ValueError, "4 is not such a number"),
    (np.zeros((3, 3)) + 1j, TypeError, "real numbers"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "real numbers"),
])
def test_plot_rdm_errors(bad, error, match):
    with pytest.raises(error, match=match):
        plot_rdm(bad)


def test_plot_rdm_label_count():
    with pytest.raises(ValueError, match="labels has 2 entries for 3 stimuli of the RDM"):
        plot_rdm(np.zeros(3), labels=["a", "b"])


def test_no_helper_names_leak():
    import reprlign
    import reprlign.model_selection
    import reprlign.plotting

    assert dir(reprlign.plotting) == sorted(reprlign.plotting.__all__)
    assert "np" not in dir(reprlign.plotting) and "annotations" not in dir(reprlign.plotting)
    assert dir(reprlign.model_selection) == sorted(reprlign.model_selection.__all__)
    public = {name for name in dir(reprlign) if not name.startswith("_")}
    assert "importlib" not in public
    assert public == set(reprlign.__all__) - {"__version__"} | set(reprlign._SUBMODULES)
    for name in reprlign.plotting.__all__:
        assert callable(getattr(reprlign.plotting, name))
