"""Minibatch CKA accumulated while models stream batches (layer similarity, robustness)."""

from __future__ import annotations

import warnings

from ..measures import MinibatchCKA


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
