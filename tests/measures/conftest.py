"""The ``backend`` fixture: every measure test that takes it runs on numpy, torch CPU and CUDA.

``backend(a)`` puts a numpy array into the back end (a tensor on the device);
``backend.value(out)`` checks that a measure answered in kind (a Python float
for numpy, a 0-d tensor on the same device for torch) and returns the float;
``backend.tol`` is the agreement expected with a float64 numpy oracle.
"""

import numpy as np
import pytest
import torch


class Backend:
    def __init__(self, name, device=None, tol=1e-12):
        self.name, self.device, self.tol = name, device, tol

    def __repr__(self):
        return self.name

    def __call__(self, a):
        if self.device is None:
            return np.asarray(a)
        return torch.as_tensor(np.asarray(a), device=self.device)

    def value(self, out):
        if self.device is None:
            assert isinstance(out, float), type(out)
            return out
        assert isinstance(out, torch.Tensor) and out.dim() == 0, out
        assert out.device.type == self.device
        return float(out)

    def numpy(self, out):
        """An array result (an RDM, a matrix) back as numpy, checking where it was computed."""
        if self.device is not None:
            assert isinstance(out, torch.Tensor) and out.device.type == self.device
            return out.detach().cpu().numpy()
        assert isinstance(out, np.ndarray)
        return out


@pytest.fixture(params=[
    "numpy",
    "torch",
    pytest.param("cuda", marks=pytest.mark.cuda),
])
def backend(request):
    # CUDA kernels (TF32 off in float64, other reduction orders) agree to about 1e-10.
    return {"numpy": Backend("numpy"), "torch": Backend("torch", "cpu"),
            "cuda": Backend("cuda", "cuda", tol=1e-10)}[request.param]
