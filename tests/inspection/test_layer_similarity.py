import copy

import numpy as np
import pytest
import torch

from reprlign import (
    FeatureExtractor,
    block_removal_robustness,
    model_layer_similarity,
    perturbation_robustness,
)
from tests.inspection._tiny_models import TinyCNN, TinyMixer, TinyViT


@pytest.fixture
def images():
    return np.random.RandomState(0).rand(70, 1, 8, 8).astype(np.float32)


def _model(cls, seed=0, **kw):
    torch.manual_seed(seed)
    return cls(**kw).eval()


def _unbiased_hsic(X, Y):
    """Song et al. (2012) unbiased HSIC, written from the paper's formula (float64)."""
    X = X.reshape(len(X), -1).astype(np.float64)
    Y = Y.reshape(len(Y), -1).astype(np.float64)
    K, L = X @ X.T, Y @ Y.T
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    n = len(K)
    one = np.ones(n)
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ K @ L @ one) / (n * (n - 3))


def _reference_minibatch_cka(feats_a, feats_b, batch_size):
    n = len(next(iter(feats_a.values())))
    out = np.zeros((len(feats_a), len(feats_b)))
    for i, A in enumerate(feats_a.values()):
        for j, B in enumerate(feats_b.values()):
            hab = haa = hbb = 0.0
            for s in range(0, n, batch_size):
                a, b = A[s:s + batch_size], B[s:s + batch_size]
                hab += _unbiased_hsic(a, b)
                haa += _unbiased_hsic(a, a)
                hbb += _unbiased_hsic(b, b)
            out[i, j] = hab / np.sqrt(haa * hbb)
    return out


def test_matches_the_formula_across_models(images):
    vit = _model(TinyViT).double()
    mixer = _model(TinyMixer).double()
    la, lb = ["embed", "blocks.0", "blocks.1", "head"], ["blocks.0", "blocks.1", "norm"]
    res = model_layer_similarity(vit, mixer, images, la, lb, batch_size=20)
    fa = FeatureExtractor(vit, la, pooling="flatten").fit(images).extract(images)
    fb = FeatureExtractor(mixer, lb, pooling="flatten").fit(images).extract(images)
    ref = _reference_minibatch_cka(fa, fb, 20)
    assert res.similarity.shape == (4, 3)
    assert res.layers_a == la and res.layers_b == lb
    assert res.n_samples == 70 and res.n_batches == 4
    np.testing.assert_allclose(res.similarity, ref, rtol=1e-9, atol=1e-12)
    # float32 models agree with the float64 formula to float32 accuracy
    res32 = model_layer_similarity(_model(TinyViT), _model(TinyMixer), images, la, lb,
                                   batch_size=20)
    np.testing.assert_allclose(res32.similarity, ref, atol=2e-4)


def test_agrees_with_measures_minibatch_cka(images):
    from reprlign.measures import MinibatchCKA

    vit, cnn = _model(TinyViT).double(), _model(TinyCNN).double()
    la, lb = ["blocks.0", "head"], ["act1", "act2", "head"]
    ours = model_layer_similarity(vit, cnn, images, la, lb, batch_size=35)
    fa = FeatureExtractor(vit, la, pooling="flatten").fit(images).extract(images)
    fb = FeatureExtractor(cnn, lb, pooling="flatten").fit(images).extract(images)
    acc = MinibatchCKA()
    for s in range(0, 70, 35):
        acc.update({k: v[s:s + 35] for k, v in fa.items()}, {k: v[s:s + 35] for k, v in fb.items()})
    np.testing.assert_allclose(ours.similarity, acc.result(), rtol=1e-9)


def test_is_measures_minibatch_cka_in_float32_and_on_bad_layers(images):
    # One implementation: float32 models give exactly what MinibatchCKA gives on the same
    # float32 features and batches, and share its handling of degenerate layers.
    from reprlign.measures import MinibatchCKA

    vit, mixer = _model(TinyViT), _model(TinyMixer)
    la, lb = ["embed", "blocks.1", "head"], ["blocks.0", "norm"]
    ours = model_layer_similarity(vit, mixer, images, la, lb, batch_size=32)  # 32 + 32 + 6
    fa = FeatureExtractor(vit, la, pooling="flatten").fit(images).extract(images)
    fb = FeatureExtractor(mixer, lb, pooling="flatten").fit(images).extract(images)
    acc = MinibatchCKA()
    for s in range(0, 70, 32):
        acc.update([torch.as_tensor(fa[k][s:s + 32]) for k in la],
                   [torch.as_tensor(fb[k][s:s + 32]) for k in lb])
    assert ours.n_batches == acc.n_batches_ == 3 and ours.n_samples == acc.n_samples_ == 70
    np.testing.assert_allclose(ours.similarity, acc.result(), rtol=1e-9, atol=1e-12)

    class Const(torch.nn.Module):
        def __init__(self, value):
            super().__init__()
            self.value = value

        def forward(self, x):
            return torch.zeros_like(x) + self.value

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 6), Const(2.0))
    with pytest.warns(RuntimeWarning, match="without variance"):
        S = model_layer_similarity(net, None, images, ["1", "2"], batch_size=35).similarity
    np.testing.assert_allclose(S, [[1.0, 0.0], [0.0, 0.0]], atol=1e-6)
    net[2].value = float("inf")
    with pytest.raises(ValueError, match=r"X_batch\[1\] contains NaN or infinite"):
        model_layer_similarity(net, None, images, ["1", "2"], batch_size=35)


