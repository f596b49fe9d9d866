"""Fuzzing the robustness functions of torch models: altered stimuli give the clean result,
invalid stimuli and arguments give named errors."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from reprlign import block_removal_robustness, model_layer_similarity, perturbation_robustness

from .oracle import EQUIVALENT, INVALID, expect_error, expect_same, few, fuzz, run, tables

D_IN = 4


class _Residual(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.f = nn.Linear(d, d)

    def forward(self, x):
        return x + torch.tanh(self.f(x))


class _Net(nn.Module):
    """Input layer, two residual blocks (removable), a head."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D_IN, 6)
        self.blocks = nn.Sequential(_Residual(6), _Residual(6))
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.blocks(self.inp(x)))


def _net(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return _Net()


LAYERS = ["blocks.0", "head"]
stimuli = tables(min_rows=4, max_rows=12, min_cols=D_IN, max_cols=D_IN)
# (each call gets a fresh model: the functions move a model to the dtype asked for, in place)
CALLS = {
    "perturbation": lambda X, **kw: perturbation_robustness(
        _net(), X, LAYERS, strengths=[0.0, 0.5], random_state=0, batch_size=5, **kw),
    "perturbation-callable": lambda X, **kw: perturbation_robustness(
        _net(), X, LAYERS, strengths=[2.0], perturbation=lambda b, s, g: b * s,
        batch_size=5, **kw),
    "block-removal": lambda X, **kw: block_removal_robustness(
        _net(), X, "blocks", layers=["blocks.0", "blocks.1", "head"], batch_size=5, **kw),
    "layer-similarity": lambda X, **kw: model_layer_similarity(
        _net(), _net(1), X, LAYERS, batch_size=5, **kw),
}


def _dataset(X):
    return torch.utils.data.TensorDataset(torch.as_tensor(np.asarray(X, dtype=np.float32)))


def _loader(X):
    return torch.utils.data.DataLoader(_dataset(X), batch_size=5)


# The model runs in float32, so float64 stimuli and their float32 rounding are the same input.
MODEL_EQUIVALENT = {
    **{k: (make, clean, (1e-6, 1e-6)) for k, (make, clean, _) in EQUIVALENT.items()},
    "dataset": (_dataset, lambda X: X, (1e-6, 1e-6)),
    "dataloader": (_loader, lambda X: X, (1e-6, 1e-6)),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("variant", list(MODEL_EQUIVALENT))
@few
@given(X=stimuli)
def test_altered_stimuli_give_the_clean_result(call, variant, X):
    make, clean, (rtol, atol) = MODEL_EQUIVALENT[variant]
    expect_same(lambda: CALLS[call](make(X)), lambda: CALLS[call](clean(X)), rtol=rtol,
                atol=atol)


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("variant", [v for v in INVALID if v != "no-columns"])
@few
@given(X=stimuli)
def test_invalid_stimuli_are_named(call, variant, X):
    expect_error(lambda: CALLS[call](INVALID[variant](X)), "X")


@pytest.mark.parametrize("call", list(CALLS))
@fuzz
@given(X=stimuli, n=st.integers(0, 3))
def test_too_few_or_identical_stimuli_are_named(call, X, n):
    expect_error(lambda: CALLS[call](X[:n]), "X")
    expect_error(lambda: CALLS[call](np.repeat(X[:1], len(X), axis=0)), "identical")
    expect_error(lambda: CALLS[call](X[:, :2]), "cannot run on a batch of shape")


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "8", 3])
def test_batch_size_is_named(call, batch_size):
    X = np.random.RandomState(0).randn(10, D_IN)
    expect_error(lambda: CALLS[call](X, **{"batch_size": batch_size}), "batch_size")


def _call_with(fn, **kw):
    X = np.random.RandomState(0).randn(10, D_IN)
    base = dict(batch_size=5)
    base.update(kw)
    return lambda: fn(_net(), X, **base)


