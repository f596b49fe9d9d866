"""The base of every back end, and the torch test that imports nothing."""

from __future__ import annotations

import sys


def is_torch(x) -> bool:
    """True when ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class Backend:
    """The operations the measures need that numpy and torch spell differently."""

    name = "base"
    #: Among the inputs of one call, the back end of highest priority wins.
    priority = 0
    #: Whether the measures reduce this back end's arrays over row chunks (``moments``).
    chunked = False

    @staticmethod
    def owns(x) -> bool:  # pragma: no cover - every concrete back end defines it
        raise NotImplementedError

    def __repr__(self):
        return f"<reprlign backend {self.name!r}>"

    def check_features(self, X, *, name="X", min_samples=1):
        """Validate a 2-D table of finite numbers (see :func:`reprlign.utils.check_features`).

        A back end whose arrays that function does not know overrides this.
        """
        from .._validation import check_features

        return check_features(X, name=name, min_samples=min_samples)

    def pair(self, X, Y):
        """Both inputs in this back end, where the owned one lives, in their common dtype."""
        ref = X if self.owns(X) else Y
        X, Y = self.place(X, ref), self.place(Y, ref)
        dtype = self.result_type(X, Y)
        return self.astype(X, dtype), self.astype(Y, dtype)

    def evaluate(self, *values):
        """Materialise values computed together (a lazy back end computes them in one pass)."""
        return values if len(values) != 1 else values[0]
