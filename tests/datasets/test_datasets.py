"""The bundled human data and the synthetic generators."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from reprlign.datasets import (
    FEATURE_SETS,
    load_mur92,
    load_things_features,
    load_things_triplets,
    make_heavy_tailed,
    make_hierarchical_concepts,
    make_levels_triplets,
)
from reprlign.triplets import noise_ceiling, odd_one_out_accuracy, validate_triplets


@pytest.fixture(scope="module")
def things():
    return load_things_triplets()


def test_things_triplets_contents(things):
    assert things.triplets.shape == (20000, 3)
    validate_triplets(things.triplets, 1854)
    assert things.unique_triplets.shape == (1000, 3)
    assert len(np.unique(things.participants)) == 325
    assert len(things.concepts) == 1854 and things.concepts[0] == "aardvark"
    assert things.categories.shape == (1854, 27) and things.category_names[0] == "animal"
    assert things.categories[0, 0] == 1  # an aardvark is an animal
    # 1,503 of the 1,854 concepts occur.
    assert len(np.unique(things.triplets)) == 1503
    counts = things.choice_counts.sum(axis=1)
    assert counts.min() == 14 and counts.max() == 25 and counts.sum() == 20000
    np.testing.assert_allclose(things.choice_proba.sum(axis=1), 1.0)
    # Majority last: column 2 holds the largest share.
    assert (things.choice_proba[:, 2] >= things.choice_proba.max(axis=1) - 1e-12).all()
    # groups index unique_triplets consistently.
    same = np.sort(things.triplets, 1) == np.sort(things.unique_triplets[things.groups], 1)
    assert same.all()
    assert "CC-BY-4.0" in things.DESCR and "Hebart" in things.DESCR


def test_things_noise_ceiling_matches_published_estimate(things):
    assert noise_ceiling(things.triplets) == pytest.approx(0.6438, abs=5e-4)


@pytest.mark.parametrize("name, expected", [("minilm-words", 0.41405),
                                            ("minilm-definitions", 0.49425)])
def test_things_features_zero_shot(things, name, expected):
    F = load_things_features(name)
    assert F.shape == (1854, 384) and F.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0, atol=1e-5)
    acc = odd_one_out_accuracy(F, things.triplets, similarity="cosine")
    assert acc == pytest.approx(expected, abs=1e-3)


def test_things_features_unknown_name():
    with pytest.raises(ValueError, match="minilm-words"):
        load_things_features("clip")
    assert set(FEATURE_SETS) == {"minilm-words", "minilm-definitions"}


def test_mur92():
    d = load_mur92()
    assert d.images.shape == (92, 175, 175, 3) and d.images.dtype == np.uint8
    assert d.behavior_rdms.shape == (16, 92, 92)
    np.testing.assert_allclose(d.behavior_rdms, d.behavior_rdms.transpose(0, 2, 1))
    assert np.allclose(np.diagonal(d.behavior_rdms, axis1=1, axis2=2), 0)
    assert d.brain_rdms.shape == (2, 92, 92) and d.brain_rdm_names == ["mIT", "hIT"]
    assert d.category_vectors.shape == (92, 12) and d.category_labels[0] == "animate"
    # The first 48 images are animate.
    assert d.category_vectors[:48, 0].all() and not d.category_vectors[48:, 0].any()
    # Human judgments relate to human IT: positive rank correlation of upper triangles.
    from scipy.stats import spearmanr

    iu = np.triu_indices(92, 1)
    rho = spearmanr(d.behavior_rdms.mean(0)[iu], d.brain_rdms[1][iu]).statistic
    assert rho > 0.2
    assert "Kriegeskorte" in d.DESCR and "MIT" in d.DESCR


def test_make_hierarchical_concepts_structure():
    d = make_hierarchical_concepts(200, n_coarse=4, n_fine=3, random_state=0)
    assert d.human.shape == (200, 16) and d.model.shape == (200, 64)
    assert len(np.unique(d.fine)) == 12 and (d.fine // 3 == d.coarse).all()
    # Same fine class is closer than same coarse class, which is closer than different coarse.
    D = ((d.human[:, None] - d.human[None]) ** 2).sum(-1)
    same_fine = d.fine[:, None] == d.fine[None]
    same_coarse = (d.coarse[:, None] == d.coarse[None]) & ~same_fine
    other = d.coarse[:, None] != d.coarse[None]
    off = ~np.eye(200, dtype=bool)
    assert D[same_fine & off].mean() < D[same_coarse].mean() < D[other].mean()
    # The model is the human embedding through A, up to the noise.
    resid = d.model - d.human @ d.A
    assert resid.std() == pytest.approx(0.1, rel=0.1)
    again = make_hierarchical_concepts(200, n_coarse=4, n_fine=3, random_state=0)
    np.testing.assert_array_equal(again.model, d.model)
    with pytest.raises(ValueError, match="n_features"):
        make_hierarchical_concepts(100, n_components=10, n_features=5)


def test_make_levels_triplets():
    d = make_hierarchical_concepts(200, n_coarse=4, n_fine=3, random_state=0)
    lv = make_levels_triplets(d.coarse, d.fine, 300, random_state=0)
    t = lv.triplets
    assert t.shape == (900, 3) and list(lv.levels) == ["coarse", "class_boundary", "subordinate"]
    validate_triplets(t, 200)
    c, f = d.coarse[t], d.fine[t]
    coarse, bound, sub = (lv.level == name for name in lv.levels)
    assert (np.sort(c[coarse], 1)[:, :-1] != np.sort(c[coarse], 1)[:, 1:]).all()
    assert (c[bound, 0] == c[bound, 1]).all() and (c[bound, 2] != c[bound, 0]).all()
    assert (c[sub] == c[sub][:, :1]).all()
    assert (f[sub, 0] == f[sub, 1]).all() and (f[sub, 2] != f[sub, 0]).all()
    with pytest.raises(ValueError, match="spans several coarse"):
        make_levels_triplets([0, 1, 1], [0, 0, 1])


def test_make_heavy_tailed_protocol():
    X, y = load_digits(return_X_y=True)
    d = make_heavy_tailed(X, y, p=0.9, random_state=0)
    counts = np.bincount(d.y_train, minlength=10)
    assert counts.sum() == 200 and counts.min() >= 5
    frequent = np.isin(np.arange(10), d.frequent_classes)
    assert frequent.sum() == 3 and counts[frequent].min() > counts[~frequent].max()
    assert d.p_effective == pytest.approx(counts[frequent].sum() / 200)
    assert 0.8 <= d.p_effective <= 0.9
    test_counts = np.bincount(d.y_test, minlength=10)
    assert (test_counts == test_counts[0]).all() and test_counts[0] > 0
    # Train and test do not share rows.
    assert not np.isin(d.test_index, d.train_index).any()
    np.testing.assert_array_equal(d.X_train, X[d.train_index])
    np.testing.assert_array_equal(d.y_test, y[d.test_index])
    with pytest.raises(ValueError, match="p must be in"):
        make_heavy_tailed(X, y, p=1.5)
    with pytest.raises(ValueError, match="X has"):
        make_heavy_tailed(X[:10], y)
