import numpy as np
import pytest

from reprlign.calibration import expected_calibration_error, reliability_curve


def _direct_ece(y, P, n_bins):
    """Independent top-label ECE: explicit (lo, hi] bins and Python loops."""
    n = len(y)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = []
        for i in range(n):
            c = max(P[i])
            if (lo < c <= hi) or (b == 0 and c == 0):
                members.append(i)
        if not members:
            continue
        acc = sum(int(np.argmax(P[i]) == y[i]) for i in members) / len(members)
        conf = sum(max(P[i]) for i in members) / len(members)
        total += len(members) / n * abs(acc - conf)
    return total


def _direct_classwise(y, P, n_bins):
    eces = []
    for c in range(P.shape[1]):
        total = 0.0
        for b in range(n_bins):
            lo, hi = b / n_bins, (b + 1) / n_bins
            members = [i for i in range(len(y))
                       if (lo < P[i, c] <= hi) or (b == 0 and P[i, c] == 0)]
            if members:
                freq = np.mean([y[i] == c for i in members])
                conf = np.mean([P[i, c] for i in members])
                total += len(members) / len(y) * abs(freq - conf)
        eces.append(total)
    return np.mean(eces)


def _random_proba(rng, n, c, sharpness=3.0):
    logits = rng.normal(scale=sharpness, size=(n, c))
    P = np.exp(logits - logits.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    # Labels drawn from a tempered version, so the model is miscalibrated.
    y = np.array([rng.choice(c, p=np.sqrt(p) / np.sqrt(p).sum()) for p in P])
    return y, P


def test_hand_computed_top_label():
    proba = [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]]
    # confidences 0.9, 0.8, 0.6, 0.7 in four bins; correct 1, 0, 1, 1
    expected = (0.1 + 0.8 + 0.4 + 0.3) / 4
    assert expected_calibration_error([0, 1, 0, 1], proba) == pytest.approx(expected)


def test_hand_computed_shared_bin():
    # All three confidences fall in (0.7, 0.8]: |2/3 - 0.75| = 1/12.
    proba = [[0.75, 0.25, 0.0], [0.1, 0.75, 0.15], [0.05, 0.2, 0.75]]
    assert expected_calibration_error([0, 1, 0], proba) == pytest.approx(1 / 12)
    # With one bin only, everything is in it.
    assert expected_calibration_error([0, 1, 0], proba, n_bins=1) == pytest.approx(1 / 12)


def test_perfectly_calibrated_and_worst_case():
    # Confidence 1 and always right: ECE 0. Confidence 1 and always wrong: ECE 1.
    P = np.eye(3)[[0, 1, 2, 1]]
    assert expected_calibration_error([0, 1, 2, 1], P) == 0.0
    assert expected_calibration_error([1, 2, 0, 0], P) == pytest.approx(1.0)


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_matches_direct_implementation(n_bins, n_classes):
    rng = np.random.RandomState(n_bins * 100 + n_classes)
    y, P = _random_proba(rng, 300, n_classes)
    got = expected_calibration_error(y, P, n_bins=n_bins)
    assert got == pytest.approx(_direct_ece(y, P, n_bins), abs=1e-12)
    assert got > 0.01  # the tempered labels make the model over-confident
    cw = expected_calibration_error(y, P, n_bins=n_bins, classwise=True)
    assert cw == pytest.approx(_direct_classwise(y, P, n_bins), abs=1e-12)


def test_binary_vector_and_two_columns_agree():
    rng = np.random.RandomState(1)
    p = rng.uniform(size=200)
    y = (rng.uniform(size=200) < p**2).astype(int)
    P2 = np.column_stack([1 - p, p])
    a = expected_calibration_error(y, p)
    assert a == pytest.approx(expected_calibration_error(y, P2))
    assert a == pytest.approx(_direct_ece(y, P2, 10))
    assert expected_calibration_error(y, p, classwise=True) == pytest.approx(
        _direct_classwise(y, P2, 10))
    # string labels: the positive class is the larger label
    ys = np.where(y == 1, "yes", "no")
    assert expected_calibration_error(ys, p) == pytest.approx(a)
    # ... or the second entry of labels
    flipped = expected_calibration_error(ys, 1 - p, labels=["yes", "no"])
    assert flipped == pytest.approx(a)


