"""Input checks shared by the measures: a pair of representations of the same stimuli."""

from __future__ import annotations

import warnings

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
    Xc = X - X.mean(axis=0, keepdims=True)
    constant = nx.flatnonzero(nx.amax(X, 0) == nx.amin(X, 0))
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
