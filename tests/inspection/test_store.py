"""Features to disk: extract_to_disk writes chunk by chunk, resumes, and reads back as dask."""

import json
import pickle

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pytest.importorskip("dask")

from reprlign import FeatureExtractor, FeatureStore, StoreMismatchError, extract_to_disk  # noqa: E402
from reprlign.inspection._store import MANIFEST  # noqa: E402
from tests.inspection._tiny_models import TinyCNN  # noqa: E402


def _formats():
    try:
        import zarr  # noqa: F401
    except ImportError:
        return ["npy"]
    return ["npy", "zarr"]


@pytest.fixture
def images():
    return np.random.RandomState(0).rand(50, 1, 8, 8).astype(np.float32)


def _net():
    torch.manual_seed(0)
    return TinyCNN()


class Interrupted(Exception):
    pass


class Flaky(nn.Module):
    """A model that stops (raises) after ``budget`` forward passes, like a killed job."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.budget = None
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.budget is not None and self.calls > self.budget:
            raise Interrupted
        return self.net(x)


@pytest.mark.parametrize("fmt", _formats())
def test_store_holds_what_extract_gives(tmp_path, images, fmt):
    fx = FeatureExtractor(_net(), ["act1", "pool", "head"], batch_size=8)
    store = extract_to_disk(fx, images, tmp_path / "s", chunk_size=16, format=fmt)
    expected = fx.extract(images)
    assert store.format == fmt and store.complete and store.chunks_done == [0, 1, 2, 3]
    assert store.layers == ["act1", "pool", "head"]
    assert store.shapes == {"act1": (50, 8), "pool": (50, 16), "head": (50, 10)}
    arrays = FeatureStore(tmp_path / "s").to_dask()
    for layer, X in arrays.items():
        assert X.chunks[0] == (16, 16, 16, 2) and X.dtype == np.float32
        np.testing.assert_array_equal(X.compute(), expected[layer])
    assert "4/4" in repr(store)


def test_tensors_datasets_and_pooling_none(tmp_path, images):
    fx = FeatureExtractor(_net(), ["conv1"], pooling="none", batch_size=8)
    expected = fx.fit(images).extract(images)["conv1"]
    for i, X in enumerate([torch.from_numpy(images), TensorDataset(torch.from_numpy(images))]):
        store = extract_to_disk(fx, X, tmp_path / f"s{i}", chunk_size=20, dtype="float64",
                                format="npy")
        out = store["conv1"]
        assert out.shape == (50, 8, 8, 8) and out.dtype == np.float64
        np.testing.assert_allclose(out.compute(), expected, rtol=1e-6)


def test_npy_dask_tasks_carry_the_path_not_the_data(tmp_path, images):
    fx = FeatureExtractor(_net(), ["pool"], batch_size=8)
    X = extract_to_disk(fx, images, tmp_path / "s", chunk_size=16, format="npy")["pool"]
    assert len(pickle.dumps(X)) < 20_000  # 50 x 16 float32 is 3,200 bytes per copy, graph aside
    # the same store opened twice gives the same dask keys (dask can share the reads)
    assert FeatureStore(tmp_path / "s")["pool"].name == X.name


@pytest.mark.parametrize("fmt", _formats())
def test_resume_after_interruption_skips_finished_chunks(tmp_path, images, fmt):
    model = Flaky(_net())
    fx = FeatureExtractor(model, ["net.act1", "net.head"], batch_size=8)
    expected = fx.fit(images).extract(images)
    # chunks of 16 rows = 2 batches each; fit uses 1 forward pass, so a budget of 6 lets
    # chunks 0 and 1 finish and interrupts chunk 2 half-way
    model.calls, model.budget = 0, 6
    with pytest.raises(Interrupted):
        extract_to_disk(fx, images, tmp_path / "s", chunk_size=16, format=fmt)
    partial = FeatureStore(tmp_path / "s")
    assert partial.chunks_done == [0, 1] and not partial.complete
    with pytest.raises(ValueError, match="incomplete"):
        partial["net.head"]

    model.calls, model.budget = 0, None
    store = extract_to_disk(fx, images, tmp_path / "s", chunk_size=16, format=fmt)
    # the fit pass, then chunks 2 (2 batches) and 3 (1 batch) only
    assert model.calls == 1 + 2 + 1
    assert store.complete
    for layer, X in store.to_dask().items():
        np.testing.assert_array_equal(X.compute(), expected[layer])

    model.calls = 0  # a complete store: nothing but the fit pass runs again
    extract_to_disk(fx, images, tmp_path / "s", chunk_size=16, format=fmt)
    assert model.calls == 1


def test_interrupted_before_the_first_chunk_restarts_cleanly(tmp_path, images):
    model = Flaky(_net())
    fx = FeatureExtractor(model, ["net.pool"], batch_size=8)
    model.budget = 1  # the fit pass only
    with pytest.raises(Interrupted):
        extract_to_disk(fx, images, tmp_path / "s", chunk_size=16, format="npy")
    model.calls, model.budget = 0, None
    store = extract_to_disk(fx, images, tmp_path / "s", chunk_size=16, format="npy")
    np.testing.assert_array_equal(store["net.pool"].compute(), fx.extract(images)["net.pool"])


def test_store_written_by_another_model_or_layer_set_is_refused(tmp_path, images):
    path = tmp_path / "s"
    net = _net()
    extract_to_disk(FeatureExtractor(net, ["act1", "pool"], batch_size=8), images, path,
                    chunk_size=16, format="npy")
    cases = [
        (FeatureExtractor(net, ["act1"], batch_size=8), images, {}, "layers"),
        (FeatureExtractor(TinyCNN(), ["act1", "pool"], batch_size=8), images, {}, "parameters"),
        (FeatureExtractor(net, ["act1", "pool"], pooling="flatten", batch_size=8), images, {},
         "output_dims"),
        (FeatureExtractor(net, ["act1", "pool"], batch_size=8), images[:40], {}, "n_samples"),
        (FeatureExtractor(net, ["act1", "pool"], batch_size=8), images, {"chunk_size": 8},
         "chunk_size"),
        (FeatureExtractor(net, ["act1", "pool"], batch_size=8), images, {"dtype": "float64"},
         "dtype"),
    ]
    for fx, X, kw, field in cases:
        with pytest.raises(StoreMismatchError, match=field):
            extract_to_disk(fx, X, path, **{"chunk_size": 16, "format": "npy", **kw})
    other = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU())
    with pytest.raises(StoreMismatchError, match="model: store has 'tests.inspection"):
        extract_to_disk(FeatureExtractor(other, ["1", "2"], batch_size=8), images, path,
                        chunk_size=16, format="npy")
    assert isinstance(StoreMismatchError("x"), ValueError)
    # overwrite starts afresh with the new layer set, and leaves no array of the old one
    store = extract_to_disk(FeatureExtractor(net, ["head"], batch_size=8), images, path,
                            chunk_size=16, format="npy", overwrite=True)
    assert store.layers == ["head"]
    assert sorted(p.name for p in path.iterdir()) == sorted([MANIFEST, "layer_0.npy"])
    assert json.loads((path / MANIFEST).read_text())["fingerprint"]["layers"] == ["head"]


def test_bad_arguments(tmp_path, images):
    fx = FeatureExtractor(_net(), ["pool"], batch_size=8)
    loader = DataLoader(TensorDataset(torch.from_numpy(images)), batch_size=8)
    with pytest.raises(TypeError, match="DataLoader"):
        extract_to_disk(fx, loader, tmp_path / "a")
    with pytest.raises(TypeError, match="extractor must be a FeatureExtractor"):
        extract_to_disk(_net(), images, tmp_path / "a")
    for kw, match in [({"chunk_size": 0}, "chunk_size"), ({"chunk_size": 2.0}, "chunk_size"),
                      ({"dtype": "int32"}, "floating"), ({"format": "hdf5"}, "format"),
                      ({"overwrite": "yes"}, "overwrite")]:
        with pytest.raises((ValueError, TypeError), match=match):
            extract_to_disk(fx, images, tmp_path / "a", **kw)
    with pytest.raises(TypeError, match="path must be a str or path-like"):
        extract_to_disk(fx, images, 3)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    for overwrite in (False, True):  # never deletes a directory that is not a store
        with pytest.raises(ValueError, match="not a feature store"):
            extract_to_disk(fx, images, tmp_path / "b", overwrite=overwrite)
    assert (tmp_path / "b" / "notes.txt").exists()
    with pytest.raises(FileNotFoundError, match="not a feature store"):
        FeatureStore(tmp_path / "b")
    store = extract_to_disk(fx, images, tmp_path / "c", chunk_size=16, format="npy")
    with pytest.raises(KeyError, match="holds \\['pool'\\]"):
        store["head"]


def test_layer_by_layer_cka_of_two_models_out_of_core(tmp_path, images):
    from reprlign.measures import cka, layer_similarity
    from tests.inspection._tiny_models import TinyMixer

    torch.manual_seed(1)
    fx_a = FeatureExtractor(_net(), ["act1", "act2", "head"], batch_size=8)
    fx_b = FeatureExtractor(TinyMixer(), ["blocks.0", "norm"], batch_size=8)
    a = extract_to_disk(fx_a, images, tmp_path / "a", chunk_size=16)
    b = extract_to_disk(fx_b, images, tmp_path / "b", chunk_size=16, format="npy")
    mem_a, mem_b = fx_a.extract(images), fx_b.extract(images)
    np.testing.assert_allclose(layer_similarity(a.to_dask(), b.to_dask(), batch_size=10),
                               layer_similarity(mem_a, mem_b, batch_size=10), atol=1e-12)
    assert abs(cka(a["act2"], b["norm"], debiased=True)
               - cka(mem_a["act2"], mem_b["norm"], debiased=True)) < 1e-6
