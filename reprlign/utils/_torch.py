"""Torch plumbing shared by every torch estimator: device, seeding, conversion."""

from __future__ import annotations

import contextlib

import numpy as np

from ._backend import is_torch


def get_device(device="cpu"):
    """Resolve ``device`` to a :class:`torch.device`, with a clear error.

    ``"cuda"`` when no CUDA device is visible raises ``ValueError`` rather than
    failing later inside torch.
    """
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from exc
    else:
        raise TypeError(f"device must be a string or torch.device, got {type(device).__name__}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available")
    return dev


def seed_everything(random_state):
    """Return a torch.Generator seeded from ``random_state`` (int, None or RandomState).

    Using a local generator instead of the global torch seed keeps fits
    reproducible without touching the caller's random state.
    """
    import torch

    gen = torch.Generator()
    gen.manual_seed(draw_seed(random_state))
    return gen


def to_numpy(x):
    """Detach a tensor to a numpy array; pass numpy through."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def log_epoch(estimator, epoch, **values):
    """Print one line of training progress: ``Name epoch 3: loss=0.1234, ...``.

    Estimators call it when ``verbose`` is truthy; floats print with 4 decimals.
    """
    parts = ", ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )
    print(f"{type(estimator).__name__} epoch {epoch}: {parts}", flush=True)


@contextlib.contextmanager
def limit_threads(n):
    """Run the block on at most ``n`` torch and BLAS/OpenMP threads (``None``: unchanged).

    Small torch fits gain nothing from several threads, and their OpenMP threads
    spin against other work (parallel grid-search fits, other jobs on the same
    cores); torch's thread count and threadpoolctl's limits are restored after.
    """
    if n is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(min(n, before))
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(before)


def draw_seed(random_state):
    """Draw one int seed in ``[0, 2**31 - 1)`` from ``random_state`` (int, None or RandomState)."""
    from ._validation import check_random_state

    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def seeded_torch(seed, device="cpu"):
    """Seed torch's *global* RNG inside the block, restoring the caller's state after.

    For code that cannot take a ``torch.Generator`` (module constructors, skorch):
    the fit is reproducible and the caller's random stream is left as it was. On a
    CUDA ``device`` that device's RNG is forked and seeded too.
    """
    import torch

    dev = get_device(device)
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] \
        if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield
