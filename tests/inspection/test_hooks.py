"""The shared hooked forward pass, stimulus checks and the streaming CKA accumulator."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from reprlign.inspection.hooks import batches, check_stimuli, hooked_forward, n_batches
from reprlign.inspection.streaming import StreamedCKA
from reprlign.measures import MinibatchCKA
from tests.inspection._tiny_models import TinyCNN


@pytest.fixture
def images():
    return np.random.RandomState(0).rand(13, 1, 8, 8).astype(np.float32)


def test_hooked_forward_pools_perturbs_and_restores(images):
    torch.manual_seed(0)
    net = TinyCNN().train()
    x = torch.from_numpy(images)
    with hooked_forward(net, ["conv1", "head"], pooling={"conv1": "flatten"}) as forward:
        assert not net.training  # eval mode inside
        conv1, head = forward(x)
        shifted = forward(x, perturb=lambda t: t + 1.0)[0]
    assert net.training and net.conv1.training  # flags restored
    assert not net.conv1._forward_hooks  # hooks removed
    net.eval()
    with torch.no_grad():
        np.testing.assert_allclose(conv1.numpy(), net.conv1(x).flatten(1).numpy(), atol=1e-6)
        np.testing.assert_allclose(head.numpy(), net(x).numpy(), atol=1e-6)
        np.testing.assert_allclose(shifted.numpy(), net.conv1(x + 1.0).flatten(1).numpy(),
                                   atol=1e-6)


def test_hooked_forward_checks_its_arguments():
    net = TinyCNN()
    with pytest.raises(TypeError, match="torch.nn.Module"):
        with hooked_forward("net", ["conv1"]):
            pass
    with pytest.raises(ValueError, match="duplicates"):
        with hooked_forward(net, ["conv1", "conv1"]):
            pass
    with pytest.raises(ValueError, match="for layer 'head'"):
        with hooked_forward(net, ["conv1", "head"], pooling={"head": "max"}):
            pass
    with pytest.raises(TypeError, match="preprocess"):
        with hooked_forward(net, "conv1", preprocess=3):
            pass


def test_check_stimuli(images):
    assert check_stimuli(images) is images
    dataset = TensorDataset(torch.from_numpy(images))
    assert check_stimuli(dataset) is dataset
    bad = images.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X_b: .*NaN"):
        check_stimuli(bad, "X_b")
    with pytest.raises(ValueError, match="stim contains NaN"):
        check_stimuli(torch.from_numpy(bad), "stim")
    with pytest.raises(ValueError, match="sample axis"):
        check_stimuli(torch.zeros(5), "X")
    with pytest.raises(ValueError, match="X: .*complex"):
        check_stimuli(images + 1j)


def test_batches_count_and_check(images):
    loader = DataLoader(TensorDataset(torch.from_numpy(images)), batch_size=4)
    assert n_batches(images, 5) == 3 and n_batches(loader, 99) == 4
    assert len(list(batches(images, 5))) == 3
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        batches(images, 0)


def test_streamed_cka_leaves_short_batches_out():
    rng = np.random.RandomState(0)
    X, Y = rng.randn(11, 4), rng.randn(11, 3)
    acc, ref = StreamedCKA(), MinibatchCKA()
    for s in range(0, 11, 4):  # 4 + 4 + 3
        acc.update([X[s:s + 4]], [Y[s:s + 4]])
    ref.update([X[:4]], [Y[:4]]).update([X[4:8]], [Y[4:8]])
    assert acc.n_dropped_ == 3 and acc.n_samples_ == 8
    with pytest.warns(UserWarning, match="3 sample"):
        np.testing.assert_allclose(acc.result(), ref.result())
    with pytest.raises(ValueError, match="no batch of at least 4"):
        StreamedCKA().update([X[:2]], [Y[:2]]).result()