def test_self_similarity_is_symmetric_with_unit_diagonal(images):
    cnn = _model(TinyCNN)
    layers = ["conv1", "act1", "act2", "head"]
    res = model_layer_similarity(cnn, None, images, layers, batch_size=16)
    S = res.similarity
    np.testing.assert_allclose(np.diag(S), 1.0, atol=1e-6)
    np.testing.assert_allclose(S, S.T, atol=1e-6)
    # Same answer through the two-model path (X_b given: two sessions on one model)
    two = model_layer_similarity(cnn, cnn, images, layers, X_b=images, batch_size=16)
    np.testing.assert_allclose(two.similarity, S, atol=1e-6)
    # Different layer lists through the shared single pass
    sub = model_layer_similarity(cnn, None, images, ["act2"], ["conv1", "head"], batch_size=16)
    np.testing.assert_allclose(sub.similarity, S[[2]][:, [0, 3]], atol=1e-6)


def test_invariant_to_an_orthogonal_map_of_a_layer(images):
    cnn = _model(TinyCNN)
    rotated = copy.deepcopy(cnn)
    Q = torch.linalg.qr(torch.randn(10, 10, generator=torch.Generator().manual_seed(1)))[0]
    with torch.no_grad():
        rotated.head.weight.copy_(Q @ cnn.head.weight)
        rotated.head.bias.copy_(Q @ cnn.head.bias + 3.0)
    res = model_layer_similarity(cnn, rotated, images, ["head", "act2"], ["head"], batch_size=32)
    assert res.similarity[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert res.similarity[1, 0] < 0.99


def test_torch_cka_agrees_on_the_same_batches(images):
    torch_cka = pytest.importorskip("torch_cka")
    from torch.utils.data import DataLoader, TensorDataset

    # torch-cka 0.21 only runs in float32 (its vector of ones is float32)
    vit, mixer = _model(TinyViT), _model(TinyMixer)
    la, lb = ["blocks.0", "blocks.1"], ["blocks.0", "norm"]
    loader = DataLoader(TensorDataset(torch.from_numpy(images)), batch_size=35)
    with pytest.warns(UserWarning):
        peer = torch_cka.CKA(copy.deepcopy(vit), copy.deepcopy(mixer), model1_name="vit",
                             model2_name="mixer", model1_layers=la, model2_layers=lb)
        peer.compare(loader)
    ours = model_layer_similarity(vit, mixer, loader, la, lb)
    np.testing.assert_allclose(ours.similarity, peer.export()["CKA"].numpy(), atol=1e-4)


def test_batch_errors_and_small_batch_warning(images):
    cnn = _model(TinyCNN)
    with pytest.raises(ValueError, match="fewer batches"):
        model_layer_similarity(cnn, cnn, images, ["act1"], X_b=images[:32], batch_size=16)
    with pytest.raises(ValueError, match="more batches"):
        model_layer_similarity(cnn, cnn, images[:32], ["act1"], X_b=images, batch_size=16)
    with pytest.warns(UserWarning, match="2 sample"):
        res = model_layer_similarity(cnn, None, images[:34], ["act1", "head"], batch_size=16)
    assert res.n_samples == 32
    with pytest.raises(ValueError, match="unknown module"):
        model_layer_similarity(cnn, None, images, ["nope"])
    bad = images.copy()
    bad[3, 0, 1, 1] = np.inf
    with pytest.raises(ValueError, match="X_b: .*infinity"):
        model_layer_similarity(cnn, cnn, images, ["act1"], X_b=bad)
    with pytest.raises(ValueError, match="X: .*infinity"):
        perturbation_robustness(cnn, bad, ["act1"])


def test_perturbation_robustness(images):
    vit = _model(TinyViT)
    layers = ["blocks.0", "blocks.1", "head"]
    res = perturbation_robustness(vit, images, layers, strengths=[0.0, 0.05, 0.5, 2.0],
                                  batch_size=35, random_state=0)
    assert res.matrix.shape == (4, 3)
    np.testing.assert_allclose(res.matrix[0], 1.0, atol=1e-5)
    assert np.all(np.diff(res.matrix, axis=0) < 0)  # more noise, less similar
    assert res.similarity.shape == res.layer.shape == res.strength.shape == (12,)
    assert list(res.layer[:3]) == layers and np.all(res.strength[:3] == 0.0)
    np.testing.assert_allclose(res.similarity, res.matrix.ravel())
    again = perturbation_robustness(vit, images, layers, strengths=[0.0, 0.05, 0.5, 2.0],
                                    batch_size=35, random_state=0)
    np.testing.assert_array_equal(again.matrix, res.matrix)

    # A user transform: scaling the input by strength; the input layer is then unchanged.
    def scale(batch, strength, generator):
        return batch * (1.0 + strength)

    res = perturbation_robustness(vit, images, ["embed", "head"], strengths=[1.0],
                                  perturbation=scale, batch_size=35)
    assert res.matrix[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert res.matrix[0, 1] < 0.999
    with pytest.raises(ValueError, match="perturbation"):
        perturbation_robustness(vit, images, layers, perturbation="blur")


def test_block_removal(images):
    vit = _model(TinyViT, depth=3)
    blocks = ["blocks.0", "blocks.1", "blocks.2"]
    layers = blocks + ["blocks.1.mlp", "head"]
    res = block_removal_robustness(vit, images, "blocks", layers=layers, batch_size=35)
    assert list(res.blocks) == blocks
    M = res.matrix
    assert M.shape == (3, 5)
    # Layers before the removed block are untouched.
    np.testing.assert_allclose([M[1, 0], M[2, 0], M[2, 1], M[2, 3]], 1.0, atol=1e-5)
    # A layer inside the removed block has no counterpart.
    assert np.isnan(M[1, 3]) and np.isfinite(M[0, 3])
    # A removed block outputs its input: its entry is the full model's CKA between consecutive
    # blocks.
    full = model_layer_similarity(vit, None, images, blocks, batch_size=35).similarity
    np.testing.assert_allclose([M[1, 1], M[2, 2]], [full[0, 1], full[1, 2]], atol=1e-5)
    assert np.all(M[:, 4] < 1.0)
    with pytest.raises(ValueError, match="unknown module"):
        block_removal_robustness(vit, images, ["blocks.7"])


def test_heatmap_helper(images):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from reprlign.plotting import plot_layer_similarity, plot_robustness

    res = model_layer_similarity(_model(TinyCNN), None, images, ["act1", "act2"], ["head"],
                                 batch_size=35)
    ax = plot_layer_similarity(res, annotate=True)
    np.testing.assert_allclose(ax.images[0].get_array(), res.similarity)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["act1", "act2"]
    rob = perturbation_robustness(_model(TinyCNN), images, ["act1", "head"], strengths=[0, 1],
                                  batch_size=35)
    ax = plot_robustness(rob)
    assert len(ax.lines) == 2
    matplotlib.pyplot.close("all")


@pytest.mark.cuda
def test_cpu_and_cuda_agree(images):
    la = ["blocks.0", "blocks.1", "head"]
    cpu = model_layer_similarity(_model(TinyViT), _model(TinyMixer, 1), images, la, la,
                                 batch_size=35)
    gpu = model_layer_similarity(_model(TinyViT), _model(TinyMixer, 1), images, la, la,
                                 batch_size=35, device="cuda")
    np.testing.assert_allclose(gpu.similarity, cpu.similarity, atol=1e-3)
    rc = perturbation_robustness(_model(TinyViT), images, la, strengths=[0.5], random_state=0)
    rg = perturbation_robustness(_model(TinyViT), images, la, strengths=[0.5], random_state=0,
                                 device="cuda")
    np.testing.assert_allclose(rg.matrix, rc.matrix, atol=1e-3)


def test_verbose_progress_bars(images, terminal):
    err = terminal()
    cnn = _model(TinyCNN)
    quiet = model_layer_similarity(cnn, None, images, ["act1", "head"], batch_size=16)
    assert err.getvalue() == ""
    loud = model_layer_similarity(cnn, None, images, ["act1", "head"], batch_size=16,
                                  verbose=True)
    np.testing.assert_array_equal(loud.similarity, quiet.similarity)
    assert "layer similarity" in err.getvalue() and "5/5" in err.getvalue()
    perturbation_robustness(cnn, images, ["act1"], strengths=[0.1], batch_size=35,
                            verbose=True)
    assert "perturbation robustness" in err.getvalue()
    vit = _model(TinyViT)
    block_removal_robustness(vit, images, "blocks", batch_size=35, verbose=True)
    assert "block removal robustness: 100%" in err.getvalue()
