"""Minibatch CKA accumulated while models stream batches (layer similarity, robustness)."""

from __future__ import annotations

import warnings

import numpy as np

from ..measures import MinibatchCKA
from ..utils._backend import is_torch


def check_stream(X, batch_size, name="X"):
    """Refuse, before any forward pass, stimuli on which minibatch CKA is undefined.

    Arrays, tensors and sized datasets need at least 4 stimuli, not all the
    same (identical stimuli give layers whose only variation is the rounding
    of the model's matrix products), and ``batch_size`` must be at least 4
    (the unbiased HSIC needs 4 rows per batch). A ``DataLoader`` makes its own
    batches: only what it yields is checked, as it streams.
    """
    from torch.utils.data import DataLoader

    if isinstance(X, DataLoader):
        return
    if batch_size < 4:
        raise ValueError(f"batch_size must be at least 4 for minibatch CKA (the unbiased HSIC "
                         f"needs 4 stimuli per batch), got {batch_size}")
    try:
        n = len(X)
    except TypeError:  # an IterableDataset without __len__
        return
    if n < 4:
        raise ValueError(f"{name} has {n} stimuli; minibatch CKA needs at least 4")
    if not (is_torch(X) or isinstance(X, np.ndarray)):  # a Dataset: not read twice
        return
    if _all_rows_equal(X):
        raise ValueError(f"{name}: all {n} stimuli are identical, so no layer varies across "
                         f"them and its CKA is undefined")


def _all_rows_equal(X, block=1024):
    """Whether every row of ``X`` equals the first, compared a block of rows at a time.

    Stops at the first block with a different row (in practice the first), so
    large image sets are neither read whole nor copied into one boolean array.
    """
    for start in range(0, len(X), block):
        if not bool((X[start:start + block] == X[:1]).all()):
            return False
    return True


class StreamedCKA(MinibatchCKA):
    """:class:`~reprlign.measures.MinibatchCKA` fed by model streaming.

    The only difference is the policy for short batches: a batch of fewer
    than 4 samples (a dataset's last, partial batch) cannot enter the
    unbiased HSIC, so it is counted and left out, with a warning at
    :meth:`result`, rather than rejected.
    """

    def reset(self):
        super().reset()
        self.n_dropped_ = 0
        return self

    def update(self, X_batch, Y_batch=None):
        n = X_batch[0].shape[0]
        if n < 4 and (Y_batch is None or Y_batch[0].shape[0] == n):
            self.n_dropped_ += n
            return self
        return super().update(X_batch, Y_batch)

    def result(self):
        if self.n_batches_ == 0:
            raise ValueError("no batch of at least 4 samples was seen: minibatch CKA is undefined")
        if self.n_dropped_:
            warnings.warn(f"{self.n_dropped_} sample(s) in batches smaller than 4 were left out "
                          "of the minibatch CKA (the unbiased HSIC needs 4 rows)", stacklevel=3)
        return super().result()