def test_label_conventions():
    rng = np.random.RandomState(2)
    y, P = _random_proba(rng, 100, 4)
    ref = expected_calibration_error(y, P)
    names = np.array(["a", "b", "c", "d"])
    assert expected_calibration_error(names[y], P) == pytest.approx(ref)
    assert expected_calibration_error(y + 1, P) == pytest.approx(ref)  # labels 1..4, sorted
    # explicit labels in a non-sorted column order
    order = np.array([2, 0, 3, 1])
    assert expected_calibration_error(names[y], P[:, order], labels=names[order]) == \
        pytest.approx(ref)
    # integer labels are column indices even when a class is absent
    keep = y != 3
    assert expected_calibration_error(y[keep], P[keep]) == pytest.approx(
        _direct_ece(y[keep], P[keep], 10))


def test_quantile_strategy():
    rng = np.random.RandomState(3)
    y, P = _random_proba(rng, 400, 3)
    conf = P.max(1)
    curve = reliability_curve(y, P, n_bins=4, strategy="quantile")
    assert curve.counts.sum() == 400
    assert np.all(np.abs(curve.counts - 100) <= 1)  # equal mass
    # Direct: sort by confidence, four blocks of 100.
    order = np.argsort(conf)
    correct = P.argmax(1) == y
    direct = sum(abs(correct[b].mean() - conf[b].mean()) * len(b) / 400
                 for b in np.array_split(order, 4))
    got = expected_calibration_error(y, P, n_bins=4, strategy="quantile")
    assert got == pytest.approx(direct)


def test_reliability_curve_values():
    curve = reliability_curve([0, 1, 1], [0.2, 0.7, 0.9], n_bins=5)
    assert curve.counts.tolist() == [0, 0, 0, 2, 1]
    np.testing.assert_allclose(curve.confidence[3:], [0.75, 0.9])
    np.testing.assert_allclose(curve.accuracy[3:], [1.0, 1.0])
    assert np.isnan(curve.accuracy[:3]).all()
    assert curve.ece == pytest.approx((2 * 0.25 + 0.1) / 3)
    np.testing.assert_allclose(curve.bin_edges, np.linspace(0, 1, 6))


def test_bins_are_right_closed():
    # confidence exactly 0.8 belongs to (0.7, 0.8], not (0.8, 0.9]
    curve = reliability_curve([0, 0], [[0.8, 0.2], [0.85, 0.15]])
    assert curve.counts[7] == 1 and curve.counts[8] == 1


@pytest.mark.parametrize(
    "y, proba, kwargs, err, match",
    [
        ([0, 1], [[0.5, 0.6], [0.5, 0.5]], {}, ValueError, "sum to 1"),
        ([0, 1], [[0.5, np.nan], [0.5, 0.5]], {}, ValueError, "NaN"),
        ([0, 1], [1.2, 0.5], {}, ValueError, r"\[0, 1\]"),
        ([0, 1], [[0.5], [0.5]], {}, ValueError, "shape \\(n,\\)"),
        ([0, 1, 1], [[0.5, 0.5], [0.5, 0.5]], {}, ValueError, "3 entries"),
        (["a", "b", "c"], [[0.5, 0.5]] * 3, {}, ValueError, "labels="),
        (["a", "z"], [[0.5, 0.5]] * 2, {"labels": ["a", "b"]}, ValueError, "not in labels"),
        ([0, 1], [[0.5, 0.5]] * 2, {"n_bins": 0}, ValueError, "n_bins"),
        ([0, 1], [[0.5, 0.5]] * 2, {"strategy": "equal"}, ValueError, "strategy"),
        ([0, 1], "0.5", {}, TypeError, "y_prob"),
    ],
)
def test_bad_input(y, proba, kwargs, err, match):
    with pytest.raises(err, match=match):
        expected_calibration_error(y, proba, **kwargs)


@pytest.mark.parametrize("y, err", [([0.0, np.nan, 1.0], ValueError),
                                    ([0.0, np.inf, 1.0], ValueError),
                                    ([0j, 1j, 1 + 0j], TypeError)])
def test_labels_that_are_not_classes_are_named(y, err):
    # NaN was a class of its own (matched to a column in sorted order), silently
    proba = [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]]
    with pytest.raises(err, match="y_true"):
        expected_calibration_error(y, proba)
    with pytest.raises(err, match="y_true"):
        reliability_curve(y, proba)


def test_plot_reliability_diagram():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reprlign.plotting import plot_reliability_diagram

    rng = np.random.RandomState(4)
    y, P = _random_proba(rng, 200, 3)
    ax = plot_reliability_diagram(y, P, label="model")
    curve = reliability_curve(y, P)
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, curve.accuracy[curve.counts > 0])
    assert f"{curve.ece:.3f}" in ax.get_legend().get_texts()[0].get_text()
    plt.close(ax.figure)
