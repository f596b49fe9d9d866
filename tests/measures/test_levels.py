import numpy as np
import pytest

from reprlign import levels_agreement, things_levels, triplet_levels
from reprlign.datasets import (
    load_things_features,
    load_things_triplets,
    make_hierarchical_concepts,
    make_levels_triplets,
)


def _onehot_structure(coarse, fine, scale_fine):
    """A representation that is exactly the category structure (coarse + weighted fine)."""
    _, c = np.unique(coarse, return_inverse=True)
    _, f = np.unique(fine, return_inverse=True)
    return np.hstack([np.eye(c.max() + 1)[c], scale_fine * np.eye(f.max() + 1)[f]])


def test_structure_representation_gets_structural_levels_right():
    data = make_hierarchical_concepts(random_state=0)
    lv = make_levels_triplets(data.coarse, data.fine, 200, random_state=0)
    Z = _onehot_structure(data.coarse, data.fine, 0.5)
    with pytest.warns(UserWarning, match="coarse"):
        res = levels_agreement(Z, lv.triplets, lv.level, similarity="dot")
    assert res.levels == ["coarse", "class_boundary", "subordinate"]
    assert np.isnan(res.accuracy[0]) and res.answer == "structure"
    np.testing.assert_allclose(res.accuracy[1:], 1.0)
    np.testing.assert_array_equal(res.n_triplets, [200, 200, 200])
    # Without the fine part, subordinate triplets are all ties (wrong by the tie rule).
    Zc = _onehot_structure(data.coarse, data.fine, 0.0)
    with pytest.warns(UserWarning):
        res = levels_agreement(Zc, lv.triplets, lv.level, similarity="dot")
    assert res.accuracy[1] == 1.0 and res.accuracy[2] == 0.0


def test_reference_answers_and_y():
    data = make_hierarchical_concepts(random_state=0)
    lv = make_levels_triplets(data.coarse, data.fine, 200, random_state=0)
    self_ref = levels_agreement(data.human, lv.triplets, lv.level, reference=data.human)
    # The reference agrees with itself except on exact ties.
    assert self_ref.answer == "reference" and np.all(self_ref.accuracy > 0.99)
    res = levels_agreement(data.model, lv.triplets, lv.level, reference=data.human)
    assert np.all(res.accuracy > 1 / 3) and np.all(res.accuracy < 1)
    # y given as positions = the same as reordering triplets to put the answer last
    rng = np.random.RandomState(0)
    y = rng.randint(0, 3, len(lv.triplets))
    shuffled = lv.triplets.copy()
    rows = np.arange(len(y))
    shuffled[rows, y], shuffled[rows, 2] = lv.triplets[rows, 2], lv.triplets[rows, y]
    a = levels_agreement(data.model, shuffled, lv.level, y, structural=False)
    b = levels_agreement(data.model, lv.triplets, lv.level, structural=False)
    np.testing.assert_allclose(a.accuracy, b.accuracy)
    with pytest.raises(ValueError, match="either y or reference"):
        levels_agreement(data.model, lv.triplets, lv.level, y, reference=data.human)
    with pytest.raises(ValueError, match="one entry per triplet"):
        levels_agreement(data.model, lv.triplets, lv.level[:5])


def test_triplet_levels_roundtrip():
    data = make_hierarchical_concepts(random_state=1)
    lv = make_levels_triplets(data.coarse, data.fine, 100, random_state=1)
    np.testing.assert_array_equal(triplet_levels(lv.triplets, data.coarse, data.fine), lv.level)
    coarse = np.array(["a", "a", "a", "b", None], dtype=object)
    fine = np.array(["x", "x", "y", "z", None], dtype=object)
    got = triplet_levels([[0, 1, 2], [0, 1, 3], [0, 1, 4], [0, 2, 3]], coarse, fine)
    assert list(got) == ["subordinate", "class_boundary", "other", "class_boundary"]


def test_things_hierarchy_and_human_levels():
    h = things_levels()
    assert h.parent["bird"] == "animal" and h.parent["vegetable"] == "food"
    assert "animal" not in h.parent and len(set(h.coarse)) == 19
    assert len(h.objects) == len(h.coarse) == len(h.fine) > 1000
    # Every fine label lies inside one coarse label.
    for f in set(h.fine):
        assert len(set(h.coarse[h.fine == f])) == 1
    data = load_things_triplets()
    c = np.full(data.n_objects, None, dtype=object)
    f = np.full(data.n_objects, None, dtype=object)
    c[h.objects], f[h.objects] = h.coarse, h.fine
    level = triplet_levels(data.triplets, c, f)
    res = levels_agreement(load_things_features("minilm-words"), data.triplets, level,
                           structural=False)
    assert res.levels[:3] == ["coarse", "class_boundary", "subordinate"]
    assert res.n_triplets.sum() == len(data.triplets)
    # MiniLM word embeddings agree with people above chance at the class boundary
    assert res.accuracy[1] > 0.45
