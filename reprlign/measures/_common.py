"""Input checks shared by the measures: a pair of representations of the same stimuli."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..utils._validation import check_positive
from ..utils.backend import get_backend


def check_pair(X, Y, *, min_samples=2, names=("X", "Y")):
    """Validate two (n, d) representations of the same n stimuli.

    Returns both in one back end (see :func:`reprlign.utils.backend.get_backend`):
    if either is a torch tensor, the other is moved to its device; dtypes are
    promoted to the wider of the two.
    """
    nx = get_backend(X, Y)
    X = nx.check_features(X, name=names[0], min_samples=min_samples)
    Y = nx.check_features(Y, name=names[1], min_samples=min_samples)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must describe the same stimuli (rows): "
            f"got {X.shape[0]} and {Y.shape[0]} rows"
        )
    return nx.pair(X, Y)


# Largest magnitudes in [2^-32, 2^32] keep every sum of squares and fourth powers the
# measures form within float32 and float64 range; outside it, the input is rescaled.
_SAFE_EXPONENT = 32


def scale_pow2(X, e):
    """``X * 2**e``, exact; in two steps so that neither factor leaves the dtype's range."""
    if e == 0:
        return X
    half = e // 2
    return (X * 2.0**half) * 2.0 ** (e - half)


def unit_exponent(X, nx):
    """The ``e`` of :func:`unit_scale`: 0 when ``X`` needs no rescaling.

    A chunked (dask) array is not rescaled: finding its largest magnitude would
    be an extra pass over the data; its float64 moments reach from about 1e-150
    to 1e150.
    """
    if nx.chunked:
        return 0
    m = nx.absmax(X)
    e = math.frexp(m)[1] if m > 0 else 0
    return e if abs(e) > _SAFE_EXPONENT else 0


def unit_scale(X, nx):
    """``(X * 2**-e, e)``: ``X`` brought to a largest magnitude near 1 when it is far from it.

    The measures are invariant to the scale of each representation, but they
    square features (Gram norms are fourth powers), which overflows from about
    1e77 in float64 (1e19 in float32) and underflows below 1e-77. A power of two
    changes no digit, so rescaling is exact; inputs whose largest magnitude
    lies in ``[2^-32, 2^32]`` need none and are returned as they are (``e = 0``).
    """
    e = unit_exponent(X, nx)
    return scale_pow2(X, -e), e


def check_block_size(block_size):
    """``block_size`` (rows computed at once): None or an integer >= 1."""
    if block_size is not None:
        check_positive(block_size, "block_size", integer=True)
    return block_size


def nonzero_rows(norms, name, what, quantity, alternative, *, first_row=0):
    """Raise when a row norm is 0: the ``quantity`` (a normalised one) to that row is undefined.

    ``first_row`` numbers the first row in the message (for a row chunk of a larger array).
    """
    nx = get_backend(norms)
    bad = norms == 0
    if bool(bad.any()):
        rows = np.flatnonzero(nx.to_numpy(bad)) + first_row
        raise ValueError(
            f"{name} has {len(rows)} {what} row(s) (first: {rows[:5].tolist()}): the "
            f"{quantity} to them is undefined; drop them or {alternative}"
        )


def as_float(value):
    """A measure's value as a Python float (a tensor is detached first, quietly)."""
    return float(get_backend(value).detach(value))


def degenerate(measure, what, value=0.0):
    """Warn that ``measure`` is undefined because of ``what``; return the documented value."""
    warnings.warn(
        f"{measure} is undefined: {what}; returning {value}",
        RuntimeWarning,
        stacklevel=4,
    )
    return value


def center_columns(X, nx):
    """Column-centred copy of ``X``; constant columns become exactly zero.

    Subtracting a float mean can leave ulp-sized residue in a constant column,
    which a normalised measure would then blow up into a spurious signal.
    """
    Xc = X - nx.col_mean(X)
    hi = nx.amax(X, 0)
    # (an infinite column is not constant: it must stay non-finite for the caller to see)
    constant = nx.flatnonzero((hi == nx.amin(X, 0)) & nx.isfinite(hi))
    if constant.shape[0]:
        Xc = nx.fill_index(Xc, 1, constant)
    return Xc


def feature_space_cheaper(n, d1, d2):
    """Whether three d x d products cost no more than two n x n Gram matrices."""
    return d1 * d2 + (d1 * d1 + d2 * d2) / 2 <= n * (d1 + d2) / 2 + n


def gram_products(A, B, nx):
    """``(||A'B||_F^2, ||A'A||_F^2, ||B'B||_F^2)`` in float64, by the cheaper exact route.

    These are ``tr(K L)``, ``tr(K K)`` and ``tr(L L)`` for ``K = A A'`` and
    ``L = B B'``: three d x d products cost ``O(n d^2)`` and no n x n matrix;
    when ``d > n`` the two n x n Gram matrices are cheaper and are used instead.
    """
    n, d1 = A.shape
    if feature_space_cheaper(n, d1, B.shape[1]):
        return nx.evaluate(
            (nx.float64(B.T @ A) ** 2).sum(),
            (nx.float64(A.T @ A) ** 2).sum(),
            (nx.float64(B.T @ B) ** 2).sum(),
        )
    K = nx.float64(A @ A.T)
    L = nx.float64(B @ B.T)
    return nx.evaluate((K * L).sum(), (K * K).sum(), (L * L).sum())


def row_sq_norms(X, nx, block=8192):
    """Squared L2 norm of each row, accumulated in float64 block by block (O(block x d) memory)."""
    return nx.concat([(nx.float64(X[i : i + block]) ** 2).sum(axis=1)
                      for i in range(0, X.shape[0], block)])
