"""MinibatchCKA, layer_similarity and odd_one_out_agreement."""

import numpy as np
import pytest
import torch

from reprlign.datasets import load_things_features, load_things_triplets
from reprlign.measures import MinibatchCKA, cka, layer_similarity, odd_one_out_agreement
from reprlign.triplets import choice_kl, choice_probabilities, odd_one_out_accuracy


def _song_hsic(K, L):
    n = K.shape[0]
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ Kt @ Lt @ one) / (n * (n - 3))


@pytest.fixture
def layers(rng):
    h1 = rng.randn(300, 12)
    h2 = np.tanh(h1 @ rng.randn(12, 20))
    h3 = h2 @ rng.randn(20, 5) + 0.5 * rng.randn(300, 5)
    return {"h1": h1, "h2": h2, "h3": h3}


def test_one_batch_equals_unbiased_cka(layers):
    acc = MinibatchCKA().update(layers["h1"], layers["h3"])
    assert abs(acc.result() - cka(layers["h1"], layers["h3"], debiased=True)) < 1e-12
    assert acc.n_batches_ == 1 and acc.n_samples_ == 300


def test_sums_of_batch_hsic_match_song_estimator(layers):
    X, Y = layers["h2"], layers["h3"]
    acc = MinibatchCKA()
    xy = xx = yy = 0.0
    for start in range(0, 300, 64):
        Xb, Yb = X[start:start + 64], Y[start:start + 64]
        acc.update(Xb, Yb)
        K, L = Xb @ Xb.T, Yb @ Yb.T
        xy, xx, yy = xy + _song_hsic(K, L), xx + _song_hsic(K, K), yy + _song_hsic(L, L)
    assert acc.n_batches_ == 5
    assert abs(acc.result() - xy / np.sqrt(xx * yy)) < 1e-12
    # Not the same as CKA on all stimuli at once: the batches matter.
    assert abs(acc.result() - cka(X, Y, debiased=True)) > 1e-6


def test_many_layers_at_once_equal_pairwise(layers, rng):
    other = {"a": rng.randn(300, 7), "b": layers["h2"] + 0.1 * rng.randn(300, 20)}
    acc = MinibatchCKA()
    pair = {}
    for start in range(0, 300, 100):
        rows = slice(start, start + 100)
        acc.update({k: v[rows] for k, v in layers.items()}, {k: v[rows] for k, v in other.items()})
        for i, a in enumerate(layers.values()):
            for j, b in enumerate(other.values()):
                pair.setdefault((i, j), MinibatchCKA()).update(a[rows], b[rows])
    S = acc.result()
    assert S.shape == (3, 2) and acc.layers_x_ == ["h1", "h2", "h3"] and acc.layers_y_ == ["a", "b"]
    for (i, j), single in pair.items():
        assert abs(S[i, j] - single.result()) < 1e-12


def test_layer_similarity_backends(layers, backend):
    S = layer_similarity(layers, batch_size=100)
    Sb = layer_similarity({k: backend(v) for k, v in layers.items()}, batch_size=100)
    assert isinstance(Sb, np.ndarray) and np.abs(Sb - S).max() < backend.tol
    other = {k: backend(v[:, ::-1].copy()) for k, v in layers.items()}
    Sab = layer_similarity({k: backend(v) for k, v in layers.items()}, other, batch_size=100)
    assert np.abs(Sab - S).max() < backend.tol  # a column permutation changes nothing
    acc = MinibatchCKA().update(backend(layers["h1"]), backend(layers["h3"]))
    assert abs(acc.result() - cka(layers["h1"], layers["h3"], debiased=True)) < backend.tol


def test_layer_similarity_self_and_torch(layers):
    S = layer_similarity(layers, batch_size=100)
    assert S.shape == (3, 3)
    assert np.allclose(np.diag(S), 1.0) and np.allclose(S, S.T)
    S2 = layer_similarity(layers, dict(layers), batch_size=100)
    assert np.abs(S - S2).max() < 1e-12
    S32 = layer_similarity({k: torch.tensor(v, dtype=torch.float32) for k, v in layers.items()},
                           batch_size=100)
    assert np.abs(S32 - S).max() < 1e-5
    # Conv-like (n, C, H, W) features are flattened.
    conv = {"c": layers["h2"].reshape(300, 5, 2, 2), "h3": layers["h3"]}
    flat = {"c": layers["h2"], "h3": layers["h3"]}
    assert np.abs(layer_similarity(conv, batch_size=100) - layer_similarity(flat, batch_size=100)
                  ).max() < 1e-12
    Ssh = layer_similarity(layers, batch_size=100, shuffle=True, random_state=0)
    assert np.abs(Ssh - S).max() > 1e-8  # other batches, other value
    assert np.abs(Ssh - layer_similarity(layers, batch_size=100, shuffle=True, random_state=0)
                  ).max() == 0


