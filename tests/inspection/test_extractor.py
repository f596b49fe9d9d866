import copy

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch.utils.data import DataLoader, TensorDataset

from reprlign import FeatureExtractor
from tests.inspection._tiny_models import TinyCNN, TinyMixer, TinyViT


@pytest.fixture
def images():
    return np.random.RandomState(0).rand(13, 1, 8, 8).astype(np.float32)


def _model(cls):
    torch.manual_seed(0)
    return cls().eval()  # direct forwards in the tests then match the extractor's eval mode


def test_hooks_equal_direct_forward_cnn(images):
    net = _model(TinyCNN)
    x = torch.from_numpy(images)
    with torch.no_grad():
        c1 = net.conv1(x)
        c2 = net.act2(net.bn2(net.conv2(net.act1(c1))))
    fx = FeatureExtractor(net, ["conv1", "act2"], pooling="flatten").fit(images)
    out = fx.extract(images)
    np.testing.assert_allclose(out["conv1"], c1.flatten(1).numpy(), atol=1e-6)
    np.testing.assert_allclose(out["act2"], c2.flatten(1).numpy(), atol=1e-6)
    # mean pooling is global average pooling over (h, w)
    fx.set_params(pooling="mean")
    np.testing.assert_allclose(fx.extract(images)["act2"], c2.mean(dim=(2, 3)).numpy(), atol=1e-6)
    none = fx.set_params(pooling="none").fit(images).extract(images)["act2"]
    assert none.shape == (13, 16, 8, 8)
    np.testing.assert_allclose(none, c2.numpy(), atol=1e-6)


def test_hooks_equal_direct_forward_vit_tokens(images):
    net = _model(TinyViT)
    x = torch.from_numpy(images)
    with torch.no_grad():
        t = net.embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([net.cls.expand(len(t), -1, -1), t], dim=1) + net.pos
        b0 = net.blocks[0](t)
        h = net.blocks[1].norm1(b0)
        attn = net.blocks[1].attn(h, h, h, need_weights=False)[0]
    layers = ["blocks.0", "blocks.1.attn"]
    raw = FeatureExtractor(net, layers, pooling="none").fit(images).extract(images)
    assert raw["blocks.0"].shape == (13, 5, 16)
    np.testing.assert_allclose(raw["blocks.0"], b0.numpy(), atol=1e-5)
    # MultiheadAttention returns (output, weights): the output is kept
    np.testing.assert_allclose(raw["blocks.1.attn"], attn.numpy(), atol=1e-5)
    cls = FeatureExtractor(net, layers, pooling="cls").fit(images).extract(images)
    np.testing.assert_allclose(cls["blocks.0"], b0[:, 0].numpy(), atol=1e-5)
    mean = FeatureExtractor(net, layers, pooling="mean").fit(images).extract(images)
    np.testing.assert_allclose(mean["blocks.0"], b0.mean(dim=1).numpy(), atol=1e-5)
    assert not np.allclose(mean["blocks.0"], cls["blocks.0"])


def test_mixer_blocks_and_feature_names(images):
    net = _model(TinyMixer)
    x = torch.from_numpy(images)
    with torch.no_grad():
        t = net.embed(x).flatten(2).transpose(1, 2)
        b1 = net.blocks[1](net.blocks[0](t))
    fx = FeatureExtractor(net, ["blocks.1", "head"], pooling="flatten").fit(images)
    assert fx.output_dims_ == {"blocks.1": 4 * 16, "head": 10}
    Z = fx.transform(images)
    assert Z.shape == (13, 74)
    np.testing.assert_allclose(Z[:, :64], b1.flatten(1).numpy(), atol=1e-5)
    np.testing.assert_allclose(Z[:, 64:], net(x).detach().numpy(), atol=1e-5)
    names = fx.get_feature_names_out()
    assert names[0] == "blocks.1_0" and names[-1] == "head_9" and len(names) == 74


@pytest.mark.parametrize("cls", [TinyCNN, TinyViT, TinyMixer])
def test_batching_and_input_types_do_not_change_results(cls, images):
    net = _model(cls)
    layers = [name for name, _ in net.named_children() if name not in ("cls", "pos")][:3]
    ref = FeatureExtractor(net, layers, batch_size=64).fit(images).extract(images)
    y = torch.arange(len(images))
    variants = [
        FeatureExtractor(net, layers, batch_size=3).fit(images).extract(images),
        FeatureExtractor(net, layers, batch_size=5).fit(images).extract(torch.from_numpy(images)),
        FeatureExtractor(net, layers, batch_size=4).fit(images).extract(
            TensorDataset(torch.from_numpy(images), y)),
        FeatureExtractor(net, layers).fit(images).extract(
            DataLoader(TensorDataset(torch.from_numpy(images), y), batch_size=6)),
    ]
    for out in variants:
        assert list(out) == layers
        for layer in layers:
            np.testing.assert_allclose(out[layer], ref[layer], atol=1e-5)


def test_model_left_as_found(images):
    net = _model(TinyCNN)
    net.train()
    before = copy.deepcopy(net.state_dict())
    FeatureExtractor(net, ["bn2"]).fit(images).extract(images)
    assert net.training and net.bn2.training
    # eval mode: batch norm running statistics were not updated
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_unknown_layer_lists_available(images):
    net = _model(TinyCNN)
    with pytest.raises(ValueError, match=r"unknown module name\(s\) \['conv9'\].*'conv1'.*'head'"):
        FeatureExtractor(net, ["conv1", "conv9"]).fit(images)


