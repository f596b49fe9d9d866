"""RDMs to odd-one-out triplets with choice probabilities, and alignment on held-out images."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform
from sklearn.model_selection import KFold

from reprlign import HumanAlignTransformer
from reprlign.datasets import load_mur92
from reprlign.model_selection import TripletObjectKFold
from reprlign.triplets import _rdm as rdm_module
from reprlign.triplets import choice_probabilities, odd_one_out_accuracy, rdm_triplets


def _rdm(rng, n=7, s=None):
    X = rng.randn(n, 4) if s is None else rng.randn(s, n, 4)
    return squareform(pdist(X)) if s is None else np.stack([squareform(pdist(x)) for x in X])


def test_hand_computed_distribution_and_layout():
    R = np.zeros((4, 4))
    for (a, b), d in {(0, 1): 1.0, (0, 2): 2.0, (1, 2): 3.0, (0, 3): 5, (1, 3): 5,
                      (2, 3): 5}.items():
        R[a, b] = R[b, a] = d
    t, p = rdm_triplets(R, triplets=[[2, 0, 1]], temperature=1.0, scale=None)
    np.testing.assert_array_equal(t, [[2, 0, 1]])  # given triplets keep their order
    expected = np.exp(-np.array([1.0, 3.0, 2.0]))  # -[d_jk, d_ik, d_ij] for [2, 0, 1]
    np.testing.assert_allclose(p[0], expected / expected.sum())
    # drawn triplets are canonical: (0, 1) is the closest pair, so 2 is most likely odd, last
    t_all, p_all = rdm_triplets(R, objects=[0, 1, 2], temperature=1.0, scale=None)
    np.testing.assert_array_equal(t_all, [[0, 1, 2]])
    np.testing.assert_allclose(p_all[0], p[0][[1, 2, 0]])


def test_matches_choice_probabilities_when_dissimilarity_is_minus_similarity(rng):
    Z = rng.randn(9, 3)
    t = np.array([[0, 1, 2], [3, 4, 5], [8, 2, 6], [1, 7, 5]])
    out_t, out_p = rdm_triplets(-Z @ Z.T, triplets=t, temperature=0.7, scale=None)
    np.testing.assert_allclose(out_p, choice_probabilities(Z, out_t, temperature=0.7),
                               rtol=1e-12)
    np.testing.assert_array_equal(out_t, t)


def test_people_are_averaged_sampled_or_kept(rng):
    R = _rdm(rng, s=5)
    t, each = rdm_triplets(R, temperature=0.5, combine="none")
    assert each.shape == (5, math.comb(7, 3), 3)
    t_mean, mean = rdm_triplets(R, temperature=0.5)
    np.testing.assert_array_equal(t_mean, t)
    np.testing.assert_allclose(mean, each.mean(axis=0))
    t_s, sampled = rdm_triplets(R, temperature=0.5, combine="sample", random_state=0)
    np.testing.assert_array_equal(np.sort(t_s, axis=1), np.sort(t, axis=1))
    # every sampled row is one person's distribution (compared object by object)
    for row_t, row_p in zip(t_s[:10], sampled[:10], strict=True):
        _, one = rdm_triplets(R, triplets=[row_t], temperature=0.5, combine="none")
        assert np.isclose(one[:, 0], row_p).all(axis=1).any()
    assert len({tuple(np.round(r, 12)) for r in sampled}) > 1


def test_zero_temperature_counts_people_and_shares_ties():
    R1 = squareform([1.0, 2.0, 3.0])  # closest pair (0, 1): 2 is odd
    R2 = squareform([3.0, 1.0, 2.0])  # closest pair (0, 2): 1 is odd
    R3 = squareform([1.0, 1.0, 2.0])  # a tie between (0, 1) and (0, 2)
    t, p = rdm_triplets(np.stack([R1, R2, R1]), temperature=0, scale=None)
    np.testing.assert_array_equal(t, [[0, 1, 2]])
    np.testing.assert_allclose(p, [[0, 1 / 3, 2 / 3]])
    _, tie = rdm_triplets(R3, temperature=0)
    np.testing.assert_allclose(np.sort(tie[0]), [0, 0.5, 0.5])


def test_input_forms_agree(rng):
    R = _rdm(rng, s=3)
    ref = rdm_triplets(R, temperature=0.3)
    condensed = np.stack([squareform(r, checks=False) for r in R])
    for other in (condensed, torch.from_numpy(R)):
        for a, b in zip(ref, rdm_triplets(other, temperature=0.3), strict=True):
            np.testing.assert_allclose(a, b)
    one = rdm_triplets(R[0], temperature=0.3)
    for a, b in zip(one, rdm_triplets(condensed[0], temperature=0.3), strict=True):
        np.testing.assert_allclose(a, b)


def test_std_scale_makes_units_irrelevant(rng):
    R = _rdm(rng)
    t, p = rdm_triplets(R, temperature=0.4)
    np.testing.assert_allclose(rdm_triplets(100 * R, temperature=0.4)[1], p)
    assert not np.allclose(rdm_triplets(100 * R, temperature=0.4, scale=None)[1], p)
    # "std" is the formula applied to R divided by its spread
    spread = squareform(R).std()
    np.testing.assert_allclose(rdm_triplets(R / spread, triplets=t, temperature=0.4,
                                            scale=None)[1], p)


def test_objects_and_sampling(rng):
    R = _rdm(rng, n=12)
    t, _ = rdm_triplets(R, objects=[0, 3, 4, 7, 11])
    assert len(t) == math.comb(5, 3) and set(np.unique(t)) == {0, 3, 4, 7, 11}
    assert len({tuple(sorted(r)) for r in t}) == len(t)  # every triplet once
    mask = np.zeros(12, dtype=bool)
    mask[[1, 2, 5, 6]] = True
    assert set(np.unique(rdm_triplets(R, objects=mask)[0])) == {1, 2, 5, 6}
    a = rdm_triplets(R, 300, objects=range(6), random_state=1)
    b = rdm_triplets(R, 300, objects=range(6), random_state=1)
    assert a[0].shape == (300, 3) and np.unique(a[0]).max() < 6
    np.testing.assert_array_equal(a[0], b[0])
    assert (a[0][:, 0] != a[0][:, 1]).all() and (a[0][:, 1] != a[0][:, 2]).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=-1.0), "temperature"),
    (dict(scale="rank"), "scale"),
    (dict(combine="median"), "combine"),
    (dict(objects=[0, 1]), "at least 3"),
    (dict(objects=[0, 1, 99]), r"indices in \[0, 7\)"),
    (dict(triplets=[[0, 1, 2]], n_triplets=5), "not both"),
    (dict(triplets=[[0, 1, 1]]), "distinct"),
])
def test_bad_arguments_are_named(rng, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rdm_triplets(_rdm(rng), **kwargs)


def test_bad_rdms_are_named(rng, monkeypatch):
    R = _rdm(rng)
    asym = R.copy()
    asym[0, 1] += 1
    with pytest.raises(ValueError, match="not symmetric"):
        rdm_triplets(asym)
    nan = R.copy()
    nan[2, 3] = nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rdm_triplets(nan)
    with pytest.raises(ValueError, match="condensed"):
        rdm_triplets(np.ones(7))
    with pytest.raises(ValueError, match="constant"):
        rdm_triplets(np.ones((4, 4)) - np.eye(4))
    monkeypatch.setattr(rdm_module, "_MAX_ALL_TRIPLETS", 10)
    with pytest.raises(ValueError, match="pass n_triplets"):
        rdm_triplets(R)


def test_all_triplets_with_object_folds_equal_triplets_of_the_training_images(rng):
    R = _rdm(rng, n=15)
    t, p = rdm_triplets(R)
    cv = TripletObjectKFold(3, shuffle=True, random_state=0)
    for (train, test), (train_obj, test_obj) in zip(
            cv.split(t), KFold(3, shuffle=True, random_state=0).split(np.arange(15)),
            strict=True):
        for rows, objects in ((train, train_obj), (test, test_obj)):
            t_obj, p_obj = rdm_triplets(R, objects=objects)
            assert {tuple(r) for r in t[rows]} == {tuple(r) for r in t_obj}
            order = np.lexsort(t[rows].T[::-1])
            order_obj = np.lexsort(t_obj.T[::-1])
            np.testing.assert_allclose(p[rows][order], p_obj[order_obj])


def test_human_align_learns_from_the_92_image_judgments_on_held_out_images():
    """Features: the 12 category labels of the images; targets: the 16 people's RDMs."""
    data = load_mur92()
    F = data.category_vectors + 0.05 * np.random.RandomState(0).randn(92, 12)
    train_img, test_img = next(KFold(3, shuffle=True, random_state=0).split(F))
    X_train, y_train = rdm_triplets(data.behavior_rdms, 2000, objects=train_img,
                                    temperature=0.3, random_state=0)
    X_test, y_test = rdm_triplets(data.behavior_rdms, objects=test_img, temperature=0.3)
    assert not np.isin(X_test, train_img).any() and not np.isin(X_train, test_img).any()
    est = HumanAlignTransformer(F, batch_size=None, lr=3e-2, max_epochs=40,
                                early_stopping=False, random_state=0).fit(X_train, y_train)
    before = odd_one_out_accuracy(F, X_test, similarity="cosine")
    after = est.score(X_test, y_test)
    assert after > before + 0.04, (before, after)  # 0.70 -> 0.78 when this was written
    assert est.temperature_ > 0