BAD_PERTURBATION_ARGS = {
    "strengths-empty": (dict(layers=LAYERS, strengths=[]), "strengths"),
    "strengths-nan": (dict(layers=LAYERS, strengths=[0.1, np.nan]), "strengths"),
    "strengths-inf": (dict(layers=LAYERS, strengths=[np.inf]), "strengths"),
    "strengths-negative": (dict(layers=LAYERS, strengths=[-0.5]), "strengths"),
    "strengths-2d": (dict(layers=LAYERS, strengths=[[0.1, 0.2]]), "strengths"),
    "strengths-strings": (dict(layers=LAYERS, strengths=["0.1"]), "strengths"),
    "strengths-complex": (dict(layers=LAYERS, strengths=[1j]), "strengths"),
    "strengths-overflow": (dict(layers=LAYERS, strengths=[1e300]), "perturbation"),
    "perturbation-name": (dict(layers=LAYERS, perturbation="blur"), "perturbation"),
    "perturbation-shape": (dict(layers=LAYERS, perturbation=lambda b, s, g: b[:, :2]),
                           "perturbation"),
    "perturbation-numpy": (dict(layers=LAYERS, perturbation=lambda b, s, g: b.numpy()),
                           "perturbation"),
    "perturbation-nan": (dict(layers=LAYERS, perturbation=lambda b, s, g: b * np.nan),
                         "perturbation"),
    "layers-empty": (dict(layers=[]), "layers"),
    "layers-unknown": (dict(layers=["nope"]), "layers"),
    "layers-int": (dict(layers=[3]), "layers"),
    "layers-duplicate": (dict(layers=["head", "head"]), "layers"),
    "pooling": (dict(layers=LAYERS, pooling="max"), "pooling"),
    "device": (dict(layers=LAYERS, device="tpu"), "device"),
    "dtype": (dict(layers=LAYERS, dtype="int32"), "dtype"),
    "random_state": (dict(layers=LAYERS, random_state="seed"), "random_state"),
    "random_state-negative": (dict(layers=LAYERS, random_state=-1), "random_state"),
    "preprocess": (dict(layers=LAYERS, preprocess=3), "preprocess"),
    "preprocess-nan": (dict(layers=LAYERS, preprocess=lambda b: b.float() * np.nan),
                       "preprocess"),
    "preprocess-dtype": (dict(layers=LAYERS, preprocess=lambda b: b.double()), "preprocess"),
}


@pytest.mark.parametrize("case", list(BAD_PERTURBATION_ARGS))
def test_perturbation_arguments_are_named(case):
    kw, name = BAD_PERTURBATION_ARGS[case]
    expect_error(_call_with(perturbation_robustness, **kw), name)


BAD_BLOCK_ARGS = {
    "blocks-empty": (dict(blocks=[]), "blocks"),
    "blocks-unknown": (dict(blocks=["zz"]), "blocks"),
    "blocks-int": (dict(blocks=3), "blocks"),
    "blocks-dict": (dict(blocks={"blocks.0": 1}), "blocks"),
    "blocks-duplicate": (dict(blocks=["blocks.0", "blocks.0"]), "blocks"),
    "blocks-model-itself": (dict(blocks=[""]), "blocks"),
    "blocks-leaf-container": (dict(blocks="head"), "blocks"),
    # the input layer maps 4 features to 6: the identity cannot stand in for it
    "blocks-not-residual": (dict(blocks=["inp"]), "blocks"),
    "blocks-root-container": (dict(blocks=""), "blocks"),
    "layers-unknown": (dict(blocks="blocks", layers=["q"]), "layers"),
    "layers-empty": (dict(blocks="blocks", layers=[]), "layers"),
}


@pytest.mark.parametrize("case", list(BAD_BLOCK_ARGS))
def test_block_removal_arguments_are_named(case):
    kw, name = BAD_BLOCK_ARGS[case]
    expect_error(_call_with(block_removal_robustness, **kw), name)


def test_model_must_be_a_module():
    X = np.random.RandomState(0).randn(10, D_IN)
    for fn in (lambda m: perturbation_robustness(m, X, LAYERS),
               lambda m: block_removal_robustness(m, X, ["blocks.0"])):
        expect_error(lambda fn=fn: fn(lambda x: x), "model")


@fuzz
@given(X=stimuli, seed=st.integers(0, 2**16))
def test_perturbation_documented_values(X, seed):
    """Strength 0 leaves every layer as it is (CKA 1); a fixed seed repeats exactly."""
    out = run(lambda: perturbation_robustness(_net(), X, LAYERS, strengths=[0.0, 1.0],
                                              random_state=seed, batch_size=5))
    if out.error is not None:  # a batch with a layer without variance cannot be the case here
        raise AssertionError(out)
    np.testing.assert_allclose(out.value["matrix"][0], 1.0, atol=1e-5)
    again = run(lambda: perturbation_robustness(_net(), X, LAYERS, strengths=[0.0, 1.0],
                                                random_state=seed, batch_size=5))
    np.testing.assert_array_equal(again.value["matrix"], out.value["matrix"])


@fuzz
@given(X=stimuli)
def test_block_removal_documented_values(X):
    """A layer inside the removed block is NaN; a layer before it is untouched (CKA 1)."""
    out = run(lambda: block_removal_robustness(_net(), X, ["blocks.1"],
                                               layers=["blocks.0", "blocks.1.f", "head"],
                                               batch_size=5))
    assert out.error is None, out
    M = out.value["matrix"]
    assert np.isnan(M[0, 1]) and not np.isnan(M[0, [0, 2]]).any()
    np.testing.assert_allclose(M[0, 0], 1.0, atol=1e-5)