def test_minibatch_bad_input(layers):
    with pytest.raises(ValueError, match="at least 4"):
        MinibatchCKA().update(layers["h1"][:3], layers["h2"][:3])
    with pytest.raises(ValueError, match="same stimuli"):
        MinibatchCKA().update(layers["h1"][:10], layers["h2"][:11])
    with pytest.raises(ValueError, match="before any update"):
        MinibatchCKA().result()
    acc = MinibatchCKA().update(layers["h1"][:10], layers["h2"][:10])
    with pytest.raises(ValueError, match="same layers"):
        acc.update([layers["h1"][:10]] * 2, layers["h2"][:10])
    bad = layers["h1"][:10].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MinibatchCKA().update(bad, layers["h2"][:10])
    with pytest.warns(RuntimeWarning, match="without variance"):
        assert MinibatchCKA().update(np.ones((10, 3)), layers["h2"][:10]).result() == 0.0
    with pytest.warns(UserWarning, match="last 2 stimuli"):
        layer_similarity({k: v[:102] for k, v in layers.items()}, batch_size=50)
    with pytest.raises(ValueError, match="batch_size"):
        layer_similarity(layers, batch_size=2)
    with pytest.raises(TypeError, match="dict"):
        layer_similarity([layers["h1"]])
    with pytest.raises(ValueError, match="expected 300"):
        layer_similarity({"a": layers["h1"], "b": layers["h2"][:10]})


def test_cheap_finiteness_check_names_the_layer_and_leaves_no_trace(layers):
    # Finiteness is read off the Gram row sums: one NaN or inf feature anywhere is caught.
    acc = MinibatchCKA()
    for value in (np.nan, np.inf, -np.inf):
        bad = {k: torch.tensor(v[:20]) for k, v in layers.items()}
        bad["h2"][7, 3] = value
        with pytest.raises(ValueError, match=r"Y_batch\[h2\] contains NaN"):
            acc.update(layers["h1"][:20], bad)
        with pytest.raises(ValueError, match=r"X_batch\[1\] contains NaN"):
            acc.update([layers["h1"][:20], bad["h2"].numpy()], None)
    assert acc.n_batches_ == 0 and acc.hsic_xy_ is None and acc.layers_x_ is None
    # after rejected batches, the accumulator works as new (even with another layer set)
    acc.update(layers["h1"], layers["h3"])
    assert abs(acc.result() - cka(layers["h1"], layers["h3"], debiased=True)) < 1e-12


def test_precisions_and_mixed_dtypes(layers):
    X = layers
    ref = MinibatchCKA()
    f32 = MinibatchCKA()
    half = MinibatchCKA()
    mixed = MinibatchCKA()
    for start in range(0, 300, 100):
        rows = slice(start, start + 100)
        ref.update({k: v[rows] for k, v in X.items()}, None)
        f32.update({k: v[rows].astype(np.float32) for k, v in X.items()}, None)
        # float16 tensors are promoted to float32 (a float16 Gram would lose the value)
        half.update({k: torch.tensor(v[rows], dtype=torch.float16) for k, v in X.items()}, None)
        # float32 X with float64 Y: computed in the common (wider) precision
        mixed.update({k: torch.tensor(v[rows], dtype=torch.float32) for k, v in X.items()},
                     {k: torch.tensor(v[rows]) for k, v in X.items()})
    S = ref.result()
    assert np.abs(f32.result() - S).max() < 1e-6
    assert np.abs(half.result() - S).max() < 5e-3
    assert np.abs(mixed.result() - S).max() < 1e-6
    assert mixed.hsic_xy_.dtype == torch.float64
    assert MinibatchCKA().update(np.arange(40).reshape(10, 4), layers["h1"][:10]).result() > 0


# --------------------------------------------------------------------------- odd one out
def test_odd_one_out_agreement_is_built_on_triplets():
    data = load_things_triplets()
    F = load_things_features("minilm-words")
    hard = odd_one_out_agreement(F, data.triplets)
    assert hard.kl is None and hard.n_triplets == 20000
    assert hard.accuracy == odd_one_out_accuracy(F, data.triplets, similarity="cosine")
    soft = odd_one_out_agreement(F, data.unique_triplets, data.choice_proba, temperature=0.1)
    proba = choice_probabilities(F, data.unique_triplets, similarity="cosine", temperature=0.1)
    assert soft.kl == pytest.approx(choice_kl(data.choice_proba, proba), abs=1e-12)
    assert soft.accuracy == odd_one_out_accuracy(
        F, data.unique_triplets, data.choice_proba.argmax(axis=1), similarity="cosine")
    assert 1 / 3 < soft.accuracy < 1
    with pytest.raises(ValueError, match="choice distributions"):
        odd_one_out_agreement(F, data.unique_triplets, data.choice_proba[:10])
    with pytest.raises(ValueError, match="out of range"):
        odd_one_out_agreement(F[:10], data.unique_triplets)
