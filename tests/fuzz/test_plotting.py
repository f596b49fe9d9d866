"""Fuzzing the plotting functions: altered input draws the same picture, invalid input and
arguments give named errors (never matplotlib's own failure, nor a silent cast)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.utils import Bunch

from reprlign.measures import rdm
from reprlign.plotting import (
    plot_layer_similarity,
    plot_rdm,
    plot_reliability_diagram,
    plot_robustness,
)

from .oracle import EQUIVALENT, INVALID, expect_error, expect_same, few, run, tables

plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _drawn(ax):
    """What an Axes shows: image data, line data, bar heights and tick labels."""
    out = {"images": [np.asarray(im.get_array(), dtype=float) for im in ax.images],
           "lines": [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines],
           "bars": [p.get_height() for p in ax.patches],
           "xticks": [t.get_text() for t in ax.get_xticklabels()],
           "yticks": [t.get_text() for t in ax.get_yticklabels()]}
    plt.close(ax.figure)
    return out


def _similarity(X):
    """A layer x layer table in [0, 1], from a drawn table."""
    return np.abs(np.tanh(X))


def _size(A, axis):
    """Length of an axis of what may be no array at all (then 1: the plot must name it)."""
    try:
        return np.shape(A)[axis]
    except (IndexError, ValueError):
        return 1


PLOTS = {
    "rdm-square": lambda A: _drawn(plot_rdm(A)),
    "rdm-labels": lambda A: _drawn(plot_rdm(A, labels=[f"s{i // 2}"
                                                       for i in range(_size(A, 0))])),
    "layer-similarity": lambda A: _drawn(plot_layer_similarity(A, annotate=True)),
    "robustness": lambda A: _drawn(plot_robustness(Bunch(
        matrix=A, strengths=np.arange(_size(A, 0), dtype=float),
        layers=[f"l{j}" for j in range(_size(A, 1))]))),
}


def _square(X):
    return rdm(X, metric="euclidean", square=True)


INPUT = {"rdm-square": _square, "rdm-labels": _square, "layer-similarity": _similarity,
         "robustness": _similarity}


@pytest.mark.parametrize("plot", list(PLOTS))
@pytest.mark.parametrize("variant", [v for v in EQUIVALENT if "16" not in v and "int" not in v])
@few
@given(X=tables(min_rows=2, max_rows=8, max_cols=4))
def test_altered_input_draws_the_same(plot, variant, X):
    make, clean, _ = EQUIVALENT[variant]
    A = INPUT[plot](X)
    expect_same(lambda: PLOTS[plot](make(A)), lambda: PLOTS[plot](clean(A)), rtol=1e-6)


@pytest.mark.parametrize("plot", list(PLOTS))
@pytest.mark.parametrize("variant", [v for v in INVALID if v not in ("1-d", "torch-1-d")])
@few
@given(X=tables(min_rows=2, max_rows=8, max_cols=4))
def test_invalid_input_is_named(plot, variant, X):
    if "nan" in variant and plot in ("layer-similarity", "robustness"):
        return  # NaN is documented there: a pair not compared (test_nan_is_a_gap_where_documented)
    name = "rdm" if plot.startswith("rdm") else "result"
    expect_error(lambda: PLOTS[plot](INVALID[variant](INPUT[plot](X))), name)


@few
@given(X=tables(min_rows=3, max_rows=8, max_cols=4))
def test_condensed_and_square_rdms_draw_the_same(X):
    D = rdm(X, metric="euclidean")
    expect_same(lambda: _drawn(plot_rdm(D)), lambda: _drawn(plot_rdm(_square(X))))
    expect_error(lambda: plot_rdm(D[:-1]), "condensed")
    expect_error(lambda: plot_rdm(_square(X)[:, :-1]), "square")


BAD_LABELS = {
    "short": lambda n: [str(i) for i in range(n - 1)],
    "string": lambda n: "a" * n,
    "integer": lambda n: n,
    "2-d": lambda n: np.arange(2 * n).reshape(2, n),
}


@pytest.mark.parametrize("case", list(BAD_LABELS))
def test_bad_labels_are_named(case):
    D = rdm(np.random.RandomState(0).randn(6, 3))
    expect_error(lambda: plot_rdm(D, labels=BAD_LABELS[case](6)), "labels")


@pytest.mark.parametrize("plot", [
    lambda ax: plot_rdm(np.zeros((3, 3)), ax=ax),
    lambda ax: plot_layer_similarity(np.zeros((2, 2)), ax=ax),
    lambda ax: plot_reliability_diagram([0, 1], [[0.6, 0.4], [0.3, 0.7]], ax=ax),
    lambda ax: plot_robustness(Bunch(matrix=np.ones((1, 1)), strengths=[0.0], layers=["a"]),
                               ax=ax),
])
@pytest.mark.parametrize("ax", [3, "axes", np.zeros(2)])
def test_ax_must_be_axes(plot, ax):
    expect_error(lambda: plot(ax), "ax")


BAD_RESULTS = {
    # plot_layer_similarity
    "similarity-missing-keys": (plot_layer_similarity, Bunch(similarity=np.eye(2)), "result"),
    "similarity-labels": (plot_layer_similarity, Bunch(similarity=np.eye(2), layers_a=["a"],
                                                       layers_b=["x", "y"]), "layers_a"),
    "similarity-1-d": (plot_layer_similarity, Bunch(similarity=np.ones(2), layers_a=["a"],
                                                    layers_b=["x", "y"]), "similarity"),
    "similarity-inf": (plot_layer_similarity, np.array([[1.0, np.inf]]), "result"),
    # plot_robustness
    "robustness-array": (plot_robustness, np.eye(2), "result"),
    "robustness-none": (plot_robustness, None, "result"),
    "robustness-no-matrix": (plot_robustness, Bunch(strengths=[0.0], layers=["a"]), "result"),
    "robustness-rows": (plot_robustness, Bunch(matrix=np.ones((2, 1)), strengths=[0.0, 1, 2],
                                               layers=["a"]), "strengths"),
    "robustness-layers": (plot_robustness, Bunch(matrix=np.ones((2, 1)), strengths=[0.0, 1],
                                                 layers=["a", "b"]), "layers"),
    "robustness-blocks": (plot_robustness, Bunch(matrix=np.ones((2, 1)), blocks=["b0"],
                                                 layers=["a"]), "blocks"),
    "robustness-complex": (plot_robustness, Bunch(matrix=np.ones((1, 1)) + 1j, strengths=[0.0],
                                                  layers=["a"]), "matrix"),
    "robustness-strings": (plot_robustness, Bunch(matrix=np.ones((1, 1)), strengths=["0.5"],
                                                  layers=["a"]), "strengths"),
}


@pytest.mark.parametrize("case", list(BAD_RESULTS))
def test_bad_results_are_named(case):
    fn, result, name = BAD_RESULTS[case]
    expect_error(lambda: fn(result), name)


def test_nan_is_a_gap_where_documented():
    """Block removal leaves NaN for layers inside the removed block: drawn as a gap."""
    out = run(lambda: _drawn(plot_robustness(Bunch(
        matrix=np.array([[1.0, np.nan], [0.5, 0.4]]), blocks=["b0", "b1"], layers=["a", "b"]))))
    assert out.error is None and not out.warnings, out
    assert np.isnan(out.value["lines"][1][0])
    out = run(lambda: _drawn(plot_layer_similarity(np.array([[1.0, np.nan]]), annotate=True)))
    assert out.error is None and not out.warnings, out


@st.composite
def predictions(draw):
    n = draw(st.integers(1, 30))
    k = draw(st.integers(2, 4))
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    return rng.randint(0, k, n), rng.dirichlet(np.ones(k), n)


@pytest.mark.parametrize("variant", ["list", "torch", "pandas", "float32"])
@few
@given(yP=predictions())
def test_reliability_diagram_containers(variant, yP):
    y, P = yP
    make = {"list": lambda a: a.tolist(), "torch": torch.as_tensor,
            "pandas": lambda a: EQUIVALENT["pandas"][0](a) if a.ndim == 2 else a,
            "float32": lambda a: a.astype(np.float32) if a.dtype.kind == "f" else a}[variant]
    rtol = 1e-6 if variant == "float32" else 1e-12
    expect_same(lambda: _drawn(plot_reliability_diagram(make(y), make(P))),
                lambda: _drawn(plot_reliability_diagram(y, P.astype(np.float32).astype(float)
                                                        if variant == "float32" else P)),
                rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("variant", ["nan", "inf", "complex", "strings", "empty", "3-d"])
@few
@given(yP=predictions())
def test_reliability_diagram_invalid_probabilities(variant, yP):
    y, P = yP
    expect_error(lambda: plot_reliability_diagram(y, INVALID[variant](P)), "y_prob")
