"""Tests of reprlign.triplets: conventions, tie rule, repeats, noise ceiling, sampling."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reprlign.triplets import (
    aggregate_triplets,
    canonicalize,
    choice_kl,
    choice_probabilities,
    from_things,
    noise_ceiling,
    odd_one_out_accuracy,
    odd_one_out_correct,
    predict_odd_one_out,
    read_triplets,
    sample_triplets,
    simulate_choices,
    triplet_groups,
    triplet_similarities,
    validate_triplets,
)
from reprlign.utils._backend import softmax


# ------------------------------------------------------------------ conversion and validation
def test_from_things_puts_odd_one_out_last_and_is_zero_based():
    raw = np.array([[5, 6, 7, 1, 99], [5, 6, 7, 2, 99], [5, 6, 7, 3, 99]])
    out = from_things(raw)
    np.testing.assert_array_equal(out, [[5, 6, 4], [4, 6, 5], [4, 5, 6]])


def test_canonicalize_keeps_pair_order():
    t = np.array([[10, 20, 30], [10, 20, 30]])
    np.testing.assert_array_equal(canonicalize(t, [1, 0]), [[10, 30, 20], [20, 30, 10]])


def test_validate_triplets_accepts_and_converts():
    out = validate_triplets(np.array([[0, 1, 2]], dtype=np.int32), 3)
    assert out.dtype == np.int64


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 2), dtype=int), r"shape \(m, 3\)"),
        (np.zeros((0, 3), dtype=int), "empty"),
        (np.array([[0.0, 1.0, 2.0]]), "integers"),
        (np.array([[True, False, True]]), "integers"),
        (np.array([[0, 1, 2], [0, -1, 2]]), "row 1 has a negative index"),
        (np.array([[0, 1, 2], [0, 1, 2], [0, 1, 5]]), "row 2 has an index out of range for 5"),
        (np.array([[0, 1, 2], [3, 3, 4]]), "row 1 does not hold three distinct"),
        ("0 1 2", "integer array"),
    ],
)
def test_validate_triplets_errors_name_the_first_bad_row(bad, match):
    with pytest.raises(ValueError, match=match):
        validate_triplets(bad, 5)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.int64, np.int32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6),
        elements=st.integers(-3, 8),
    )
)
def test_validate_triplets_fuzz_either_valid_or_clear_error(arr):
    """Any malformed array gets a ValueError; anything accepted really is valid."""
    n_objects = 6
    try:
        out = validate_triplets(arr, n_objects)
    except ValueError as exc:
        assert "triplets" in str(exc)
        return
    assert out.ndim == 2 and out.shape[1] == 3 and out.shape[0] > 0
    assert np.issubdtype(arr.dtype, np.integer)
    assert out.min() >= 0 and out.max() < n_objects
    assert (np.sort(out, axis=1)[:, 1:] != np.sort(out, axis=1)[:, :-1]).all()


def test_from_things_rejects_bad_choice():
    with pytest.raises(ValueError, match="row 1: choice must be 1, 2 or 3"):
        from_things([[1, 2, 3, 1], [1, 2, 3, 4]])


def test_read_triplets_roundtrip(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("# obj1 obj2 obj3 choice participant\n1\t2\t3\t3\t7\n4\t5\t6\t1\t7\n")
    np.testing.assert_array_equal(read_triplets(path), [[0, 1, 2], [4, 5, 3]])
    canon = tmp_path / "c.txt"
    canon.write_text("0 1 2\n4 5 3\n")
    np.testing.assert_array_equal(read_triplets(canon, format="canonical"), [[0, 1, 2], [4, 5, 3]])
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        read_triplets(tmp_path / "missing.tsv")
    with pytest.raises(ValueError, match="format"):
        read_triplets(path, format="csv")


# ------------------------------------------------------------------ similarities and accuracy
def _direct_similarities(Z, t):
    """One dot product per pair: the definition, written out."""
    def dot(a, b):
        return np.einsum("md,md->m", Z[a], Z[b])

    return np.stack([dot(t[:, 1], t[:, 2]), dot(t[:, 0], t[:, 2]), dot(t[:, 0], t[:, 1])], axis=1)


@pytest.mark.parametrize("n_objects, n_triplets", [(10, 500), (400, 30)])  # Gram / row-wise
def test_triplet_similarities_match_definition(rng, n_objects, n_triplets):
    Z = rng.normal(size=(n_objects, 7))
    t = sample_triplets(n_objects, n_triplets, random_state=1)
    np.testing.assert_allclose(triplet_similarities(Z, t), _direct_similarities(Z, t), rtol=1e-12)
    Zn = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    np.testing.assert_allclose(
        triplet_similarities(Z, t, similarity="cosine"), _direct_similarities(Zn, t), rtol=1e-12
    )


def test_rowwise_chunks_equal_one_chunk(rng):
    Z = rng.normal(size=(500, 4))
    t = sample_triplets(500, 50, random_state=0)
    np.testing.assert_allclose(
        triplet_similarities(Z, t, chunk_size=7), triplet_similarities(Z, t), rtol=1e-12
    )


def test_choice_probabilities_layout_and_temperature():
    # Objects 0 and 1 are near each other, 2 is far: 2 is the odd one out.
    Z = np.array([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.2]])
    t = np.array([[0, 1, 2], [2, 0, 1]])
    p = choice_probabilities(Z, t)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0].argmax() == 2 and p[1].argmax() == 0
    s = _direct_similarities(Z, t)
    np.testing.assert_allclose(choice_probabilities(Z, t, temperature=0.5), softmax(s / 0.5))
    # A higher temperature is more uncertain.
    hot = choice_probabilities(Z, t, temperature=10.0)
    assert hot[0].max() < p[0].max()
    np.testing.assert_array_equal(predict_odd_one_out(Z, t), [2, 0])
    with pytest.raises(ValueError, match="temperature"):
        choice_probabilities(Z, t, temperature=0)


def test_ties_count_as_wrong():
    Z = np.ones((3, 2))  # every pair equally similar
    t = np.array([[0, 1, 2]])
    assert odd_one_out_accuracy(Z, t) == 0.0
    # A tie between the human pair and one other pair is also wrong.
    Z = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    assert not odd_one_out_correct(Z, np.array([[0, 1, 2]]))[0]
    # A tie only between the two losing pairs does not matter.
    assert odd_one_out_correct(Z, np.array([[0, 1, 3]]))[0]


def test_accuracy_with_explicit_positions(rng):
    Z = rng.normal(size=(30, 5))
    t = sample_triplets(30, 200, random_state=0)
    pred = predict_odd_one_out(Z, t)
    assert odd_one_out_accuracy(Z, t, pred) == 1.0
    assert odd_one_out_accuracy(Z, t, (pred + 1) % 3) == 0.0
    with pytest.raises(ValueError, match="choice distribution"):
        odd_one_out_accuracy(Z, t, np.full((200, 3), 1 / 3))
    with pytest.raises(ValueError, match="positions 0, 1 or 2"):
        odd_one_out_accuracy(Z, t, np.full(200, 3))


def test_torch_input_matches_numpy_and_is_differentiable(rng):
    Z = rng.normal(size=(20, 6))
    t = sample_triplets(20, 300, random_state=0)
    Zt = torch.tensor(Z, requires_grad=True)
    p_t = choice_probabilities(Zt, t, similarity="cosine", temperature=0.3)
    np.testing.assert_allclose(
        p_t.detach().numpy(), choice_probabilities(Z, t, similarity="cosine", temperature=0.3),
        rtol=1e-10,
    )
    p_t[:, 2].log().sum().backward()
    assert Zt.grad is not None and torch.isfinite(Zt.grad).all()
    assert odd_one_out_accuracy(Zt, t) == odd_one_out_accuracy(Z, t)


def test_bad_features_are_named():
    t = np.array([[0, 1, 2]])
    with pytest.raises(ValueError, match="Z contains NaN"):
        triplet_similarities(np.array([[0.0], [np.nan], [1.0]]), t)
    with pytest.raises(ValueError, match="out of range for 2 objects"):
        triplet_similarities(np.zeros((2, 3)), t)
    with pytest.raises(ValueError, match="similarity must be one of"):
        triplet_similarities(np.zeros((3, 3)), t, similarity="euclidean")


# ------------------------------------------------------------------ repeats and noise ceiling
def test_triplet_groups_ignore_order():
    t = np.array([[0, 1, 2], [2, 0, 1], [3, 1, 2], [1, 0, 2]])
    g = triplet_groups(t)
    assert g[0] == g[1] == g[3] != g[2]


def test_aggregate_triplets_distributions():
    # Same set {0,1,2}: odd = 2 twice, odd = 0 once; set {3,4,5}: odd = 3 once.
    t = np.array([[0, 1, 2], [1, 0, 2], [1, 2, 0], [4, 5, 3]])
    unique, proba, counts, inverse = aggregate_triplets(t, return_inverse=True)
    np.testing.assert_array_equal(unique, [[0, 1, 2], [4, 5, 3]])
    np.testing.assert_array_equal(counts, [[1, 0, 2], [0, 0, 1]])
    np.testing.assert_allclose(proba, [[1 / 3, 0, 2 / 3], [0, 0, 1]])
    np.testing.assert_array_equal(inverse, [0, 0, 0, 1])


def test_noise_ceiling_hand_computed():
    # Triplet A: 3 responses odd=2, 1 response odd=0.
    #   each odd=2 response: others {2:2, 0:1} -> majority 2 -> 1;
    #   the odd=0 response: others {2:3} -> 0.
    # Triplet B: 1 response odd=2, 1 response odd=1: others are single votes for the other -> 0.
    t = np.array([[0, 1, 2]] * 3 + [[1, 2, 0], [3, 4, 5], [3, 5, 4]])
    assert noise_ceiling(t) == pytest.approx(3 / 6)
    # Ties among the others are broken uniformly in expectation.
    t = np.array([[0, 1, 2], [1, 2, 0], [0, 2, 1]])  # three different choices
    # each response: others are two different choices, own not among them -> 0
    assert noise_ceiling(t) == 0.0
    t = np.array([[0, 1, 2], [0, 1, 2], [1, 2, 0]])
    # odd=2 responses: others {2:1, 0:1} tie -> 1/2 each; odd=0: others {2:2} -> 0
    assert noise_ceiling(t) == pytest.approx((0.5 + 0.5 + 0) / 3)


def test_noise_ceiling_warns_about_single_responses():
    t = np.array([[0, 1, 2], [0, 1, 2], [3, 4, 5]])
    with pytest.warns(UserWarning, match="1 response"):
        assert noise_ceiling(t) == 1.0


def test_choice_kl():
    p = np.array([[0.2, 0.3, 0.5]])
    assert choice_kl(p, p) == pytest.approx(0.0, abs=1e-15)
    q = np.array([[1 / 3, 1 / 3, 1 / 3]])
    assert choice_kl(p, q) == pytest.approx(np.sum(p * np.log(p / q)))
    with pytest.raises(ValueError, match="row 0 sums to"):
        choice_kl(np.array([[0.5, 0.5, 0.5]]), q)


# ------------------------------------------------------------------ sampling
def _distinct(t):
    return (t[:, 0] != t[:, 1]) & (t[:, 0] != t[:, 2]) & (t[:, 1] != t[:, 2])


def test_random_sampling_reproducible_and_valid():
    a = sample_triplets(50, 1000, random_state=3)
    b = sample_triplets(50, 1000, random_state=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1000, 3) and _distinct(a).all() and a.max() < 50
    assert not np.array_equal(a, sample_triplets(50, 1000, random_state=4))
    # Roughly uniform over objects.
    counts = np.bincount(a.ravel(), minlength=50)
    assert counts.min() > 30


def test_class_based_sampling():
    labels = np.repeat([0, 1, 2, 3], 10)
    w = sample_triplets(40, 500, method="within_class", labels=labels, random_state=0)
    assert _distinct(w).all() and (labels[w] == labels[w[:, :1]]).all()
    b = sample_triplets(40, 500, method="between_class", labels=labels, random_state=0)
    lb = np.sort(labels[b], axis=1)
    assert (lb[:, 0] < lb[:, 1]).all() and (lb[:, 1] < lb[:, 2]).all()
    c = sample_triplets(40, 500, method="class_boundary", labels=labels, random_state=0)
    assert _distinct(c).all()
    assert (labels[c[:, 0]] == labels[c[:, 1]]).all() and (labels[c[:, 2]] != labels[c[:, 0]]).all()
    with pytest.raises(ValueError, match="needs labels"):
        sample_triplets(40, 5, method="within_class")
    with pytest.raises(ValueError, match="labels must have shape"):
        sample_triplets(40, 5, method="within_class", labels=labels[:5])
    with pytest.raises(ValueError, match="method must be one of"):
        sample_triplets(40, 5, method="nearest")


def test_cluster_border_sampling(rng):
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [50.0, 50.0], [54.0, 50.0]])
    cluster = np.repeat(np.arange(4), 25)
    X = centres[cluster] + rng.normal(scale=0.3, size=(100, 2))
    t = sample_triplets(100, 400, method="cluster_border", features=X, n_clusters=4,
                        n_neighbors=1, random_state=0)
    assert _distinct(t).all()
    same_pair = cluster[t[:, 0]] == cluster[t[:, 1]]
    assert same_pair.all()
    # The odd object comes from the *neighbouring* cluster (0<->1, 2<->3), never a far one.
    neighbour = {0: 1, 1: 0, 2: 3, 3: 2}
    assert all(cluster[o] == neighbour[cluster[p]] for p, o in zip(t[:, 0], t[:, 2], strict=True))
    with pytest.raises(ValueError, match="needs features"):
        sample_triplets(100, 5, method="cluster_border")


def test_simulate_choices_follows_the_representation(rng):
    Z = rng.normal(size=(40, 3))
    t = sample_triplets(40, 4000, random_state=0)
    sharp = simulate_choices(Z, t, temperature=1e-3, random_state=0)
    assert odd_one_out_accuracy(Z, sharp) > 0.99
    noisy = simulate_choices(Z, t, temperature=1.0, random_state=0)
    p = choice_probabilities(Z, t)
    # Agreement of sampled answers equals the expected probability of the argmax.
    expected = np.mean(p.max(axis=1))
    assert abs(odd_one_out_accuracy(Z, noisy) - expected) < 0.03


@pytest.mark.parametrize("kind", ["soft", "hard", "weighted"])
def test_fit_temperature_finds_the_minimum_cross_entropy(kind):
    """Newton in log(1/T) lands on the minimum a scalar search over log T finds."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    from reprlign.triplets import fit_temperature

    rng = np.random.RandomState(1)
    Z = rng.randn(80, 4) * 3.0
    t = sample_triplets(80, 3000, random_state=0)
    s = triplet_similarities(Z, t)
    p = choice_probabilities(Z, t, temperature=5.0)
    if kind != "soft":
        p = np.eye(3)[(p.cumsum(axis=1) > rng.rand(len(p), 1)).argmax(axis=1)]
    w = rng.rand(len(p)) if kind == "weighted" else np.ones(len(p))

    def loss(log_t):
        return -(w * (p * log_softmax(s / np.exp(log_t), axis=1)).sum(1)).sum() / w.sum()

    best = minimize_scalar(loss, bounds=(-3, 5), method="bounded", options={"xatol": 1e-9}).x
    T = fit_temperature(s, p, None if kind != "weighted" else w)
    assert T == pytest.approx(np.exp(best), rel=1e-5)
    # Separable data: the best temperature is the lower bound; no signal at all: the upper.
    sep = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0]])
    with pytest.warns(RuntimeWarning, match="edge of bounds"):
        assert fit_temperature(sep, np.eye(3)[[2, 2]]) == pytest.approx(1e-4)
    with pytest.warns(RuntimeWarning, match="edge of bounds"):
        assert fit_temperature(sep, np.eye(3)[[0, 0]]) == pytest.approx(1e4)