def test_parameter_and_input_errors(images):
    net = _model(TinyCNN)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        FeatureExtractor("resnet", "conv1").fit(images)
    with pytest.raises(ValueError, match="pooling"):
        FeatureExtractor(net, "conv1", pooling="max").fit(images)
    with pytest.raises(ValueError, match="cls"):
        FeatureExtractor(net, "conv1", pooling="cls").fit(images)
    with pytest.raises(ValueError, match="batch_size"):
        FeatureExtractor(net, "conv1", batch_size=0).fit(images)
    with pytest.raises(ValueError, match="duplicates"):
        FeatureExtractor(net, ["conv1", "conv1"]).fit(images)
    with pytest.raises(NotFittedError):
        FeatureExtractor(net, "conv1").transform(images)
    bad = images.copy()
    bad[2, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        FeatureExtractor(net, "conv1").fit(bad)
    with pytest.raises(ValueError, match="NaN"):
        FeatureExtractor(net, "conv1").fit(torch.from_numpy(bad))
    fx = FeatureExtractor(net, "conv1", pooling="none").fit(images)
    with pytest.raises(ValueError, match="extract"):
        fx.transform(images)


def test_module_not_called_is_an_error(images):
    net = _model(TinyCNN)
    net.unused = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="unused"):
        FeatureExtractor(net, ["conv1", "unused"]).fit(images)


def test_callable_dict_pooling_and_preprocess():
    rng = np.random.RandomState(1)
    raw = rng.randint(0, 256, size=(6, 8, 8, 1)).astype(np.uint8)  # NHWC uint8 images
    net = _model(TinyCNN)

    def prep(batch):
        return batch.permute(0, 3, 1, 2).float() / 255.0

    x = torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        c1 = net.conv1(x)
    fx = FeatureExtractor(net, ["conv1", "head"], preprocess=prep,
                          pooling={"conv1": lambda t: t.amax(dim=(2, 3))}).fit(raw)
    out = fx.extract(raw)
    np.testing.assert_allclose(out["conv1"], c1.amax(dim=(2, 3)).numpy(), atol=1e-6)
    np.testing.assert_allclose(out["head"], net(x).detach().numpy(), atol=1e-5)


def test_float64_and_clone(images):
    net = _model(TinyCNN)
    f32 = FeatureExtractor(copy.deepcopy(net), "act2").fit(images).transform(images)
    fx64 = FeatureExtractor(copy.deepcopy(net), "act2", dtype="float64").fit(images)
    f64 = fx64.transform(images)
    assert f32.dtype == np.float32 and f64.dtype == np.float64
    np.testing.assert_allclose(f64, f32, rtol=1e-4, atol=1e-5)
    twin = clone(fx64)
    assert twin.model is not fx64.model
    np.testing.assert_allclose(twin.fit(images).transform(images), f64)


@pytest.mark.cuda
@pytest.mark.parametrize("cls", [TinyCNN, TinyViT, TinyMixer])
def test_cpu_and_cuda_agree(cls, images):
    net = _model(cls)
    layers = ["blocks.0"] if hasattr(net, "blocks") else ["act1", "act2"]
    cpu = FeatureExtractor(copy.deepcopy(net), layers).fit(images).extract(images)
    gpu = FeatureExtractor(copy.deepcopy(net), layers, device="cuda").fit(images).extract(images)
    for layer in layers:
        np.testing.assert_allclose(gpu[layer], cpu[layer], rtol=1e-3, atol=1e-4)


def test_iter_extract_streams_device_tensors(images):
    net = _model(TinyViT)
    fx = FeatureExtractor(net, ["blocks.1", "head"], batch_size=5).fit(images)
    chunks = list(fx.iter_extract(images))
    assert len(chunks) == 3 and all(isinstance(c["head"], torch.Tensor) for c in chunks)
    full = fx.extract(images)
    for layer in ["blocks.1", "head"]:
        np.testing.assert_allclose(torch.cat([c[layer] for c in chunks]).numpy(), full[layer])


def test_parameters_are_declared_and_validated(images):
    from sklearn.utils.estimator_checks import check_param_validation

    fx = FeatureExtractor(torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Softsign()), ["0", "1"],
                          dtype="float64", batch_size=7)
    check_param_validation("FeatureExtractor", fx)
    assert not hasattr(FeatureExtractor, "_check_params")
    # Parameters changed after fit are checked when they are used.
    fitted = FeatureExtractor(_model(TinyCNN), "conv1").fit(images)
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        fitted.set_params(batch_size=-1).extract(images)
    with pytest.raises(ValueError, match="'device' parameter"):
        FeatureExtractor(_model(TinyCNN), "conv1", device=0).fit(images)


def test_verbose_progress_bar_only_on_a_terminal(images, terminal, monkeypatch):
    import io
    import sys

    err = terminal()
    fx = FeatureExtractor(_model(TinyCNN), "act2", batch_size=4).fit(images)
    ref = fx.transform(images)
    assert err.getvalue() == ""  # off by default
    out = fx.set_params(verbose=True).transform(images)
    np.testing.assert_array_equal(out, ref)
    assert "FeatureExtractor" in err.getvalue() and "4/4" in err.getvalue()
    piped = io.StringIO()  # not a terminal: no bar even when verbose
    monkeypatch.setattr(sys, "stderr", piped)
    np.testing.assert_array_equal(fx.transform(images), ref)
    assert piped.getvalue() == ""
