import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    # The test networks are tiny: one torch thread is faster than two fighting over 2 cores.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run where a CUDA device is visible and skip elsewhere."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
