"""reprlign.utils.backend: choosing the back end of the inputs, and adding one."""

import numpy as np
import pytest
import torch

from reprlign.measures import cka
from reprlign.utils import backend as B


def test_get_backend_picks_the_strongest_owner():
    a, t = np.ones((3, 2)), torch.ones(3, 2)
    assert B.get_backend(a) is B.NUMPY and B.get_backend([[1.0]], None) is B.NUMPY
    assert B.get_backend(a, t) is B.TORCH and B.get_backend(t, a) is B.TORCH
    X, Y = B.TORCH.pair(a.astype(np.float32), t.double())
    assert X.dtype == Y.dtype == torch.float64 and X.device == Y.device
    assert B.NUMPY.to_output(np.float64(0.5)) == 0.5 and type(B.NUMPY.to_output(0.5)) is float
    out = B.TORCH.to_output(0.25, like=t)
    assert out.dtype == torch.float32 and out.dim() == 0 and float(out) == 0.25
    assert B.is_torch(t) and not B.is_torch(a)


class _Tagged(np.ndarray):
    """Stands in for another library's array type."""


class _TaggedBackend(B.NumpyBackend):
    name = "tagged"
    priority = 5
    calls = 0

    @staticmethod
    def owns(x):
        return isinstance(x, _Tagged)

    def check_features(self, X, **kwargs):
        return super().check_features(X, **kwargs).view(_Tagged)

    def place(self, x, ref):
        return np.asarray(x).view(_Tagged)

    def evaluate(self, *values):
        type(self).calls += 1  # a lazy back end would compute the reductions here
        return super().evaluate(*values)


def test_register_backend_plugs_a_new_array_type_into_the_measures(rng):
    X, Y = rng.randn(40, 3), rng.randn(40, 4)
    tagged = B.register_backend(_TaggedBackend())
    try:
        assert B.get_backend(X.view(_Tagged), Y) is tagged
        assert B.get_backend(X.view(_Tagged), torch.tensor(Y)) is B.TORCH  # higher priority
        assert cka(X.view(_Tagged), Y) == pytest.approx(cka(X, Y), abs=1e-14)
        assert _TaggedBackend.calls > 0
    finally:
        B._REGISTRY.remove(tagged)
    assert B.get_backend(X.view(_Tagged)) is B.NUMPY
    with pytest.raises(TypeError, match="Backend instance"):
        B.register_backend(object())
